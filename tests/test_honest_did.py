"""Rambachan & Roth sensitivity checked against published HonestDiD output.

Two published examples:

* Medicaid expansion (HonestDiD R README and the Stata package README): a TWFE event study of
  ``dins`` on 2014 expansion, years 2008-2015, clustered by state. ``betahat``/``sigma`` below were
  computed with pyfixest (``feols(dins ~ i(year, D, ref=2013) | stfips + year,
  vcov={"CRV1": "stfips"})``) on Mixtape-Sessions/Advanced-DID ``Exercises/Data/ehec_data.csv``;
  they reproduce the README's original interval (0.029, 0.064). Expected robust intervals are the
  printed README tables (R: 3 significant digits; Stata: 3 decimals).
* Benzarti & Carloni (2019), ``BCdata_EventStudy`` shipped with HonestDiD: coefficients and R
  reference intervals as embedded in the HonestDiD.jl test suite (generated from the R package).

Tolerances: the FLCI is deterministic (1e-4 against R's printed values); C-LF intervals depend on
the simulated least-favourable critical value (R's RNG cannot be reproduced) and on R's grid, so
they are held to 1e-3 (R README) and 1.5e-3 (Stata, 3-decimal rounding). On R's own grid the pure
conditional (ARP) and C-LF end points for the BC example are reproduced to 1e-9.
"""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.inference import honest_did as hd

MEDICAID_BETAHAT = np.array(
    [-0.005285342424, -0.011297318398, -0.002675975541, -0.001419311905, 0.000339677489,
     0.046446864502, 0.069206180303]
)  # fmt: skip
MEDICAID_SIGMA = np.array(
    [[7.488484710399e-05, 6.039875524352e-05, 4.444618690478e-05, 3.385765599003e-05,
      4.328013508653e-05, 4.765882183768e-05, 2.425129537335e-05],
     [6.039875524352e-05, 7.266499060752e-05, 3.789328115699e-05, 2.866576307241e-05,
      4.543321343098e-05, 4.428852685165e-05, 2.824655793049e-05],
     [4.444618690478e-05, 3.789328115699e-05, 5.052050724406e-05, 2.673677951364e-05,
      2.778193833012e-05, 3.060645424284e-05, 9.637548016175e-06],
     [3.385765599003e-05, 2.866576307241e-05, 2.673677951364e-05, 4.003221779502e-05,
      2.412860868849e-05, 2.380869371084e-05, 2.923901909101e-06],
     [4.328013508653e-05, 4.543321343098e-05, 2.778193833012e-05, 2.412860868849e-05,
      5.462665387084e-05, 3.682535316358e-05, 9.722977789952e-06],
     [4.765882183768e-05, 4.428852685165e-05, 3.060645424284e-05, 2.380869371084e-05,
      3.682535316358e-05, 8.375674028516e-05, 6.321403303389e-05],
     [2.425129537335e-05, 2.824655793049e-05, 9.637548016175e-06, 2.923901909101e-06,
      9.722977789952e-06, 6.321403303389e-05, 1.071235815296e-04]]
)  # fmt: skip

