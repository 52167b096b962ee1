"""The expected-value model, its prediction intervals and the ASHRAE Guideline 14 metrics.

One global HistGradientBoostingRegressor over all sites on value / site scale (the site is a
categorical feature); split-conformal per-site intervals from a calibration slice held out of
training. Chosen by measured accuracy on the Cambridge buildings (docs/ml-baseline-research.md):
the global model beat per-site models on the selection slice and on the test.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor

from services.ml_engine.features import CAT_FEATURES, FEATURES


# --------------------------------------------------------------------------- model
@dataclass
class ExpectedConsumptionModel:
    """Global HistGradientBoosting model on value/site_scale; site is a categorical feature."""
    params: dict = field(default_factory=lambda: dict(
        learning_rate=0.05, max_iter=600, max_leaf_nodes=63, min_samples_leaf=40,
        l2_regularization=1.0, early_stopping=False, random_state=0))
    features: list = field(default_factory=lambda: list(FEATURES))
    model: HistGradientBoostingRegressor | None = None

    def _X(self, df: pd.DataFrame) -> np.ndarray:
        return df[self.features].to_numpy(dtype=np.float32)

    def fit(self, df: pd.DataFrame) -> ExpectedConsumptionModel:
        train = df[df["target"].notna()]
        cat = [self.features.index(c) for c in CAT_FEATURES if c in self.features]
        self.model = HistGradientBoostingRegressor(categorical_features=cat or None, **self.params)
        X = self._X(train)
        # a column without any value (no weather station at all, no floor area) becomes a constant that is never
        # split on (sklearn's binning fails on an all-NaN column); predictions then ignore it
        X[:, np.isnan(X).all(axis=0)] = 0.0
        self.model.fit(X, train["target"].to_numpy())
        return self

    def predict(self, df: pd.DataFrame) -> np.ndarray:
        """Expected kWh for each row (clipped at 0)."""
        return self.predict_matrix(self._X(df), df["scale"].to_numpy())

    def predict_matrix(self, X: np.ndarray, scale: np.ndarray) -> np.ndarray:
        """Expected kWh from a feature matrix in ``self.features`` order and the site scales.
        Small requests take the vectorised all-trees path (sklearn walks its 600 trees one Python
        call at a time: ~3 ms for one row); batches take sklearn's own multi-threaded predictor."""
        assert self.model is not None, "model is not fitted"
        if len(X) <= FAST_PATH_MAX_ROWS:
            fast = self.__dict__.get("_fast")
            if fast is None:
                fast = self.__dict__["_fast"] = TreeEnsemble(self.model)
            raw = fast.predict(X)
        else:
            raw = self.model.predict(X)
        return np.clip(raw, 0, None) * scale

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_fast", None)  # rebuilt on first use, never pickled
        return state


FAST_PATH_MAX_ROWS = 8


