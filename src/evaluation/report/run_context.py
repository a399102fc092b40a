"""What a notebook needs from its run folder: parameters, prepared data, and places to write.

Notebooks call :func:`open_run` once; everything they show comes from the prepared tables and
everything they produce (figures, tables, findings, effects) goes into the run folder through
the methods here, written atomically.
"""

from __future__ import annotations

import hashlib
import html
import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pandas as pd
from matplotlib import rc_context
from matplotlib.figure import Figure

from evaluation.analysis.base import NotApplicable, load_result, save_result
from evaluation.config import PROJECT_ROOT, RUN_DATE_ENV, Params, load_params, params_to_yaml
from evaluation.data.io import atomic_path, sha256, write_table, write_text
from evaluation.data.problems import DataValidationError
from evaluation.estimators.result import TIDY_COLUMNS
from evaluation.i18n import Language, t
from evaluation.prepare import (
    Prepared,
    load_prepared,
    prepare_inputs,
    resolve_demo_paths,
    save_prepared,
)
from evaluation.report import parts
from evaluation.report.parts import EFFECT_KEY, EFFECTS_COLUMNS
from evaluation.report.style import close, localise_numbers, table_styler
from evaluation.report.wording import reader_value
from evaluation.report.workbook import SIGNABLE, write_signable, write_workbook

#: Matplotlib settings that make SVG output byte-identical across runs (ids from a fixed salt).
SAME_BYTES_RC = {"svg.hashsalt": "hanam-evaluation"}
__all__ = ["EFFECT_KEY", "EFFECTS_COLUMNS", "RunContext", "open_run"]


