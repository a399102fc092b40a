"""Synthetic difference-in-differences (Arkhangelsky, Athey, Hirshberg, Imbens and Wager 2021).

For a block design (units treated from one period on, against units untreated throughout),
unit weights ``omega`` make the weighted controls' pre-start path parallel to the treated units'
mean path, and period weights ``lambda`` make the weighted pre-start periods predict the
controls' post-start mean. The effect is the weighted difference in differences
``(Ybar_1,post - sum_t lambda_t Ybar_1,t) - sum_i omega_i (Ybar_i,post - sum_t lambda_t Y_it)``.

The weights are solved exactly as the reference R package ``synthdid`` (and its ports
synthdid-py and diff-diff's ``SyntheticDiD``) solve them: Frank-Wolfe with exact line search on
the ridge-penalised least-squares problems with intercepts, regularisation
``zeta_omega = (N1 T1)^(1/4) sigma`` and ``zeta_lambda = 1e-6 sigma`` (``sigma`` the standard
deviation of the controls' pre-start first differences), stopping when an iteration lowers the
objective by less than ``(1e-5 sigma)^2``; a first pass of 100 iterations, weights at most a
quarter of the largest set to zero, then up to 10,000 iterations.

The placebo standard error (their Algorithm 4) relabels ``N1`` randomly chosen controls as
treated, re-solves both weights (warm-started from the fitted ones, as the R package does) and
re-estimates; the standard error is ``sqrt((B-1)/B)`` times the standard deviation of the ``B``
placebo estimates. The draws are ``numpy.random.default_rng(seed).permutation(N0)`` in the
controls' order (units sorted), the stream synthdid-py and diff-diff use, so the same seed gives
the same placebo draws as theirs. All placebo problems are solved at once (vectorised over the
draws), which is what makes the placebo standard error cheap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from evaluation.estimators.result import EffectEstimate, term_frame

__all__ = ["SyntheticDiDFit", "synthetic_did", "synthetic_did_matrix"]

#: Iterations of the first pass before the weights are sparsified, and the overall cap.
FIRST_PASS, MAX_ITER = 100, 10_000


def _frank_wolfe(
    a: np.ndarray, b: np.ndarray, zeta: float, x: np.ndarray, min_decrease: float, max_iter: int
) -> np.ndarray:
    """Frank-Wolfe with exact line search for ``min zeta^2 |x|^2 + |A x - b|^2 / n`` on the simplex.

    Vectorised over problems: ``a`` is ``(R, n, k)``, ``b`` ``(R, n)``, ``x`` ``(R, k)`` the
    starting weights (``a`` and ``b`` already centred when an intercept is fitted). Each problem
    stops on its own as synthdid's ``sc.weight.fw`` does: after ``max_iter`` iterations or once an
    iteration lowers the objective by no more than ``min_decrease**2``.
    """
    n_problems, n, _ = a.shape
    eta = n * zeta**2
    x = x.copy()
    # The problems still iterating, with their own copies of the data: re-indexed only when
    # one stops (indexing every iteration copied the whole stack 10,000 times).
    idx = np.arange(n_problems)
    ai, bi, xi = a, b, x.copy()
    axi = np.einsum("rnk,rk->rn", ai, xi)
    count = np.zeros(n_problems, int)
    previous = np.full(n_problems, np.inf)
    while len(idx):
        rows = np.arange(len(idx))
        resid = axi - bi
        half_grad = np.einsum("rn,rnk->rk", resid, ai) + eta * xi
        best = np.argmin(half_grad, axis=1)
        d_x = -xi
        d_x[rows, best] += 1.0
        d_err = ai[rows, :, best] - axi
        denominator = np.sum(d_err**2, axis=1) + eta * np.sum(d_x**2, axis=1)
        moving = np.any(d_x != 0, axis=1) & (denominator > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(moving, -np.sum(half_grad * d_x, axis=1) / denominator, 0.0)
        step = np.clip(step, 0.0, 1.0)
        xi = xi + step[:, None] * d_x
        axi = axi + step[:, None] * d_err
        value = zeta**2 * np.sum(xi**2, axis=1) + np.sum((axi - bi) ** 2, axis=1) / n
        count += 1
        decrease = previous - value
        previous = value
        still = (count < max_iter) & ((count < 2) | (decrease > min_decrease**2))
        if not still.all():
            x[idx[~still]] = xi[~still]
            idx, ai, bi, xi, axi = idx[still], ai[still], bi[still], xi[still], axi[still]
            count, previous = count[still], previous[still]
    return x


def _sparsify(x: np.ndarray) -> np.ndarray:
    """Weights no larger than a quarter of each row's largest set to zero, rows renormalised."""
    x = np.where(x <= x.max(axis=1, keepdims=True) / 4.0, 0.0, x)
    return x / x.sum(axis=1, keepdims=True)


