"""Which p-value can the board trust? Size of each few-cluster method measured on this design.

With 14 pilot communes out of ~109 the nominal 5% of a test is a promise, not a fact. This
module keeps the real structure of the data -- the communes, their waves and ballot counts,
the districts and the number of pilots per district and start wave -- imposes a true null
effect, and counts how often each method rejects at 5%:

* ``"placebo"``: the real pilots are removed and placebo pilots are drawn among the other
  communes (same number per district as the real pilots, same start waves). Outcomes are real,
  the effect is zero by construction.
* ``"effect_removed"``: all communes are kept, the estimated TWFE effect is subtracted from the
  pilots' treated cells and the pilot labels are re-drawn within districts.

Methods: CRV1, CR2 with Bell-McCaffrey df, CV3, restricted wild cluster bootstrap (Rademacher
and Webb weights, :func:`evaluation.inference.wild_bootstrap.wild_cluster_bootstrap` with
``n_boot`` = 399 draws by default inside the simulation: the size of a bootstrap test does not
depend on B when alpha (B+1) is an integer, only its power and p-value resolution do),
randomisation inference on the CRV1 t (``n_ri`` = 199 re-assignments per simulated data set,
exact size for the same reason), the commune-level aggregated Welch test and the Ferman-Pinto
permutation test of the commune-level DiD whose residuals are rescaled by the number of ballots
per commune (:mod:`evaluation.inference.ferman_pinto`, ``n_ri`` permutations per simulated data
set). A method is rejected at ``p <= alpha``.

Speed: all methods work on commune-wave cells (exact for ballot-level data whose regressors are
constant within commune-wave cells, see :mod:`evaluation.inference.cluster_robust`); CRV1 and RI
share one pre-computed Frisch-Waugh-Lovell engine (:class:`~evaluation.inference.randomization.RIEngine`)
vectorised over all simulated assignments; CR2 and CV3 re-use the design's padded
per-cluster blocks; only the wild bootstrap is called once per simulated data set.

:func:`choose_headline` turns the size table into a verdict: which method to show the board,
why, and which methods failed; :func:`few_cluster_warnings` and :func:`flag_subgroups` give the
warnings a reader must see.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.i18n import Language, format_percent, t
from evaluation.inference.aggregated import aggregated_welch, welch_from_changes
from evaluation.inference.cluster_robust import METHOD_LABELS as _REGRESSION_LABELS
from evaluation.inference.cluster_robust import (
    PanelDesign,
    _cr2_se_df,
    _cv3_se,
    _fit,
    cr2,
    crv1,
    cv3,
    panel_design,
)
from evaluation.inference.ferman_pinto import (
    FERMAN_PINTO_LABEL,
    cell_ballots,
    commune_changes,
    draw_permutations,
    ferman_pinto,
    fp_p_value,
)
from evaluation.inference.randomization import (
    RIEngine,
    _strata_codes,
    _unit_cohorts,
    draw_assignments,
    randomization_inference,
    ri_p_value,
)

__all__ = [
    "DEFAULT_METHODS",
    "METHOD_LABELS",
    "applicable_methods",
    "DEFAULT_PREFERENCE",
    "HeadlineVerdict",
    "NULL_DESIGNS",
    "choose_headline",
    "compare_methods",
    "few_cluster_warnings",
    "flag_subgroups",
    "measure_size",
]

DEFAULT_METHODS: tuple[str, ...] = (
    "crv1",
    "cr2_bm",
    "cv3",
    "wcr_rademacher",
    "wcr_webb",
    "ri",
    "aggregated_welch",
    "ferman_pinto",
)

#: Full description of every method (``inference`` column of ``tables/effects.csv``).
METHOD_LABELS: dict[str, str] = {**_REGRESSION_LABELS, "ferman_pinto": FERMAN_PINTO_LABEL}

#: Order in which methods that pass the size check are preferred for the board. CR2-BM first:
#: analytic, no seed, an ordinary interval; then the bootstraps and RI (seed-dependent but
#: robust); CV3 and the aggregated test are conservative; CRV1 last (known to over-reject).
DEFAULT_PREFERENCE: tuple[str, ...] = (
    "cr2_bm",
    "wcr_rademacher",
    "ri",
    "ferman_pinto",
    "wcr_webb",
    "cv3",
    "aggregated_welch",
    "crv1",
)

NULL_DESIGNS: tuple[str, ...] = ("placebo", "effect_removed")

#: Why a method is left out of a design (message keys under ``inference.left_out``).
LEFT_OUT_ONE_CLUSTER = "inference.left_out.one_treated_cluster"
LEFT_OUT_WELCH = "inference.left_out.welch_units"
LEFT_OUT_FERMAN_PINTO = "inference.left_out.ferman_pinto_units"

SIZE_COLUMNS: list[str] = [
    "null_design",
    "method",
    "label",
    "n_sims",
    "n_valid",
    "rejections",
    "rejection_rate",
    "mc_se",
    "alpha",
    "n_units",
    "n_treated_units",
    "n_clusters",
]


# --------------------------------------------------------------------------- simulation


@dataclass(frozen=True)
class _NullSetup:
    design: PanelDesign
    labels: np.ndarray  # unit labels: 0 never, k -> starts[k-1]
    strata: np.ndarray
    starts: np.ndarray
    note: str = ""
    ballots: np.ndarray | None = None  # ballots behind each cell (Ferman-Pinto)


def _path(design: PanelDesign, starts: np.ndarray, assignment: np.ndarray) -> np.ndarray:
    """Cell-level 0/1 treatment of a unit-level assignment of start-wave labels."""
    label = assignment[design.unit]
    start = np.where(label > 0, starts[np.maximum(label - 1, 0)], np.iinfo(np.int64).max)
    return (design.time >= start).astype(np.float64)


def _placebo_setup(
    data: pd.DataFrame,
    args: dict,
    labels: np.ndarray,
    strata: np.ndarray,
    starts: np.ndarray,
    full: PanelDesign,
    rng: np.random.Generator,
) -> _NullSetup:
    keep_units = labels == 0
    placebo_labels = np.zeros(int(keep_units.sum()), dtype=np.int64)
    kept_strata = strata[keep_units]
    notes = []
    # Same number of pilots per stratum and start wave as the real pilots, among non-pilots.
    for s in np.unique(strata):
        wanted = labels[(strata == s) & (labels > 0)]
        slots = np.flatnonzero(kept_strata == s)
        if len(wanted) > len(slots):
            notes.append(f"stratum {s}: {len(wanted)} pilots but {len(slots)} non-pilot units")
            wanted = wanted[: len(slots)]
        placebo_labels[slots[: len(wanted)]] = wanted
    if not (placebo_labels > 0).any():
        raise ValueError("no non-pilot units left for placebo pilots; use the effect_removed null.")
    unit_values = full.unit_values[keep_units]
    subset = data[data[args["unit"]].isin(unit_values)].copy()
    # A first placebo draw only so that the design's rank check sees a varying treatment.
    first = draw_assignments(placebo_labels, kept_strata, 1, rng)[0]
    lookup = pd.Series(first, index=unit_values)
    label = subset[args["unit"]].map(lookup).to_numpy()
    start_values = full.time_values[starts]
    time_start = np.where(label > 0, start_values[np.maximum(label - 1, 0)], None)
    subset["_placebo_"] = [
        int(s is not None and tv >= s)
        for tv, s in zip(subset[args["time"]], time_start, strict=True)
    ]
    design = panel_design(
        subset,
        args["outcome"],
        "_placebo_",
        args["unit"],
        args["time"],
        args["cluster"],
        args["weights"],
        args["covariates"],
    )
    # Start waves as time codes of the subset design.
    sub_starts = np.searchsorted(design.time_values, start_values)
    return _NullSetup(design, placebo_labels, kept_strata, sub_starts, "; ".join(notes))


def _effect_removed_setup(
    full: PanelDesign, labels: np.ndarray, strata: np.ndarray, starts: np.ndarray
) -> _NullSetup:
    fit = _fit(full)
    y0 = full.y - fit.beta[0] * full.d  # exact at cell level: d is constant within cells
    return _NullSetup(full.with_outcome(y0), labels, strata, starts)


def _changes(design: PanelDesign, post_start: int) -> tuple[np.ndarray, np.ndarray]:
    """Each unit's weighted post-minus-pre mean of the cell outcome, and which units have both."""
    post = design.time >= post_start
    n = design.n_units
    sums = np.zeros((2, n))
    wsum = np.zeros((2, n))
    np.add.at(sums, (post.astype(int), design.unit), design.w * design.y)
    np.add.at(wsum, (post.astype(int), design.unit), design.w)
    ok = (wsum > 0).all(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        means = sums / wsum
    return means[1] - means[0], ok


def _ferman_pinto_p(
    setup: _NullSetup, assignments: np.ndarray, n_perm: int, rng: np.random.Generator
) -> np.ndarray:
    """Ferman-Pinto p-value of every simulated assignment (``n_perm`` permutations each)."""
    design = setup.design
    ballots = setup.ballots if setup.ballots is not None else design.w
    changes, h, complete = commune_changes(design, design.y, ballots, setup.starts)
    changes, h = changes[complete], h[complete]
    strata = setup.strata[complete]
    out = np.full(len(assignments), np.nan)
    for s, labels in enumerate(assignments[:, complete]):
        if (labels == 0).sum() >= 2 and (labels > 0).any():
            perms = draw_permutations(strata, n_perm, rng)
            out[s] = fp_p_value(changes, h, labels, perms)
    return out


def _simulate(
    setup: _NullSetup,
    methods: Sequence[str],
    n_sims: int,
    rng: np.random.Generator,
    alpha: float,
    n_boot: int,
    n_ri: int,
    covariates: tuple[str, ...],
) -> dict[str, np.ndarray]:
    design, labels, strata, starts = setup.design, setup.labels, setup.strata, setup.starts
    assignments = draw_assignments(labels, strata, n_sims, rng)
    p: dict[str, np.ndarray] = {m: np.full(n_sims, np.nan) for m in methods}
    df_g = design.n_clusters - 1
    if "crv1" in methods or "ri" in methods:
        engine = RIEngine(design, starts)
        t_obs = engine.t_stats(engine.moments(assignments))
        if "crv1" in methods:
            p["crv1"] = 2 * stats.t.sf(np.abs(t_obs), df_g)
        if "ri" in methods:
            reference = draw_assignments(labels, strata, n_sims * n_ri, rng)
            t_ref = engine.t_stats(engine.moments(reference)).reshape(n_sims, n_ri)
            p["ri"] = np.array(
                [ri_p_value(t_obs[s], t_ref[s], False) for s in range(n_sims)], dtype=float
            )
    if "aggregated_welch" in methods:
        changes, ok = _changes(design, int(starts.min()))
        tw, dfw = welch_from_changes(changes[ok], (assignments > 0)[:, ok])
        p["aggregated_welch"] = 2 * stats.t.sf(np.abs(tw), dfw)
    if "ferman_pinto" in methods:
        p["ferman_pinto"] = _ferman_pinto_p(setup, assignments, n_ri, rng)
    analytic = [m for m in ("cr2_bm", "cv3") if m in methods]
    wild = [m for m in ("wcr_rademacher", "wcr_webb") if m in methods]
    if analytic or wild:
        cells = None
        if wild:
            from evaluation.inference.wild_bootstrap import wild_cluster_bootstrap

            cov = design.z_raw[:, design.z_raw.shape[1] - len(covariates) :]
            cells = pd.DataFrame(
                {"y": design.y, "w": design.w, "unit": design.unit, "time": design.time}
            )
            cells["cluster"] = design.cluster
            for j in range(len(covariates)):
                cells[f"cov{j}"] = cov[:, j]
            seeds = rng.integers(0, 2**31 - 1, size=n_sims)
        for s in range(n_sims):
            d = _path(design, starts, assignments[s])
            fit = _fit(design, d)
            if "cr2_bm" in methods:
                se, df = _cr2_se_df(design, fit)
                p["cr2_bm"][s] = 2 * stats.t.sf(abs(fit.beta[0] / se), df)
            if "cv3" in methods:
                se = _cv3_se(design, fit)
                p["cv3"][s] = 2 * stats.t.sf(abs(fit.beta[0] / se), df_g) if se > 0 else np.nan
            for m in wild:
                cells["d"] = d
                res = wild_cluster_bootstrap(
                    cells,
                    "y",
                    "d",
                    "cluster",
                    fixed_effects=("unit", "time"),
                    covariates=tuple(f"cov{j}" for j in range(len(covariates))),
                    weights="w",
                    bootstrap_weights=m.removeprefix("wcr_"),
                    n_boot=n_boot,
                    seed=int(seeds[s]),
                    alpha=alpha,
                    confint=False,
                )
                p[m][s] = res.p_value
    return p


def measure_size(
    data: pd.DataFrame,
    outcome: str,
    treatment: str,
    unit: str,
    time: str,
    cluster: str | None = None,
    strata: str | None = "district",
    weights: str | None = None,
    covariates: Sequence[str] = (),
    methods: Sequence[str] | None = None,
    nulls: Sequence[str] = NULL_DESIGNS,
    n_sims: int = 500,
    seed: int = 0,
    alpha: float = 0.05,
    n_boot: int = 399,
    n_ri: int = 199,
    ballots: str | None = None,
) -> pd.DataFrame:
    """Rejection rate at ``alpha`` of each method under a true null, on this data's design.

    Parameters
    ----------
    data : pandas.DataFrame
        Ballot- or cell-level panel with the real pilots.
    outcome, treatment, unit, time : str
        Columns; ``treatment`` 0/1 absorbing (pilot x post).
    cluster : str, optional
        Cluster column (default ``unit``).
    strata : str or None
        Column (district) whose number of pilots per start wave is kept; None for none.
    weights : str, optional
        Positive weights.
    covariates : sequence of str
        Numeric controls.
    methods : sequence of str, optional
        Subset of :data:`DEFAULT_METHODS`; None = every method that can run on this design
        (:func:`applicable_methods`: randomisation inference only with one treated cluster).
    nulls : sequence of str
        Subset of :data:`NULL_DESIGNS`.
    n_sims : int
        Simulated data sets per null design (Monte Carlo SE of a 5% rate: ~1 point at 500).
    seed : int
        Seed of every random draw.
    alpha : float
        Nominal level.
    n_boot : int
        Wild bootstrap draws per simulated data set.
    n_ri : int
        Randomisation re-assignments (and Ferman-Pinto permutations) per simulated data set.
    ballots : str, optional
        Column of ballots behind each row, for the Ferman-Pinto test (None: one ballot a row).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SIZE_COLUMNS`, one row per null design and method; ``mc_se`` is the
        binomial Monte Carlo standard error of the rejection rate.
    """
    if methods is None:
        methods = applicable_methods(
            data, outcome, treatment, unit, time, cluster, weights, covariates
        )[0]
    unknown = [m for m in methods if m not in DEFAULT_METHODS]
    if unknown:
        raise ValueError(f"unknown methods {unknown}; choose among {list(DEFAULT_METHODS)}.")
    bad_nulls = [n for n in nulls if n not in NULL_DESIGNS]
    if bad_nulls:
        raise ValueError(f"unknown nulls {bad_nulls}; choose among {list(NULL_DESIGNS)}.")
    if n_sims < 1 or n_boot < 1 or n_ri < 1:
        raise ValueError("n_sims, n_boot and n_ri must be positive integers.")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (e.g. 0.05), got {alpha!r}.")
    covariates = tuple(covariates)
    args = {
        "outcome": outcome,
        "unit": unit,
        "time": time,
        "cluster": cluster,
        "weights": weights,
        "covariates": covariates,
    }
    full = panel_design(data, outcome, treatment, unit, time, cluster, weights, covariates)
    first, starts = _unit_cohorts(full)
    labels = np.where(first >= 0, np.searchsorted(starts, first) + 1, 0)
    strata_codes = _strata_codes(data, unit, strata, full)
    root = np.random.default_rng(seed)
    rows = []
    for null, rng in zip(nulls, root.spawn(len(nulls)), strict=True):
        if null == "placebo":
            setup = _placebo_setup(data, args, labels, strata_codes, starts, full, rng)
        else:
            setup = _effect_removed_setup(full, labels, strata_codes, starts)
        if "ferman_pinto" in methods:
            used = [outcome, treatment, *([weights] if weights else []), *covariates]
            cells = cell_ballots(data, setup.design, unit, time, ballots, used)
            setup = _NullSetup(**{**setup.__dict__, "ballots": cells})
        pvals = _simulate(setup, methods, n_sims, rng, alpha, n_boot, n_ri, covariates)
        for m in methods:
            valid = np.isfinite(pvals[m])
            n_valid = int(valid.sum())
            rejections = int(np.sum(pvals[m][valid] <= alpha))
            rate = rejections / n_valid if n_valid else math.nan
            rows.append(
                {
                    "null_design": null,
                    "method": m,
                    "label": METHOD_LABELS[m],
                    "n_sims": n_sims,
                    "n_valid": n_valid,
                    "rejections": rejections,
                    "rejection_rate": rate,
                    "mc_se": math.sqrt(rate * (1 - rate) / n_valid) if n_valid else math.nan,
                    "alpha": alpha,
                    "n_units": setup.design.n_units,
                    "n_treated_units": int(np.sum(setup.labels > 0)),
                    "n_clusters": setup.design.n_clusters,
                }
            )
    return pd.DataFrame(rows, columns=SIZE_COLUMNS)


# --------------------------------------------------------------------------- which methods


def applicable_methods(
    data: pd.DataFrame,
    outcome: str,
    treatment: str,
    unit: str,
    time: str,
    cluster: str | None = None,
    weights: str | None = None,
    covariates: Sequence[str] = (),
    methods: Sequence[str] = DEFAULT_METHODS,
) -> tuple[tuple[str, ...], dict[str, str]]:
    """The methods that can run on this design, and why the others cannot.

    * One treated cluster: cluster-robust variances (CRV1, CR2, CV3) rest on a single
      treated cluster's residuals and the restricted wild bootstrap cannot reject at all;
      the commune-level Welch test compares units of that one cluster. Only randomisation
      inference (re-drawing which unit was treated) remains.
    * The Welch test needs at least two treated and two untreated units observed before and
      after the start.

    Parameters are those of :func:`measure_size`.

    Returns
    -------
    tuple
        ``(methods that can run, {method left out: message key of the reason})``; the keys
        are :data:`LEFT_OUT_ONE_CLUSTER` and :data:`LEFT_OUT_WELCH`.
    """
    design = panel_design(data, outcome, treatment, unit, time, cluster, weights, tuple(covariates))
    left: dict[str, str] = {}
    if design.n_treated_clusters < 2:
        left.update({m: LEFT_OUT_ONE_CLUSTER for m in methods if m != "ri"})
    if "aggregated_welch" in methods and "aggregated_welch" not in left:
        first, starts = _unit_cohorts(design)
        _, ok = _changes(design, int(starts.min()))
        treated = first >= 0
        if (ok & treated).sum() < 2 or (ok & ~treated).sum() < 2:
            left["aggregated_welch"] = LEFT_OUT_WELCH
    if "ferman_pinto" in methods and "ferman_pinto" not in left:
        first, starts = _unit_cohorts(design)
        _, _, complete = commune_changes(design, design.y, design.w, starts)
        if (complete & (first >= 0)).sum() < 1 or (complete & (first < 0)).sum() < 2:
            left["ferman_pinto"] = LEFT_OUT_FERMAN_PINTO
    return tuple(m for m in methods if m not in left), left


# --------------------------------------------------------------------------- verdict


@dataclass(frozen=True)
class HeadlineVerdict:
    """Which method's p-value and interval to show the board, and why.

    Attributes
    ----------
    method : str
        Chosen method (a key of :data:`METHOD_LABELS`).
    reason : str
        Plain English explanation (use :meth:`explain` for Vietnamese).
    reason_key : str
        Message key of the explanation (``inference.verdict.*``).
    failed_methods : tuple of str
        Methods whose rejection rate under some null design left the band.
    passed_methods : tuple of str
        Methods inside the band under every null design, in preference order.
    worst_rate : float
        The chosen method's rejection rate farthest from ``alpha`` across null designs.
    band : tuple of float
        Acceptable rejection rates.
    rates : mapping of str to float
        Each method's worst rate (farthest from alpha) across null designs.
    """

    method: str
    reason: str
    reason_key: str
    failed_methods: tuple[str, ...]
    passed_methods: tuple[str, ...]
    worst_rate: float
    band: tuple[float, float]
    rates: Mapping[str, float] = field(default_factory=dict, compare=False)

    def explain(self, language: Language = "vi") -> str:
        """The reason in ``language``."""
        return t(self.reason_key, language, **self._values(language))

    def _values(self, language: Language) -> dict[str, str]:
        failed = ", ".join(
            f"{t('inference.method.' + m, language)} ({format_percent(self.rates[m], language)})"
            for m in self.failed_methods
        )
        return {
            "method": t(f"inference.method.{self.method}", language),
            "rate": format_percent(self.worst_rate, language),
            "low": format_percent(self.band[0], language, 0),
            "high": format_percent(self.band[1], language, 0),
            "failed": failed or "–",
        }


def choose_headline(
    size_table: pd.DataFrame,
    band: tuple[float, float] = (0.03, 0.07),
    preference: Sequence[str] = DEFAULT_PREFERENCE,
) -> HeadlineVerdict:
    """Pick the method to show the board from a :func:`measure_size` table.

    A method passes when its rejection rate is inside ``band`` under every null design in the
    table. The first passing method in ``preference`` is chosen. If none passes, the method
    whose worst rate is closest to the band is chosen, counting over-rejection (false
    findings) twice as heavily as under-rejection, and the verdict says so.

    Parameters
    ----------
    size_table : pandas.DataFrame
        Output of :func:`measure_size` (columns ``method``, ``rejection_rate``, ``alpha``).
    band : tuple of float
        Acceptable rejection rates for a nominal 5% test.
    preference : sequence of str
        Order of preference among passing methods; methods not listed come last.

    Returns
    -------
    HeadlineVerdict
    """
    needed = {"method", "rejection_rate"}
    if not needed <= set(size_table.columns):
        raise ValueError(f"size_table needs columns {sorted(needed)} (output of measure_size).")
    low, high = band
    if not 0 <= low < high <= 1:
        raise ValueError(f"band must be (low, high) with 0 <= low < high <= 1, got {band!r}.")
    table = size_table.dropna(subset=["rejection_rate"])
    if table.empty:
        raise ValueError("size_table has no rejection rates.")
    alpha = float(table["alpha"].iloc[0]) if "alpha" in table else 0.05
    worst: dict[str, float] = {}
    for m, rates in table.groupby("method", sort=False)["rejection_rate"]:
        values = rates.to_numpy()
        worst[str(m)] = float(values[np.argmax(np.abs(values - alpha))])
    order = [m for m in preference if m in worst] + [m for m in worst if m not in preference]
    passed = tuple(m for m in order if low <= worst[m] <= high)
    failed = tuple(m for m in order if m not in passed)
    if passed:
        method, key = passed[0], "inference.verdict.passed"
    else:

        def distance(m: str) -> float:
            rate = worst[m]
            return 2 * (rate - high) if rate > high else low - rate

        method = min(order, key=distance)
        key = "inference.verdict.none_passed"
    verdict = HeadlineVerdict(
        method=method,
        reason="",
        reason_key=key,
        failed_methods=failed,
        passed_methods=passed,
        worst_rate=worst[method],
        band=(float(low), float(high)),
        rates=worst,
    )
    return HeadlineVerdict(**{**verdict.__dict__, "reason": verdict.explain("en")})


# --------------------------------------------------------------------------- warnings


def few_cluster_warnings(
    data: pd.DataFrame,
    treatment: str,
    cluster: str,
    weights: str | None = None,
    language: Language = "vi",
    min_treated: int = 20,
    max_share: float = 0.2,
) -> tuple[str, ...]:
    """Warnings a reader must see before trusting a cluster-robust p-value.

    Parameters
    ----------
    data : pandas.DataFrame
        Ballot- or cell-level data.
    treatment : str
        0/1 treatment column (rows with 1 are treated observations).
    cluster : str
        Cluster column (commune).
    weights : str, optional
        Weights (ballots per row for cell-level data) used to measure each cluster's share.
    language : {"vi", "en"}
    min_treated : int
        Fewer treated clusters than this triggers a warning.
    max_share : float
        One cluster holding more than this share of the treated observations triggers one.

    Returns
    -------
    tuple of str
        Messages, empty when nothing to warn about.
    """
    missing = [c for c in (treatment, cluster, weights) if c and c not in data]
    if missing:
        raise ValueError(f"column(s) {missing} not found in the data.")
    treated = data[data[treatment] == 1]
    out: list[str] = []
    n_treated = int(treated[cluster].nunique())
    if n_treated < min_treated:
        out.append(t("inference.warning.few_treated", language, n=n_treated, threshold=min_treated))
    if n_treated:
        size = (
            treated.groupby(cluster)[weights].sum() if weights else treated.groupby(cluster).size()
        )
        share = size / size.sum()
        top = share.idxmax()
        if share.max() > max_share:
            out.append(
                t(
                    "inference.warning.dominant_cluster",
                    language,
                    cluster=top,
                    share=format_percent(float(share.max()), language),
                    threshold=format_percent(max_share, language, 0),
                )
            )
    return tuple(out)


def flag_subgroups(
    estimates: pd.DataFrame,
    n_treated_column: str = "n_treated_clusters",
    language: Language = "vi",
    weak_max: int = 3,
) -> pd.DataFrame:
    """Flag per-subgroup estimates resting on 1-3 treated units.

    Parameters
    ----------
    estimates : pandas.DataFrame
        One row per subgroup estimate with a count of treated units.
    n_treated_column : str
        Column with the number of treated clusters (communes) behind each estimate.
    language : {"vi", "en"}
    weak_max : int
        Largest number of treated units that counts as weak.

    Returns
    -------
    pandas.DataFrame
        Copy of ``estimates`` with ``weak`` (bool), ``show`` (``"ri_p_value_only"`` or
        ``"all"``) and ``flag`` (message, empty when not weak).
    """
    if n_treated_column not in estimates.columns:
        raise ValueError(
            f"column {n_treated_column!r} not found; pass n_treated_column= the column counting "
            "treated communes per subgroup."
        )
    out = estimates.copy()
    n = out[n_treated_column].to_numpy()
    weak = (n >= 1) & (n <= weak_max)
    out["weak"] = weak
    out["show"] = np.where(weak, "ri_p_value_only", "all")
    message = t("inference.subgroup.weak", language)
    out["flag"] = np.where(weak, message, "")
    return out


# --------------------------------------------------------------------------- all methods


def compare_methods(
    data: pd.DataFrame,
    outcome: str,
    treatment: str,
    unit: str,
    time: str,
    cluster: str | None = None,
    strata: str | None = "district",
    weights: str | None = None,
    covariates: Sequence[str] = (),
    methods: Sequence[str] | None = None,
    n_boot: int = 9999,
    ri_budget: int = 9999,
    seed: int = 0,
    alpha: float = 0.05,
    ballots: str | None = None,
) -> pd.DataFrame:
    """Every method's estimate, interval and p-value for the headline effect (tidy).

    Parameters are those of :func:`measure_size`; ``n_boot`` and ``ri_budget`` are the draws
    of the real-data wild bootstrap and randomisation test (``ri_budget`` also the
    Ferman-Pinto permutations). ``methods=None`` runs every method
    that can run on this design (:func:`applicable_methods`).

    Returns
    -------
    pandas.DataFrame
        Columns ``method, label, estimate, std_error, df, conf_low, conf_high, p_value``.
    """
    covariates = tuple(covariates)
    if methods is None:
        methods = applicable_methods(
            data, outcome, treatment, unit, time, cluster, weights, covariates
        )[0]
    design = panel_design(data, outcome, treatment, unit, time, cluster, weights, covariates)
    rows = []
    for m in methods:
        if m in ("crv1", "cr2_bm", "cv3"):
            func = {"crv1": crv1, "cr2_bm": cr2, "cv3": cv3}[m]
            r = func(design, alpha=alpha)
            rows.append((m, r.estimate, r.std_error, r.df, r.conf_low, r.conf_high, r.p_value))
        elif m.startswith("wcr_"):
            from evaluation.inference.wild_bootstrap import wild_cluster_bootstrap

            b = wild_cluster_bootstrap(
                data,
                outcome,
                treatment,
                cluster or unit,
                fixed_effects=(unit, time),
                covariates=covariates,
                weights=weights,
                bootstrap_weights=m.removeprefix("wcr_"),
                n_boot=n_boot,
                seed=seed,
                alpha=alpha,
            )
            est = float(_fit(design).beta[0])
            rows.append((m, est, math.nan, math.nan, b.conf_low, b.conf_high, b.p_value))
        elif m == "ri":
            r = randomization_inference(
                data,
                outcome,
                treatment,
                unit,
                time,
                cluster,
                strata,
                weights,
                covariates,
                budget=ri_budget,
                seed=seed,
                alpha=alpha,
            )
            rows.append((m, r.estimate, math.nan, math.nan, r.conf_low, r.conf_high, r.p_value))
        elif m == "aggregated_welch":
            # With staggered starts "after" counts from the first pilot's start (as in the
            # size simulation).
            post_start = data.loc[data[treatment] == 1, time].min()
            a = aggregated_welch(data, outcome, treatment, unit, time, weights, post_start, alpha)
            rows.append((m, a.estimate, a.std_error, a.df, a.conf_low, a.conf_high, a.p_value))
        elif m == "ferman_pinto":
            f = ferman_pinto(
                data,
                outcome,
                treatment,
                unit,
                time,
                ballots=ballots,
                strata=strata,
                weights=weights,
                n_permutations=ri_budget,
                seed=seed,
                alpha=alpha,
            )
            rows.append((m, f.estimate, math.nan, math.nan, f.conf_low, f.conf_high, f.p_value))
        else:
            raise ValueError(f"unknown method {m!r}; choose among {list(DEFAULT_METHODS)}.")
    out = pd.DataFrame(
        rows,
        columns=["method", "estimate", "std_error", "df", "conf_low", "conf_high", "p_value"],
    )
    out.insert(1, "label", out["method"].map(METHOD_LABELS))
    return out
