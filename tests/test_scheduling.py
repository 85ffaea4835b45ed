"""How many runs share the machine: --cores counts CPU cores, and each run sets its own thread count."""
import subprocess
import sys

from xstilts import workflow


def test_runs_at_once_divides_the_cores_by_the_threads_of_a_run():
    assert workflow.runs_at_once(2, 1, None) == 2       # smoke: one thread per run
    assert workflow.runs_at_once(2, 0, None) == 2       # threads: 0 (torch's default under Snakemake: one)
    assert workflow.runs_at_once(2, 2, None) == 1       # the offline scale's 2-thread runs: one at a time
    assert workflow.runs_at_once(1, 2, None) == 1       # never zero
    assert workflow.runs_at_once(16, 2, None) == 8
    assert workflow.runs_at_once(2, 2, "profiles/slurm") == 2  # the cluster schedules its own jobs


def test_xstilts_run_hands_snakemake_the_runs_at_once_not_the_cores(tmp_path):
    grid = tmp_path / "g.yaml"
    grid.write_text("grid: {target_task: [xnli], intermediate_tasks: [[]]}\nseeds: {smoke: [0, 1, 2]}\n"
                    "params: {threads: 2}\n")
    out = subprocess.run([sys.executable, "-m", "xstilts.cli", "run", str(grid), "--scale", "smoke", "--runs-dir",
                          str(tmp_path / "runs"), "--cores", "2", "--dry-run"], capture_output=True, text=True,
                         timeout=300)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-2000:]
    assert "1 run(s) at a time: --cores 2, 2 CPU threads per run" in text
    assert "--cores 1 " in text  # Snakemake's command line, which a dry run prints
