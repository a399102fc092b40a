"""Simulated Hà Nam demo data, deterministic from a seed and calibrated on the real unit lists.

No real ballot data is public. This module writes files in exactly the format of the data
contract (``data/README.md``) so that the whole package runs end to end, and every report built
on them carries the "simulated data" banner.

Design of the simulation (the "data-generating process"), per commune ``c``, wave ``t``, household ``i``::

    latent_it = 3.3 + commune_c + 0.01 * t + wave_shock_t + shock_ct + tau_c * ramp(e) * D_ct + e_i
    item_ijt  = cut(latent_it + item_j + noise_ij)  into 1..5

* The 116 units of the 2019-12-01 map before 2020, the 109 units of the 2020-01-01 map after;
  merged parts' households answer under the absorbing unit's code from 2020 (some still under
  their old code in 2020Q1), dissolved units with an unverified neighbour stop.
* 14 pilot communes from 2019Q4, chosen non-randomly within districts (better staffed, more
  urban), among units the map change left intact; Hợp Lý (Lý Nhân), the one publicly reported
  pilot, is always among them. Others adopt in later waves or never.
* ``tau_c`` grows with one-stop staffing and with fidelity (condolence letters on time);
  ``ramp`` is 1/2 in the first treated quarter and 1 after.
* Non-response: a rostered household returns its ballot with a probability that rises with its
  satisfaction (``nonresponse_strength``), so coverage is below 100% and selective.

The true parameters (``true_parameters.json``, ``true_effects.csv``) are written beside the data.

:func:`simulate_phase_in` simulates the future phase instead: outcomes of the units of page 06's
randomised stepped-wedge order after their drawn starts, a rehearsal of the design-based
analysis (:mod:`evaluation.analysis.phase_in`), never a result.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.config import BallotParams, DemoParams, Params
from evaluation.data.io import atomic_path, read_table, write_table, write_text
from evaluation.measures import score_ballots

KNOWN_PILOT_NAME = ("Hợp Lý", "Lý Nhân")
_THRESHOLDS = np.array([1.5, 2.5, 3.5, 4.5])
_ROLLOUT_SOURCE = "simulated: demo rollout calendar (evaluation.demo)"


@dataclass(frozen=True)
class DemoFiles:
    """Paths of one generated demo data set."""

    folder: Path
    rollout: Path
    ballots: Path
    admin: Path
    costs: Path
    true_parameters: Path
    true_effects: Path


def demo_folder(root: Path, params: DemoParams) -> Path:
    """Folder of the demo generated with these parameters (one per parameter set)."""
    digest = pd.util.hash_pandas_object(
        pd.Series([json.dumps(params.model_dump(mode="json"), sort_keys=True)])
    ).iloc[0]
    return root / f"seed{params.seed}-{int(digest) % 10**8:08d}"


def ensure_demo(params: Params, root: Path) -> DemoFiles:
    """Generate the demo data under ``root`` unless it is already there; return its paths."""
    folder = demo_folder(root, params.demo)
    files = _files(folder)
    if not (folder / "COMPLETE").is_file():
        generate_demo(params, folder)
    return files


def _files(folder: Path) -> DemoFiles:
    return DemoFiles(
        folder=folder,
        rollout=folder / "rollout.csv",
        ballots=folder / "ballots.csv",
        admin=folder / "admin.csv",
        costs=folder / "costs.csv",
        true_parameters=folder / "true_parameters.json",
        true_effects=folder / "true_effects.csv",
    )


def _quarters(first: str, last: str) -> pd.PeriodIndex:
    return pd.period_range(pd.Period(first, "Q"), pd.Period(last, "Q"), freq="Q")


def simulate_communes(
    units_before: pd.DataFrame,
    units_after: pd.DataFrame,
    changes: pd.DataFrame,
    params: DemoParams,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Commune characteristics, pilot choice and adoption waves on the 116-unit map."""
    units = units_before[["commune_code", "commune_name", "commune_type", "district_name"]].copy()
    n = len(units)
    urban = units["commune_type"].isin(["phuong", "thi_tran"]).to_numpy(float)
    households = np.round(rng.uniform(1500, 3500, n) * (1 + 0.6 * urban)).astype(int)
    staff_z = rng.normal(0, 1, n) + 0.6 * urban
    one_stop_staff = np.clip(np.round(2 + 0.0006 * households + 0.8 * staff_z), 1, None)
    fidelity = 1 / (1 + np.exp(-(0.6 + 0.5 * staff_z + rng.normal(0, 0.8, n))))
    quality = rng.normal(0, 0.30, n) + 0.12 * urban + 0.08 * staff_z
    units = units.assign(
        urban=urban,
        households_total=households,
        one_stop_staff=one_stop_staff,
        staff_z=staff_z,
        fidelity=fidelity,
        quality=quality,
    )
    # Pilots only among units the 2020 map change left intact.
    touched = set(changes["old_code"]) | set(changes["new_code"].dropna())
    renamed = set(changes.loc[changes["change"] == "renamed_or_reclassified", "old_code"])
    absorbing = set(changes.loc[changes["change"] == "merged", "new_code"])
    eligible = ~units["commune_code"].isin((touched - renamed) | absorbing)
    eligible &= units["commune_code"].isin(set(units_after["commune_code"]))
    known = (units["commune_name"] == KNOWN_PILOT_NAME[0]) & (
        units["district_name"] == KNOWN_PILOT_NAME[1]
    )
    districts = units["district_name"].unique()
    sizes = units.groupby("district_name").size()
    quota = np.maximum(1, np.floor(params.n_pilot * sizes / n)).astype(int)
    while quota.sum() < params.n_pilot:  # hand out the remainder to the largest districts
        quota[(params.n_pilot * sizes / n - quota).idxmax()] += 1
    pilot = np.zeros(n, bool)
    pilot[np.flatnonzero(known.to_numpy())] = True
    score = 1.2 * urban + 1.0 * staff_z  # better staffed, more urban communes were chosen
    for district in districts:
        in_d = (units["district_name"] == district).to_numpy() & eligible.to_numpy() & ~pilot
        need = quota[district] - int(pilot[(units["district_name"] == district).to_numpy()].sum())
        if need <= 0:
            continue
        idx = np.flatnonzero(in_d)
        weights = np.exp(score[idx])
        chosen = rng.choice(idx, size=min(need, len(idx)), replace=False, p=weights / weights.sum())
        pilot[chosen] = True
    units["pilot"] = pilot
    return units


