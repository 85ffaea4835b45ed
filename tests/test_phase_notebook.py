"""A phase notebook run on its own says whether its run (and its upstream run) was reused, prints the
same lines under nbval either way, and an upstream run it computes keeps an executed notebook like
every other run."""
import configparser
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _sanitize(text: str) -> str:
    """What nbval compares: the text after every sanitiser of notebooks/nbval_sanitize.cfg."""
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "notebooks" / "nbval_sanitize.cfg")
    for section in cfg.sections():
        text = re.sub(cfg[section]["regex"], cfg[section]["replace"], text)
    return text


def test_reused_and_computed_lines_compare_equal_under_nbval_but_read_differently():
    computed = "target run /home/a/repo/runs/smoke/target/xnli-after-mnli-s0-1a2b: computed now " \
               "(finished 2026-12-01T17:34:58Z; smoke scale, params/scales/smoke.yaml)"
    reused = "target run /ci/clone/runs/smoke/target/xnli-after-mnli-s0-1a2b: reused " \
             "(finished 2026-11-30T09:00:01Z; smoke scale, params/scales/smoke.yaml)"
    assert computed != reused and "reused" in reused
    assert _sanitize(computed) == _sanitize(reused)
    other_run = reused.replace("xnli-after-mnli", "udpos-after-mnli")
    assert _sanitize(other_run) != _sanitize(reused)  # only the reused/computed part is masked


def _stream_text(notebook: Path) -> str:
    nb = json.loads(notebook.read_text())
    return "".join("".join(o["text"]) for c in nb["cells"] for o in c.get("outputs", []) if o["output_type"] == "stream")


@pytest.mark.slow
def test_standalone_target_notebook_computes_its_upstream_through_its_notebook_then_says_reused(tmp_path):
    root = tmp_path / "runs"
    cmd = [sys.executable, "-m", "papermill", "03_target.ipynb", str(tmp_path / "out.ipynb"), "-p", "scale", "smoke",
           "-p", "seed", "5", "-p", "target_task", "xnli", "-p", "runs_dir", str(root),
           "-y", "{target_languages: [en, es], intermediate_tasks: [mnli]}"]
    env = dict(os.environ, PYTHONHASHSEED="0")
    first = subprocess.run(cmd, cwd=REPO / "notebooks", capture_output=True, text=True, env=env, timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Passed unknown parameter" not in first.stderr  # every key given is in the parameters cell
    (upstream,) = (root / "smoke" / "intermediate").iterdir()
    assert (upstream / "result.json").exists() and (upstream / "notebook.ipynb").exists()
    said = _stream_text(tmp_path / "out.ipynb")
    assert f"upstream intermediate run {upstream}: computed now (finished" in said
    assert "; 02_intermediate.ipynb)" in said
    assert "target run" in said and said.count(": computed now (finished") == 2
    second = subprocess.run(cmd, cwd=REPO / "notebooks", capture_output=True, text=True, env=env, timeout=900)
    assert second.returncode == 0, second.stderr[-3000:]
    said_again = _stream_text(tmp_path / "out.ipynb")
    assert said_again.count(": reused (finished") == 2 and f"upstream intermediate run {upstream}" in said_again
    # what nbval compares: the notebook that computed both runs prints what the one that reused them does
    assert _sanitize(said) == _sanitize(said_again)
