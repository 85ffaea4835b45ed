"""`xstilts`: the command line.

  xstilts tasks                               the task registry as a table
  xstilts run GRID [GRID ...] --scale S       run experiment grids (Snakemake + papermill)
      [--profile profiles/slurm] [-- SNAKEMAKE_ARGS]   extra arguments after `--` go to Snakemake
  xstilts check GRID [GRID ...] --scale S     validate grids without running anything
  xstilts audit GRID [GRID ...] --scale S     data overlap between each run's training and other splits
  xstilts plan GRID [GRID ...] --scale S      every run as a JSON line (effective hyperparameters,
                                              estimated device-hours), then a summary; a dry run
  xstilts status GRID [GRID ...] --scale S    each run: done / running / interrupted / failed / missing
  xstilts results GRID [GRID ...] --scale S   one row per (run, language, metric) [--format csv|markdown|json]
  xstilts verify RUN [RUN ...]                rerun committed runs in a scratch folder, compare metrics
  xstilts verify --scale S --sample N         the same for N runs drawn from runs/<S>/target
  xstilts smoke-model                         build (or find) the smoke-scale model
  xstilts data prefetch GRID ... --scale full download every Hub split the grids need into a mirror
  xstilts submission --scale S --out DIR      XTREME / XTREME-R submission folders (best run per task)
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _tasks(args) -> int:
    from xstilts import task_table

    print(task_table.render(role=args.role, details=args.details, fmt=args.format, wide=args.wide))
    return 0


def _run(args) -> int:
    from xstilts import workflow

    return workflow.run(args.grids, args.scale, cores=args.cores, runs_dir=args.runs_dir, profile=args.profile,
                        dry_run=args.dry_run, verbose=args.verbose, new_kernels=args.new_kernels,
                        extra=args.snakemake_args)


def _check(args) -> int:
    from xstilts import workflow

    the_plan = workflow.plan(args.grids, args.scale, args.runs_dir)
    print(f"OK: {len(the_plan['jobs'])} runs, analyses: {', '.join(the_plan['analyses']) or '-'}")
    return 0


def _audit(args) -> int:
    from xstilts import audit

    return audit.report(args.grids, args.scale)


def _status(args) -> int:
    from xstilts import status

    state = status.grid_status(args.grids, args.scale, args.runs_dir, stale_minutes=args.stale_minutes)
    if args.format == "json":
        import json

        print(json.dumps(state, indent=1))
    else:
        print(status.format_status(state, only_pending=args.pending))
    return 0


def _results(args) -> int:
    from xstilts import results_table, workflow

    the_plan = workflow.plan(args.grids, args.scale, args.runs_dir)
    targets = [Path(rel).name for rel, job in the_plan["jobs"].items() if job["phase"] == "target"]
    table = results_table.tidy(args.scale, the_plan["runs_root"], run_names=targets)
    if args.headline:
        table = table[table["headline"]]
    missing = len(set(targets) - set(table["run"]))
    if missing:
        where = f" --runs-dir {args.runs_dir}" if args.runs_dir else ""
        print(f"xstilts: {missing} of {len(targets)} target runs have no result yet "
              f"(`xstilts status {' '.join(args.grids)} --scale {args.scale}{where}`)", file=sys.stderr)
    print(results_table.render(table, args.format), end="")
    return 0


def _verify(args) -> int:
    from pathlib import Path

    from xstilts import runs, verify

    folders = [Path(r) for r in args.runs]
    if not folders:
        if not args.scale:
            raise ValueError("xstilts verify needs run folders (runs/<scale>/<phase>/<run>) or --scale S "
                             "[--sample N] to draw finished target runs from the runs folder.")
        root = Path(args.runs_dir) if args.runs_dir else runs.runs_root({})
        folders = verify.sample_runs(root, args.scale, sample=args.sample, seed=args.seed)
        if not folders:
            raise ValueError(f"No finished target runs under {root / args.scale / 'target'}: run a grid first "
                             f"(xstilts run params/experiments/a0_main_table.yaml --scale {args.scale}).")
    verdicts = verify.verify(folders)
    bad = [v for v in verdicts if v.status in ("DIFFERS", "missing metrics")]
    if not any(v.status != "not comparable" for v in verdicts):
        print("xstilts verify: no run could be compared on this device kind; verify on the kind that made them.")
        return 1
    return 1 if bad else 0


def _plan(args) -> int:
    from xstilts import estimate

    return estimate.main(args.grids, args.scale, args.runs_dir, mfu=args.mfu, peak_tflops=args.peak_tflops)


def _recipes(args) -> int:
    from xstilts import recipe_sweep, tasks

    unknown = [t for t in args.together or [] if t not in tasks.all_tasks()]
    if unknown:
        raise ValueError(f"unknown task(s) for --together: {', '.join(unknown)} (see `xstilts tasks`)")
    targets = [t for t in args.together or [] if tasks.get_task(t)["role"] != "intermediate"]
    if targets:
        raise ValueError(f"--together takes intermediate tasks; {', '.join(targets)} is not one "
                         "(see `xstilts tasks --role intermediate`)")
    print(recipe_sweep.report(args.scale, args.runs_dir, together=args.together))
    return 0


def _smoke_model(args) -> int:
    from xstilts import models

    print(models.ensure_smoke_model())
    return 0


def _prefetch(args) -> int:
    from xstilts import prefetch

    manifest = prefetch.prefetch(args.grids, args.scale, args.out, hub_cache=args.hub_cache)
    print(f"OK: {len(manifest)} splits in the mirror's hub/ folder")
    return 0


def _submission(args) -> int:
    import os

    from xstilts import params, submission

    root = args.runs_dir or os.environ.get("XSTILTS_RUNS") or str(params.REPO_ROOT / "runs")
    print(submission.summary(submission.assemble(root, args.scale, args.out)))
    print(f"Written: {args.out}/xtreme, {args.out}/xtreme-r, {args.out}/manifest.json")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="xstilts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("tasks", help="print the task registry")
    p.add_argument("--role", choices=["intermediate", "target", "mlm"])
    p.add_argument("--details", action="store_true", help="one block per task: every split's files and substitute sentence")
    p.add_argument("--wide", action="store_true", help="every column unwrapped, whatever the terminal's width")
    p.add_argument("--format", choices=["text", "markdown"], default="text")
    p.set_defaults(func=_tasks)
    for name, func, help_ in (("run", _run, "run experiment grids"), ("check", _check, "validate grids"),
                              ("audit", _audit, "audit the data each run reads for overlaps"),
                              ("plan", _plan, "list every run with its hyperparameters and estimated device-hours")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("grids", nargs="+", help="params/experiments/NAME.yaml (or just NAME)")
        p.add_argument("--scale", default="smoke", choices=["smoke", "offline", "full"])
        p.add_argument("--runs-dir", default=None, help="default: $XSTILTS_RUNS or ./runs")
        if name == "run":
            p.add_argument("--cores", type=int, default=2)
            p.add_argument("--profile", default=None, help="a Snakemake profile, e.g. profiles/slurm")
            p.add_argument("--dry-run", action="store_true")
            p.add_argument("--verbose", action="store_true", help="show Snakemake's output (default: to runs/_logs/)")
            p.add_argument("--new-kernels", action="store_true",
                           help="start a kernel per run instead of reusing warm ones (slower; as on SLURM)")
        if name == "plan":
            p.add_argument("--mfu", type=float, default=0.10,
                           help="assumed model-FLOPs utilisation where no run was measured (default 0.10)")
            p.add_argument("--peak-tflops", type=float, default=None,
                           help="device peak where no run was measured (default: H100 SXM, 989 bf16 / 67 fp32)")
        p.set_defaults(func=func)
    for name, func, help_ in (("status", _status, "where each run of the grids stands"),
                              ("results", _results, "the results of the grids' target runs as one tidy table")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("grids", nargs="+", help="params/experiments/NAME.yaml (or just NAME)")
        p.add_argument("--scale", default="smoke", choices=["smoke", "offline", "full"])
        p.add_argument("--runs-dir", default=None, help="default: $XSTILTS_RUNS or ./runs")
        if name == "status":
            p.add_argument("--pending", action="store_true", help="list only the runs that are not done")
            p.add_argument("--stale-minutes", type=float, default=60,
                           help="a started run unchanged for longer counts as interrupted (default 60)")
            p.add_argument("--format", choices=["text", "json"], default="text")
        else:
            p.add_argument("--format", choices=["text", "csv", "markdown", "json"], default="text")
            p.add_argument("--headline", action="store_true", help="only each task's headline metric")
        p.set_defaults(func=func)
    p = sub.add_parser("verify", help="rerun committed runs and compare every metric")
    p.add_argument("runs", nargs="*", help="run folders, e.g. runs/smoke/target/<run>")
    p.add_argument("--scale", default=None, choices=["smoke", "offline", "full"])
    p.add_argument("--sample", type=int, default=3, help="with --scale: how many target runs to draw")
    p.add_argument("--seed", type=int, default=0, help="with --scale: which runs are drawn")
    p.add_argument("--runs-dir", default=None, help="default: $XSTILTS_RUNS or ./runs")
    p.set_defaults(func=_verify)
    p = sub.add_parser("recipes", help="the recipe each task's sweep cells choose (English dev only), and whether tasks.yaml holds it")
    p.add_argument("--scale", default="offline", choices=["smoke", "offline", "full"])
    p.add_argument("--runs-dir", default=None, help="default: $XSTILTS_RUNS or ./runs")
    p.add_argument("--together", nargs="+", metavar="TASK", default=None,
                   help="also the one recipe for runs that train these intermediate tasks together, or for a "
                        "grid whose runs should differ only in their tasks (question A)")
    p.set_defaults(func=_recipes)
    p = sub.add_parser("smoke-model", help="build the smoke-scale model (cached)")
    p.set_defaults(func=_smoke_model)
    p = sub.add_parser("data", help="data utilities")
    data_sub = p.add_subparsers(dest="data_command", required=True)
    p = data_sub.add_parser("prefetch", help="download every Hub split the grids need into a local mirror")
    p.add_argument("grids", nargs="+", help="params/experiments/NAME.yaml (or just NAME)")
    p.add_argument("--scale", default="full", choices=["smoke", "offline", "full"])
    p.add_argument("--out", default=None, help="the mirror folder (default: $XSTILTS_DATA or ../shared/data)")
    p.add_argument("--hub-cache", default=None, help="datasets cache_dir (default: the datasets default)")
    p.set_defaults(func=_prefetch)
    p = sub.add_parser("submission", help="assemble XTREME and XTREME-R submission folders")
    p.add_argument("--scale", default="smoke", choices=["smoke", "offline", "full"])
    p.add_argument("--out", required=True, help="folder to write xtreme/, xtreme-r/ and manifest.json into")
    p.add_argument("--runs-dir", default=None, help="default: $XSTILTS_RUNS or ./runs")
    p.set_defaults(func=_submission)
    argv = sys.argv[1:] if argv is None else list(argv)
    # `xstilts run ... -- --slurm-status-command squeue`: what follows `--` goes to Snakemake as is
    cut = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:cut])
    args.snakemake_args = argv[cut + 1:]
    if args.snakemake_args and args.command != "run":
        parser.error("arguments after `--` are passed to Snakemake, so only `xstilts run` accepts them")
    from xstilts.params import ParamsError
    from xstilts.data import DataMissingError

    try:
        return args.func(args)
    except (ParamsError, DataMissingError, ValueError) as err:
        print(f"xstilts: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader closed the pipe (`xstilts plan ... | head`): stop quietly, as Unix tools do;
        # stdout goes to devnull so that Python's flush at exit does not raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # 128 + SIGPIPE, what the shell reports for a tool killed by the closed pipe


if __name__ == "__main__":
    sys.exit(main())