@dataclass(frozen=True)
class RunContext:
    """One notebook's view of its run folder."""

    run_dir: Path
    params: Params
    prepared: Prepared
    notebook: str
    #: What the page keeps for its "For researchers" part (method names, citations,
    #: diagnostics): Markdown texts and tables, shown last by :meth:`show_researcher_notes`.
    researcher_notes: list[str | pd.DataFrame] = field(default_factory=list, compare=False)

    @property
    def language(self) -> Language:
        return self.params.language

    def t(self, key: str, **values: object) -> str:
        """A message in the run's language; dates and quarters in it as the language writes
        them (``01/01/2020``, ``Q3/2022``), whatever form the caller had them in."""
        return t(
            key, self.language, **{k: reader_value(v, self.language) for k, v in values.items()}
        )

    def run_date(self) -> date:
        """The day the run started: set by the runner (``$EVALUATION_RUN_DATE``), else the
        finished run's ``manifest.json``, else today (a notebook run by hand)."""
        given = os.environ.get(RUN_DATE_ENV, "")
        if given:
            return date.fromisoformat(given)
        path = self.run_dir / "manifest.json"
        if path.is_file():
            started = json.loads(path.read_text("utf-8")).get("started")
            if isinstance(started, str) and started:
                return datetime.fromisoformat(started).date()
        return date.today()

    # -- what the reader sees first ------------------------------------------------------

    def banner_html(self) -> str:
        """The simulated-data banner (empty for real data)."""
        if not self.params.simulated:
            return ""
        text = html.escape(self.t("banner.simulated"))
        return (
            '<div class="simulated-banner" role="note" style="background:#fff3cd;border:2px solid #d39e00;'
            'padding:10px 14px;margin:6px 0 14px 0;font-weight:bold;font-size:1.05em;color:#5c4400">'
            f"⚠ {text}</div>"
        )

    # -- outputs -------------------------------------------------------------------------

    def save_figure(self, fig: Figure, name: str, alt: str) -> Path:
        """Save ``fig`` as PNG (300 dpi) and SVG under ``figures/``; record its alt text."""
        folder = self.run_dir / "figures"
        folder.mkdir(parents=True, exist_ok=True)
        localise_numbers(fig, self.language)
        for suffix in (".png", ".svg"):
            with atomic_path(folder / f"{name}{suffix}") as tmp, rc_context(SAME_BYTES_RC):
                # no creation date, fixed ids: the same figure gives the same file on a rerun
                fig.savefig(
                    tmp, format=suffix[1:], metadata={"Date": None} if suffix == ".svg" else None
                )
        self._wrote(folder / f"{name}.png", folder / f"{name}.svg")
        parts.add_alt_text(self.run_dir, self.notebook, name, alt)
        return folder / f"{name}.png"

    def show_figure(self, fig: Figure, name: str, alt: str) -> None:
        """Save the figure and display it in the notebook as an image with alt text."""
        from IPython.display import HTML, display

        png = self.save_figure(fig, name, alt)
        close(fig)
        import base64

        data = base64.b64encode(png.read_bytes()).decode()
        display(
            HTML(
                f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}" style="max-width:100%">'
            )
        )

    def show_table(self, frame: pd.DataFrame) -> None:
        """Display a reader's table (no index; words left, numbers right)."""
        from IPython.display import display

        display(table_styler(frame))

    def save_table(self, frame: pd.DataFrame, name: str, excel: bool = True) -> None:
        """Save a table as CSV under ``tables/`` (snake_case columns, for machines) and as XLSX
        for staff who work in Excel (headers in the run's language).

        The documents the board signs (:data:`~evaluation.report.workbook.SIGNABLE`: the
        rollout plan, the stepped-wedge order) get a title row with the run's name, date and
        data source, rounded values and number formats.
        """
        folder = self.run_dir / "tables"
        write_table(frame, folder / f"{name}.csv")
        self._wrote(folder / f"{name}.csv")
        if not excel:
            return
        self._wrote(folder / f"{name}.xlsx")
        if name in SIGNABLE:
            write_signable(
                frame, folder / f"{name}.xlsx", name, self.language, self.params, self.run_date()
            )
        else:
            write_workbook(frame, folder / f"{name}.xlsx", name, self.language, self.params)

    def add_effects(self, tidy: pd.DataFrame) -> None:
        """Add estimates to ``tables/effects.csv`` and ``.xlsx`` (rows with the same key are replaced).

        A row without a ``size_checked`` value gets ``False`` when it carries an interval (its
        method's size was not measured on this design) and stays empty when it has none.
        """
        missing = [c for c in TIDY_COLUMNS if c not in tidy]
        if missing:
            raise ValueError(f"effects rows lack columns {missing}")
        new = tidy.reindex(columns=EFFECTS_COLUMNS).astype({"term": str, "size_checked": object})
        has_interval = new["conf_low"].notna() & new["conf_high"].notna()
        unset = new["size_checked"].isna()
        new.loc[unset & has_interval, "size_checked"] = False
        parts.add_effects(self.run_dir, self.notebook, new, self.language, self.params)

    def update_results(self, **values: object) -> None:
        """Merge values into this page's part of ``results.json`` (read by the summary page)."""
        parts.update_results(self.run_dir, self.notebook, values, default=_json_default)

    def results(self) -> dict:
        path = self.run_dir / "results.json"
        return json.loads(path.read_text("utf-8")) if path.is_file() else {}

    def show_not_applicable(self, result: NotApplicable) -> None:
        """Show, in place of a section, the one sentence saying what the data would need."""
        from IPython.display import Markdown, display

        display(Markdown(f"> {result.message(self.language)}"))

    def save_result(self, result: object, name: str) -> None:
        """Write an analysis result to ``results/<name>.json`` (typed, read by summary and index)."""
        self._wrote(save_result(result, self.run_dir, name))

    def load_result(self, name: str) -> object:
        """A result another page saved with :meth:`save_result` (None when that page did not run)."""
        return load_result(self.run_dir, name)

    def record_finding(self, text: str) -> None:
        """The notebook's one-line finding, shown on the run's index page."""
        self._wrote(write_text(text, self.run_dir / "findings" / f"{self.notebook}.txt"))

    def _wrote(self, *paths: Path) -> None:
        """Add files to what this page wrote (``parts/<page>/writes.txt``)."""
        parts.record_writes(self.run_dir, self.notebook, list(paths))

    def note_for_researchers(self, note: str | pd.DataFrame | None) -> None:
        """Keep a method note (a Markdown text or a table) for the page's last part, so the
        reading above stays plain; empty notes are ignored."""
        if note is None or (isinstance(note, str) and not note.strip()):
            return
        self.researcher_notes.append(note)

    def show_researcher_notes(self) -> None:
        """The page's marked "For researchers" part: every note kept, in the order kept."""
        from IPython.display import Markdown, display

        if not self.researcher_notes:
            return
        display(Markdown(self.t("researchers.heading")))
        display(Markdown(f"> {self.t('researchers.intro')}"))
        for note in self.researcher_notes:
            if isinstance(note, pd.DataFrame):
                self.show_table(note)
            else:
                display(Markdown(note))


def _json_default(value: object) -> object:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to results.json")


#: Where hand-runs keep their folders (one per params and inputs); the environment variable
#: :data:`INTERACTIVE_DIR_ENV` moves it (tests, a read-only checkout).
INTERACTIVE_ROOT = PROJECT_ROOT / "runs" / "interactive"
INTERACTIVE_DIR_ENV = "EVALUATION_INTERACTIVE_DIR"
#: The parameters a notebook opened by hand reads unless its parameters cell names another.
DEFAULT_PARAMS_FILE = "params/default.yaml"
#: The file that marks a hand-run folder's prepared data complete, and says for which key.
KEY_FILE = "key.json"


def open_run(
    run_dir: str | Path | None, notebook: str, params_file: str | Path | None = None
) -> RunContext:
    """Open the run folder a notebook writes into.

    Parameters
    ----------
    run_dir : path or None
        The run folder made by ``evaluation run`` (papermill injects it; its ``params.yaml``
        rules and ``params_file`` is ignored). ``None`` is a notebook opened by hand in
        JupyterLab: see :func:`hand_run_folder`.
    notebook : str
        The notebook's name without suffix (``01_data_quality``).
    params_file : path, optional
        Used only when ``run_dir`` is None; relative paths are read from the project root;
        default ``params/default.yaml``.

    Notes
    -----
    A hand-run shows one line at the top of the page, in the run's language: which params
    file it used and whether it prepared the data afresh or reused data prepared for the same
    parameters and input files.
    """
    note = None
    if run_dir is None:
        run_dir, note = hand_run_folder(params_file)
    run_dir = Path(run_dir)
    params = load_params(run_dir / "params.yaml")
    prepared = load_prepared(run_dir / "prepared")
    if note is not None:
        from IPython.display import Markdown, display

        display(Markdown(t(note[0], params.language, **note[1])))
        if prepared.meta.get("validation_failed") and notebook != "01_data_quality":
            # only the data-quality page can show invalid data; the others would fail obscurely
            raise HandRunDataError(
                t("run.hand_run_invalid", params.language, problems=len(prepared.problems))
            )
    return RunContext(run_dir=run_dir, params=params, prepared=prepared, notebook=notebook)


