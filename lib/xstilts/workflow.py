"""Experiment grids -> runs -> Snakemake, which executes the phase notebooks with papermill.

`expand(grid, scale)` validates every run's parameters before anything executes, and names each
run by its hash, so runs shared between grids (the no-intermediate baseline, an intermediate
checkpoint reused by every target task) exist once. Snakemake then executes what is missing,
in parallel, locally or on SLURM (`--profile profiles/slurm`).
"""
from __future__ import annotations

import argparse
import contextlib
import difflib
import fcntl
import itertools
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from xstilts import params as P
from xstilts import audit, config, data, determinism, phases, preflight, progress, runs, warm

NOTEBOOKS = P.REPO_ROOT / "notebooks"
GRID_KEYS = {"description", "analysis", "seeds", "grid", "params", "scales", "runs", "without_recipes"}
SCALE_GRID_KEYS = {"grid", "params", "runs"}  # what `scales: {<scale>: ...}` may override
LOCK = ".xstilts-run.lock"


def load_grid(path: str | Path) -> dict:
    path = Path(path)
    if not path.exists() and (P.PARAMS_DIR / "experiments" / f"{path.stem}.yaml").exists():
        path = P.PARAMS_DIR / "experiments" / f"{path.stem}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in (P.PARAMS_DIR / "experiments").glob("*.yaml"))
        close = difflib.get_close_matches(path.stem, known, n=3, cutoff=0.5)
        raise P.ParamsError(f"Grid {path} does not exist." + (f" Did you mean {' or '.join(close)}?" if close else "")
                            + f" The grids in {P.PARAMS_DIR / 'experiments'}: {', '.join(known)} "
                            "(give a path or just the name, e.g. a0_main_table).")
    grid = P.read_yaml(path)
    unknown = set(grid) - GRID_KEYS
    if unknown:
        raise P.ParamsError(f"Unknown key(s) {', '.join(sorted(unknown))} in grid {path}; a grid has "
                            f"{', '.join(sorted(GRID_KEYS))}.")
    grid["name"] = path.stem
    _check_grid_shape(grid, path)
    return grid


def _check_grid_shape(grid: dict, path: Path) -> None:
    """Typos in `seeds:` / `scales:` and string axes would silently change what runs: refuse them."""
    scales = P.task_registry.SCALES
    for key in ("seeds", "scales", "grid", "params"):
        if grid.get(key) is not None and not isinstance(grid[key], dict):
            raise P.ParamsError(f"`{key}:` in grid {path} must be a mapping, got {grid[key]!r}.")
    if grid.get("runs") is not None and not isinstance(grid["runs"], list):
        raise P.ParamsError(f"`runs:` in grid {path} must be a list of parameter mappings.")
    for key in ("seeds", "scales"):
        unknown = sorted(set(grid.get(key) or {}) - set(scales))
        if unknown:
            raise P.ParamsError(f"Unknown scale(s) {', '.join(map(repr, unknown))} under `{key}:` in grid {path}; "
                                f"scales are {', '.join(scales)}.")
    frozen = grid.get("without_recipes")
    if frozen is not None and not (isinstance(frozen, list) and set(frozen) <= set(scales)):
        raise P.ParamsError(f"`without_recipes:` in grid {path} must be a list of scales ({', '.join(scales)}), "
                            f"got {frozen!r}.")
    for scale, seeds in (grid.get("seeds") or {}).items():
        # [] is allowed: a grid that does not run at that scale (an offline-only sweep)
        if not (isinstance(seeds, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in seeds)):
            raise P.ParamsError(f"`seeds: {{{scale}: ...}}` in grid {path} must be a list of integers such "
                                f"as [0, 1, 2], got {seeds!r}.")
    for scale, over in (grid.get("scales") or {}).items():
        if not isinstance(over, dict) or set(over) - SCALE_GRID_KEYS:
            bad = sorted(set(over) - SCALE_GRID_KEYS) if isinstance(over, dict) else over
            raise P.ParamsError(f"`scales: {{{scale}: ...}}` in grid {path} may only hold "
                                f"{', '.join(sorted(SCALE_GRID_KEYS))}, got {bad!r}.")
    axes = [dict(grid.get("grid") or {})] + [dict(o.get("grid") or {}) for o in (grid.get("scales") or {}).values()]
    for axis in axes:
        for key, values in axis.items():
            if not isinstance(values, list) or not values:
                raise P.ParamsError(f"Grid axis {key!r} in grid {path} must be a non-empty list of values, "
                                    f"got {values!r}; write `{key}: [{values}]` for a single value.")
    if not any(grid.get(k) for k in ("grid", "runs", "analysis")) and not any(
            (o or {}).get(k) for o in (grid.get("scales") or {}).values() for k in ("grid", "runs")):
        raise P.ParamsError(f"Grid {path} defines no runs (`grid:` or `runs:`) and no `analysis:`; "
                            f"see params/experiments/*.yaml for examples.")


