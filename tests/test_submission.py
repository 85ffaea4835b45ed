"""`xstilts submission`: best run per target on English dev, XTREME's layout, what is missing; and
(slow) a tiny smoke grid whose assembled folders XTREME's evaluator logic reads back to the scores
the runs reported."""
import json
from pathlib import Path

import pytest
import yaml

import xtreme_evaluate as official
from xstilts import cli, data, evaluate, pipeline, runs, submission, tasks, workflow


def _fake_run(root, task, run_dir, *, dev, seed=0, inter=(), langs=("de", "en"), preds=None, mlm=0):
    d = Path(root) / "smoke" / "target" / run_dir
    result = {"phase": "target", "target_task": task, "run_dir": run_dir, "seed": seed, "model": "m",
              "intermediate_tasks": list(inter), "mlm_steps": mlm, "notes": [],
              "train": None if dev is None else {"best_dev": dev}}
    runs.write_json(d / "result.json", result)
    for lang in langs:
        submission.write_xtreme_predictions(task, lang, preds or ["entailment"], d / "predictions")
    return d


def test_selection_uses_english_dev_never_test_and_public_model_for_retrieval(tmp_path):
    _fake_run(tmp_path, "xnli", "xnli-a", dev=60.0, preds=["neutral"])
    _fake_run(tmp_path, "xnli", "xnli-b", dev=70.0, seed=1, inter=["mnli"], preds=["contradiction"])
    _fake_run(tmp_path, "xnli", "xnli-c", dev=70.0, seed=2, inter=["mnli"])  # tie: lower seed wins
    _fake_run(tmp_path, "tatoeba", "tatoeba-after-mnli", dev=None, inter=["mnli"], preds=[1])
    _fake_run(tmp_path, "tatoeba", "tatoeba-after-none", dev=None, preds=[0])
    _fake_run(tmp_path, "xcopa", "xcopa-after-none", dev=55.0, langs=("qu", "en"), preds=[1, 0])
    _fake_run(tmp_path, "udpos", "udpos-old", dev=90.0, langs=())  # a run from before predictions were kept
    out = tmp_path / "sub"
    manifest = submission.assemble(tmp_path, "smoke", out)

    x = manifest["xtreme"]
    assert x["tasks"]["xnli"]["run_dir"] == "xnli-b" and x["tasks"]["xnli"]["english_dev"] == 70.0
    assert (out / "xtreme" / "xnli" / "test-de.tsv").read_text() == "contradiction\n"
    assert x["tasks"]["tatoeba"]["run_dir"] == "tatoeba-after-none"
    assert "no English dev" in x["tasks"]["tatoeba"]["why"]
    # languages outside XTREME's list are not copied; the official list's others are reported
    assert sorted(p.name for p in (out / "xtreme" / "tatoeba").iterdir()) == ["test-de.tsv"]
    assert "ar" in x["tasks"]["tatoeba"]["missing_languages"]
    assert "xcopa" not in x["tasks"] and "xcopa" not in x["missing_tasks"]  # XCOPA is XTREME-R only
    assert "predictions" in x["missing_tasks"]["udpos"] and "udpos-old" in x["missing_tasks"]["udpos"]
    assert "no finished mlqa" in x["missing_tasks"]["mlqa"]
    r = manifest["xtreme-r"]
    assert "pawsx" not in r["tasks"] and "pawsx" not in r["missing_tasks"]  # PAWS-X is XTREME only
    assert (out / "xtreme-r" / "xcopa" / "test-qu.jsonl").read_text() == '{"label": 1}\n{"label": 0}\n'
    assert not (out / "xtreme-r" / "xcopa" / "test-en.jsonl").exists()  # not an XCOPA language
    assert "registry" in r["missing_tasks"]["mewslix"]
    assert json.loads((out / "manifest.json").read_text())["xtreme"]["tasks"]["xnli"]["run_dir"] == "xnli-b"

    # reassembling replaces the folders (a task no longer provided disappears)
    (tmp_path / "smoke" / "target" / "xnli-b" / "result.json").unlink()
    (tmp_path / "smoke" / "target" / "xnli-c" / "result.json").unlink()
    (tmp_path / "smoke" / "target" / "xnli-a" / "predictions" / "xnli" / "test-de.tsv").unlink()
    (tmp_path / "smoke" / "target" / "xnli-a" / "predictions" / "xnli" / "test-en.tsv").unlink()
    again = submission.assemble(tmp_path, "smoke", out)
    assert "xnli" in again["xtreme"]["missing_tasks"] and not (out / "xtreme" / "xnli").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_cli_prints_what_is_missing_and_refuses_a_file_as_out(tmp_path, capsys):
    _fake_run(tmp_path, "xnli", "xnli-a", dev=60.0)
    assert cli.main(["submission", "--scale", "smoke", "--runs-dir", str(tmp_path), "--out", str(tmp_path / "o")]) == 0
    printed = capsys.readouterr().out
    assert "xnli: 2 languages from xnli-a" in printed and "panx: MISSING" in printed
    assert "FileNotFoundError" in printed  # XNLI lacks 13 of XTREME's languages: evaluate.py would raise
    (tmp_path / "f").write_text("")
    assert cli.main(["submission", "--scale", "smoke", "--runs-dir", str(tmp_path), "--out", str(tmp_path / "f")]) == 2
    assert "not a folder" in capsys.readouterr().err


