"""Command line: ``evaluation run | validate | demo``.

``evaluation run params/default.yaml [--out DIR]`` is the one entry point that reruns everything.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evaluation.config import PROJECT_ROOT, ParamsError, load_params


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evaluation", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser(
        "run", help="run every notebook and render the reports into a new run folder"
    )
    run.add_argument("params", type=Path, help="parameter file, e.g. params/default.yaml")
    run.add_argument(
        "--out", type=Path, default=None, help="parent folder of the run folder (default runs/)"
    )
    run.add_argument(
        "--only", nargs="+", default=None, metavar="NOTEBOOK", help="run only these notebooks"
    )
    group = run.add_mutually_exclusive_group()
    group.add_argument(
        "--keep-going", action="store_true", help="after a failing notebook, run the others"
    )
    group.add_argument("--stop", action="store_true", help="stop at the first failing notebook")
    val = sub.add_parser(
        "validate", help="check the input data against the contract and list every problem"
    )
    val.add_argument("params", type=Path)
    demo = sub.add_parser("demo", help="generate the simulated demo data set")
    demo.add_argument(
        "params", type=Path, nargs="?", default=PROJECT_ROOT / "params" / "default.yaml"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code (0 = success)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            from evaluation.runner import run

            on_error = "continue" if args.keep_going else ("stop" if args.stop else None)
            result = run(args.params, out=args.out, notebooks=args.only, on_error=on_error)
            return 0 if result.ok else 1
        if args.command == "validate":
            return _validate(args.params)
        if args.command == "demo":
            from evaluation.demo import ensure_demo

            files = ensure_demo(load_params(args.params), PROJECT_ROOT / "data" / "demo")
            print(f"demo data (SIMULATED) in {files.folder}")
            return 0
    except ParamsError as err:
        print(f"parameter error:\n{err}", file=sys.stderr)
        return 2
    return 2


def _validate(params_file: Path) -> int:
    """Check the inputs and the design as ``run`` would; print a summary or every problem."""
    from evaluation.analysis import data_facts, skipped_sections
    from evaluation.analysis.checks import check_design
    from evaluation.data.problems import DataValidationError
    from evaluation.prepare import prepare_inputs, resolve_demo_paths
    from evaluation.report.validation_summary import validation_summary

    params = resolve_demo_paths(load_params(params_file), PROJECT_ROOT / "data" / "demo")
    try:
        prepared = prepare_inputs(params)
        check_design(prepared, params)
    except DataValidationError as err:
        print(err, file=sys.stderr)
        return 1
    except ValueError as err:  # unreadable file, harmonisation or window error
        print(f"error: {err}", file=sys.stderr)
        return 1
    files = params.input_files()
    files += [
        p
        for p in (params.data.rollout, params.data.ballots, params.data.admin, params.data.costs)
        if p and p not in files
    ]
    print(
        validation_summary(
            params,
            prepared,
            data_facts(prepared, params),
            skipped_sections(prepared, params),
            files,
        )
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
