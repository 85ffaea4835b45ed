"""How many runs share the machine: --cores counts CPU cores, and each run sets its own thread count."""
import signal
import subprocess
import sys
import time

import pytest

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


@pytest.mark.slow
def test_a_background_xstilts_run_stops_on_sigterm(tmp_path):
    """A shell starts `xstilts run ... &` (or nohup in a script) with SIGINT ignored. Snakemake
    inherited that, ignored the SIGINT by which xstilts forwards a SIGTERM, and the run went on to
    the end of its grid. It must stop at once, keep what finished and say how to resume."""
    grid = tmp_path / "g.yaml"   # about a minute of runs: longer than the test allows after the SIGTERM
    grid.write_text("grid: {target_task: [udpos], intermediate_tasks: [[mnli]]}\nseeds: {smoke: [0, 1, 2, 3, 4]}\n")
    ignore_sigint = lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)  # noqa: E731  (what `&` does)
    proc = subprocess.Popen([sys.executable, "-m", "xstilts.cli", "run", str(grid), "--scale", "smoke", "--runs-dir",
                             str(tmp_path / "runs"), "--cores", "1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, preexec_fn=ignore_sigint)
    deadline = time.monotonic() + 240
    while not list((tmp_path / "runs" / "smoke").glob("*/*/notebook.job.json")):  # a run is computing
        assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read()[-2000:]
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=45)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("xstilts run went on after SIGTERM: " + proc.communicate()[0][-2000:]) from None
    assert proc.returncode == 130, out[-2000:]
    assert "Interrupted: finished runs are kept; the same command resumes the rest." in out
    assert "not run (interrupted)" in out
