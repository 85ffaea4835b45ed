"""The bad-input table: every user mistake and broken state gets a clear one-paragraph error
before any compute (no run folder, no model built or loaded, Snakemake not started).

Each row: the input, the entry point (`cli`: `xstilts ...` in-process; `notebook`: what a phase
notebook does, `pipeline.run_target(params.from_namespace(...))`; `python`: the library API), the
expected exit code (cli) or exception, and a fragment of the message. Print the table as markdown:

    python tests/test_bad_inputs.py
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from xstilts import cli, data, models, pipeline, runs, workflow
from xstilts import params as P

MIRROR = Path(os.environ.get("XSTILTS_DATA") or P.REPO_ROOT.parent / "shared" / "data")
UDPOS_GRID = "seeds: {smoke: [0]}\ngrid: {target_task: [udpos]}\n"


@dataclass
class Case:
    input: str
    entry: str  # cli | notebook | python
    action: Callable  # (ctx) -> exit code (cli) or raises
    expect: int | type  # exit code (cli) or exception class
    message: str  # a fragment of the error message
    needs_mirror: bool = False


class Ctx:
    """Paths for one case: a runs root that must stay empty, grid and mirror helpers."""

    def __init__(self, tmp: Path, monkeypatch):
        self.tmp, self.monkeypatch = tmp, monkeypatch
        self.root = tmp / "runs"

    def grid(self, text: str) -> str:
        path = self.tmp / "grid.yaml"
        path.write_text(text)
        return str(path)

    def cli(self, *args: str) -> int:
        return cli.main([*args, "--runs-dir", str(self.root)] if args[0] in ("run", "check") else list(args))

    def check(self, text: str, scale: str = "smoke") -> int:
        return self.cli("check", self.grid(text), "--scale", scale)

    def run(self, text: str = UDPOS_GRID, *extra: str) -> int:
        return self.cli("run", self.grid(text), "--scale", "smoke", *extra)

    def mirror_with(self, rel: str, content: bytes) -> str:
        """A mirror that is the shared one (symlinks) except `rel`, which holds `content`."""
        mirror = self.tmp / "mirror"
        src, dst = MIRROR, mirror
        for part in Path(rel).parts[:-1]:
            dst.mkdir(parents=True, exist_ok=True)
            for entry in src.iterdir():
                if entry.name != part and not (dst / entry.name).exists():
                    (dst / entry.name).symlink_to(entry)
            src, dst = src / part, dst / part
        dst.mkdir(parents=True, exist_ok=True)
        for entry in src.iterdir():
            if entry.name != Path(rel).name and not (dst / entry.name).exists():
                (dst / entry.name).symlink_to(entry)
        (dst / Path(rel).name).write_bytes(content)
        return str(mirror)

    def truncated(self, rel: str, lines: int, cut: int) -> str:
        """`rel` cut to its first `lines` lines plus `cut` characters of the next (a truncated copy)."""
        text = (MIRROR / rel).read_text(encoding="utf-8").split("\n")
        return self.mirror_with(rel, ("\n".join(text[:lines]) + "\n" + text[lines][:cut]).encode())

    def notebook(self, **values):
        """What the target notebook does with papermill's injected parameters."""
        namespace = {"scale": "smoke", "runs_dir": str(self.root), "In": [], "get_ipython": None, **values}
        return pipeline.run_target(P.from_namespace(namespace, "target"))

    def truncated_result(self) -> Path:
        run = self.root / "smoke" / "target" / "udpos-after-none-s0-000000000000"
        run.mkdir(parents=True)
        (run / runs.RESULT).write_text('{"phase": "target", "per_lang')
        return run


def _resolve(**values):
    return lambda ctx: P.resolve(values)


def _nb(**values):
    return lambda ctx: ctx.notebook(**values)


def _hold_lock_and_run(ctx):
    ctx.root.mkdir(parents=True)
    with workflow.runs_lock(ctx.root):
        return ctx.run()


def _read_only_runs(ctx):
    if os.geteuid() == 0:  # root writes through permission bits: use a read-only file system
        return cli.main(["run", ctx.grid(UDPOS_GRID), "--scale", "smoke", "--runs-dir", "/sys/xstilts-runs"])
    ctx.root.mkdir()
    ctx.root.chmod(0o555)
    return ctx.run()


def _runs_is_file(ctx):
    ctx.root.write_text("not a folder\n")
    return ctx.run()


def _offline_hub_model(ctx):
    ctx.monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return ctx.run("seeds: {smoke: [0]}\nparams: {model: someorg/not-in-any-cache}\ngrid: {target_task: [udpos]}\n")


