"""The served bundle: the vectorised tree walk equals sklearn exactly, inputs are validated naming the
field, history is optional, intervals bracket the expectation, and pickling keeps no cached state."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from services.ml_engine.bundle import INPUT_COLUMNS, InputError
from services.ml_engine.model import FAST_PATH_MAX_ROWS, TreeEnsemble
from tests.ml_fixtures import DATA

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def bundle_and_inputs(registered_store):  # type: ignore[no-untyped-def]
    import mlflow

    base, inputs = registered_store
    uri = f"sqlite:///{base / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    from services.ml_engine.registry import load_bundle

    return load_bundle("carbon-baseline", "1"), inputs  # verified against its signature first


def test_tree_walk_equals_sklearn_with_missing_values_and_every_site(bundle_and_inputs):
    bundle, inputs = bundle_and_inputs
    rng = np.random.default_rng(1)
    for activity_type, sm in bundle.series.items():
        rows = inputs[inputs["activity_type"] == activity_type].sample(400, random_state=0)
        rows = rows[INPUT_COLUMNS].copy()
        for col in ("lag_24h", "lag_168h", "temp_c", "prev_day_mean"):  # knock out values: NaN branches
            rows.loc[rng.random(len(rows)) < 0.3, col] = np.nan
        cols = bundle._frame(rows)
        X, scale, _, _, _ = bundle._matrix(cols, np.arange(len(rows)), sm)
        sk = sm.model.model.predict(X)
        walk = TreeEnsemble(sm.model.model).predict(X)
        np.testing.assert_allclose(walk, sk, rtol=0, atol=1e-9)
        # and the public path picks either and agrees
        small = bundle.predict(rows.head(FAST_PATH_MAX_ROWS))["expected"].to_numpy()
        large = bundle.predict(rows)["expected"].to_numpy()[:FAST_PATH_MAX_ROWS]
        np.testing.assert_allclose(small, large, rtol=1e-12)
        as_text = rows.head(FAST_PATH_MAX_ROWS).assign(
            timestamp=lambda d: d["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
        np.testing.assert_allclose(bundle.predict(as_text)["expected"].to_numpy(), small, rtol=1e-12)
        one_by_one = [bundle.predict(as_text.iloc[[i]])["expected"].iloc[0] for i in range(len(as_text))]
        np.testing.assert_allclose(one_by_one, small, rtol=1e-12)


def test_history_and_weather_are_optional_and_intervals_bracket(bundle_and_inputs):
    bundle, _ = bundle_and_inputs
    bare = pd.DataFrame({"site": ["b0", "b2"], "timestamp": ["2019-04-10T09:00:00Z", "2030-01-01T00:00:00Z"]})
    out = bundle.predict(bare)  # 2030: outside the packaged weather, no history: still an answer
    assert out["expected"].notna().all()
    assert (out["lower"] <= out["expected"]).all() and (out["expected"] <= out["upper"]).all()


def test_timestamps_naive_utc_and_offsets_agree(bundle_and_inputs):
    bundle, _ = bundle_and_inputs
    a = bundle.predict(pd.DataFrame({"site": ["b0"], "timestamp": ["2019-04-10T09:00:00Z"]}))
    b = bundle.predict(pd.DataFrame({"site": ["b0"], "timestamp": ["2019-04-10T10:00:00+01:00"]}))
    c = bundle.predict(pd.DataFrame({"site": ["b0"], "timestamp": ["2019-04-10 09:00:00"]}))
    d = bundle.predict(pd.DataFrame({"site": ["b0", "b0"], "timestamp": ["2019-04-10T09:00:00Z",
                                                                        "2019-04-10T10:00:00+01:00"]}))
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, c)
    assert d["expected"].nunique() == 1


@pytest.mark.parametrize(("frame", "field"), [
    ({"timestamp": ["2019-04-10T09:00:00Z"]}, "site"),
    ({"site": ["b0"]}, "timestamp"),
    ({"site": ["b0"], "timestamp": ["10/04/2019 09:00"]}, "timestamp"),
    ({"site": [None], "timestamp": ["2019-04-10T09:00:00Z"]}, "site"),
    ({"site": ["b0"], "timestamp": ["2019-04-10T09:00:00Z"], "temp_c": [float("inf")]}, "temp_c"),
    ({"site": ["b0"], "timestamp": ["2019-04-10T09:00:00Z"], "lag_24h": ["ten"]}, "lag_24h"),
    ({"site": ["b0"], "timestamp": ["2019-04-10T09:00:00Z"], "lag_24h": [True]}, "lag_24h"),
    ({"site": ["b0"], "timestamp": ["2019-04-10T09:00:00Z"], "activity_type": ["steam"]}, "activity_type"),
])
def test_bad_input_names_the_field(bundle_and_inputs, frame, field):
    bundle, _ = bundle_and_inputs
    with pytest.raises(InputError) as info:
        bundle.predict(pd.DataFrame(frame))
    assert info.value.field == field


def test_caches_are_not_pickled(bundle_and_inputs):
    bundle, _ = bundle_and_inputs
    bundle.predict(pd.DataFrame({"site": ["b0"], "timestamp": ["2019-04-10T09:00:00Z"]}))
    sm = next(iter(bundle.series.values()))
    assert "_fast" in sm.model.__dict__ and {"_table", "_positions"} <= set(sm.__dict__)
    assert "_weather_np" in bundle.__dict__
    clone = pickle.loads(pickle.dumps(bundle))
    clone_sm = next(iter(clone.series.values()))
    assert "_fast" not in clone_sm.model.__dict__ and not {"_table", "_positions"} & set(clone_sm.__dict__)
    assert "_weather_np" not in clone.__dict__


def test_serving_features_equal_training_features(bundle_and_inputs, slice_series):
    """No training/serving skew: the served bundle, given the history columns the engine builds, predicts
    what the trained model predicts on the training feature frame for the same hours."""
    from services.ml_engine.features import build_features

    bundle, inputs = bundle_and_inputs
    series, weather = slice_series
    meta = pd.read_csv(DATA / "building_metadata.csv").rename(columns={"building_id": "site"})
    for activity_type, sm in bundle.series.items():
        long = series[activity_type][series[activity_type]["site"].isin(list(sm.site_codes))]
        feats = build_features(long, weather, meta, sm.scale, sm.site_codes)
        rows = inputs[inputs["activity_type"] == activity_type]
        joined = rows[["site", "timestamp"]].merge(feats, on=["site", "timestamp"], how="left")
        assert len(joined) == len(rows) > 100
        trained = sm.model.predict(joined)
        served = bundle.predict(rows[INPUT_COLUMNS])["expected"].to_numpy()
        np.testing.assert_allclose(served, trained, rtol=1e-5)


def test_gate_refuses_a_model_worse_on_one_activity_type(registered_store):
    """Pooled MAE is dominated by electricity's larger kWh: a model better on electricity but worse on gas
    must not become champion even though its pooled MAE is lower."""
    import copy

    import mlflow
    from services.ml_engine.registry import load_bundle
    from services.ml_engine.training import beats

    base, inputs = registered_store
    uri = f"sqlite:///{base / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    good, weak = load_bundle("carbon-baseline", "1"), load_bundle("carbon-baseline", "2")
    assert beats(good, weak, inputs).beats and not beats(weak, good, inputs).beats
    champion, challenger = copy.copy(good), copy.copy(good)
    champion.series = {"electricity": weak.series["electricity"], "natural_gas": good.series["natural_gas"]}
    challenger.series = {"electricity": good.series["electricity"], "natural_gas": weak.series["natural_gas"]}
    verdict = beats(challenger, champion, inputs)
    assert verdict.new_mae < verdict.champion_mae  # pooled: better
    assert not verdict.beats and "worse on natural_gas" in verdict.reason
    assert verdict.per_type["electricity"][0] < verdict.per_type["electricity"][1]


@pytest.mark.parametrize("mode", ["absolute", "relative"])
def test_served_interval_is_the_conformal_interval(bundle_and_inputs, mode):
    import copy

    bundle, inputs = bundle_and_inputs
    bundle = copy.deepcopy(bundle)
    rows = inputs[inputs["activity_type"] == "electricity"].head(50)[INPUT_COLUMNS]
    sm = bundle.series["electricity"]
    sm.intervals.mode = mode
    out = bundle.predict(rows)
    lo, hi = sm.intervals.predict(rows["site"], out["expected"].to_numpy(), sm.scale.reindex(rows["site"]).to_numpy())
    np.testing.assert_allclose(out["lower"], np.minimum(lo, out["expected"]), rtol=1e-12)
    np.testing.assert_allclose(out["upper"], np.maximum(hi, out["expected"]), rtol=1e-12)