def grid_runs(grid: dict, scale: str, *, check_inputs: bool = True) -> list[dict]:
    """Every (validated) parameter set of a grid at a scale: product of `grid` axes x seeds.
    `check_inputs=False` (analyses, which read results, not data) skips the data-file check."""
    if "grid" not in grid and "runs" not in grid:
        return []  # an analysis-only grid (a6_claims): it reads what the other grids ran
    at_scale = (grid.get("scales") or {}).get(scale, {})
    axes = dict(grid.get("grid") or {}, **(at_scale.get("grid") or {}))
    fixed = dict(grid.get("params") or {}, **(at_scale.get("params") or {}))
    seeds = (grid.get("seeds") or {}).get(scale, [0])
    # an archived design's grid lists the scales whose runs were made before that scale had task
    # recipes: resolved without them, its runs keep the names (and parameters) they were made with
    with_recipes = scale not in (grid.get("without_recipes") or [])
    combos = [dict(zip(axes, values)) for values in itertools.product(*axes.values())] if axes else [{}]
    # a scale's own `runs` list replaces the grid-wide one (some variants need data a scale lacks)
    combos += list((at_scale["runs"] if "runs" in at_scale else grid.get("runs")) or [])
    out = []
    for combo in combos:
        for seed in seeds:
            values = dict(fixed, **combo, seed=seed, scale=scale)
            cfg = P.resolve(values, where=f"grid {grid['name']} ({scale})", use_recipes=with_recipes)
            if check_inputs:
                data.check_run_inputs(cfg)  # a missing data file fails the whole grid before any compute
            preflight.check_lengths(cfg)  # the machine-specific checks wait for `run` (SLURM plans elsewhere)
            out.append(cfg)
    return out


def jobs_for(cfgs: list[dict], runs_root: Path) -> dict[str, dict]:
    """Run folder (relative to the runs root) -> what Snakemake needs to produce it."""
    jobs: dict[str, dict] = {}
    for cfg in cfgs:
        upstream = None
        for phase in phases.chain(cfg):
            rel = str(runs.run_dir(cfg, phase).relative_to(runs.runs_root(cfg)))
            jobs.setdefault(rel, {"phase": phase, "notebook": str(NOTEBOOKS / phases.get(phase).notebook),
                                  "upstream": upstream,
                                  "params": {k: cfg[k] for k in config.KEYS if k not in ("runs_dir",)}})
            upstream = rel
    return jobs


