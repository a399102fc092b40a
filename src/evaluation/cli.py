"""Command line: ``evaluation run | validate | compare | demo``.

``evaluation run params/default.yaml [--out DIR]`` is the one entry point that reruns everything.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from evaluation.config import PROJECT_ROOT, ParamsError, load_params

if TYPE_CHECKING:  # the command line stays light to start; pandas loads when needed
    import pandas as pd

    from evaluation.config import Params


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
    run.add_argument(
        "--reuse",
        type=Path,
        default=None,
        metavar="RUN_DIR",
        help="with --only: take the other pages from this earlier complete run (default: the "
        "newest complete run of the same name in --out with the same inputs and parameters)",
    )
    run.add_argument(
        "--no-cache",
        action="store_true",
        help="execute every page and compute every analysis again, without reading or "
        "writing the cache",
    )
    run.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="folder of the cache of results and pages (default runs/.cache)",
    )
    run.add_argument(
        "--jobs",
        type=_positive_int,
        default=None,
        metavar="N",
        help="pages run at once, each in its own kernel (default: the machine's cores, at most 4)",
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
    compare = sub.add_parser(
        "compare", help="what changed between two runs: parameters, headline numbers, decisions"
    )
    compare.add_argument("run_a", type=Path, help="folder of the first run (A)")
    compare.add_argument("run_b", type=Path, help="folder of the second run (B)")
    compare.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for comparison.html and comparison.csv (default runs/compare-A-vs-B)",
    )
    sweep = sub.add_parser(
        "sweep", help="run every scenario of a sweep file (a grid or list of overrides) on Dask"
    )
    sweep.add_argument("sweep_file", type=Path, help="sweep file, e.g. params/sweeps/x.yaml")
    sweep.add_argument(
        "--out", type=Path, default=None, help="parent folder of the sweep folder (default runs/)"
    )
    sweep.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="an existing Dask scheduler, e.g. tcp://HOST:8786 (default: DASK_SCHEDULER_ADDRESS, "
        "else a local cluster)",
    )
    sweep.add_argument(
        "--workers",
        type=int,
        default=None,
        help="local cluster workers (default: min(scenarios, cores))",
    )
    demo = sub.add_parser("demo", help="generate the simulated demo data set")
    demo.add_argument(
        "params", type=Path, nargs="?", default=PROJECT_ROOT / "params" / "default.yaml"
    )
    return parser


def _positive_int(text: str) -> int:
    """A whole number of at least 1 (argparse prints the message and exits 2 otherwise)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number such as 2, got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code (0 = success)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            from evaluation.runner import run

            on_error = "continue" if args.keep_going else ("stop" if args.stop else None)
            try:
                result = run(
                    args.params,
                    out=args.out,
                    notebooks=args.only,
                    on_error=on_error,
                    cache=not args.no_cache,
                    cache_dir=args.cache_dir,
                    reuse=args.reuse,
                    jobs=args.jobs,
                )
            except KeyboardInterrupt as err:  # the runner renamed its folder -FAILED first
                print(str(err) or "interrupted before a run folder was made", file=sys.stderr)
                return 130
            return 0 if result.ok else 1
        if args.command == "validate":
            return _validate(args.params)
        if args.command == "compare":
            return _compare(args.run_a, args.run_b, args.out)
        if args.command == "sweep":
            return _sweep(args.sweep_file, args.out, args.scheduler, args.workers)
        if args.command == "demo":
            from evaluation.demo import ensure_demo

            files = ensure_demo(load_params(args.params), PROJECT_ROOT / "data" / "demo")
            print(f"demo data (SIMULATED) in {files.folder}")
            return 0
    except ParamsError as err:
        print(f"parameter error:\n{err}", file=sys.stderr)
        return 2
    return 2