def simulate_rollout(
    communes: pd.DataFrame, units_after: pd.DataFrame, params: DemoParams, rng: np.random.Generator
) -> pd.DataFrame:
    """Rollout calendar on the codes in force at each start: pilots in 2019, others later."""
    rows = [
        (code, params.pilot_start.isoformat(), "simulated: pilot decision of the province (2019)")
        for code in communes.loc[communes["pilot"], "commune_code"]
    ]
    pilots = set(communes.loc[communes["pilot"], "commune_code"])
    others = [c for c in units_after["commune_code"] if c not in pilots]
    waves = [pd.Period(w, "Q").start_time.date().isoformat() for w in params.rollout_waves]
    for code in others:
        if not waves or rng.random() < params.never_adopt_share:  # no later waves: never adopt
            rows.append((code, "", ""))
        else:
            rows.append((code, waves[rng.integers(len(waves))], _ROLLOUT_SOURCE))
    return pd.DataFrame(rows, columns=["commune_code", "start_date", "source"])


def _answer(latent: np.ndarray) -> np.ndarray:
    return 1 + np.searchsorted(_THRESHOLDS, latent)


def generate_demo(params: Params, folder: Path) -> DemoFiles:
    """Write the demo data set for ``params.demo`` into ``folder`` (atomically complete)."""
    demo = params.demo
    rng = np.random.default_rng(demo.seed)
    registry_maps = sorted(params.data.registry.maps, key=lambda m: m.effective_date)
    before = read_table(registry_maps[0].path).reset_index(drop=True)
    after = read_table(registry_maps[-1].path).reset_index(drop=True)
    change_date = pd.Timestamp(registry_maps[-1].effective_date)
    changes = (
        read_table(params.data.registry.changes).reset_index(drop=True)
        if params.data.registry.changes
        else pd.DataFrame(columns=["old_code", "new_code", "change"])
    )
    communes = simulate_communes(before, after, changes, demo, rng)
    rollout = simulate_rollout(communes, after, demo, rng)
    start = pd.to_datetime(rollout.set_index("commune_code")["start_date"].replace("", None))
    start_wave = start.dt.to_period("Q")
    waves = _quarters(demo.first_wave, demo.last_wave)
    new_code = changes.dropna(subset=["new_code"]).set_index("old_code")["new_code"]
    after_codes = set(after["commune_code"])
    wave_shock = rng.normal(0, 0.04, len(waves))
    items = params.ballot.items
    item_shift = rng.normal(0, 0.15, len(items))
    item_gain = np.array(
        [1.3 if (i in params.ballot.model_items or i.startswith("staff")) else 1.0 for i in items]
    )

    tau = demo.effect_latent * (
        1 + 0.35 * communes["staff_z"] + 0.6 * (communes["fidelity"] - 0.65) / 0.2
    )
    communes["tau"] = np.clip(tau, 0.0, None)

    ballots, admin, truth = [], [], []
    for t, wave in enumerate(waves):
        on_new_map = wave.start_time >= change_date
        for c in communes.itertuples(index=False):
            code = c.commune_code
            if on_new_map and code not in after_codes:
                code = new_code.get(code)
                if code is None or pd.isna(code):
                    continue  # dissolved into a neighbour we cannot name: no more ballots here
            first = start_wave.get(code if on_new_map else c.commune_code, pd.NaT)
            if c.pilot:
                first = pd.Period(demo.pilot_start, "Q")
            treated = pd.notna(first) and wave >= first
            ramp = 0.0 if not treated else (0.5 if wave == first else 1.0)
            roster = int(rng.integers(demo.ballots_min + 10, demo.ballots_max + 16))
            base = 3.3 + c.quality + 0.01 * t + wave_shock[t] + rng.normal(0, 0.08)
            latent0 = base + rng.normal(0, 0.6, roster)
            latent1 = latent0 + c.tau * ramp
            latent = latent1 if treated else latent0
            p_return = 1 / (1 + np.exp(-(1.1 + demo.nonresponse_strength * (latent - 3.3))))
            returned = rng.random(roster) < p_return
            n_ret = int(returned.sum())
            if n_ret < demo.ballots_min:  # officers chase the missing ballots up to the minimum
                extra = rng.choice(
                    np.flatnonzero(~returned), demo.ballots_min - n_ret, replace=False
                )
                returned[extra] = True
            elif n_ret > demo.ballots_max:
                drop = rng.choice(np.flatnonzero(returned), n_ret - demo.ballots_max, replace=False)
                returned[drop] = False
            idx = np.flatnonzero(returned)
            noise = rng.normal(0, 0.5, (len(idx), len(items)))
            answers0 = _answer(latent0[idx, None] + item_shift + noise)
            answers1 = _answer(latent0[idx, None] + item_shift + noise + c.tau * ramp * item_gain)
            answers = (answers1 if treated else answers0).astype(float)
            no_opinion = rng.random(answers.shape) < 0.03
            answers[no_opinion] = np.where(rng.random(no_opinion.sum()) < 0.8, 9, 0)
            record_code = code
            if (
                on_new_map
                and c.commune_code != code
                and wave == waves[waves >= pd.Period(change_date, "Q")][0]
            ):
                # In the first quarter after the merger some ballots still carry the old code.
                record_code = c.commune_code if rng.random() < 0.3 else code
            day = wave.start_time + pd.to_timedelta(rng.integers(10, 80, len(idx)), unit="D")
            n = len(idx)
            ballots.append(
                {
                    "answers": answers.astype(int),
                    "commune_code": np.full(n, record_code, dtype=object),
                    "survey_date": day.strftime("%d/%m/%Y").to_numpy(),
                    "wave": np.full(n, str(wave), dtype=object),
                    "household_id": np.char.add(
                        f"{c.commune_code}-H", np.char.zfill(idx.astype(str), 4)
                    ),
                    "respondent_female": (rng.random(n) < 0.45).astype(int),
                    "weight": np.full(n, np.round(c.households_total / n, 3)),
                }
            )
            if treated:
                truth.append((code, str(wave), c.pilot, answers0, answers1))
            admin.append(_admin_row(c, code, wave, treated, roster, rng))
    ballots_frame = _ballot_frame(ballots, items)
    admin_frame = pd.DataFrame(admin)
    admin_frame = admin_frame.groupby(["commune_code", "period"], as_index=False).agg(
        {**{k: "sum" for k in admin_frame.columns if k not in ("commune_code", "period")}}
    )
    costs = _costs(after, communes, rng)
    true_params, true_effects = _truth(truth, communes, params.ballot, demo)

    folder.parent.mkdir(parents=True, exist_ok=True)
    files = _files(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "COMPLETE").unlink(missing_ok=True)
    write_table(rollout, files.rollout)
    write_table(ballots_frame, files.ballots)
    write_table(admin_frame, files.admin)
    write_table(costs, files.costs)
    write_table(true_effects, files.true_effects)
    write_text(json.dumps(true_params, indent=2, ensure_ascii=False), files.true_parameters)
    write_text(
        "SIMULATED DATA / DỮ LIỆU MÔ PHỎNG\n\nGenerated by evaluation.demo with parameters:\n"
        + json.dumps(demo.model_dump(mode="json"), indent=2)
        + "\n\nThe commune list is real (GSO); every ballot, indicator and cost is simulated.\n",
        folder / "README.txt",
    )
    with atomic_path(folder / "COMPLETE") as tmp:
        tmp.write_text("ok\n")
    return files