def plan(grid_paths: list[str], scale: str, runs_dir: str | None = None) -> dict:
    grids = [load_grid(p) for p in grid_paths]
    root = Path(runs_dir or os.environ.get("XSTILTS_RUNS") or (P.REPO_ROOT / "runs")).resolve()
    jobs: dict[str, dict] = {}
    analyses = {}
    members = {}  # grid -> every run it expands to, upstream runs included (`xstilts plan`'s breakdown)
    for path, grid in zip(grid_paths, grids):
        cfgs = grid_runs(grid, scale)
        for cfg in cfgs:
            cfg["runs_dir"] = str(root)
        grid_jobs = jobs_for(cfgs, root)
        jobs.update(grid_jobs)
        members[Path(path).stem] = sorted(grid_jobs)
        if grid.get("analysis"):
            needed = [r for r, j in grid_jobs.items() if j["phase"] == "target"]
            analyses.setdefault(grid["analysis"], set()).update(needed)
    for grid in grids:  # analysis-only grids wait for every target run of the plan
        if grid.get("analysis") and not grid_runs(grid, scale):
            analyses[grid["analysis"]] = {r for r, j in jobs.items() if j["phase"] == "target"}
    if not jobs and not analyses:
        raise P.ParamsError(f"{', '.join(grid_paths)} expand(s) to no runs and no analysis at the {scale} "
                            f"scale: check the grid's `grid:` / `runs:` and `scales: {{{scale}: ...}}`.")
    return {"scale": scale, "runs_root": str(root), "repo": str(P.REPO_ROOT), "jobs": jobs,
            "analyses": {a: sorted(r) for a, r in analyses.items()}, "runs_by_grid": members,
            "analysis_code": {a: [str(f) for f in analysis_code(a)] for a in analyses}}


# the modules every analysis reads its results and writes its tables and figures through
# the modules analysis notebooks read results with (a0 also writes the dev-check and recipe-sweep tables)
ANALYSIS_SHARED = ("results", "results_table", "stats", "paper", "devcheck", "ledger", "recipe_sweep")


def analysis_code(analysis: str) -> list[Path]:
    """The code an analysis's outputs depend on: its notebook, its module, the shared analysis modules."""
    lib = Path(__file__).resolve().parent
    files = [NOTEBOOKS / f"{analysis}.ipynb", lib / "analyses" / f"{analysis}.py",
             *(lib / f"{m}.py" for m in ANALYSIS_SHARED)]
    return [f for f in files if f.exists()]


def check_cores(cores: int) -> None:
    if not isinstance(cores, int) or cores < 1:
        raise P.ParamsError(f"--cores must be at least 1, got {cores!r} (Snakemake would wait forever for a "
                            f"free core).")


@contextlib.contextmanager
def runs_lock(root: Path):
    """One `xstilts run` per runs folder at a time. Snakemake runs with --nolock (its own lock would
    outlive a kill -9); this flock is released by the kernel when its holder dies, so it never
    needs removing by hand."""
    path = Path(root) / LOCK
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise P.ParamsError(f"Another `xstilts run` ({holder}) is using the runs folder {root}. Wait for "
                                f"it to finish (or stop it), or pass another --runs-dir; two runs on one "
                                f"folder would compute the same runs twice.") from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def write_params_files(root: Path, jobs: dict) -> None:
    """papermill -f files, one per run, rewritten whenever they change: execution keys (device,
    threads, data_dir, ...) reach runs planned before. runs_dir is stored relative to the file's
    folder (`..` = the runs root), so a moved or copied runs folder writes to itself."""
    for rel, job in jobs.items():
        params_file = root / "_params" / f"{Path(rel).name}.yaml"
        text = yaml.safe_dump(dict(job["params"], runs_dir=".."), sort_keys=True)
        if not params_file.exists() or params_file.read_text() != text:
            params_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = params_file.with_suffix(".tmp")
            tmp.write_text(text)
            os.replace(tmp, params_file)


def set_aside_broken_results(root: Path, jobs: dict) -> list[str]:
    """Results that do not parse are not finished: move them aside so Snakemake computes them again."""
    broken = []
    for rel in jobs:
        f = root / rel / runs.RESULT
        if f.exists() and runs.read_result(f) is None:
            runs.set_aside(f)
            broken.append(rel)
    return broken


# what the Hugging Face libraries read (at import) to never try the network
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")


def kernel_mode(the_plan: dict) -> str:
    """The grid's `cpu_kernels`: one value for every job, exported before any job process starts
    (MKL fixes its branch at its first call; determinism.py)."""
    modes = sorted({job["params"]["cpu_kernels"] for job in the_plan["jobs"].values()}) or ["portable"]
    if len(modes) > 1:
        raise P.ParamsError(f"The runs of one `xstilts run` must share cpu_kernels, and these ask for "
                            f"{' and '.join(modes)}: run the grids with different cpu_kernels separately.")
    return modes[0]


