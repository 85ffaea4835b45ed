"""Mistyped grid and task names get a "did you mean" and the list to choose from; `make paper`
without LaTeX says what to install."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "xstilts.cli", *args], capture_output=True, text=True)


@pytest.mark.parametrize("command", ["check", "status", "results", "run"])
def test_a_mistyped_grid_name_gets_did_you_mean_and_the_list_of_grids(command):
    out = _cli(command, "params/experiments/a0_main_tabel.yaml", "--scale", "smoke")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "Did you mean a0_main_table?" in out.stderr
    for grid in (REPO / "params" / "experiments").glob("*.yaml"):
        assert grid.stem in out.stderr


def test_a_mistyped_task_name_gets_did_you_mean(tmp_path):
    grid = tmp_path / "typo.yaml"
    grid.write_text("grid: {target_task: [xnl]}\n")
    out = _cli("check", str(grid), "--scale", "smoke")
    assert out.returncode == 2 and "Unknown target task 'xnl'. Did you mean xnli?" in out.stderr
    grid.write_text("grid: {target_task: [xnli], intermediate_tasks: [[hellaswg]]}\n")
    out = _cli("check", str(grid), "--scale", "smoke")
    assert out.returncode == 2 and "Did you mean hellaswag?" in out.stderr


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_paper_without_latex_names_the_packages(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    out = subprocess.run([shutil.which("make"), "paper"], cwd=REPO, capture_output=True, text=True,
                         env={"PATH": str(empty)})
    assert out.returncode != 0
    assert "pdflatex not found" in out.stderr and "texlive-latex-extra" in out.stderr


def test_a_reader_that_closes_the_pipe_gets_no_traceback():
    # `xstilts plan ... | head -1`: the plan keeps writing after head exits
    plan = subprocess.Popen([sys.executable, "-m", "xstilts.cli", "plan", "params/experiments/a0_main_table.yaml",
                             "--scale", "smoke"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    plan.stdout.readline()
    plan.stdout.close()  # as head does after its line
    stderr = plan.stderr.read().decode()
    assert plan.wait() == 141 and "Traceback" not in stderr and "BrokenPipe" not in stderr