BC_BETAHAT = np.array(
    [0.006696351804, 0.02934503369, -0.006472972222, 0.0730149895, 0.1959611177, 0.3120639026,
     0.2395415455, 0.1260425001]
)  # fmt: skip
BC_SIGMA = np.array(
    [[0.0008428358124, 0.0004768686777, 0.0002618051076, 0.0002354220342, 0.0001676371467,
      0.0001128707663, 1.992816215e-05, -0.0001368265366],
     [0.0004768686777, 0.0006425420288, 0.0003987425007, 0.0002435515198, 0.0002201960306,
      0.0001804591157, 3.84376508e-05, -2.960421989e-05],
     [0.0002618051076, 0.0003987425007, 0.0005229949602, 0.000211768609, 0.0001840722252,
      0.000145852784, 7.005197403e-05, 5.952994979e-05],
     [0.0002354220342, 0.0002435515198, 0.000211768609, 0.0003089595411, 0.0001197866077,
      0.0001334081317, 0.0001016335009, 0.0001079051726],
     [0.0001676371467, 0.0002201960306, 0.0001840722252, 0.0001197866077, 0.000359970436,
      0.0002478818642, 0.0001749579242, 0.0001654256921],
     [0.0001128707663, 0.0001804591157, 0.000145852784, 0.0001334081317, 0.0002478818642,
      0.0004263949813, 0.0002171437809, 0.0002892747871],
     [1.992816215e-05, 3.84376508e-05, 7.005197403e-05, 0.0001016335009, 0.0001749579242,
      0.0002171437809, 0.0004886697861, 0.0003805322049],
     [-0.0001368265366, -2.960421989e-05, 5.952994979e-05, 0.0001079051726, 0.0001654256921,
      0.0002892747871, 0.0003805322049, 0.000761739444]]
)  # fmt: skip


def test_medicaid_original_interval_matches_readme() -> None:
    ci = hd.original_ci(MEDICAID_BETAHAT, MEDICAID_SIGMA, 5, 2)
    assert round(ci.conf_low, 3) == 0.029
    assert round(ci.conf_high, 3) == 0.064


def test_medicaid_relative_magnitudes_match_r_readme() -> None:
    # HonestDiD README: createSensitivityResults_relativeMagnitudes(Mbarvec = seq(0.5, 2, 0.5))
    expected = {0.5: (0.0240, 0.0672), 1.0: (0.0170, 0.0720), 1.5: (0.00824, 0.0797),
                2.0: (-0.000916, 0.0881)}  # fmt: skip
    table = hd.sensitivity_rm(MEDICAID_BETAHAT, MEDICAID_SIGMA, 5, 2, list(expected))
    robust = table[table["method"] == "C-LF"].set_index("m")
    for mbar, (low, high) in expected.items():
        assert robust.loc[mbar, "conf_low"] == pytest.approx(low, abs=1e-3)
        assert robust.loc[mbar, "conf_high"] == pytest.approx(high, abs=1e-3)
    assert not robust.loc[1.5, "includes_zero"]
    assert robust.loc[2.0, "includes_zero"]


def test_medicaid_average_effect_matches_stata_readme() -> None:
    expected = {0.0: (0.041, 0.075), 0.5: (0.033, 0.080), 1.0: (0.020, 0.090),
                1.5: (0.006, 0.103), 2.0: (-0.008, 0.117)}  # fmt: skip
    table = hd.sensitivity_rm(
        MEDICAID_BETAHAT, MEDICAID_SIGMA, 5, 2, list(expected), l_vec=[0.5, 0.5]
    )
    robust = table[table["method"] == "C-LF"].set_index("m")
    for mbar, (low, high) in expected.items():
        assert robust.loc[mbar, "conf_low"] == pytest.approx(low, abs=1.5e-3)
        assert robust.loc[mbar, "conf_high"] == pytest.approx(high, abs=1.5e-3)


def test_medicaid_smoothness_flci_matches_r_readme() -> None:
    expected = {0.0: (0.0259, 0.0607), 0.01: (0.0132, 0.0787), 0.02: (0.00286, 0.0907),
                0.03: (-0.00714, 0.101), 0.04: (-0.0171, 0.111), 0.05: (-0.0271, 0.121)}  # fmt: skip
    table = hd.sensitivity_sd(MEDICAID_BETAHAT, MEDICAID_SIGMA, 5, 2, list(expected))
    robust = table[table["method"] == "FLCI"].set_index("m")
    for m, (low, high) in expected.items():
        # R prints 3 significant digits: allow half a unit in the last printed digit
        assert robust.loc[m, "conf_low"] == pytest.approx(low, abs=1e-4)
        assert robust.loc[m, "conf_high"] == pytest.approx(high, abs=6e-4)


