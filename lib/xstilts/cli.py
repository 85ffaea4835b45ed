"""`xstilts`: the command line.

  xstilts tasks                               the task registry as a table
  xstilts run GRID [GRID ...] --scale S       run experiment grids (Snakemake + papermill)
  xstilts check GRID [GRID ...] --scale S     validate grids without running anything
  xstilts verify RUN [RUN ...]                rerun committed runs in a scratch folder, compare metrics
  xstilts verify --scale S --sample N         the same for N runs drawn from runs/<S>/target
  xstilts smoke-model                         build (or find) the smoke-scale model
"""
from __future__ import annotations

import argparse
import sys


def _tasks(args) -> int:
    from xstilts import tasks

    table = tasks.registry_table()
    if args.role:
        table = table[table["role"] == args.role]
    import pandas as pd

    with pd.option_context("display.max_rows", None, "display.max_columns", None, "display.width", 250,
                           "display.max_colwidth", args.width):
        print(table.to_string(index=False))
    return 0


def _run(args) -> int:
    from xstilts import workflow

    return workflow.run(args.grids, args.scale, cores=args.cores, runs_dir=args.runs_dir, profile=args.profile,
                        dry_run=args.dry_run)


def _check(args) -> int:
    from xstilts import workflow

    the_plan = workflow.plan(args.grids, args.scale, args.runs_dir)
    print(f"OK: {len(the_plan['jobs'])} runs, analyses: {', '.join(the_plan['analyses']) or '-'}")
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


def _smoke_model(args) -> int:
    from xstilts import models

    print(models.ensure_smoke_model())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="xstilts", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("tasks", help="print the task registry")
    p.add_argument("--role", choices=["intermediate", "target", "mlm"])
    p.add_argument("--width", type=int, default=60, help="column width")
    p.set_defaults(func=_tasks)
    for name, func, help_ in (("run", _run, "run experiment grids"), ("check", _check, "validate grids")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("grids", nargs="+", help="params/experiments/NAME.yaml (or just NAME)")
        p.add_argument("--scale", default="smoke", choices=["smoke", "offline", "full"])
        p.add_argument("--runs-dir", default=None, help="default: $XSTILTS_RUNS or ./runs")
        if name == "run":
            p.add_argument("--cores", type=int, default=2)
            p.add_argument("--profile", default=None, help="a Snakemake profile, e.g. profiles/slurm")
            p.add_argument("--dry-run", action="store_true")
        p.set_defaults(func=func)
    p = sub.add_parser("verify", help="rerun committed runs and compare every metric")
    p.add_argument("runs", nargs="*", help="run folders, e.g. runs/smoke/target/<run>")
    p.add_argument("--scale", default=None, choices=["smoke", "offline", "full"])
    p.add_argument("--sample", type=int, default=3, help="with --scale: how many target runs to draw")
    p.add_argument("--seed", type=int, default=0, help="with --scale: which runs are drawn")
    p.add_argument("--runs-dir", default=None, help="default: $XSTILTS_RUNS or ./runs")
    p.set_defaults(func=_verify)
    p = sub.add_parser("smoke-model", help="build the smoke-scale model (cached)")
    p.set_defaults(func=_smoke_model)
    args = parser.parse_args(argv)
    from xstilts.params import ParamsError
    from xstilts.data import DataMissingError

    try:
        return args.func(args)
    except (ParamsError, DataMissingError, ValueError) as err:
        print(f"xstilts: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