# ------------------------------------------------------------------------------- end to end
TARGETS = ["udpos", "panx", "xnli", "pawsx", "xquad", "tydiqa", "bucc", "tatoeba", "xcopa"]
HEADLINE_KEYS = {"accuracy": ["accuracy"], "seqeval_f1": ["f1"], "squad": ["exact_match", "f1"],
                 "mlqa": ["exact_match", "f1"], "tatoeba_accuracy": ["accuracy"], "bucc_f1": ["f1"]}


def _write_labels(task_name, lang, examples, label_root):
    """Gold test labels in XTREME's label-folder formats (mock_test_data/labels)."""
    folder = label_root / submission.xtreme_task_dir(task_name)
    fmt = tasks.get_task(task_name)["format"]
    if fmt == "qa":
        qas = [{"id": e["id"], "question": e["question"],
                "answers": [{"text": t, "answer_start": s} for t, s in zip(e["answers"]["text"],
                                                                          e["answers"]["answer_start"])]}
               for e in examples]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"test-{lang}.json").write_text(json.dumps({"data": [{"paragraphs": [
            {"context": e["context"], "qas": [q]} for e, q in zip(examples, qas)]}]}))
    elif task_name == "tatoeba":
        submission.write_xtreme_predictions(task_name, lang, list(range(len(examples))), label_root)
    elif task_name == "bucc":
        gold = {(str(i), str(i)) for i, e in enumerate(examples) if e["source"] and e["target"]}
        submission.write_xtreme_predictions(task_name, lang, gold, label_root)
    else:
        submission.write_xtreme_predictions(task_name, lang, evaluate.gold(fmt, examples), label_root)


