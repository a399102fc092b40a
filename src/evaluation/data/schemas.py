"""The data contract as pandera schemas, checked on the text as it was read (lazy: all at once).

Each table is first validated as text (so a malformed date or a Likert answer of "7" is reported
with its row, not lost in a type conversion), then converted to its typed form. The codebook
in ``data/README.md`` describes the same rules for people.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from evaluation.data.problems import PROBLEM_COLUMNS, empty_problems
from evaluation.i18n import Language, t

COMMUNE_TYPES = ("xa", "phuong", "thi_tran")
CHANGE_KINDS = ("renamed_or_reclassified", "merged", "dissolved_absorbed_by_unknown_neighbour")
ADMIN_COUNTS = (
    "dossiers_received",
    "dossiers_on_time",
    "apology_letters",
    "condolence_due",
    "condolence_on_time",
    "complaints_attitude",
    "one_stop_staff",
    "households_total",
    "ballot_roster",
    # Optional fields the province's review asked about (officials' awareness, rewards).
    "officials_trained",
    "rewards_given",
)
#: Optional ballot questions outside the satisfaction index, on the same Likert scale.
OPTIONAL_BALLOT_ITEMS = ("officials_understand_model",)

_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T].*)?$")
_DMY = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_WAVE = re.compile(r"^\d{4}Q[1-4]$")
_PERIOD = re.compile(r"^(\d{4}Q[1-4]|\d{4}-\d{2})$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
_BALLOT_TEXT = ("ballot_id", "commune_code", "household_id", "survey_date", "wave")

#: Rules of the data contract. What each says and how to fix a breach are in
#: ``messages/<language>/validation.yaml``; problem tables carry the English text (terminal,
#: ``data_problems.csv``) and page 01 shows it in the run's language.
RULE_NAMES = (
    "column_in_dataframe",
    "not_nullable",
    "multiple_fields_uniqueness",
    "field_uniqueness",
    "code_digits",
    "known_commune_code",
    "date_format",
    "wave_format",
    "period_format",
    "likert_range",
    "nonnegative_number",
    "positive_number",
    "allowed_values",
    "date_or_wave",
    # files that cannot be read as a table (evaluation.data.io.InputFileError)
    "file_not_found",
    "file_kind",
    "file_empty",
    "file_encoding",
    "csv_cells",
    "file_damaged",
    "duplicate_column",
    "no_table_sheet",
    "merged_cells",
    "no_records",
    # plausibility (evaluation.data.plausibility)
    "thousands_separator",
    "part_above_total",
    "share_above_one",
    "duplicate_household_wave",
    "mixed_frequency",
    "date_in_future",
    "wave_far_from_others",
    "start_far_before_data",
    "start_in_future",
    "pilot_not_on_map",
    "no_start_date",
    "ballots_above_roster",
    "ballots_above_households",
    "money_in_millions",
    "budget_in_millions",
    # parameters that name something the data do not have (evaluation.prepare)
    "unknown_covariate",
    "unknown_condition",
    "panel_key_elsewhere",
)

#: Rules whose breach is a warning: the run goes on, and the warning is shown by ``validate``
#: and repeated on page 01. Every other rule stops the run.
WARNING_RULES = ("start_in_future", "ballots_above_roster")


def rule_text(name: str, language: Language = "en") -> tuple[str, str]:
    """(what the rule says, how to fix a breach) in ``language``."""
    return t(f"validation.{name}.rule", language), t(f"validation.{name}.fix", language)


#: Rule name -> (what the rule says, how to fix a breach), in English.
RULES: dict[str, tuple[str, str]] = {name: rule_text(name) for name in RULE_NAMES}


def is_warning(problems: pd.DataFrame) -> pd.Series:
    """Which rows of a problem table (English text) are warnings rather than errors."""
    warnings = {RULES[name][0] for name in WARNING_RULES}
    return problems["rule"].isin(warnings).astype(bool)


def localise_problems(problems: pd.DataFrame, language: Language) -> pd.DataFrame:
    """A problem table with each known rule and its fix in ``language`` (the table itself is
    written in English); rule text of another origin (a parameter's own hint) stays as is."""
    if language == "en" or not len(problems):
        return problems.copy()
    words: dict[str, str] = {}
    for name in RULE_NAMES:
        words.update(zip(rule_text(name, "en"), rule_text(name, language), strict=True))
    out = problems.copy()
    for column in ("rule", "how_to_fix"):
        out[column] = out[column].map(lambda text: words.get(text, text)).astype("string")
    return out


def parse_date(text: object) -> pd.Timestamp | None:
    """A date written as yyyy-mm-dd or dd/mm/yyyy (the Vietnamese order), else ``None``."""
    if text is None or text is pd.NA or (isinstance(text, float) and pd.isna(text)):
        return None
    text = str(text).strip()
    for pattern, order in ((_ISO, (1, 2, 3)), (_DMY, (3, 2, 1))):
        m = pattern.match(text)
        if m:
            year, month, day = (int(m.group(i)) for i in order)
            try:
                return pd.Timestamp(year=year, month=month, day=day)
            except ValueError:
                return None
    return None


def _element(name: str, fn: Callable[[str], bool]) -> pa.Check:
    return pa.Check(fn, element_wise=True, name=name, ignore_na=True)


def _matches(pattern: str, name: str) -> pa.Check:
    # pandera reports its built-in checks by their repr; named custom checks keep our rule name.
    return pa.Check(
        lambda s: s.str.fullmatch(pattern).fillna(False).astype(bool), name=name, ignore_na=True
    )


def _one_of(values: Iterable[str], name: str) -> pa.Check:
    allowed = set(values)
    return pa.Check(lambda s: s.isin(allowed), name=name, ignore_na=True)


def _code_checks(known: set[str] | None) -> list[pa.Check]:
    checks = [_matches(r"\d+", "code_digits")]
    if known is not None:
        checks.append(_one_of(known, "known_commune_code"))
    return checks


def _text(
    nullable: bool = False,
    checks: Iterable[pa.Check] = (),
    unique: bool = False,
    required: bool = True,
):
    return pa.Column(
        pd.StringDtype(), checks=list(checks), nullable=nullable, unique=unique, required=required
    )


def _number(positive: bool = False, nullable: bool = True, required: bool = True) -> pa.Column:
    if positive:
        check = _element("positive_number", lambda v: bool(_NUMBER.match(v)) and float(v) > 0)
    else:
        check = _element("nonnegative_number", lambda v: bool(_NUMBER.match(v)) and float(v) >= 0)
    return _text(nullable=nullable, checks=[check], required=required)


@dataclass(frozen=True)
class Contract:
    """A table's schema on text plus its conversion to typed columns."""

    name: str
    schema: pa.DataFrameSchema
    convert: Callable[[pd.DataFrame], pd.DataFrame]
    extra_checks: Callable[[pd.DataFrame], list[tuple[str, pd.Index, str]]] | None = None


def _problems_from(err: SchemaErrors, raw: pd.DataFrame, file: str | Path) -> pd.DataFrame:
    cases = err.failure_cases
    out = []
    for case in cases.itertuples(index=False):
        check = str(case.check)
        name = next((k for k in RULES if check.startswith(k)), None)
        if check.startswith("isin") or check.startswith("allowed"):
            name = "allowed_values"
        if name is None and "column_in_dataframe" in check:
            name = "column_in_dataframe"
        rule, fix = RULES.get(name or "", (check, "see data/README.md"))
        if name == "column_in_dataframe":
            column, row, value = str(case.failure_case), "1 (header)", ""
        else:
            column = str(case.column)
            row = "" if pd.isna(case.index) else str(int(case.index))
            value = "" if pd.isna(case.failure_case) else str(case.failure_case)
        out.append((str(file), row, column, value, rule, fix))
    return pd.DataFrame(out, columns=PROBLEM_COLUMNS).astype("string").drop_duplicates()


def validate_frame(
    raw: pd.DataFrame, contract: Contract, file: str | Path
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validate ``raw`` text against ``contract``; return (typed frame, problems).

    The typed frame keeps the file's row numbers as index; rows with problems stay in it
    (the caller stops on any problem), so that every problem can be reported at once.
    """
    problems = empty_problems()
    try:
        contract.schema.validate(raw, lazy=True)
    except SchemaErrors as err:
        problems = _problems_from(err, raw, file)
    if contract.extra_checks is not None:
        extra = []
        for rule_name, rows, column in contract.extra_checks(raw):
            rule, fix = RULES[rule_name]
            for row in rows:
                value = raw.at[row, column] if column in raw.columns else ""
                extra.append(
                    (str(file), str(row), column, "" if pd.isna(value) else str(value), rule, fix)
                )
        if extra:
            problems = pd.concat(
                [problems, pd.DataFrame(extra, columns=PROBLEM_COLUMNS).astype("string")],
                ignore_index=True,
            )
    if len(problems):  # converting cells that broke the contract would crash or mislead
        return raw, problems
    return contract.convert(raw), problems


# --------------------------------------------------------------------------------------------
# The tables


def unit_map_schema() -> Contract:
    schema = pa.DataFrameSchema(
        {
            "commune_code": _text(checks=_code_checks(None), unique=True),
            "commune_name": _text(),
            "commune_type": _text(checks=[_one_of(COMMUNE_TYPES, "allowed_values")]),
            "district_name": _text(),
            "district_type": _text(nullable=True, required=False),
            "full_name": _text(nullable=True, required=False),
            "district_full_name": _text(nullable=True, required=False),
        },
        strict=False,
    )
    return Contract("unit_map", schema, lambda f: f.copy())


def changes_schema(known: set[str]) -> Contract:
    schema = pa.DataFrameSchema(
        {
            "old_code": _text(checks=_code_checks(known)),
            "new_code": _text(nullable=True, checks=_code_checks(known)),
            "change": _text(checks=[_one_of(CHANGE_KINDS, "allowed_values")]),
            "old_full_name": _text(nullable=True, required=False),
            "new_full_name": _text(nullable=True, required=False),
            "source": _text(nullable=True, required=False),
        },
        strict=False,
    )
    return Contract("changes", schema, lambda f: f.copy())


def _date_check() -> pa.Check:
    return _element("date_format", lambda v: parse_date(v) is not None)


def rollout_schema(known: set[str]) -> Contract:
    schema = pa.DataFrameSchema(
        {
            "commune_code": _text(checks=_code_checks(known), unique=True),
            "start_date": _text(nullable=True, checks=[_date_check()]),
            "source": _text(nullable=True),
        },
        strict=False,
    )

    def convert(raw: pd.DataFrame) -> pd.DataFrame:
        out = raw.copy()
        out["start_date"] = pd.to_datetime(out["start_date"].map(parse_date))
        return out

    return Contract("rollout", schema, convert)


def ballots_schema(
    known: set[str], items: list[str], likert: tuple[int, int], no_opinion: list[int]
) -> Contract:
    allowed = {str(v) for v in range(likert[0], likert[1] + 1)} | {str(v) for v in no_opinion}

    def likert_ok(v: str) -> bool:
        v = v[:-2] if v.endswith(".0") else v
        return v in allowed

    columns: dict[str, pa.Column] = {
        "ballot_id": _text(unique=True),
        "commune_code": _text(checks=_code_checks(known)),
        "household_id": _text(),
        "survey_date": _text(nullable=True, checks=[_date_check()], required=False),
        "wave": _text(
            nullable=True,
            required=False,
            checks=[_matches(_WAVE.pattern.strip("^$"), "wave_format")],
        ),
        "weight": _number(positive=True, required=False),
    }
    for item in items:
        columns[item] = _text(nullable=True, checks=[_element("likert_range", likert_ok)])
    for item in OPTIONAL_BALLOT_ITEMS:
        if item not in columns:
            columns[item] = _text(
                nullable=True, required=False, checks=[_element("likert_range", likert_ok)]
            )
    schema = pa.DataFrameSchema(columns, strict=False)

    def date_or_wave(raw: pd.DataFrame) -> list[tuple[str, pd.Index, str]]:
        has_date = (
            raw["survey_date"].notna() if "survey_date" in raw else pd.Series(False, raw.index)
        )
        has_wave = raw["wave"].notna() if "wave" in raw else pd.Series(False, raw.index)
        missing = raw.index[~(has_date | has_wave)]
        return [("date_or_wave", missing, "survey_date")] if len(missing) else []

    def convert(raw: pd.DataFrame) -> pd.DataFrame:
        out = raw.copy()
        if "survey_date" in out:
            out["survey_date"] = pd.to_datetime(out["survey_date"].map(parse_date))
        else:
            out["survey_date"] = pd.NaT
        wave_from_date = out["survey_date"].dt.to_period("Q").astype("string")
        if "wave" in out:
            out["wave"] = out["wave"].fillna(wave_from_date)
        else:
            out["wave"] = wave_from_date
        # A ballot known only by its wave is dated at the wave's first day (maps change on 1 Jan).
        labels = out["wave"].astype(str)
        starts = {w: pd.Period(w, freq="Q").start_time for w in labels.unique()}
        out["survey_date"] = out["survey_date"].fillna(labels.map(starts))
        present = [i for i in OPTIONAL_BALLOT_ITEMS if i in out and i not in items]
        for item in [*items, *present]:
            values = pd.to_numeric(out[item], errors="coerce")
            out[item] = values.where(~values.isin(no_opinion)).astype("Float64")
        out["weight"] = pd.to_numeric(out["weight"]) if "weight" in out else 1.0
        # Respondent covariates (extra columns) that are all numbers become numbers.
        for col in out.columns.difference([*_BALLOT_TEXT, *items, *present, "weight"]):
            values = out[col].dropna().astype(str)
            if len(values) and values.str.fullmatch(_NUMBER.pattern.strip("^$")).all():
                out[col] = pd.to_numeric(out[col]).astype(float)
        return out

    return Contract("ballots", schema, convert, date_or_wave)


def _period_ok(text: str) -> bool:
    """A quarter ``2019Q4`` or a real month ``2019-10`` (month 1 to 12)."""
    if not _PERIOD.match(text):
        return False
    return "Q" in text or 1 <= int(text[5:7]) <= 12


def admin_schema(known: set[str]) -> Contract:
    columns: dict[str, pa.Column] = {
        "commune_code": _text(checks=_code_checks(known)),
        "period": _text(checks=[_element("period_format", _period_ok)]),
    }
    for name in ADMIN_COUNTS:
        columns[name] = _number(required=name in ("households_total", "ballot_roster"))
    schema = pa.DataFrameSchema(columns, strict=False, unique=["commune_code", "period"])

    def convert(raw: pd.DataFrame) -> pd.DataFrame:
        out = raw.copy()
        quarter = out["period"].str.contains("Q")
        monthly = pd.PeriodIndex(out.loc[~quarter, "period"].astype(str), freq="M").asfreq("Q")
        out["wave"] = out["period"]
        out.loc[~quarter, "wave"] = monthly.astype(str)
        for name in ADMIN_COUNTS:
            if name in out:
                out[name] = pd.to_numeric(out[name]).astype("Float64")
        return out

    return Contract("admin", schema, convert)


def costs_schema(known: set[str]) -> Contract:
    schema = pa.DataFrameSchema(
        {
            "commune_code": _text(checks=_code_checks(known)),
            "item": _text(),
            "setup_vnd": _number(),
            "yearly_vnd": _number(),
        },
        strict=False,
        unique=["commune_code", "item"],
    )

    def convert(raw: pd.DataFrame) -> pd.DataFrame:
        out = raw.copy()
        for name in ("setup_vnd", "yearly_vnd"):
            out[name] = pd.to_numeric(out[name]).fillna(0.0).astype(float)
        return out

    return Contract("costs", schema, convert)
