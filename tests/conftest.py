"""Shared fixtures: the default parameters and a builder of small, valid input files.

The small data set uses Hà Nam's real unit lists (``data/reference/hanam``) as its registry and
a handful of communes for the rollout calendar, ballots, admin indicators and costs, so that a
test can break exactly one cell and check that the problem table points at it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from evaluation.config import PROJECT_ROOT, Params, load_params

# Runs made by the tests (in this process and in the command-line subprocesses they start) keep
# their cache in a folder of their own, never in the checkout's runs/.cache.
os.environ.setdefault("EVALUATION_CACHE_HOME", tempfile.mkdtemp(prefix="evaluation-test-cache-"))

REFERENCE = PROJECT_ROOT / "data" / "reference" / "hanam"
DEFAULT_PARAMS = PROJECT_ROOT / "params" / "default.yaml"
UNITS_2019 = REFERENCE / "units_2019-12-01.csv"
UNITS_2020 = REFERENCE / "units_2020-01-01.csv"
CHANGES = REFERENCE / "changes_2020-01-01.csv"

#: Ballot items of params/default.yaml, in file order.
ITEMS = [
    "access_location",
    "access_facilities",
    "procedures_public",
    "procedures_simple",
    "staff_courteous",
    "staff_competent",
    "results_on_time",
    "results_correct",
    "feedback_easy",
    "feedback_handled",
    "model_listens",
    "model_visits",
]
BALLOT_HEADER = ["ballot_id", "commune_code", "survey_date", "wave", "household_id", *ITEMS]

#: Communes of the small data set (2019 map codes; 13603 Nhân Hưng merges into 13594 in 2020).
HOP_LY = "13567"
PILOTS = ("13567", "13285", "13390")  # Hợp Lý, Quang Trung (Phủ Lý), Đại Cương (Kim Bảng)
LATER = "13501"  # Bình Mỹ, starts 2020Q3
NEVER = "13504"  # Bình Nghĩa, listed with no start date
NHAN_DAO, NHAN_HUNG = "13594", "13603"
BALLOT_COMMUNES = (*PILOTS, LATER, NEVER, NHAN_DAO, NHAN_HUNG)
WAVES = ("2019Q3", "2019Q4", "2020Q1", "2020Q2")
BALLOTS_PER_CELL = 3


def write_csv(
    path: Path,
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    bom: bool = False,
    encoding: str = "utf-8",
) -> Path:
    """Write a small CSV by hand (no pandas), as a person's spreadsheet export would look."""

    def cell(value: object) -> str:
        text = "" if value is None else str(value)
        return f'"{text}"' if "," in text else text

    lines = [",".join(header)] + [",".join(cell(v) for v in row) for row in rows]
    data = ("\n".join(lines) + "\n").encode(encoding)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def _wave_day(wave: str, k: int, iso: bool) -> str:
    year, quarter = int(wave[:4]), int(wave[-1])
    month = 3 * (quarter - 1) + 2
    day = 10 + k
    return f"{year}-{month:02d}-{day:02d}" if iso else f"{day:02d}/{month:02d}/{year}"


def ballot_rows() -> list[list[object]]:
    """Three ballots per commune and wave; answers depend on pilot status and wave.

    Nhân Hưng (13603) answers under its own code in 2019; in 2020 it no longer exists, so its
    households answer under Nhân Đạo (13594), except one ballot of 2020Q1 still carrying 13603.
    """
    rows: list[list[object]] = []
    counter = 0
    for code in BALLOT_COMMUNES:
        for w, wave in enumerate(WAVES):
            for k in range(BALLOTS_PER_CELL):
                record_code = code
                if code == NHAN_HUNG and wave >= "2020Q1" and not (wave == "2020Q1" and k == 0):
                    record_code = NHAN_DAO
                base = 3 + (1 if code in PILOTS and wave >= "2019Q4" else 0)
                answers = [min(5, max(1, base + (j + k + w) % 3 - 1)) for j in range(len(ITEMS))]
                if k == 1:
                    answers[0] = 9  # no opinion
                if k == 2:
                    answers[-1] = 0  # no opinion
                rows.append(
                    [
                        f"B{counter:05d}",
                        record_code,
                        _wave_day(wave, k, iso=(k == 2)),
                        wave,
                        f"{code}-H{k:03d}",
                        *answers,
                    ]
                )
                counter += 1
    return rows