def _solve(
    a: np.ndarray, b: np.ndarray, zeta: float, start: np.ndarray, min_decrease: float
) -> np.ndarray:
    """synthdid's two passes: 100 iterations, sparsify, then up to 10,000 from there."""
    first = _frank_wolfe(a, b, zeta, start, min_decrease, FIRST_PASS)
    return _frank_wolfe(a, b, zeta, _sparsify(first), min_decrease, MAX_ITER)


def _estimates(
    y: np.ndarray,
    controls: np.ndarray,
    treated: np.ndarray,
    t0: int,
    zeta_omega: float,
    zeta_lambda: float,
    min_decrease: float,
    omega0: np.ndarray,
    lambda0: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Estimates, unit and period weights of ``R`` block designs at once.

    ``controls`` (R, n0) and ``treated`` (R, n1) index rows of ``y`` (units x periods);
    ``omega0`` (R, n0) and ``lambda0`` (R, t0) start the solver.
    """
    pre_c, post_c = y[controls, :t0], y[controls, t0:].mean(axis=2)  # (R, n0, t0), (R, n0)
    pre_t, post_t = y[treated, :t0].mean(axis=1), y[treated, t0:].mean(axis=(1, 2))
    # Period weights: regress the controls' post mean on their pre periods (intercept: centre
    # over the controls).
    a_l = pre_c - pre_c.mean(axis=1, keepdims=True)
    b_l = post_c - post_c.mean(axis=1, keepdims=True)
    lam = _solve(a_l, b_l, zeta_lambda, lambda0, min_decrease)
    # Unit weights: match the treated pre path by the controls' (intercept: centre over time).
    a_o = np.swapaxes(pre_c - pre_c.mean(axis=2, keepdims=True), 1, 2)  # (R, t0, n0)
    b_o = pre_t - pre_t.mean(axis=1, keepdims=True)
    omega = _solve(a_o, b_o, zeta_omega, omega0, min_decrease)
    treated_diff = post_t - np.sum(lam * pre_t, axis=1)
    control_diff = post_c - np.einsum("rnt,rt->rn", pre_c, lam)
    return treated_diff - np.sum(omega * control_diff, axis=1), omega, lam


class SyntheticDiDFit:
    """A synthetic DiD fit on a units x periods matrix (controls first).

    Attributes
    ----------
    estimate : float
    omega : numpy.ndarray
        Weights of the ``n0`` controls; ``lambda_`` weights of the ``t0`` pre-start periods.
    noise_level, zeta_omega, zeta_lambda, min_decrease : float
        The regularisation and stopping rule used (synthdid's defaults).
    """

    def __init__(self, y: np.ndarray, n0: int, t0: int) -> None:
        y = np.asarray(y, float)
        n, t = y.shape
        if not (0 < n0 < n and 1 < t0 < t):
            raise ValueError(
                f"synthetic DiD needs controls, treated units, two periods before the start and "
                f"one after (got {n0} controls of {n} units, {t0} pre-start of {t} periods)."
            )
        if not np.all(np.isfinite(y)):
            raise ValueError("synthetic DiD needs a balanced panel without missing outcomes.")
        self.y, self.n0, self.t0 = y, n0, t0
        n1, t1 = n - n0, t - t0
        self.noise_level = float(np.std(np.diff(y[:n0, :t0], axis=1), ddof=1))
        self.zeta_omega = (n1 * t1) ** 0.25 * self.noise_level
        self.zeta_lambda = 1e-6 * self.noise_level
        self.min_decrease = 1e-5 * self.noise_level
        est, omega, lam = _estimates(
            y,
            np.arange(n0)[None, :],
            np.arange(n0, n)[None, :],
            t0,
            self.zeta_omega,
            self.zeta_lambda,
            self.min_decrease,
            np.full((1, n0), 1.0 / n0),
            np.full((1, t0), 1.0 / t0),
        )
        self.estimate = float(est[0])
        self.omega, self.lambda_ = omega[0], lam[0]

    @property
    def n1(self) -> int:
        return self.y.shape[0] - self.n0

    def placebo_estimates(
        self, n_draws: int = 200, seed: int = 0, permutations: np.ndarray | None = None
    ) -> np.ndarray:
        """Placebo estimates: ``n1`` random controls relabelled as treated in each draw.

        Parameters
        ----------
        n_draws : int
            Placebo draws (ignored when ``permutations`` is given).
        seed : int
            Seed of ``numpy.random.default_rng``; draw ``b`` is its ``b``-th
            ``permutation(n0)``: the last ``n1`` controls of it are the placebo treated.
        permutations : numpy.ndarray, optional
            ``(draws, n0)`` permutations of the controls to use instead.

        Raises
        ------
        ValueError
            When there are not more controls than treated units.
        """
        n0, n1 = self.n0, self.n1
        if n0 <= n1:
            raise ValueError("the placebo standard error needs more controls than treated units.")
        if permutations is None:
            rng = np.random.default_rng(seed)
            permutations = np.stack([rng.permutation(n0) for _ in range(int(n_draws))])
        perm = np.asarray(permutations, int)
        keep = perm[:, : n0 - n1]
        omega0 = self.omega[keep]
        omega0 = omega0 / omega0.sum(axis=1, keepdims=True)
        bad = ~np.isfinite(omega0).all(axis=1)
        omega0[bad] = 1.0 / (n0 - n1)  # as sum_normalize: uniform when the kept weights are 0
        lambda0 = np.broadcast_to(self.lambda_, (len(perm), self.t0))
        est, _, _ = _estimates(
            self.y[:n0],
            keep,
            perm[:, n0 - n1 :],
            self.t0,
            self.zeta_omega,
            self.zeta_lambda,
            self.min_decrease,
            omega0,
            lambda0,
        )
        return est

    def placebo_se(
        self, n_draws: int = 200, seed: int = 0, permutations: np.ndarray | None = None
    ) -> float:
        """``sqrt((B-1)/B) * sd(placebo estimates)`` (Algorithm 4; synthdid's ``placebo_se``)."""
        draws = self.placebo_estimates(n_draws, seed, permutations)
        b = len(draws)
        return float(np.sqrt((b - 1) / b) * np.std(draws, ddof=1))


def synthetic_did_matrix(y: np.ndarray, n0: int, t0: int) -> SyntheticDiDFit:
    """Fit synthetic DiD on a units x periods matrix: rows ``< n0`` controls, columns ``< t0``
    before the start."""
    return SyntheticDiDFit(y, n0, t0)


def synthetic_did(
    data: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    treated: str,
    start: float,
    n_draws: int = 200,
    seed: int = 0,
    alpha: float = 0.05,
    estimator: str = "synthetic_did",
) -> EffectEstimate:
    """Synthetic DiD of a block design from long data, with its placebo standard error.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit and period, balanced (every unit has the outcome in every period).
    outcome, unit, time : str
        Outcome, unit and period columns.
    treated : str
        0/1 (time-invariant) column: 1 for the units treated from ``start`` on, 0 for controls.
    start : float
        First treated period; periods before it are the pre-start periods.
    n_draws, seed : int
        Placebo draws and the seed of their permutations (an explicit argument: the same seed
        gives the same standard error).
    alpha : float
        1 - confidence level (normal reference, as synthdid's ``confint``).

    Returns
    -------
    EffectEstimate
        One term ``ATT``; ``std_error`` NaN when there are not more controls than treated units.
        Diagnostics: ``n_controls``, ``n_treated_units``, ``n_pre``, ``n_post``,
        ``placebo_draws``, ``seed``, ``effective_controls`` (1 / sum omega^2).

    Raises
    ------
    ValueError
        When the panel is unbalanced or the design has no control, no treated unit, fewer than
        two periods before the start or none after it.
    """
    frame = data[[unit, time, outcome, treated]]
    wide = frame.pivot(index=unit, columns=time, values=outcome).sort_index().sort_index(axis=1)
    status = frame.groupby(unit)[treated].max().reindex(wide.index)
    if wide.isna().to_numpy().any():
        raise ValueError("synthetic DiD needs a balanced panel without missing outcomes.")
    order = np.argsort(status.to_numpy() > 0, kind="stable")  # controls first, units sorted
    y = wide.to_numpy(float)[order]
    n0 = int((status.to_numpy() <= 0).sum())
    t0 = int((wide.columns.to_numpy(float) < float(start)).sum())
    fit = SyntheticDiDFit(y, n0, t0)
    se = fit.placebo_se(n_draws, seed) if n0 > fit.n1 else float("nan")
    z = stats.norm.ppf(1 - alpha / 2)
    est = fit.estimate
    p_value = float(2 * stats.norm.sf(abs(est / se))) if se > 0 else float("nan")
    return EffectEstimate(
        outcome=outcome,
        estimand="ATT",
        estimator=estimator,
        terms=term_frame(["ATT"], [est], [se], [est - z * se], [est + z * se], [p_value]),
        n_obs=int(y.size),
        n_clusters=int(y.shape[0]),
        n_treated_clusters=int(fit.n1),
        inference=(
            f"placebo standard error (Arkhangelsky et al. 2021, Algorithm 4): {n_draws} "
            f"re-assignments of {fit.n1} of {n0} controls, seed {seed}; normal reference"
        ),
        model=fit,
        diagnostics={
            "n_controls": float(n0),
            "n_treated_units": float(fit.n1),
            "n_pre": float(t0),
            "n_post": float(y.shape[1] - t0),
            "placebo_draws": float(n_draws),
            "seed": float(seed),
            "effective_controls": float(1.0 / np.sum(fit.omega**2)),
            "size_checked": 0.0,
        },
    )
