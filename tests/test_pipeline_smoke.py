"""End to end at smoke scale: real training on the synthetic benchmark, learnable and cached."""
import collections
import subprocess
import sys

import pytest

from xstilts import data, params, pipeline, runs

pytestmark = pytest.mark.slow


def _majority_baseline(task, lang):
    rows = data.load_examples(task, "test", lang, source="smoke")
    if "tags" in rows[0]:
        counts = collections.Counter(t for r in rows for t in r["tags"])
    else:
        counts = collections.Counter(r["label"] for r in rows)
    return 100 * counts.most_common(1)[0][1] / sum(counts.values())


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("runs"))


def test_pos_is_learned_and_transfers(runs_dir):
    cfg = params.resolve({"target_task": "udpos", "runs_dir": runs_dir})
    result = pipeline.run_target(cfg)
    acc = {lang: s["upos_accuracy.accuracy"] for lang, s in result["per_language"].items()}
    baseline = {lang: _majority_baseline("udpos", lang) for lang in acc}
    assert acc["en"] > baseline["en"] + 40, (acc, baseline)
    # zero-shot: the languages sharing words/names with English beat the majority tag
    assert acc["es"] > baseline["es"] + 10 and acc["de"] > baseline["de"], (acc, baseline)
    assert (runs.run_dir(cfg, "target") / "predictions" / "udpos" / "test-es.tsv").exists()


def test_nli_after_intermediate_beats_chance_and_is_reused(runs_dir):
    cfg = params.resolve({"target_task": "xnli", "intermediate_tasks": ["mnli"], "runs_dir": runs_dir})
    first = pipeline.run_target(cfg)
    assert first["headline"]["en"] > 45  # 3 balanced classes: chance is 33.3
    inter = runs.finished(runs.run_dir(cfg, "intermediate"))
    assert inter["dev"]["mnli"]["accuracy"] > 45
    # a second call reuses the finished run (same result, no retraining)
    again = pipeline.run_target(cfg)
    assert again == first
    # the intermediate checkpoint is shared with another target task
    other = params.resolve({"target_task": "tatoeba", "intermediate_tasks": ["mnli"], "runs_dir": runs_dir})
    result = pipeline.run_target(other)
    assert runs.finished(runs.run_dir(cfg, "intermediate"))["provenance"] == inter["provenance"]
    assert result["headline"]["es"] > 100 / 200  # retrieval among 200 candidates: chance 0.5%


def test_missing_mirror_file_fails_before_compute(tmp_path):
    cfg = params.resolve({"scale": "offline", "target_task": "xnli", "target_languages": ["de"],
                          "data_dir": str(tmp_path), "runs_dir": str(tmp_path / "runs")})
    with pytest.raises(data.DataMissingError, match="XSTILTS_DATA"):
        pipeline.run_target(cfg)
    assert not (tmp_path / "runs").exists()  # nothing started


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "xstilts.cli", *args], capture_output=True, text=True, env=env)


def test_cli_tasks_lists_every_task_with_sources_and_metric():
    out = _cli("tasks", "--wide")
    assert out.returncode == 0
    for name in ("xnli", "udpos", "ud_parse", "squad_v2", "tatoeba", "xcopa", "ccg", "stsb"):
        assert name in out.stdout
    assert "seqeval_f1" in out.stdout and "synthetic:" in out.stdout


def test_cli_rejects_bad_grid_with_one_paragraph_and_nonzero_exit(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("grid: {target_task: [udpos]}\nparams: {learnig_rate: 0.1}\n")
    out = _cli("run", str(bad), "--scale", "smoke", "--runs-dir", str(tmp_path / "r"))
    assert out.returncode == 2
    assert "learnig_rate" in out.stderr and "base.yaml" in out.stderr
    bad.write_text("grid: {target_task: [udpos], intermediate_tasks: [[nope]]}\n")
    out = _cli("run", str(bad), "--scale", "smoke", "--runs-dir", str(tmp_path / "r"))
    assert out.returncode == 2 and "Unknown intermediate task 'nope'" in out.stderr