class HandRunDataError(ValueError):
    """A page opened by hand on data that failed validation (the message is the reader's)."""


def interactive_root() -> Path:
    """The folder that holds hand-run folders (``runs/interactive/`` unless the environment
    variable ``EVALUATION_INTERACTIVE_DIR`` names another)."""
    override = os.environ.get(INTERACTIVE_DIR_ENV)
    return Path(override).expanduser().resolve() if override else INTERACTIVE_ROOT


def resolve_params_file(params_file: str | Path | None) -> Path:
    """The params file of a hand-run: relative paths are read from the project root (a kernel
    started by JupyterLab works in ``notebooks/``)."""
    path = Path(params_file or DEFAULT_PARAMS_FILE).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def hand_run_key(params: Params) -> dict:
    """What a hand-run's prepared data depend on: the merged parameters (with the demo's
    paths resolved), the sha256 of every input file, and the package version.

    ``key`` is the sha256 of all three; two hand-runs with the same key read the same data.
    """
    from evaluation import __version__

    merged = params_to_yaml(params)
    inputs = {str(p): sha256(p) for p in dict.fromkeys(params.input_files()) if Path(p).is_file()}
    parts = {
        "params_sha256": hashlib.sha256(merged.encode("utf-8")).hexdigest(),
        "inputs": inputs,
        "package_version": __version__,
    }
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False)
    return {"key": hashlib.sha256(text.encode("utf-8")).hexdigest(), **parts}


def hand_run_folder(params_file: str | Path | None = None) -> tuple[Path, tuple[str, dict]]:
    """The folder of a notebook opened by hand, prepared for ``params_file`` and its inputs.

    The folder is ``<interactive root>/<run_name>-<12 hex digits of the key>/`` (see
    :func:`hand_run_key`): changing a parameter or an input file's bytes gives another folder,
    prepared afresh; the same parameters and inputs reuse it (prepared data, and what other
    pages opened by hand wrote there). Prepared data count only once ``key.json`` is written,
    last, so a hand-run stopped half-way is prepared again.

    Returns
    -------
    (Path, (str, dict))
        The folder, and the message key and values of the line the page shows.
    """
    source = resolve_params_file(params_file)
    params = resolve_demo_paths(load_params(source), PROJECT_ROOT / "data" / "demo")
    key = hand_run_key(params)
    folder = interactive_root() / f"{params.run_name}-{key['key'][:12]}"
    values = {"params_file": _shown_path(source), "folder": _shown_path(folder)}
    if _key_matches(folder, key["key"]) and (folder / "prepared" / "meta.json").is_file():
        return folder, ("run.hand_run_reused", values)
    folder.mkdir(parents=True, exist_ok=True)
    _prepare_into(folder, params, key["key"])
    write_text(params_to_yaml(params), folder / "params.yaml")
    write_text(
        json.dumps({**key, "params_file": str(source)}, indent=2, ensure_ascii=False),
        folder / KEY_FILE,
    )
    return folder, ("run.hand_run_fresh", values)


def _prepare_into(folder: Path, params: Params, key: str) -> None:
    """Prepare the inputs into ``folder/prepared`` (built aside, then moved in place). Data that
    fail validation keep only the problems, as ``evaluation run`` does, for page 01 to show."""
    building = folder / f".prepared-{uuid.uuid4().hex}"
    try:
        save_prepared(prepare_inputs(params), building)
    except DataValidationError as err:
        building.mkdir(parents=True, exist_ok=True)
        write_table(err.problems, building / "problems.parquet")
        write_text(json.dumps({"validation_failed": True}), building / "meta.json")
        write_table(err.problems, folder / "tables" / "data_problems.csv")
    target = folder / "prepared"
    if target.exists() and not _key_matches(folder, key):
        shutil.rmtree(target, ignore_errors=True)  # left by a hand-run stopped before key.json
    try:
        building.rename(target)
    except OSError:  # another page of the same key got there first: the same data
        shutil.rmtree(building, ignore_errors=True)


def _key_matches(folder: Path, key: str) -> bool:
    path = folder / KEY_FILE
    try:
        return json.loads(path.read_text("utf-8")).get("key") == key
    except (OSError, ValueError, AttributeError):
        return False


def _shown_path(path: Path) -> str:
    """A path as the reader knows it: from the project root when inside it."""
    try:
        return Path(path).resolve().relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return str(path)