def _ballot_frame(chunks: list[dict], items: list[str]) -> pd.DataFrame:
    """One ballots table from the per-commune-wave arrays (built once: fast)."""
    frame = pd.DataFrame(np.concatenate([c["answers"] for c in chunks]), columns=items)
    n = len(frame)
    front = {
        "ballot_id": np.char.add("B", np.char.zfill(np.arange(n).astype(str), 7)),
        **{
            k: np.concatenate([c[k] for c in chunks])
            for k in ("commune_code", "survey_date", "wave", "household_id")
        },
    }
    for position, (name, values) in enumerate(front.items()):
        frame.insert(position, name, values)
    frame["respondent_female"] = np.concatenate([c["respondent_female"] for c in chunks])
    frame["weight"] = np.concatenate([c["weight"] for c in chunks])
    return frame


def _admin_row(
    c, code: str, wave: pd.Period, treated: bool, roster: int, rng: np.random.Generator
) -> dict:
    hh = int(c.households_total)
    received = int(rng.poisson(hh / 12))
    on_time = int(
        rng.binomial(received, min(0.98, 0.84 + 0.03 * c.staff_z + (0.05 if treated else 0)))
    )
    late = received - on_time
    due = int(rng.poisson(hh * 0.004))
    cond_rate = c.fidelity if treated else 0.35
    return {
        "commune_code": code,
        "period": str(wave),
        "dossiers_received": received,
        "dossiers_on_time": on_time,
        "apology_letters": int(rng.binomial(late, 0.7 if treated else 0.1)),
        "condolence_due": due,
        "condolence_on_time": int(rng.binomial(due, cond_rate)),
        "complaints_attitude": int(rng.poisson(hh / 1000 * (0.5 if treated else 1.0))),
        "one_stop_staff": int(c.one_stop_staff),
        "households_total": hh,
        "ballot_roster": roster,
    }


