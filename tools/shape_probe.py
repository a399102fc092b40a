"""Run the whole report on each data shape of tests/shapes.py and tabulate which pages fail.

Usage (developers):
    python tools/shape_probe.py [NAME ...] [--only NB ...] [--out DIR] [--timeout SECONDS]

Builds each shape (all by default) into OUT/<shape>/data, runs
``evaluation run PARAMS --out OUT/<shape>/runs --keep-going [--only NB ...]`` in a subprocess,
and prints one row per shape: exit code, seconds, each page's status from the run folder's
manifest.json, then the first error line of every failed page. The table is also written to
OUT/shape_probe.csv (one row per shape, page statuses as columns, errors joined in ``errors``).
Shapes run one after the other (the report itself is CPU-bound). Each shape's result is kept
in OUT/<shape>/probe.json; ``--resume`` reuses them and runs only the shapes not yet probed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT / "tests"))

from shapes import SHAPES, build_shape  # noqa: E402

EVALUATION = PROJECT / ".venv" / "bin" / "evaluation"
SHORT = {"ok": "ok", "failed": "FAIL", "skipped": "skip", "pending": "pend", "running": "run"}


def _command() -> list[str]:
    if EVALUATION.is_file():
        return [str(EVALUATION)]
    return [sys.executable, "-m", "evaluation.cli"]


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def _last_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _run_folder(runs: Path) -> Path | None:
    """The run folder (complete, -FAILED or a crashed .partial) holding a manifest."""
    if not runs.is_dir():
        return None
    found = [p for p in runs.iterdir() if (p / "manifest.json").is_file()]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def probe(name: str, out: Path, only: list[str] | None, timeout: float) -> dict:
    """Build one shape, run the report on it, and summarise its manifest."""
    folder = out / name
    row: dict = {"shape": name, "kind": SHAPES[name].kind, "pages": {}, "errors": {}}
    try:
        params = build_shape(name, folder / "data")
    except Exception as err:  # a shape that cannot be built is a row of its own
        row.update(exit_code="build", seconds=0.0, status="build failed")
        row["errors"]["build"] = f"{type(err).__name__}: {_first_line(err)}"
        return row
    command = [*_command(), "run", str(params), "--out", str(folder / "runs"), "--keep-going"]
    if only:
        command += ["--only", *only]
    log = folder / "run.log"
    started = time.perf_counter()
    with open(log, "w", encoding="utf-8") as handle:
        process = subprocess.Popen(
            command,
            cwd=PROJECT,
            stdout=handle,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a timeout stops kernels too
        )
        try:
            code: int | str = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            code = "timeout"
    row["seconds"] = round(time.perf_counter() - started, 1)
    row["exit_code"] = code
    run_dir = _run_folder(folder / "runs")
    row["run_dir"] = str(run_dir or "")
    if run_dir is None:
        row["status"] = "no run folder"
        row["errors"]["run"] = _last_line(log.read_text(encoding="utf-8", errors="replace"))
        return row
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    row["status"] = manifest.get("status", "?")
    for entry in manifest.get("notebooks", []):
        row["pages"][entry["name"]] = entry.get("status", "?")
        if entry.get("status") == "failed":
            row["errors"][entry["name"]] = _first_line(entry.get("error", ""))
    if manifest.get("error"):
        row["errors"]["run"] = _first_line(manifest["error"])
    problems = run_dir / "tables" / "data_problems.csv"
    if problems.is_file():  # invalid data: only the data-quality page ran
        with open(problems, encoding="utf-8-sig", newline="") as handle:
            found = list(csv.DictReader(handle))
        if found:
            first = found[0]
            row["errors"]["validation"] = (
                f"{len(found)} data problem(s); first: {first.get('column', '')}="
                f"{first.get('value', '')!r}: {_first_line(first.get('rule', ''))}"
            )
    if code == "timeout":
        row["errors"].setdefault("run", f"timed out after {timeout:.0f} s")
    return row


def _pages(rows: list[dict]) -> list[str]:
    seen: list[str] = []
    for row in rows:
        seen += [p for p in row["pages"] if p not in seen]
    return sorted(seen, key=lambda p: (p.startswith("00"), p))  # summary last, as it runs


def _label(page: str) -> str:
    return page.split("_", 1)[0]


def format_table(rows: list[dict]) -> str:
    pages = _pages(rows)
    header = ["shape", "exit", "secs", "status", *[_label(p) for p in pages]]
    body = [
        [
            row["shape"],
            str(row.get("exit_code", "")),
            f"{row.get('seconds', 0):.0f}",
            str(row.get("status", "")),
            *[SHORT.get(row["pages"].get(p, ""), row["pages"].get(p, "-") or "-") for p in pages],
        ]
        for row in rows
    ]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    legend = ", ".join(f"{_label(p)}={p}" for p in pages)
    if legend:
        lines.append(f"pages: {legend}")
    errors = [
        f"  {row['shape']} / {page}: {error}"
        for row in rows
        for page, error in row["errors"].items()
    ]
    if errors:
        lines += ["", "first error line of each failure:", *errors]
    return "\n".join(lines)


def write_csv(rows: list[dict], path: Path) -> Path:
    pages = _pages(rows)
    fields = ["shape", "kind", "exit_code", "seconds", "status", *pages, "errors", "run_dir"]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    **{k: row.get(k, "") for k in ("shape", "kind", "exit_code", "seconds")},
                    "status": row.get("status", ""),
                    **{p: row["pages"].get(p, "") for p in pages},
                    "errors": " | ".join(f"{p}: {e}" for p, e in row["errors"].items()),
                    "run_dir": row.get("run_dir", ""),
                }
            )
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shape_probe", description=__doc__.splitlines()[0])
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"shapes (default all): {', '.join(SHAPES)}"
    )
    parser.add_argument(
        "--only", nargs="+", default=None, metavar="NB", help="run only these notebooks"
    )
    parser.add_argument("--out", type=Path, default=None, help="folder for data, runs and the CSV")
    parser.add_argument(
        "--timeout", type=float, default=3600, help="seconds per shape (default 3600)"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="reuse the results of shapes already probed into --out (OUT/<shape>/probe.json)",
    )
    args = parser.parse_args(argv)
    names = args.names or list(SHAPES)
    unknown = [n for n in names if n not in SHAPES]
    if unknown:
        parser.error(f"unknown shapes {unknown}; choose from {', '.join(SHAPES)}")
    out = (args.out or Path(tempfile.mkdtemp(prefix="shape-probe-"))).resolve()
    out.mkdir(parents=True, exist_ok=True)
    print(f"shape probe: {len(names)} shapes into {out}", flush=True)
    rows = []
    for k, name in enumerate(names, 1):
        print(f"[{k}/{len(names)}] {name} ...", end=" ", flush=True)
        saved = out / name / "probe.json"
        if args.resume and saved.is_file():
            row = json.loads(saved.read_text(encoding="utf-8"))
            print("(resumed)", end=" ")
        else:
            row = probe(name, out, args.only, args.timeout)
            saved.write_text(json.dumps(row, indent=2, ensure_ascii=False), encoding="utf-8")
        rows.append(row)
        failed = [p for p, s in row["pages"].items() if s == "failed"]
        print(
            f"exit {row['exit_code']} in {row['seconds']:.0f} s; failed: {failed or 'none'}",
            flush=True,
        )
        write_csv(rows, out / "shape_probe.csv")  # partial results survive an interruption
    print()
    print(format_table(rows))
    print(f"\nCSV: {write_csv(rows, out / 'shape_probe.csv')}")
    return 0 if all(r.get("exit_code") == 0 for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