def test_bc_flci_matches_r_reference() -> None:
    # (M, lb, ub, half-length) from R's findOptimalFLCI on BCdata_EventStudy
    reference = [(0.0, 0.131411316, 0.2161696482, 0.04237916612),
                 (0.1, 0.1194440001, 0.4185082143, 0.1495321071),
                 (0.2, 0.01944400015, 0.5185082143, 0.2495321071)]  # fmt: skip
    for m, low, high, half in reference:
        res = hd.sd_flci(BC_BETAHAT, BC_SIGMA, 4, 4, m)
        assert res.interval.conf_low == pytest.approx(low, abs=1e-4)
        assert res.interval.conf_high == pytest.approx(high, abs=1e-4)
        assert res.half_length == pytest.approx(half, abs=1e-4)
    # With M = 0.1 the optimal estimator is beta_{-1} + beta_1 (R's optimalVec)
    vec = hd.sd_flci(BC_BETAHAT, BC_SIGMA, 4, 4, 0.1).optimal_vec
    np.testing.assert_allclose(vec, [0, 0, 0, 1, 1, 0, 0, 0], atol=1e-4)


def test_bc_original_interval_exact() -> None:
    ci = hd.original_ci(BC_BETAHAT, BC_SIGMA, 4, 4)
    assert ci.conf_low == pytest.approx(0.15877494280765, abs=1e-9)
    assert ci.conf_high == pytest.approx(0.233147292681241, abs=1e-9)


@pytest.mark.parametrize("kappa", [None, 0.005])
def test_bc_relative_magnitudes_on_r_grid_exact(kappa: float | None) -> None:
    # R: computeConditionalCS_DeltaRM(Mbar = 1, gridPoints = 200) -> (0.07055244362, 0.3184394077)
    es = hd.EventStudyCoefficients.build(BC_BETAHAT, BC_SIGMA, 4, 4)
    problems = [
        hd._arp_problem(es, hd._rm_constraints(4, 4, 1.0, s, pos), kappa, 1000, 0)
        for s in range(-3, 1)
        for pos in (True, False)
    ]
    grid = np.linspace(-20 * es.theta_se, 20 * es.theta_se, 200)
    accepted = [t for t in grid if any(not hd._arp_reject(p, t, 0.05, kappa) for p in problems)]
    assert min(accepted) == pytest.approx(0.07055244362, abs=1e-9)
    assert max(accepted) == pytest.approx(0.3184394077, abs=1e-9)


def test_identified_set_rm_hand_computed() -> None:
    # Two pre-periods with first differences (from delta_-2 to delta_-1 to 0): 0.1 and 0.3.
    beta = np.array([-0.4, -0.3, 1.0])
    low, high = hd.identified_set_rm(beta, 2, 1, mbar=2.0)
    # largest pre difference is |0 - (-0.3)| = 0.3, so |delta_1| <= 0.6
    assert (low, high) == pytest.approx((0.4, 1.6))
    low0, high0 = hd.identified_set_rm(beta, 2, 1, mbar=0.0)
    assert (low0, high0) == pytest.approx((1.0, 1.0))


def test_identified_set_sd_linear_extrapolation() -> None:
    # Exactly linear pre-trend of slope 0.1: with M = 0 the bias is extrapolated exactly.
    beta = np.array([-0.2, -0.1, 0.5, 0.9])
    low, high = hd.identified_set_sd(beta, 2, 2, m=0.0, l_vec=[0, 1])
    assert (low, high) == pytest.approx((0.9 - 0.2, 0.9 - 0.2))
    low, high = hd.identified_set_sd(beta, 2, 2, m=0.05, l_vec=[1, 0])
    # delta_1 = 0.1 +- 0.05 (one second difference at t = 0)
    assert (low, high) == pytest.approx((0.5 - 0.15, 0.5 - 0.05))