class TreeEnsemble:
    """All trees of a fitted HistGradientBoostingRegressor as flat arrays, walked together with numpy:
    each step moves every (row, tree) pair one level down. Same splits, same missing-value and
    categorical rules as sklearn's predictor (checked against it in the tests)."""

    def __init__(self, hgb: HistGradientBoostingRegressor) -> None:
        predictors = [it[0] for it in hgb._predictors]
        sizes = np.array([len(p.nodes) for p in predictors])
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        nodes = np.concatenate([p.nodes for p in predictors])
        shift = np.repeat(offsets, sizes)
        bit_sizes = np.array([len(p.raw_left_cat_bitsets) for p in predictors])
        bit_offsets = np.concatenate([[0], np.cumsum(bit_sizes)[:-1]])
        self.roots = offsets.astype(np.int64)
        self.feature = nodes["feature_idx"].astype(np.int64)
        self.threshold = nodes["num_threshold"].astype(np.float64)
        self.missing_left = nodes["missing_go_to_left"].astype(bool)
        self.is_leaf = nodes["is_leaf"].astype(bool)
        self.is_cat = nodes["is_categorical"].astype(bool)
        self.left = np.where(self.is_leaf, np.arange(len(nodes)), nodes["left"].astype(np.int64) + shift)
        self.right = np.where(self.is_leaf, np.arange(len(nodes)), nodes["right"].astype(np.int64) + shift)
        self.value = nodes["value"].astype(np.float64)
        self.bitset_idx = nodes["bitset_idx"].astype(np.int64) + np.repeat(bit_offsets, sizes)
        raw = [p.raw_left_cat_bitsets for p in predictors if len(p.raw_left_cat_bitsets)]
        bitsets = np.concatenate(raw).astype(np.uint32) if raw else np.zeros((1, 8), np.uint32)
        # category c goes left at a categorical node if bit c of its bitset is set (sklearn's rule)
        cat_nodes = np.flatnonzero(self.is_cat)
        self.cat_row = np.zeros(len(nodes), np.intp)
        self.cat_row[cat_nodes] = np.arange(1, len(cat_nodes) + 1)
        cats = np.arange(256)
        table = (bitsets[self.bitset_idx[cat_nodes]][:, cats // 32] >> (cats % 32).astype(np.uint32)) & 1
        self.cat_table = np.vstack([np.zeros((1, 256), bool), table.astype(bool)])
        self.depth = int(nodes["depth"].max()) + 1
        self.baseline = float(np.ravel(hgb._baseline_prediction)[0])
        # the model reorders its input: categorical columns (ordinal-encoded) first, then the numeric ones
        cat_mask = hgb.is_categorical_ if hgb.is_categorical_ is not None else np.zeros(hgb.n_features_in_, bool)
        self.cat_cols = np.flatnonzero(cat_mask)
        self.num_cols = np.flatnonzero(~cat_mask)
        self.categories = ([np.asarray(c, float) for c in hgb._preprocessor.named_transformers_["encoder"].categories_]
                           if len(self.cat_cols) else [])

    def _transform(self, X: np.ndarray) -> np.ndarray:
        parts = []
        for col, cats in zip(self.cat_cols, self.categories, strict=True):
            v = X[:, col].astype(float)
            pos = np.clip(np.searchsorted(cats, v), 0, len(cats) - 1)
            parts.append(np.where(cats[pos] == v, pos, np.nan))
        return np.column_stack(parts + [X[:, self.num_cols].astype(float)])

    def predict(self, X: np.ndarray) -> np.ndarray:
        Xt = self._transform(np.asarray(X))
        n = len(Xt)
        node = np.broadcast_to(self.roots, (n, len(self.roots))).copy()
        rows = np.arange(n)[:, None]
        for step in range(self.depth):
            if step % 4 == 3 and self.is_leaf[node].all():  # leaves point to themselves; stop once all arrived
                break
            v = Xt[rows, self.feature[node]]
            nan = np.isnan(v)
            # categorical nodes: a dense (node, category) table; numeric nodes: the threshold
            vi = np.clip(np.where(nan, 0, v), 0, 255).astype(np.intp)
            left = np.where(self.is_cat[node], self.cat_table[self.cat_row[node], vi], v <= self.threshold[node])
            node = np.where(np.where(nan, self.missing_left[node], left), self.left[node], self.right[node])
        return self.value[node].sum(axis=1) + self.baseline


@dataclass
class ConformalIntervals:
    """Split-conformal per-site interval from signed residuals y - yhat on a calibration slice
    (held out of the model's training data).

    mode='absolute': interval = yhat + [q_lo, q_hi] (kWh), per site.
    mode='relative': residuals divided by max(yhat, floor_frac * site_scale), so the width
                     scales with the expected value (narrow at night, wide at peak)."""
    alpha: float = 0.10
    mode: str = "absolute"
    floor_frac: float = 0.25
    q: pd.DataFrame | None = None

    def width(self, yhat, scale):
        """What the residual quantiles are multiplied by: 1 (absolute) or the expected value (relative)."""
        if self.mode == "absolute":
            return np.ones(len(yhat))
        return np.maximum(yhat, self.floor_frac * np.asarray(scale, float))

    def fit(self, site, y, yhat, scale=None) -> ConformalIntervals:
        site, y, yhat = np.asarray(site), np.asarray(y, float), np.asarray(yhat, float)
        ok = ~np.isnan(y)
        sc = None if scale is None else np.asarray(scale, float)[ok]
        r = pd.Series((y - yhat)[ok] / self.width(yhat[ok], sc))
        rows = []
        for s, rs in r.groupby(site[ok]):
            v, n = np.sort(rs.to_numpy()), len(rs)
            # finite-sample split-conformal ranks for each tail
            k_lo = max(int(np.floor((n + 1) * self.alpha / 2)), 1)
            k_hi = min(int(np.ceil((n + 1) * (1 - self.alpha / 2))), n)
            rows.append((s, v[k_lo - 1], v[k_hi - 1]))
        self.q = pd.DataFrame(rows, columns=["site", "lo", "hi"]).set_index("site")
        return self

    def predict(self, site, yhat, scale=None):
        site, yhat = np.asarray(site), np.asarray(yhat, float)
        s = self.width(yhat, scale)
        lo = yhat + self.q["lo"].reindex(site).to_numpy() * s
        hi = yhat + self.q["hi"].reindex(site).to_numpy() * s
        return np.clip(lo, 0, None), hi


# --------------------------------------------------------------------------- metrics
def ashrae_metrics(y, yhat) -> dict:
    y, yhat = np.asarray(y, float), np.asarray(yhat, float)
    ok = ~(np.isnan(y) | np.isnan(yhat))
    y, yhat = y[ok], yhat[ok]
    n, m = len(y), y.mean()
    rmse = np.sqrt(np.mean((y - yhat) ** 2))
    return {"n": n, "mean_kwh": m, "cv_rmse": rmse / m, "nmbe": (y - yhat).sum() / ((n - 1) * m),
            "mae": np.abs(y - yhat).mean()}


# --------------------------------------------------------------------------- protocol
def fit_with_intervals(df: pd.DataFrame, cal_start: pd.Timestamp, alpha: float = 0.10,
                       params: dict | None = None):
    """Protocol used in the spike.

    1. model A trained on rows before ``cal_start``; its residuals on the calibration slice
       [cal_start, end of df] give per-site split-conformal quantiles (absolute, kWh);
    2. model B refitted on all rows (same hyper-parameters) is the served model; the
       quantiles from step 1 are applied to it (slightly optimistic in theory because B saw
       the calibration slice; measured coverage on 2020 test was 0.90 for both A and B).
    ``df`` is the output of build_features with the site scale of the full training period."""
    def new_model() -> ExpectedConsumptionModel:
        return ExpectedConsumptionModel(params=dict(params)) if params else ExpectedConsumptionModel()

    a = new_model().fit(df[df["timestamp"] < cal_start])
    cal = df[(df["timestamp"] >= cal_start) & df["target"].notna()]
    intervals = ConformalIntervals(alpha=alpha, mode="absolute").fit(
        cal["site"], cal["value"], a.predict(cal), cal["scale"])
    b = new_model().fit(df)
    return b, intervals