CASES = [
    # ------------------------------------------------ values that would train nothing or crash
    Case("target_epochs: -1", "python", _resolve(target_epochs=-1), P.ParamsError, "'target_epochs' = -1.0 is out of range"),
    Case("intermediate_epochs: 0", "python", _resolve(intermediate_epochs=0), P.ParamsError, "'intermediate_epochs' = 0.0 is out of range"),
    Case("target_batch_size: 0", "python", _resolve(target_batch_size=0), P.ParamsError, "'target_batch_size' = 0 is out of range"),
    Case("intermediate_batch_size: 0", "python", _resolve(intermediate_batch_size=0), P.ParamsError, "'intermediate_batch_size' = 0"),
    Case("mlm_batch_size: 0", "python", _resolve(mlm_batch_size=0), P.ParamsError, "'mlm_batch_size' = 0"),
    Case("target_grad_accum: 0", "python", _resolve(target_grad_accum=0), P.ParamsError, "'target_grad_accum' = 0"),
    Case("intermediate_languages: []", "python", _resolve(intermediate_languages=[]), P.ParamsError, "'intermediate_languages' is an empty list"),
    Case("max_train_examples: 0", "python", _resolve(max_train_examples=0), P.ParamsError, "-1 (all) or >= 1"),
    Case("eval_batch_size: 0", "python", _resolve(eval_batch_size=0), P.ParamsError, "'eval_batch_size' = 0 is out of range"),
    Case("max_eval_examples: 0", "python", _resolve(max_eval_examples=0), P.ParamsError, "'max_eval_examples' = 0 is out of range"),
    Case("eval_examples: 0", "python", _resolve(eval_examples=0), P.ParamsError, "'eval_examples' = 0"),
    Case("learning_rate: 0", "python", _resolve(learning_rate=0), P.ParamsError, "'learning_rate' = 0.0 is out of range"),
    Case("mlm_probability: 1.5", "python", _resolve(mlm_probability=1.5), P.ParamsError, "between 0 and 1"),
    Case("warmup_ratio: 2", "python", _resolve(warmup_ratio=2), P.ParamsError, "'warmup_ratio' = 2.0"),
    Case("target_max_steps: 0", "python", _resolve(target_max_steps=0), P.ParamsError, "-1 (epochs decide) or >= 1"),
    Case("seed: -1", "python", _resolve(seed=-1), P.ParamsError, "'seed' = -1 is out of range"),
    Case("threads: -2", "python", _resolve(threads=-2), P.ParamsError, "'threads' = -2"),
    Case("max_length: 4", "python", _resolve(max_length=4), P.ParamsError, ">= 8 tokens"),
    Case("doc_stride: 96 with max_length_qa: 96", "python", _resolve(doc_stride=96, max_length_qa=96), P.ParamsError,
         "must be smaller than 'max_length_qa'"),
    Case("retrieval_layer: -2", "python", _resolve(retrieval_layer=-2), P.ParamsError, "'retrieval_layer' = -2"),
    # ------------------------------------------------ lists and tasks
    Case("intermediate_tasks: [mnli, mnli]", "python", _resolve(intermediate_tasks=["mnli", "mnli"]), P.ParamsError,
         "names mnli more than once"),
    Case("target_languages: [de, de]", "python", _resolve(target_task="xnli", target_languages=["de", "de"]),
         P.ParamsError, "names de more than once"),
    Case("intermediate_tasks: [xnli] (a target task)", "python", _resolve(intermediate_tasks=["xnli"]), P.ParamsError,
         "'xnli' is a target task, not an intermediate task"),
    Case("learning_rat: 0.1 (typo)", "python", _resolve(learning_rat=0.1), P.ParamsError, "did you mean learning_rate"),
    # ------------------------------------------------ the notebook path (papermill -p / -f)
    Case("-p target_epochs -1", "notebook", _nb(target_epochs=-1), P.ParamsError, "'target_epochs' = -1.0"),
    Case("-p eval_batch_size 0", "notebook", _nb(eval_batch_size=0), P.ParamsError, "'eval_batch_size' = 0"),
    Case("-p intermediate_tasks [udpos]", "notebook", _nb(intermediate_tasks=["udpos"]), P.ParamsError,
         "'udpos' is a target task"),
    Case("-p max_length 512 (smoke model: 128 positions)", "notebook", _nb(max_length=512), P.ParamsError,
         "'max_length' = 512 is longer than model 'smoke-tiny' takes (128 tokens"),
    Case("-p device cuda (no GPU)", "notebook", _nb(device="cuda"), P.ParamsError, "device: cuda was asked for"),
    Case("-p model someorg/x with HF_HUB_OFFLINE=1, not cached", "notebook",
         lambda ctx: (ctx.monkeypatch.setenv("HF_HUB_OFFLINE", "1"), ctx.notebook(model="someorg/not-in-any-cache")),
         P.ParamsError, "not in the local Hugging Face cache"),
    Case("-p runs_dir FILE (a file, not a folder)", "notebook",
         lambda ctx: (ctx.tmp.joinpath("file").write_text("x"), ctx.notebook(runs_dir=str(ctx.tmp / "file"))),
         P.ParamsError, "is a file, not a folder"),
    Case("-p seeed 3 (typo)", "notebook", _nb(seeed=3), P.ParamsError, "Unknown parameter(s) 'seeed'"),
    # ------------------------------------------------ grids (xstilts check / run)
    Case("grid axis as a string: `target_task: udpos`", "cli", lambda ctx: ctx.check("grid: {target_task: udpos}\n"),
         2, "Grid axis 'target_task' in grid"),
    Case("grid axis empty: `target_task: []`", "cli", lambda ctx: ctx.check("grid: {target_task: []}\n"), 2,
         "must be a non-empty list"),
    Case("`seeds: {smok: [0]}` (typo)", "cli", lambda ctx: ctx.check("seeds: {smok: [0]}\ngrid: {target_task: [udpos]}\n"),
         2, "Unknown scale(s) 'smok' under `seeds:`"),
    Case("`scales: {smok: ...}` (typo)", "cli",
         lambda ctx: ctx.check("grid: {target_task: [udpos]}\nscales: {smok: {runs: []}}\n"), 2,
         "Unknown scale(s) 'smok' under `scales:`"),
    Case("`scales: {smoke: {param: ...}}` (typo)", "cli",
         lambda ctx: ctx.check("grid: {target_task: [udpos]}\nscales: {smoke: {param: {seed: 1}}}\n"), 2,
         "may only hold grid, params, runs"),
    Case("`seeds: {smoke: 0}` (not a list)", "cli", lambda ctx: ctx.check("seeds: {smoke: 0}\ngrid: {target_task: [udpos]}\n"),
         2, "must be a list of integers"),
    Case("empty grid file", "cli", lambda ctx: ctx.check(""), 2, "defines no runs"),
    Case("grid whose runs all belong to another scale", "cli",
         lambda ctx: ctx.check("scales: {full: {runs: [{target_task: udpos}]}}\n"), 2, "expand(s) to no runs"),
    Case("YAML syntax error", "cli", lambda ctx: ctx.check("grid:\n  target_task: [udpos\n"), 2, "line 3"),
    Case("unknown grid key `seed:`", "cli", lambda ctx: ctx.check("seed: [0]\ngrid: {target_task: [udpos]}\n"), 2,
         "Unknown key(s) seed in grid"),
    Case("grid `params: {target_epochs: -1}`", "cli", lambda ctx: ctx.check("params: {target_epochs: -1}\ngrid: {target_task: [udpos]}\n"),
         2, "'target_epochs' = -1.0 is out of range"),
    Case("grid `intermediate_tasks: [[mnli, mnli]]`", "cli",
         lambda ctx: ctx.check("grid: {intermediate_tasks: [[mnli, mnli]], target_task: [udpos]}\n"), 2, "more than once"),
    Case("grid with target task as intermediate `[[xnli]]`", "cli",
         lambda ctx: ctx.check("grid: {intermediate_tasks: [[xnli]], target_task: [udpos]}\n"), 2, "is a target task"),
    Case("grid `params: {max_length: 256}` (smoke model: 128)", "cli",
         lambda ctx: ctx.check("params: {max_length: 256}\ngrid: {target_task: [udpos]}\n"), 2, "Set max_length <= 128"),
    Case("grid file that does not exist", "cli", lambda ctx: ctx.cli("check", "no_such_grid", "--scale", "smoke"), 2,
         "does not exist"),
    # ------------------------------------------------ the machine and the runs folder (xstilts run)
    Case("--cores 0", "cli", lambda ctx: ctx.run(UDPOS_GRID, "--cores", "0"), 2, "--cores must be at least 1"),
    Case("python API workflow.run(cores=0)", "python",
         lambda ctx: workflow.run([ctx.grid(UDPOS_GRID)], "smoke", cores=0, runs_dir=str(ctx.root)), P.ParamsError,
         "--cores must be at least 1"),
    Case("--runs-dir is a file", "cli", _runs_is_file, 2, "is a file, not a folder"),
    Case("--runs-dir read-only", "cli", _read_only_runs, 2, "cannot be written"),
    Case("device: cuda without CUDA", "cli",
         lambda ctx: ctx.run("params: {device: cuda}\ngrid: {target_task: [udpos]}\n"), 2, "torch sees no GPU"),
    Case("Hub-shaped model, HF_HUB_OFFLINE=1, not cached", "cli", _offline_hub_model, 2,
         "not in the local Hugging Face cache"),
    Case("a second `xstilts run` on the same runs folder", "cli", _hold_lock_and_run, 2,
         "Another `xstilts run`"),
    # ------------------------------------------------ data files
    Case("0-byte XNLI test file (offline scale)", "cli",
         lambda ctx: ctx.check("params: {target_languages: [de], data_dir: %s}\ngrid: {target_task: [xnli]}\n"
                               % ctx.mirror_with("xnli/test-de.tsv", b""), "offline"),
         2, "is empty (0 bytes)", needs_mirror=True),
    Case("truncated XCOPA jsonl (last line cut)", "python",
         lambda ctx: data.load_examples("xcopa", "test", "et", source="mirror",
                                        data_dir=ctx.truncated("xcopa/test.et.jsonl", 10, 40)),
         data.DataFormatError, "test.et.jsonl, line 11: not valid JSON", needs_mirror=True),
    Case("truncated XNLI tsv (last line cut)", "python",
         lambda ctx: data.load_examples("xnli", "test", "de", source="mirror",
                                        data_dir=ctx.truncated("xnli/test-de.tsv", 20, 12)),
         data.DataFormatError, "test-de.tsv, line 21: 1 tab-separated column(s)", needs_mirror=True),
    Case("truncated CoNLL-U (line cut mid-columns)", "python",
         lambda ctx: data.load_examples("ud_pos", "train", "en", source="mirror",
                                        data_dir=ctx.truncated("ud/en_ewt-ud-train.conllu", 30, 25)),
         data.DataFormatError, "en_ewt-ud-train.conllu, line 31", needs_mirror=True),
    # ------------------------------------------------ broken state
    Case("truncated result.json, then the analyses collect results", "python",
         lambda ctx: (ctx.truncated_result(), runs.collect(ctx.root, "smoke")), runs.BrokenResultError,
         "does not parse (truncated?), so this run is not finished. Rerun the grid"),
]