def rollout_rows() -> list[list[object]]:
    rows: list[list[object]] = [
        [code, "01/10/2019", "provincial decision (test)"] for code in PILOTS
    ]
    rows.append([LATER, "2020-07-01", "test"])
    rows.append([NEVER, "", ""])
    return rows


ADMIN_HEADER = [
    "commune_code",
    "period",
    "dossiers_received",
    "dossiers_on_time",
    "apology_letters",
    "condolence_due",
    "condolence_on_time",
    "complaints_attitude",
    "one_stop_staff",
    "households_total",
    "ballot_roster",
]


def admin_rows() -> list[list[object]]:
    rows: list[list[object]] = []
    codes = [c for c in BALLOT_COMMUNES if c != NHAN_HUNG]
    for code in codes:
        for wave in WAVES:
            rows.append([code, wave, 100, 90, 5, 4, 3, 1, 4, 2000, 6])
    return rows


def cost_rows() -> list[list[object]]:
    return [
        [code, item, setup, yearly]
        for code in (*PILOTS, LATER)
        for item, setup, yearly in (("training", 20000000, 0), ("reward_fund", 0, 15000000))
    ]


@dataclass(frozen=True)
class SmallData:
    """Paths of one small valid data set and helpers to point parameters at it."""

    folder: Path
    rollout: Path
    ballots: Path
    admin: Path
    costs: Path

    def tree(self, **sections: dict) -> dict:
        """A parameter tree (as YAML would hold it) extending params/default.yaml."""
        tree: dict = {
            "extends": str(DEFAULT_PARAMS),
            "run_name": "small",
            "data": {
                "source": "files",
                "rollout": str(self.rollout),
                "ballots": str(self.ballots),
                "admin": str(self.admin),
                "costs": str(self.costs),
            },
        }
        for key, value in sections.items():
            if isinstance(value, dict) and isinstance(tree.get(key), dict):
                tree[key] = {**tree[key], **value}
            else:
                tree[key] = value
        return tree

    def params_file(self, name: str = "params.yaml", **sections: dict) -> Path:
        """Write a scenario YAML file (``extends:`` the default) into the data folder."""
        path = self.folder / name
        path.write_text(yaml.safe_dump(self.tree(**sections), allow_unicode=True), "utf-8")
        return path

    def params(self, overrides: dict | None = None, **sections: dict) -> Params:
        """Loaded and validated parameters reading this data set."""
        return load_params(self.params_file(**sections), overrides)


def build_small_data(folder: Path) -> SmallData:
    """Write the small valid data set into ``folder`` (ballots with a BOM, like Excel writes)."""
    folder.mkdir(parents=True, exist_ok=True)
    return SmallData(
        folder=folder,
        rollout=write_csv(
            folder / "rollout.csv", ["commune_code", "start_date", "source"], rollout_rows()
        ),
        ballots=write_csv(folder / "ballots.csv", BALLOT_HEADER, ballot_rows(), bom=True),
        admin=write_csv(folder / "admin.csv", ADMIN_HEADER, admin_rows()),
        costs=write_csv(
            folder / "costs.csv", ["commune_code", "item", "setup_vnd", "yearly_vnd"], cost_rows()
        ),
    )


@pytest.fixture(scope="session")
def default_params() -> Params:
    """params/default.yaml, loaded and validated."""
    return load_params(DEFAULT_PARAMS)


@pytest.fixture
def small_data(tmp_path: Path) -> SmallData:
    """A fresh small valid data set in the test's own folder."""
    return build_small_data(tmp_path / "data")


@pytest.fixture
def csv_writer(tmp_path: Path) -> Callable[..., Path]:
    """``csv_writer(name, header, rows, bom=False, encoding='utf-8')`` writes into tmp_path."""

    def make(
        name: str,
        header: Sequence[str],
        rows: Iterable[Sequence[object]],
        bom: bool = False,
        encoding: str = "utf-8",
    ) -> Path:
        return write_csv(tmp_path / name, header, rows, bom=bom, encoding=encoding)

    return make