def _costs(after: pd.DataFrame, communes: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    info = communes.set_index("commune_code")
    rows = []
    for code in after["commune_code"]:
        hh = float(info["households_total"].get(code, 2500))
        urban = float(info["urban"].get(code, 0.0))
        rows += [
            (code, "training", round(rng.uniform(15, 30) * 1e6, -3), 0.0),
            (
                code,
                "one_stop_upgrade",
                round(rng.uniform(40, 120) * 1e6 * (1 - 0.3 * urban), -3),
                0.0,
            ),
            (code, "reward_fund", 0.0, round(rng.uniform(10, 30) * 1e6, -3)),
            (code, "ballot_printing", 0.0, round(hh * 2_000.0, -3)),
        ]
    return pd.DataFrame(rows, columns=["commune_code", "item", "setup_vnd", "yearly_vnd"])


def _truth(
    truth: list, communes: pd.DataFrame, ballot: BallotParams, demo: DemoParams
) -> tuple[dict, pd.DataFrame]:
    """True effects on the measured outcomes, from each treated ballot's two potential answers."""
    items = ballot.items
    sipas = [i for v in ballot.factors.values() for i in v]
    # Score every treated ballot's two potential answer sets at once, then average per cell.
    cell = np.concatenate([np.full(len(a0), k) for k, (_, _, _, a0, _) in enumerate(truth)])
    s0 = score_ballots(
        pd.DataFrame(np.concatenate([x[3] for x in truth]).astype(float), columns=items), ballot
    )
    s1 = score_ballots(
        pd.DataFrame(np.concatenate([x[4] for x in truth]).astype(float), columns=items), ballot
    )
    diff = pd.DataFrame(
        {
            "cell": cell,
            "effect_index": s1["satisfaction_index"] - s0["satisfaction_index"],
            "effect_pct_satisfied": s1["pct_satisfied"] - s0["pct_satisfied"],
        }
    ).groupby("cell")
    means = diff.mean()
    sizes = diff.size()
    rows = [
        {
            "commune_code": code,
            "wave": wave,
            "pilot": bool(pilot),
            "n_ballots": int(sizes.loc[k]),
            "effect_index": float(means.loc[k, "effect_index"]),
            "effect_pct_satisfied": float(means.loc[k, "effect_pct_satisfied"]),
        }
        for k, (code, wave, pilot, _, _) in enumerate(truth)
    ]
    cells = pd.DataFrame(rows)
    pilot_cells = cells[cells["pilot"]]
    rollout_start = min(
        (pd.Period(w, "Q") for w in demo.rollout_waves), default=pd.Period(demo.last_wave, "Q") + 1
    )
    in_window = pilot_cells[pilot_cells["wave"].map(lambda w: pd.Period(w, "Q") < rollout_start)]

    def avg(frame: pd.DataFrame, col: str) -> float:
        return (
            float(np.average(frame[col], weights=frame["n_ballots"]))
            if len(frame)
            else float("nan")
        )

    def cell_avg(frame: pd.DataFrame, col: str) -> float:
        return float(frame[col].mean()) if len(frame) else float("nan")

    params = {
        "simulated": True,
        "note": "True parameters of the simulated demo; not facts about Hà Nam.",
        "seed": demo.seed,
        "effect_latent": demo.effect_latent,
        "n_pilot": int(communes["pilot"].sum()),
        "pilot_codes": sorted(communes.loc[communes["pilot"], "commune_code"]),
        "att_index_pilot_window_ballots": avg(in_window, "effect_index"),
        "att_index_pilot_window_cells": cell_avg(in_window, "effect_index"),
        "att_pct_satisfied_pilot_window_ballots": avg(in_window, "effect_pct_satisfied"),
        "att_pct_satisfied_pilot_window_cells": cell_avg(in_window, "effect_pct_satisfied"),
        "sipas_items": sipas,
    }
    per_commune = communes[
        [
            "commune_code",
            "pilot",
            "urban",
            "staff_z",
            "fidelity",
            "tau",
            "households_total",
            "one_stop_staff",
        ]
    ].rename(columns={"tau": "effect_latent"})
    return params, per_commune


def simulate_phase_in(
    design: pd.DataFrame,
    *,
    effect: float,
    between_sd: float,
    noise_sd: float,
    pre_periods: int = 2,
    baseline: float = 3.3,
    effect_spread: float = 0.5,
    seed: int = 0,
    unit: str = "commune_code",
) -> pd.DataFrame:
    """Simulated outcomes of a future stepped-wedge phase (a rehearsal, never a result).

    For the units of a recorded start order (page 06's ``tables/stepped_wedge.csv``), one mean
    outcome per unit and period from ``pre_periods`` periods before the first step to the last
    step's start::

        y_it = baseline + a_i + wave_t + e_it + tau_i * D_it
        a_i ~ N(0, between_sd^2), wave_t ~ N(0, 0.04^2), e_it ~ N(0, noise_sd^2)
        tau_i ~ N(effect, (effect_spread * effect)^2)

    ``D_it`` is 1 from the unit's recorded ``start_period`` on. ``between_sd`` and ``noise_sd``
    are meant to come from the data's variance components (page 06's power section), so the
    rehearsal has the noise of the real ballots.

    Parameters
    ----------
    design : pandas.DataFrame
        The recorded order: ``unit`` and ``start_period`` (integer periods).
    effect : float
        Average effect simulated (0: the model does nothing).
    between_sd, noise_sd : float
        Standard deviations of the permanent unit level and of a unit-period mean around it.
    pre_periods : int
        Periods simulated before the first step.
    baseline : float
        Average outcome without the model.
    effect_spread : float
        Spread of the unit effects as a share of ``effect``.
    seed : int
        Seed of the simulation.
    unit : str
        Unit column.

    Returns
    -------
    pandas.DataFrame
        ``unit, period, start_period, treated, outcome, unit_effect``, one row per unit and
        period, with ``attrs["simulated"] = True`` and the true average ``attrs["effect"]``.
    """
    if pre_periods < 0:
        raise ValueError(f"pre_periods must be 0 or more, got {pre_periods}")
    if between_sd < 0 or noise_sd < 0:
        raise ValueError("between_sd and noise_sd must not be negative")
    rng = np.random.default_rng(seed)
    units = design[[unit, "start_period"]].astype({unit: str, "start_period": int})
    units = units.sort_values(unit).reset_index(drop=True)
    first, last = int(units["start_period"].min()), int(units["start_period"].max())
    periods = np.arange(first - pre_periods, last + 1)
    n, n_t = len(units), periods.size
    level = baseline + rng.normal(0, between_sd, n)
    wave = rng.normal(0, 0.04, n_t)
    tau = effect + abs(effect) * effect_spread * rng.normal(0, 1, n)
    treated = periods[None, :] >= units["start_period"].to_numpy()[:, None]
    outcome = level[:, None] + wave[None, :] + rng.normal(0, noise_sd, (n, n_t))
    outcome = outcome + tau[:, None] * treated
    out = pd.DataFrame(
        {
            unit: np.repeat(units[unit].to_numpy(), n_t),
            "period": np.tile(periods, n),
            "start_period": np.repeat(units["start_period"].to_numpy(), n_t),
            "treated": treated.ravel().astype(int),
            "outcome": outcome.ravel(),
            "unit_effect": np.repeat(tau, n_t),
        }
    )
    out.attrs["simulated"] = True
    out.attrs["effect"] = float(tau.mean())
    return out