@pytest.fixture
def guard(monkeypatch):
    """Record anything that would be compute: building or loading a model, starting Snakemake."""
    calls = []
    import transformers

    def record(what):
        def fake(*a, **k):
            calls.append(what)
            raise AssertionError(f"{what} reached before the error")
        return fake

    monkeypatch.setattr(models, "load_encoder", record("load_encoder"))
    monkeypatch.setattr(models, "resolve", record("models.resolve"))
    monkeypatch.setattr(transformers.AutoModelForMaskedLM, "from_pretrained", record("MLM from_pretrained"))
    monkeypatch.setattr(workflow.subprocess, "call", record("snakemake"))
    return calls


def _run_folders(root: Path) -> list[Path]:
    return [p.parent for p in root.glob("*/*/*/params.json")] if root.is_dir() else []


@pytest.mark.parametrize("case", CASES, ids=[c.input for c in CASES])
def test_bad_input_fails_before_compute(case, tmp_path, monkeypatch, capsys, guard):
    if case.needs_mirror and not MIRROR.is_dir():
        pytest.skip(f"needs the data mirror at {MIRROR}")
    if "cuda" in case.input:
        import torch
        if torch.cuda.is_available():
            pytest.skip("this machine has a GPU")
    ctx = Ctx(tmp_path, monkeypatch)
    if case.entry == "cli":
        code = case.action(ctx)
        err = capsys.readouterr().err
        assert code == case.expect, err
        assert case.message in err
        assert "Traceback" not in err and err.startswith("xstilts: error: ")
        assert err.strip().count("\n") == 0, "one paragraph"
    else:
        with pytest.raises(case.expect) as raised:
            case.action(ctx)
        assert case.message in str(raised.value)
        assert "\n" not in str(raised.value).strip()
    assert guard == [], f"compute started: {guard}"
    assert _run_folders(ctx.root) == [], "a run folder was created"


def test_the_table_has_at_least_40_rows():
    assert len(CASES) >= 40
    assert {c.entry for c in CASES} == {"cli", "notebook", "python"}


def markdown_table() -> str:
    rows = ["| input | entry point | exit code / exception | message (fragment) | before compute? |",
            "|---|---|---|---|---|"]
    for c in CASES:
        expect = str(c.expect) if isinstance(c.expect, int) else c.expect.__name__
        msg = c.message.replace("|", "\\|")
        rows.append(f"| {c.input.replace('|', '/')} | {c.entry} | {expect} | {msg} | yes (asserted) |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.stdout.write(markdown_table() + "\n")