@pytest.mark.slow
def test_smoke_grid_submission_is_read_by_xtreme_evaluate(tmp_path):
    grid = tmp_path / "tiny.yaml"
    # MLQA's normaliser knows MLQA's languages only: the smoke languages it has
    grid.write_text(yaml.safe_dump({"grid": {"target_task": TARGETS}, "params": {"target_max_steps": 30},
                                    "runs": [{"target_task": "mlqa", "target_languages": ["en", "es", "de"]}]}))
    results = {}
    for cfg in workflow.grid_runs(workflow.load_grid(grid), "smoke"):
        cfg["runs_dir"] = str(tmp_path / "runs")
        results[cfg["target_task"]] = pipeline.run_target(cfg)
    out = tmp_path / "submission"
    manifest = submission.assemble(tmp_path / "runs", "smoke", out)
    labels = tmp_path / "labels"
    checked = set()
    for version in ("xtreme", "xtreme-r"):
        part = manifest[version]
        assert set(part["tasks"]) | set(part["missing_tasks"]) == set(submission.OFFICIAL_LANGUAGES[version])
        for folder, info in part["tasks"].items():
            task_name = info["target_task"]
            result = results[task_name]
            for lang in info["languages"]:
                examples = data.load_examples(task_name, "test", lang, source="smoke")
                _write_labels(task_name, lang, examples, labels / version)
            scores = official.evaluate_task_folder(out / version, labels / version, folder, info["languages"], version)
            for lang, score in scores.items():
                for key in HEADLINE_KEYS[result["metric"]]:
                    assert score[key] == pytest.approx(result["per_language"][lang][key], abs=1e-9), \
                        (version, folder, lang, key)
            # the official loop over all of a task's languages stops at the first missing one
            if info["missing_languages"]:
                with pytest.raises(FileNotFoundError):
                    official.evaluate_task_folder(out / version, labels / version, folder,
                                                  submission.OFFICIAL_LANGUAGES[version][folder], version)
            checked.add(folder)
    # every task's files were written and read; XCOPA's languages are not smoke languages, so its
    # run's own files (the same writer) are read with the official reader instead
    assert checked == {submission.xtreme_task_dir(t) for t in TARGETS + ["mlqa"]} - {"xcopa"}
    assert "none of xtreme-r's xcopa languages" in manifest["xtreme-r"]["missing_tasks"]["xcopa"]
    run_predictions = tmp_path / "runs" / "smoke" / "target" / results["xcopa"]["run_dir"] / "predictions"
    langs = sorted(results["xcopa"]["per_language"])
    for lang in langs:
        _write_labels("xcopa", lang, data.load_examples("xcopa", "test", lang, source="smoke"), labels / "own")
    scores = official.evaluate_task_folder(run_predictions, labels / "own", "xcopa", langs, "xtreme-r")
    for lang in langs:
        assert scores[lang]["accuracy"] == pytest.approx(results["xcopa"]["per_language"][lang]["accuracy"])


# ----------------------------------------------------------------- the committed offline runs
REPO_RUNS = Path(__file__).resolve().parents[1] / "runs"
try:
    HAVE_MIRROR = (data.mirror_dir() / "xnli").is_dir()
except Exception:  # noqa: BLE001 - no mirror configured at all
    HAVE_MIRROR = False


@pytest.mark.mirror
@pytest.mark.skipif(not HAVE_MIRROR, reason="local data mirror not found: set XSTILTS_DATA")
def test_offline_submission_is_read_by_xtreme_evaluate(tmp_path):
    """`xstilts submission --scale offline` on the committed offline runs: XTREME's evaluator logic
    reads every task folder it writes, in both versions, against gold labels built from the mirror
    rows each run scored, and gives back the scores the run reported, language by language."""
    out = tmp_path / "submission"
    assert cli.main(["submission", "--scale", "offline", "--runs-dir", str(REPO_RUNS), "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    checked = []
    for version in ("xtreme", "xtreme-r"):
        for folder, info in manifest[version]["tasks"].items():
            run = REPO_RUNS / "offline" / "target" / info["run_dir"]
            result = json.loads((run / "result.json").read_text())
            limit = json.loads((run / "params.json").read_text())["all"]["max_eval_examples"]
            labels = tmp_path / "labels" / version
            for lang in info["languages"]:
                rows = data.load_examples(info["target_task"], "test", lang, source="mirror",
                                          limit=None if limit < 0 else limit)
                _write_labels(info["target_task"], lang, rows, labels)
            scores = official.evaluate_task_folder(out / version, labels, folder, info["languages"], version)
            assert set(scores) == set(info["languages"])
            for lang, score in scores.items():
                for key in HEADLINE_KEYS[result["metric"]]:
                    assert score[key] == pytest.approx(result["per_language"][lang][key], abs=0.051), \
                        (version, folder, lang, key)  # result.json rounds to 0.1
            checked.append(f"{version}/{folder}")
    # what the committed study has: POS, XNLI, PAWS-X, Tatoeba and MLQA in both, XCOPA in XTREME-R
    assert {"xtreme/udpos", "xtreme/xnli", "xtreme/pawsx", "xtreme/tatoeba", "xtreme/mlqa",
            "xtreme-r/xcopa"} <= set(checked)
