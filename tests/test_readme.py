"""The README's commands and worked examples, as written.

The bash blocks of "Quick start" and "Running experiments" run in a clone-like copy of the working
tree (tracked and new files, the venv linked in) with an empty runs dir: cheap commands for real,
expensive ones as dry runs (`make -n`, `xstilts run --dry-run`, `papermill --prepare-only`), and only
the SLURM command skipped. The "Adding a grid" and "Adding a task" examples are checked against
what the README says they do.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from xstilts import data, params, smoke, tasks, workflow

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end if end > 0 else None]


def _blocks(title: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", _section(title), flags=re.S)


def _commands(title: str) -> list[str]:
    lines = []
    for block in _blocks(title, "bash"):
        for line in block.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line:
                lines.append(line)
    return lines


def test_the_readme_says_how_to_reach_the_commands():
    quick = _commands("Quick start")
    assert "source .venv/bin/activate" in quick
    assert quick.index("source .venv/bin/activate") < min(i for i, c in enumerate(quick) if c.startswith("xstilts"))


def test_the_grid_example_checks_as_the_readme_says(tmp_path):
    (block,) = _blocks("Adding a grid", "yaml")
    name = re.search(r"`params/experiments/(\w+)\.yaml`", _section("Adding a grid")).group(1)
    path = tmp_path / f"{name}.yaml"
    path.write_text(block)
    claimed = int(re.search(r"answers `OK: (\d+) runs`", _section("Adding a grid")).group(1))
    out = subprocess.run([sys.executable, "-m", "xstilts.cli", "check", str(path), "--scale", "smoke",
                          "--runs-dir", str(tmp_path / "runs")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"OK: {claimed} runs")
    phases = [job["phase"] for job in workflow.plan([str(path)], "smoke", str(tmp_path / "runs"))["jobs"].values()]
    assert (phases.count("intermediate"), phases.count("target")) == tuple(
        int(n) for n in re.search(r"\((\d+) intermediate runs and (\d+) target", _section("Adding a grid")).groups())


def test_the_task_example_is_a_working_registry_entry(monkeypatch, tmp_path):
    (block,) = _blocks("Adding a task", "yaml")
    entry = yaml.safe_load(block)
    (name,) = entry
    registry = {k: dict(v) for k, v in tasks.all_tasks().items()}
    registry[name] = dict(entry[name], name=name)
    # what editing tasks.yaml does: both readers of the file see the new entry
    monkeypatch.setattr(tasks, "all_tasks", lambda: registry)
    monkeypatch.setattr(smoke, "_registry", lambda: registry)
    cfg = params.resolve({"intermediate_tasks": [name], "target_task": "xnli", "scale": "smoke"})
    examples = data.load_examples(name, "train", "en", source="smoke", limit=8)
    assert len(examples) == 8
    assert {e["label"] for e in examples} <= set(entry[name]["labels"])
    assert all(e["text_a"] and "text_b" in e for e in examples)
    data.check_run_inputs(cfg)
    offline = params.resolve({"intermediate_tasks": [name], "target_task": "xnli", "scale": "offline"})
    with pytest.raises(data.DataMissingError, match="not in the local mirror"):
        data.check_run_inputs(offline)  # before any compute, with the entry's `unavailable` sentence


def _clone(tmp_path: Path) -> Path:
    """The working tree's tracked and new files, with the venv this test runs in as .venv."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True,
                           text=True, check=True).stdout.splitlines()
    clone = tmp_path / "clone"
    for rel in files:
        if rel.startswith("runs/") or not (REPO / rel).is_file():
            continue  # committed offline runs are not needed to run the commands
        (clone / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, clone / rel)
    (clone / ".venv").symlink_to(Path(sys.prefix))
    return clone


def _as_checked(command: str) -> tuple[str | None, str]:
    """The command as the test runs it (None: skipped) and why."""
    if "--profile profiles/slurm" in command:
        return None, "needs a SLURM cluster"
    if command.startswith("make "):
        return command.replace("make ", "make -n ", 1), "dry run"
    if command.startswith("xstilts run "):
        return command + " --dry-run", "dry run"
    if command.startswith("papermill "):
        return command + " --prepare-only", "parameters injected, nothing executed"
    return command, "for real"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git to list the working tree")
def test_readme_commands_run_as_written_in_a_fresh_clone(tmp_path):
    clone = _clone(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(clone / "lib"), XSTILTS_RUNS=str(tmp_path / "runs"), COLUMNS="100")
    env.pop("VIRTUAL_ENV", None)
    mirror = Path(os.environ.get("XSTILTS_DATA", REPO.parent / "shared" / "data"))
    have_mirror = (mirror / "xnli").is_dir()
    if have_mirror:  # the clone is not beside ../shared: name the mirror this checkout found
        env["XSTILTS_DATA"] = str(mirror)
    commands = _commands("Quick start") + _commands("Running experiments")
    assert len(commands) >= 12
    activated, skipped, ran = False, [], 0
    for command in commands:
        if command == "source .venv/bin/activate":
            assert (clone / ".venv" / "bin" / "activate").exists()
            activated = True
            continue
        checked, how = _as_checked(command)
        if checked is None or ("--scale offline" in command and not have_mirror):
            skipped.append((command, how if checked is None else "needs the local data mirror"))
            continue
        if command.startswith(("xstilts", "papermill")):
            assert activated, f"{command!r} comes before the README says how to activate the venv"
        out = subprocess.run(["bash", "-c", f"source .venv/bin/activate && {checked}"], cwd=clone, env=env,
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, f"{checked} ({how}) failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}"
        if command.startswith("papermill "):
            assert "Passed unknown parameter" not in out.stderr
        if command.startswith("xstilts tasks"):
            assert max(len(line) for line in out.stdout.splitlines()) <= 100
        ran += 1
    assert [c for c, why in skipped if why == "needs a SLURM cluster"] == [
        c for c in commands if "--profile profiles/slurm" in c]
    assert ran >= 10