def _compare(run_a: Path, run_b: Path, out: Path | None) -> int:
    """Write the comparison page and CSV of two run folders; print where they are."""
    from evaluation.analysis.run_comparison import compare_runs
    from evaluation.report.compare_page import write_comparison

    try:
        comparison = compare_runs(run_a, run_b)
    except ValueError as err:
        print(f"cannot compare: {err}", file=sys.stderr)
        return 2
    folder = (
        out or PROJECT_ROOT / "runs" / f"compare-{run_a.resolve().name}-vs-{run_b.resolve().name}"
    )
    page = write_comparison(comparison, folder)
    print(
        f"{len(comparison.params)} parameter(s) differ; {len(comparison.changed)} result(s) changed"
    )
    print(f"open {page}")
    return 0


def _sweep(sweep_file: Path, out: Path | None, scheduler: str | None, workers: int | None) -> int:
    """Run a sweep on Dask; exit 0 when every scenario completed, 1 when one failed, 2 for an
    invalid sweep file, 130 when interrupted."""
    from evaluation.i18n import t
    from evaluation.sweep import SweepError, SweepInterrupted, load_sweep, run_sweep

    try:
        sweep = load_sweep(sweep_file)
    except SweepError as err:
        print(
            f"{t('sweep.error.heading', 'vi')} / {t('sweep.error.heading', 'en')}\n{err}",
            file=sys.stderr,
        )
        return 2
    try:
        result = run_sweep(sweep, out=out, scheduler=scheduler, workers=workers)
    except SweepError as err:
        print(f"{t('sweep.error.heading', sweep.language)}\n{err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:  # a SweepInterrupted names its -FAILED folder
        message = str(err) if isinstance(err, SweepInterrupted) else ""
        print(message or t("sweep.progress.interrupted_early", sweep.language), file=sys.stderr)
        return 130
    return 0 if result.ok else 1


def _validate(params_file: Path) -> int:
    """Check the inputs and the design as ``run`` would; print a summary or every problem.

    Problems (and warnings, which do not stop a run) are printed as a table in the run's
    language, the first :data:`SHOWN_PROBLEMS` rows on the terminal and every row in
    ``runs/<run_name>-data_problems.csv``, beside the run folders.
    """
    from evaluation.analysis import data_facts, skipped_sections
    from evaluation.analysis.checks import check_design
    from evaluation.data.problems import DataValidationError
    from evaluation.i18n import t
    from evaluation.prepare import prepare_inputs, resolve_demo_paths
    from evaluation.report.validation_summary import validation_summary

    params = resolve_demo_paths(load_params(params_file), PROJECT_ROOT / "data" / "demo")
    lang = params.language
    try:
        prepared = prepare_inputs(params)
        check_design(prepared, params)
    except DataValidationError as err:
        print(_problem_report(err.problems, params, failed=True), file=sys.stderr)
        return 1
    except ValueError as err:  # a parameter that does not fit the data (window, map date)
        print(t("validate.error", lang, message=str(err)), file=sys.stderr)
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
    if len(prepared.problems):
        print(_problem_report(prepared.problems, params, failed=False))
    return 0


#: Rows of the problem table printed on the terminal (every row goes to data_problems.csv).
SHOWN_PROBLEMS = 50


def _problem_report(problems: pd.DataFrame, params: Params, failed: bool) -> str:
    """The problem table in the run's language: a heading, the first rows, and where the full
    table is."""
    from evaluation.data.io import write_table
    from evaluation.data.problems import format_problems
    from evaluation.data.schemas import is_warning, localise_problems
    from evaluation.i18n import t

    lang = params.language
    local = localise_problems(problems, lang)
    n_warnings = int(is_warning(problems).sum())
    files = ", ".join(sorted({Path(f).name for f in problems["file"]}))
    lines = [
        t(
            "validate.problems" if failed else "validate.warnings",
            lang,
            n=len(problems) - n_warnings if failed else n_warnings,
            warnings=n_warnings,
            files=files,
        ),
        format_problems(
            local,
            limit=SHOWN_PROBLEMS,
            headers={c: t(f"validate.col_{c}", lang) for c in local.columns},
            more=t("validate.more", lang),
        ),
    ]
    target = PROJECT_ROOT / "runs" / f"{params.run_name}-data_problems.csv"
    try:
        write_table(local, target)
        lines.append(t("validate.full_table", lang, path=target))
    except OSError as err:
        lines.append(t("validate.table_not_written", lang, path=target, reason=err.strerror))
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