def offline_env(scale: str, env: dict) -> dict:
    """The jobs' environment: offline by default at the smoke and offline scales (everything they
    read is local), untouched at full scale, which reads the Hub unless the user says otherwise."""
    if scale in ("smoke", "offline"):
        for name in OFFLINE_VARIABLES:
            env.setdefault(name, "1")
    return env


def run(grid_paths: list[str], scale: str, *, cores: int = 2, runs_dir: str | None = None,
        profile: str | None = None, dry_run: bool = False, verbose: bool = False, new_kernels: bool = False,
        extra: list[str] | None = None) -> int:
    """Validate the grids, write the job plan, hand it to Snakemake and report each run as it ends.

    Snakemake's own output goes to `<runs>/_logs/` (to the terminal with `verbose` or `dry_run`).
    A local run executes the phase notebooks in warm kernels (`warm.Pool`); with a `profile`
    (SLURM) or `new_kernels`, every job starts its own.
    """
    check_cores(cores)
    started = time.monotonic()
    the_plan = plan(grid_paths, scale, runs_dir)
    kernel_mode(the_plan)  # checked before anything runs
    if audit.strict(scale) and audit.report(grid_paths, scale) != 0:
        return 2  # undeclared data overlap: nothing runs (audit.py)
    root = Path(the_plan["runs_root"])
    runs.check_runs_root(root)
    if not profile:  # jobs run on this machine: its GPU and model cache must serve them
        for job in the_plan["jobs"].values():
            preflight.check_machine(job["params"])
    with runs_lock(root):
        return _run_locked(the_plan, root, grid_paths, scale, cores=cores, profile=profile, dry_run=dry_run,
                           verbose=verbose, new_kernels=new_kernels, extra=extra, started=started)


def runs_at_once(cores: int, threads: int, profile: str | None) -> int:
    """How many runs share this machine's `cores` at once. Each run sets its own CPU thread count
    (`threads`: the largest of the pending runs; 0 = one), so --cores C with T-thread runs starts
    C // T of them. Oversubscribed, they thrash: an offline POS run trained 15-16.5 examples/s
    alone on the 2-core CPU, and 1.7-1.9 when two 2-thread runs shared it with a test suite. The
    phase rule still declares one thread, so that every job and warm kernel sees the same thread
    environment; the count is enforced here instead. A cluster profile schedules its own jobs."""
    return cores if profile else max(1, cores // max(threads, 1))


def _run_locked(the_plan, root, grid_paths, scale, *, cores, profile, dry_run, verbose, new_kernels, extra,
                started) -> int:
    plan_file = _write_plan(the_plan, root, grid_paths)
    for rel in set_aside_broken_results(root, the_plan["jobs"]):
        print(f"{rel}/{runs.RESULT} did not parse: set aside, the run is computed again", flush=True)
    stale = _stale_analyses(the_plan, root)
    shown = progress.Progress(the_plan, stale)
    print(f"{len(the_plan['jobs'])} runs in the plan, {len(shown.pending)} to compute; "
          f"{len(the_plan['analyses'])} analyses, {len(stale)} to write.", flush=True)
    shown.show_reused()
    if not shown.pending and not stale and not _incomplete_markers(root) and not extra:
        shown.summary(time.monotonic() - started, None)
        return 0  # nothing for Snakemake to do: skip its start-up (seconds)
    snakemake = [sys.executable, "-m", "snakemake", "--snakefile", str(Path(__file__).parent / "workflow" / "Snakefile"),
                 "--directory", str(root), "--configfile", str(plan_file), "--nolock"]
    env = offline_env(scale, dict(os.environ, PYTHONHASHSEED="0"))
    env[determinism.MODE_ENV] = kernel_mode(the_plan)
    log_file = None if verbose or dry_run else root / "_logs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{scale}.log"
    if log_file:
        log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file or os.devnull, "a") as log:
        sink = None if log_file is None else log
        if _incomplete_markers(root):
            # result.json is written last and atomically, so it marks a finished run even when the
            # grid was killed while that job's notebook was still closing: tell Snakemake so, or
            # --rerun-incomplete would delete the result and recompute the run
            finished = [f"{rel}/{runs.RESULT}" for rel in shown.reused]
            subprocess.call(snakemake + ["--quiet", "all", "--cleanup-metadata", *finished], env=env,
                            stdout=subprocess.DEVNULL if sink is None else sink, stderr=sink)
        # runs are keyed by hash and written atomically, so a lock left by a killed run (kill -9)
        # must not block the rerun that resumes it: --nolock
        threads = max([the_plan["jobs"][rel]["params"]["threads"] for rel in shown.pending] + [1])
        at_once = runs_at_once(cores, threads, profile)
        if at_once < cores:
            print(f"{at_once} run(s) at a time: --cores {cores}, {threads} CPU threads per run (`threads`)", flush=True)
        cmd = snakemake + ["--cores", str(at_once), "--rerun-incomplete", "--rerun-triggers", "mtime", "--keep-going"]
        cmd += ["--profile", profile] if profile else []
        cmd += ["--dry-run"] if dry_run else []
        cmd += extra or []
        pool = None
        if not profile and not dry_run and not new_kernels and shown.pending:
            pool = warm.Pool(min(at_once, len(shown.pending)), cwd=str(NOTEBOOKS), env=env, thread_env=PHASE_THREAD_ENV)
            env[warm.SOCKET_ENV] = pool.socket_path
        # a shell starts a background job (`cmd &`, nohup in a script) with SIGINT ignored, and
        # Snakemake would inherit that and ignore the SIGINT by which a SIGTERM stops it (_follow):
        # give it the default disposition (a Python handler here resets to it across exec)
        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            rc = _follow(subprocess.Popen(cmd, env=env, stdout=sink, stderr=sink), shown)
        except KeyboardInterrupt:
            rc = 130
            print("Interrupted: finished runs are kept; the same command resumes the rest.", flush=True)
        finally:
            if pool:
                pool.close()
    if dry_run:
        return rc
    shown.summary(time.monotonic() - started, log_file, interrupted=rc == 130)
    if rc not in (0, 130) and not shown.failed and log_file:  # Snakemake itself failed (not a notebook): its last words
        print("Snakemake failed:\n" + "".join(log_file.read_text(errors="replace").splitlines(True)[-15:]),
              file=sys.stderr, flush=True)
    return rc


