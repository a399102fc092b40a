"""What a notebook needs from its run folder: parameters, prepared data, and places to write.

Notebooks call :func:`open_run` once; everything they show comes from the prepared tables and
everything they produce (figures, tables, findings, effects) goes into the run folder through
the methods here, written atomically.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib import rc_context
from matplotlib.figure import Figure

from evaluation.analysis.base import NotApplicable, load_result, save_result
from evaluation.config import PROJECT_ROOT, Params, load_params, params_to_yaml
from evaluation.data.io import atomic_path, write_table, write_text
from evaluation.estimators.result import TIDY_COLUMNS
from evaluation.i18n import Language, t
from evaluation.prepare import (
    Prepared,
    load_prepared,
    prepare_inputs,
    resolve_demo_paths,
    save_prepared,
)
from evaluation.report.style import close, localise_numbers, table_styler

#: Matplotlib settings that make SVG output byte-identical across runs (ids from a fixed salt).
SAME_BYTES_RC = {"svg.hashsalt": "hanam-evaluation"}
EFFECT_KEY = ["outcome", "estimator", "term", "inference"]
#: Columns of ``tables/effects.csv``: the tidy columns and whether the interval's method had
#: its size measured on this design and found inside ``inference.size_band``.
EFFECTS_COLUMNS = [*TIDY_COLUMNS, "size_checked"]


@dataclass(frozen=True)
class RunContext:
    """One notebook's view of its run folder."""

    run_dir: Path
    params: Params
    prepared: Prepared
    notebook: str

    @property
    def language(self) -> Language:
        return self.params.language

    def t(self, key: str, **values: object) -> str:
        """A message in the run's language."""
        return t(key, self.language, **values)

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
        alts_path = folder / "alt_text.json"
        alts = json.loads(alts_path.read_text("utf-8")) if alts_path.is_file() else {}
        alts[name] = alt
        write_text(json.dumps(alts, indent=2, ensure_ascii=False), alts_path)
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
        """Save a table as CSV (and XLSX for staff who work in Excel) under ``tables/``."""
        write_table(frame, self.run_dir / "tables" / f"{name}.csv")
        if excel:
            write_table(frame, self.run_dir / "tables" / f"{name}.xlsx")

    def add_effects(self, tidy: pd.DataFrame) -> None:
        """Add estimates to ``tables/effects.csv`` and ``.xlsx`` (rows with the same key are replaced).

        A row without a ``size_checked`` value gets ``False`` when it carries an interval (its
        method's size was not measured on this design) and stays empty when it has none.
        """
        missing = [c for c in TIDY_COLUMNS if c not in tidy]
        if missing:
            raise ValueError(f"effects rows lack columns {missing}")
        path = self.run_dir / "tables" / "effects.csv"
        old = (
            pd.read_csv(path, dtype={"term": str, "size_checked": "object"})
            if path.is_file()
            else pd.DataFrame(columns=EFFECTS_COLUMNS)
        )
        new = tidy.reindex(columns=EFFECTS_COLUMNS).astype({"term": str, "size_checked": object})
        has_interval = new["conf_low"].notna() & new["conf_high"].notna()
        unset = new["size_checked"].isna()
        new.loc[unset & has_interval, "size_checked"] = False
        merged = pd.concat([old, new], ignore_index=True).drop_duplicates(EFFECT_KEY, keep="last")
        write_table(merged, path)
        write_table(merged, path.with_suffix(".xlsx"))  # staff who work in Excel

    def update_results(self, **values: object) -> None:
        """Merge values into ``results.json`` (read by the summary page)."""
        path = self.run_dir / "results.json"
        results = json.loads(path.read_text("utf-8")) if path.is_file() else {}
        results.update(values)
        write_text(json.dumps(results, indent=2, ensure_ascii=False, default=_json_default), path)

    def results(self) -> dict:
        path = self.run_dir / "results.json"
        return json.loads(path.read_text("utf-8")) if path.is_file() else {}

    def show_not_applicable(self, result: NotApplicable) -> None:
        """Show, in place of a section, the one sentence saying what the data would need."""
        from IPython.display import Markdown, display

        display(Markdown(f"> {result.message(self.language)}"))

    def save_result(self, result: object, name: str) -> None:
        """Write an analysis result to ``results/<name>.json`` (typed, read by summary and index)."""
        save_result(result, self.run_dir, name)

    def load_result(self, name: str) -> object:
        """A result another page saved with :meth:`save_result` (None when that page did not run)."""
        return load_result(self.run_dir, name)

    def record_finding(self, text: str) -> None:
        """The notebook's one-line finding, shown on the run's index page."""
        write_text(text, self.run_dir / "findings" / f"{self.notebook}.txt")


def _json_default(value: object) -> object:
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to results.json")


def open_run(
    run_dir: str | Path | None, notebook: str, params_file: str | Path | None = None
) -> RunContext:
    """Open the run folder a notebook writes into.

    Parameters
    ----------
    run_dir : path or None
        The run folder made by ``evaluation run``. ``None`` (a notebook opened by hand in
        JupyterLab) prepares ``runs/interactive/`` from ``params_file``.
    notebook : str
        The notebook's name without suffix (``01_data_quality``).
    params_file : path, optional
        Used only when ``run_dir`` is None; default ``params/default.yaml``.
    """
    if run_dir is None:
        run_dir = PROJECT_ROOT / "runs" / "interactive"
        params = load_params(params_file or PROJECT_ROOT / "params" / "default.yaml")
        if not (run_dir / "prepared" / "meta.json").is_file():
            params = resolve_demo_paths(params, PROJECT_ROOT / "data" / "demo")
            save_prepared(prepare_inputs(params), run_dir / "prepared")
            write_text(params_to_yaml(params), run_dir / "params.yaml")
    run_dir = Path(run_dir)
    params = load_params(run_dir / "params.yaml")
    return RunContext(
        run_dir=run_dir,
        params=params,
        prepared=load_prepared(run_dir / "prepared"),
        notebook=notebook,
    )