def test_breakdown_values_medicaid() -> None:
    bd_sd = hd.breakdown_value(MEDICAID_BETAHAT, MEDICAID_SIGMA, 5, 2, "smoothness")
    assert 0.02 < bd_sd < 0.03  # README: the interval includes 0 from M ~ 0.03
    flci = hd.sd_flci(MEDICAID_BETAHAT, MEDICAID_SIGMA, 5, 2, bd_sd).interval
    assert flci.conf_low == pytest.approx(0.0, abs=2e-4)
    bd_rm = hd.breakdown_value(MEDICAID_BETAHAT, MEDICAID_SIGMA, 5, 2, tol=0.02)
    assert 1.5 < bd_rm <= 2.0  # README: breakdown Mbar = 2


def test_breakdown_zero_when_original_includes_zero() -> None:
    beta = np.array([0.0, 0.01])
    assert hd.breakdown_value(beta, np.eye(2) * 0.01, 1, 1, "smoothness") == 0.0


def test_bad_input_names_the_argument() -> None:
    with pytest.raises(ValueError, match="num_pre"):
        hd.original_ci(MEDICAID_BETAHAT, MEDICAID_SIGMA, 4, 2)
    with pytest.raises(ValueError, match="sigma"):
        hd.original_ci(MEDICAID_BETAHAT, MEDICAID_SIGMA[:6, :6], 5, 2)
    with pytest.raises(ValueError, match="l_vec"):
        hd.original_ci(MEDICAID_BETAHAT, MEDICAID_SIGMA, 5, 2, l_vec=[1, 0, 0])
    with pytest.raises(ValueError, match="mbar"):
        hd.rm_confidence_interval(MEDICAID_BETAHAT, MEDICAID_SIGMA, 5, 2, -1.0)


def test_lp_fallback_test_decisions_equal_vertex_enumeration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    es = hd.EventStudyCoefficients.build(BC_BETAHAT, BC_SIGMA, 4, 4)
    a = hd._rm_constraints(4, 4, 1.0, 0, True)
    fast = hd._arp_problem(es, a, None, 0, 0)
    monkeypatch.setattr(hd, "_MAX_VERTEX_SUBSETS", 0)
    slow = hd._arp_problem(es, a, None, 0, 0)
    assert fast.vertices is not None and slow.vertices is None
    for theta in np.linspace(-0.1, 0.5, 25):
        assert hd._arp_reject(fast, theta, 0.05, None) == hd._arp_reject(slow, theta, 0.05, None)


@pytest.mark.slow
def test_lp_fallback_equals_vertex_enumeration(monkeypatch: pytest.MonkeyPatch) -> None:
    fast = hd.rm_confidence_interval(BC_BETAHAT, BC_SIGMA, 4, 4, 1.0, method="Conditional")
    monkeypatch.setattr(hd, "_MAX_VERTEX_SUBSETS", 0)
    slow = hd.rm_confidence_interval(
        BC_BETAHAT, BC_SIGMA, 4, 4, 1.0, method="Conditional", grid_points=60
    )
    assert slow.conf_low == pytest.approx(fast.conf_low, abs=1e-5)
    assert slow.conf_high == pytest.approx(fast.conf_high, abs=1e-5)


@pytest.mark.parametrize("language", ["vi", "en"])
def test_sensitivity_plot_returns_figure(language: str) -> None:
    from matplotlib.figure import Figure

    from evaluation.report.figures_robustness import sensitivity_plot
    from evaluation.report.style import close

    table = hd.sensitivity_sd(MEDICAID_BETAHAT, MEDICAID_SIGMA, 5, 2, [0.0, 0.01, 0.02])
    fig = sensitivity_plot(table, language, breakdown=0.023)  # type: ignore[arg-type]
    assert isinstance(fig, Figure)
    assert "smooth" in fig.axes[0].get_title() or "trơn" in fig.axes[0].get_title()
    close(fig)
    with pytest.raises(ValueError, match="conf_low"):
        sensitivity_plot(table.drop(columns="conf_low"), language)  # type: ignore[arg-type]