# Snakemake exports OMP_NUM_THREADS & co. = the rule's `threads` (1 for the phase rule) to each job:
# the warm kernels start with the same values
PHASE_THREAD_ENV = {k: "1" for k in warm.THREAD_VARS}


def _write_plan(the_plan: dict, root: Path, grid_paths: list[str]) -> Path:
    plan_file = root / "_plans" / f"{the_plan['scale']}-{'+'.join(Path(p).stem for p in grid_paths)}.json"
    runs.write_json(plan_file, the_plan)
    write_params_files(root, the_plan["jobs"])
    return plan_file


def _stale_analyses(the_plan: dict, root: Path) -> list[str]:
    """Analyses Snakemake would (re)write: missing, or older than a result or code file they read
    (--rerun-triggers mtime)."""
    stale = []
    for analysis, needed in the_plan["analyses"].items():
        out = root / the_plan["scale"] / "analyses" / f"{analysis}.ipynb"
        inputs = [root / rel / runs.RESULT for rel in needed] + [Path(f) for f in the_plan["analysis_code"][analysis]]
        if not out.exists() or any(not f.exists() or f.stat().st_mtime > out.stat().st_mtime for f in inputs):
            stale.append(analysis)
    return stale


def _incomplete_markers(root: Path) -> bool:
    """Whether Snakemake's metadata marks any output of this runs folder as incomplete (a killed job)."""
    marks = root / ".snakemake" / "incomplete"
    return marks.exists() and any(p.is_file() for p in marks.rglob("*"))


