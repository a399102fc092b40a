"""Predicted effects for communes not yet under the model, and the conditions screen."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_heterogeneity import make_panel  # tests/ is on sys.path (rootdir-less "prepend" import)

from evaluation.estimators.heterogeneity import effect_by_moderator
from evaluation.estimators.result import EffectEstimate, term_frame
from evaluation.scaling.prediction import check_conditions, has_conditions, predict_effects


@pytest.fixture(scope="module")
def fitted() -> tuple[EffectEstimate, pd.DataFrame]:
    panel = make_panel(seed=3)
    est = effect_by_moderator(
        panel,
        "satisfaction",
        "pilot_active",
        "commune_code",
        "wave",
        "staff_per_1000",
        "commune_code",
    )
    communes = panel.drop_duplicates("commune_code")[["commune_code", "staff_per_1000"]].copy()
    communes["households"] = np.arange(len(communes)) * 10 + 500
    return est, communes


def test_predictions_exclude_pilot_and_scale_by_households(fitted) -> None:
    est, communes = fitted
    out = predict_effects(est, communes, households="households")
    assert len(out) == len(communes) - 14
    assert not out["commune_code"].isin(est.model.treated_units).any()
    b0, b1 = est.terms["estimate"].to_numpy()
    expected = b0 + b1 * (out["staff_per_1000"] - est.model.centre)
    np.testing.assert_allclose(out["predicted_effect"], expected, rtol=1e-12)
    np.testing.assert_allclose(out["expected_gain"], out["predicted_effect"] * out["households"])
    np.testing.assert_allclose(out["expected_gain_se"], out["std_error"] * out["households"])
    # the SE is smallest near the centre of the pilot communes' moderator
    nearest = (out["staff_per_1000"] - est.model.centre).abs().idxmin()
    farthest = (out["staff_per_1000"] - est.model.centre).abs().idxmax()
    assert out.loc[nearest, "std_error"] < out.loc[farthest, "std_error"]
    assert "extrapolated" in out.columns
    both = predict_effects(est, communes, include_in_model=True)
    assert len(both) == len(communes) and both["in_model"].sum() == 14


def test_plain_estimate_gives_headline_effect_everywhere() -> None:
    terms = term_frame(["ATT"], [0.1], [0.02], [0.06], [0.14], [0.001])
    est = EffectEstimate("pct_satisfied", "ATT", "twfe", terms, 100, 10, 3, "CRV1")
    communes = pd.DataFrame({"commune_code": [1, 2], "households": [1000, 2000]})
    out = predict_effects(est, communes, households="households")
    assert out["predicted_effect"].tolist() == [0.1, 0.1]
    assert out["expected_gain"].tolist() == [100.0, 200.0]
    assert out["conf_low"].tolist() == [0.06, 0.06]


def test_conditions_name_each_failure() -> None:
    communes = pd.DataFrame(
        {
            "commune_code": [1, 2, 3, 4],
            "one_stop_staff_per_1000": [1.0, 0.5, 0.9, np.nan],
            "condolence_on_time": [0.8, 0.9, 0.6, 0.95],
            "commune_type": ["xa", "phuong", "thi_tran", "xa"],
        }
    )
    criteria = {
        "min_one_stop_staff_per_1000": 0.8,
        "min_condolence_on_time": 0.7,
        "commune_types": ["xa", "phuong"],
    }
    table = check_conditions(communes, criteria)
    assert table["has_conditions"].tolist() == [True, False, False, False]
    assert table["failed_criteria"].tolist() == [
        "",
        "min_one_stop_staff_per_1000",
        "min_condolence_on_time; commune_types",
        "min_one_stop_staff_per_1000",  # missing value fails
    ]
    flags = has_conditions(communes, criteria)
    assert flags.name == "has_conditions"
    assert flags.attrs["failed_criteria"][2] == "min_condolence_on_time; commune_types"
    mapped = check_conditions(
        communes.rename(columns={"condolence_on_time": "letters"}),
        {"min_condolence_on_time": 0.7},
        columns={"min_condolence_on_time": "letters"},
    )
    assert mapped["has_conditions"].tolist() == [True, True, False, True]


def test_conditions_bad_input() -> None:
    communes = pd.DataFrame({"a": [1.0]})
    with pytest.raises(ValueError, match="needs column 'b'"):
        check_conditions(communes, {"min_b": 1})
    with pytest.raises(ValueError, match="not understood"):
        check_conditions(communes, {"b": 1})