def _follow(proc: subprocess.Popen, shown: progress.Progress) -> int:
    """Wait for Snakemake, printing each run as it ends; a SIGTERM stops it as Ctrl-C does."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        while proc.poll() is None:
            shown.poll()
            time.sleep(0.5)
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)  # Ctrl-C reached it already; a SIGTERM did not
        proc.wait()
        shown.poll()  # a run that finished as Snakemake stopped is counted
        raise
    finally:
        signal.signal(signal.SIGTERM, previous)
    shown.poll()
    return proc.returncode


def execute_notebook(notebook: str, output: str, parameters: dict) -> None:
    """One Snakemake job: papermill executes `notebook` with `parameters` into `output` (the log).

    Two start-up/shut-down costs are dropped, which matter at smoke scale where a run computes
    for ~2 s inside ~8 s of papermill: jsonschema (via nbformat) imports rfc3987_syntax, installed
    with JupyterLab, which compiles a grammar at import (0.8 s; notebooks never use the IRI format
    it validates); and the kernel is killed once the last cell has replied instead of asked to
    exit, since a Python process that has imported torch + transformers takes ~1.3 s to tear down.
    Results are written atomically inside the cells, so nothing is left half-written by the kill.
    The kernel logs at ERROR: ipykernel warns at every start that its local TCP link is unencrypted.
    """
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]  (a None entry = "not installed")
    import papermill

    logging.getLogger("papermill").setLevel(logging.ERROR)  # it warns about every injected key
    papermill.execute_notebook(notebook, output, parameters=parameters, kernel_name="python3",
                               cwd=str(NOTEBOOKS), progress_bar=False, shutdown_kernel="immediate",
                               extra_arguments=["--IPKernelApp.log_level=ERROR"])


def main(argv: list[str] | None = None) -> None:
    """`python -m xstilts.workflow NOTEBOOK OUTPUT [-f PARAMS.yaml] [-p KEY VALUE ...]` (the Snakefile's jobs).

    In a local `xstilts run` the notebook executes in a warm kernel of its pool (`warm.SOCKET_ENV`),
    elsewhere in a new kernel. The job's state is recorded next to OUTPUT (`progress.record`).
    """
    cli = argparse.ArgumentParser(prog="python -m xstilts.workflow", description=main.__doc__)
    cli.add_argument("notebook")
    cli.add_argument("output")
    cli.add_argument("-f", "--parameters-file")
    cli.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"))
    cli.add_argument("--new-kernel", action="store_true", help="never a warm kernel (analyses: their figures "
                     "and tables must be byte-identical to a notebook run by hand)")
    args = cli.parse_args(argv)
    parameters = P.read_yaml(args.parameters_file) if args.parameters_file else {}
    parameters.update({key: yaml.safe_load(value) for key, value in args.parameter})  # as papermill -p
    if args.parameters_file and parameters.get("runs_dir") and not Path(parameters["runs_dir"]).is_absolute():
        # runs_dir in a params file is relative to that file's folder (see write_params_files)
        parameters["runs_dir"] = str((Path(args.parameters_file).parent / parameters["runs_dir"]).resolve())
    output = args.output
    rank = int(os.environ.get("RANK", "0"))
    if rank:  # `accelerate launch` runs this once per GPU (distributed.py): process 0's notebook is the log
        output = str(Path(output).with_suffix(f".rank{rank}.ipynb"))
    started = time.monotonic()
    if not rank:
        progress.record(output, "running")
    pool_socket = os.environ.get(warm.SOCKET_ENV)
    try:
        # a run on several GPUs (WORLD_SIZE > 1) keeps its launcher's environment: never a warm kernel
        several = int(os.environ.get("WORLD_SIZE", "1")) > 1
        if pool_socket and os.path.exists(pool_socket) and not args.new_kernel and not several:
            warm.request(pool_socket, args.notebook, output, parameters)
        else:
            execute_notebook(args.notebook, output, parameters)
    except Exception as err:  # noqa: BLE001  (any failure: recorded for `xstilts run`, then the job fails)
        error = str(err) if isinstance(err, warm.JobFailed) else warm.error_head(err)
        progress.record(output, "failed", seconds=time.monotonic() - started, error=error,
                        notebook=str(Path(output).resolve()))
        sys.exit(f"{args.notebook} failed; executed notebook: {output}\n{error}")
    if not rank:
        progress.record(output, "done", seconds=time.monotonic() - started)


if __name__ == "__main__":
    main()
