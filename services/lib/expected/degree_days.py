"""Expected values of monthly bills: the whole-facility degree-day regression of ASHRAE Guideline 14 and
IPMVP Option C (change-point models), fitted per meter on its own baseline bills.

A bill is ``[period_start, period_end)`` with its energy (kWh). Bills differ in length, so the model works in
energy per day against degree-days per day of the bill, weighted by the bill's days (weighted least
squares), and multiplies back by the days of the bill it predicts.

Degree-days are integrated from hourly temperature (the hourly method of CIBSE TM41): each hour below the
heating base ``tau_h`` adds ``(tau_h - T) / 24`` heating degree-days, each hour above the cooling base
``tau_c`` adds ``(T - tau_c) / 24`` cooling degree-days, so any bill period, whatever its read dates, gets
its exact degree-days. The bases are searched on a grid (G14's change points).

Models (G14 Annex D names):

==== ======================================= ==========================================
2P   ``e = b0``                              no weather dependence (mean daily use)
3PH  ``e = b0 + bh * HDD(tau_h)``            heating only
3PC  ``e = b0 + bc * CDD(tau_c)``            cooling only
5P   ``e = b0 + bh * HDD(tau_h) + bc * CDD(tau_c)``, ``tau_h <= tau_c``
==== ======================================= ==========================================

A weather model is kept only if its slopes are positive and significant (|t| >= ``min_t``, G14's test of
each coefficient) and it lowers CV(RMSE); otherwise the simpler model stands. Prediction intervals are the
weighted-least-squares prediction intervals of the new bill (Student t with n - p degrees of freedom).
G14's calibration criteria for monthly data (CV(RMSE) <= 15 %, |NMBE| <= 5 %) are reported with the fit,
never used to refuse it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats

ModelKind = Literal["2P", "3PH", "3PC", "5P"]
HEATING_BASES = np.arange(8.0, 20.01, 0.5)
COOLING_BASES = np.arange(14.0, 26.01, 0.5)
MIN_BILLS = 6
G14_MONTHLY_CVRMSE = 0.15
G14_MONTHLY_NMBE = 0.05


class NotEnoughBills(ValueError):
    """Fewer baseline bills than a fit needs."""


# ------------------------------------------------------------------------------------------- degree-days
def _cumulative(temp: pd.Series, bases: np.ndarray, heating: bool) -> tuple[np.ndarray, np.ndarray]:
    """Hour boundaries (ns) and the cumulative degree-days up to each, one column per base."""
    t = temp.dropna().sort_index()
    if t.empty:
        raise ValueError("no temperature readings")
    index = pd.DatetimeIndex(t.index)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    values = t.to_numpy(float)[:, None]
    dd = (bases[None, :] - values) if heating else (values - bases[None, :])
    cum = np.vstack([np.zeros((1, len(bases))), np.cumsum(np.clip(dd, 0, None) / 24.0, axis=0)])
    edges = index.as_unit("ns").asi8
    return edges, cum


def period_degree_days(temp: pd.Series, starts: pd.Series, ends: pd.Series, bases: np.ndarray, *,
                       heating: bool) -> tuple[np.ndarray, np.ndarray]:
    """Degree-days of each period ``[start, end)`` for each base (rows: periods, columns: bases), and the
    share of each period's hours that had a temperature (1.0 = complete). Missing hours are filled by
    scaling up the ones present."""
    edges, cum = _cumulative(temp, bases, heating)
    lo = np.searchsorted(edges, pd.DatetimeIndex(starts).as_unit("ns").asi8)
    hi = np.searchsorted(edges, pd.DatetimeIndex(ends).as_unit("ns").asi8)
    hours = ((pd.DatetimeIndex(ends) - pd.DatetimeIndex(starts)) / pd.Timedelta(hours=1)).to_numpy(float)
    coverage = np.where(hours > 0, (hi - lo) / np.maximum(hours, 1e-9), 0.0)
    dd = (cum[hi] - cum[lo]) / np.maximum(coverage, 1e-9)[:, None]
    return dd, np.clip(coverage, 0.0, 1.0)


# --------------------------------------------------------------------------------------------- the model
@dataclass
class DegreeDayModel:
    """One meter's fitted change-point model."""

    kind: ModelKind
    coef: np.ndarray                       # b0 [, bh] [, bc] in kWh/day and kWh per degree-day
    heating_base: float | None
    cooling_base: float | None
    sigma2: float                          # weighted residual variance (per-day energy, weight = days)
    cov_unscaled: np.ndarray               # (X'WX)^-1
    n: int
    cvrmse: float
    nmbe: float
    r2: float
    baseline_start: pd.Timestamp
    baseline_end: pd.Timestamp
    extra: dict = field(default_factory=dict)

    @property
    def p(self) -> int:
        return len(self.coef)

    @property
    def meets_g14(self) -> bool:
        return self.cvrmse <= G14_MONTHLY_CVRMSE and abs(self.nmbe) <= G14_MONTHLY_NMBE

    def design(self, temp: pd.Series, starts: pd.Series, ends: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        """Per-day design rows of these periods and their weather coverage."""
        days = _days(starts, ends)
        cols = [np.ones(len(days))]
        coverage = np.ones(len(days))
        if self.heating_base is not None:
            hdd, coverage = period_degree_days(temp, starts, ends, np.array([self.heating_base]), heating=True)
            cols.append(hdd[:, 0] / days)
        if self.cooling_base is not None:
            cdd, cov_c = period_degree_days(temp, starts, ends, np.array([self.cooling_base]), heating=False)
            cols.append(cdd[:, 0] / days)
            coverage = np.minimum(coverage, cov_c)
        return np.column_stack(cols), coverage

    def predict(self, bills: pd.DataFrame, temp: pd.Series, level: float = 0.90) -> pd.DataFrame:
        """Expected kWh of each bill with its two-sided ``level`` prediction interval. ``weather`` is the
        share of the bill's hours with a temperature (a weather model needs it; 0 means the interval is
        the model's, without weather: the baseline's mean)."""
        starts, ends = bills["period_start"], bills["period_end"]
        days = _days(starts, ends)
        X, coverage = self.design(temp, starts, ends)
        no_weather = coverage <= 0
        if no_weather.any() and self.p > 1:
            X = X.copy()
            X[no_weather, 1:] = self.extra.get("mean_x", np.zeros(self.p - 1))
        per_day = X @ self.coef
        # relative errors (``fit(relative=True)``): a bill's noise grows with its energy, so its variance per day is
        # sigma2 * e^2 / days (weights days / e^2 in the fit); absolute: sigma2 / days
        scale2 = np.maximum(per_day, 1e-9) ** 2 if self.extra.get("relative") else 1.0
        var_per_day = self.sigma2 * (scale2 / days + np.einsum("ij,jk,ik->i", X, self.cov_unscaled, X))
        t = stats.t.ppf(0.5 + level / 2, max(self.n - self.p, 1))
        half = t * np.sqrt(np.maximum(var_per_day, 0.0)) * days
        expected = np.clip(per_day * days, 0.0, None)
        return pd.DataFrame({"expected": expected, "lower": np.clip(expected - half, 0.0, None),
                             "upper": expected + half, "weather": coverage}, index=bills.index)


def _days(starts: pd.Series, ends: pd.Series) -> np.ndarray:
    return ((pd.DatetimeIndex(ends) - pd.DatetimeIndex(starts)) / pd.Timedelta(days=1)).to_numpy(float)


def _wls(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Batched weighted least squares: X (B, n, p), y (n,), w (n,) -> coef (B, p), residual SS (B,),
    (X'WX)^-1 (B, p, p), per-day residuals (B, n). Rank-deficient candidates get infinite SS."""
    Xw = X * w[None, :, None]
    xtx = np.einsum("bni,bnj->bij", Xw, X)
    xty = np.einsum("bni,n->bi", Xw, y)
    det_ok = np.abs(np.linalg.det(xtx)) > 1e-9 * np.maximum(1.0, np.abs(xtx).max(axis=(1, 2))) ** X.shape[2]
    xtx_safe = np.where(det_ok[:, None, None], xtx, np.eye(X.shape[2])[None])
    inv = np.linalg.inv(xtx_safe)
    coef = np.einsum("bij,bj->bi", inv, xty)
    resid = y[None, :] - np.einsum("bni,bi->bn", X, coef)
    ss = np.einsum("bn,n->b", resid**2, w)
    ss = np.where(det_ok, ss, np.inf)
    return coef, ss, inv, resid


def fit(bills: pd.DataFrame, temp: pd.Series, *, min_t: float = 2.0, relative: bool = False,
        criterion: Literal["bic", "cvrmse"] = "bic",
        kinds: tuple[ModelKind, ...] = ("2P", "3PH", "3PC", "5P")) -> DegreeDayModel:
    """Fit one meter's baseline bills (``period_start``, ``period_end``, ``kwh``) against hourly temperature
    (UTC index). Raises :class:`NotEnoughBills` below ``MIN_BILLS`` complete bills.

    ``relative=True`` re-estimates the chosen model with errors proportional to the energy (weights
    days / fitted^2). Measured on the tune buildings of ``bench/monthly.py`` it covers more clean bills but
    catches fewer faults at the same false-alarm rate than the default (absolute errors per day), so it is
    not the default."""
    b = bills.dropna(subset=["kwh"])
    b = b[(b["period_end"] > b["period_start"]) & np.isfinite(b["kwh"].to_numpy(float))]
    if len(b) < MIN_BILLS:
        raise NotEnoughBills(f"{len(b)} bills; a degree-day model needs at least {MIN_BILLS}")
    starts, ends = b["period_start"].reset_index(drop=True), b["period_end"].reset_index(drop=True)
    days = _days(starts, ends)
    y = b["kwh"].to_numpy(float) / days
    w = days
    if temp.notna().any():
        hdd, cov_h = period_degree_days(temp, starts, ends, HEATING_BASES, heating=True)
        cdd, cov_c = period_degree_days(temp, starts, ends, COOLING_BASES, heating=False)
        weathered = np.minimum(cov_h, cov_c) >= 0.9  # bills whose weather is (nearly) complete
    else:  # a site without weather: the 2P model (mean daily use) only, and the fit says so (``kind``)
        weathered = np.zeros(len(days), dtype=bool)
    n = len(y)
    one = np.ones(n)
    candidates: list[tuple[ModelKind, np.ndarray, float | None, float | None]] = [("2P", one[None, :, None], None, None)]
    if weathered.all():
        hpd, cpd = hdd / days[:, None], cdd / days[:, None]
        if "3PH" in kinds:
            candidates += [("3PH", np.stack([one, hpd[:, i]], axis=1)[None], float(tb), None)
                           for i, tb in enumerate(HEATING_BASES)]
        if "3PC" in kinds:
            candidates += [("3PC", np.stack([one, cpd[:, j]], axis=1)[None], None, float(tc))
                           for j, tc in enumerate(COOLING_BASES)]
        if "5P" in kinds:
            candidates += [("5P", np.stack([one, hpd[:, i], cpd[:, j]], axis=1)[None], float(tb), float(tc))
                           for i, tb in enumerate(HEATING_BASES) for j, tc in enumerate(COOLING_BASES) if tb <= tc]
    best: tuple[float, DegreeDayModel] | None = None
    by_p: dict[int, list[int]] = {}
    for k, cand in enumerate(candidates):
        by_p.setdefault(cand[1].shape[2], []).append(k)
    ybar = float(np.average(y, weights=w))
    total_ss = float(np.sum(w * (y - ybar) ** 2))
    for p, members in sorted(by_p.items()):
        if n - p < 2:
            continue
        X = np.concatenate([candidates[k][1] for k in members], axis=0)
        coef, ss, inv, resid = _wls(X, y, w)
        sigma2 = ss / (n - p)
        se = np.sqrt(np.maximum(np.einsum("bii->bi", inv) * sigma2[:, None], 1e-300))
        tstat = coef / se
        for row, k in enumerate(members):
            kind, _, tb, tc = candidates[k]
            if not np.isfinite(ss[row]):
                continue
            if p > 1 and not (np.all(coef[row, 1:] > 0) and np.all(tstat[row, 1:] >= min_t)):
                continue
            energy = y * days
            fitted = (y - resid[row]) * days
            cv = float(np.sqrt(np.sum((energy - fitted) ** 2) / (n - p)) / energy.mean()) if energy.mean() > 0 else np.inf
            # BIC over the weighted residuals; each change point counts as a parameter (the base search)
            k_eff = p + (tb is not None) + (tc is not None)
            score = n * np.log(max(ss[row], 1e-300) / n) + k_eff * np.log(n) if criterion == "bic" else cv
            if best is not None and score >= best[0]:
                continue
            nmbe = float(np.sum(energy - fitted) / ((n - p) * energy.mean())) if energy.mean() > 0 else 0.0
            model = DegreeDayModel(
                kind=kind, coef=coef[row].copy(), heating_base=tb, cooling_base=tc, sigma2=float(sigma2[row]),
                cov_unscaled=inv[row].copy(), n=n, cvrmse=cv, nmbe=nmbe,
                r2=float(1 - ss[row] / total_ss) if total_ss > 0 else 0.0,
                baseline_start=pd.Timestamp(starts.min()), baseline_end=pd.Timestamp(ends.max()),
                extra={"mean_x": np.average(X[row][:, 1:], axis=0, weights=w) if p > 1 else np.zeros(0)})
            best = (score, model)
    if best is None:  # constant use of zero: the 2P model is always defined unless every bill is degenerate
        raise NotEnoughBills("no model could be fitted to these bills")
    model = best[1]
    if relative:
        model = _reweight(model, starts, ends, temp, y, w)
    return _press_variance(model, starts, ends, temp, y, model.extra.get("weights", w))


def _reweight(model: DegreeDayModel, starts: pd.Series, ends: pd.Series, temp: pd.Series, y: np.ndarray,
              w: np.ndarray) -> DegreeDayModel:
    """Re-estimate the chosen model with weights days / fitted^2 (feasible weighted least squares): a
    bill's error is a share of its energy, so winter gas bills are not held to summer bills' noise."""
    X, _ = model.design(temp, starts, ends)
    fitted = np.maximum(X @ model.coef, 0.05 * max(float(np.mean(y)), 1e-9))
    w2 = w / fitted**2
    coef, ss, inv, _ = _wls(X[None], y, w2)
    if not np.isfinite(ss[0]) or (model.p > 1 and not np.all(coef[0, 1:] > 0)):
        return model
    model.coef, model.cov_unscaled = coef[0], inv[0]
    model.sigma2 = float(ss[0] / max(model.n - model.p, 1))
    model.extra.update(relative=True, weights=w2)
    return model


def _press_variance(model: DegreeDayModel, starts: pd.Series, ends: pd.Series, temp: pd.Series, y: np.ndarray,
                    w: np.ndarray) -> DegreeDayModel:
    """Widen the residual variance to the leave-one-out (PRESS) one when that is larger: the change-point
    search fits the baseline better than it will fit a new bill, and the in-sample variance would give
    intervals too narrow out of sample."""
    X, _ = model.design(temp, starts, ends)
    resid = y - X @ model.coef
    hat = w * np.einsum("ij,jk,ik->i", X, model.cov_unscaled, X)
    press = resid / np.maximum(1.0 - hat, 1e-6)
    model.extra["sigma2_in_sample"] = model.sigma2
    model.sigma2 = max(model.sigma2, float(np.sum(w * press**2) / len(y)))
    return model


# ------------------------------------------------------------------------------------- rolling baselines
BASELINE_DAYS = 365 + 30


def rolling_expected(bills: pd.DataFrame, temp: pd.Series, *, level: float = 0.99,
                     baseline_days: int = BASELINE_DAYS) -> pd.DataFrame:
    """Expected values of every bill of one meter from a baseline of the bills before it: each bill is
    judged by the model fitted on the bills that ended at or before its start and within ``baseline_days``
    of it (about a year, IPMVP Option C's baseline), so a fault is never part of its own baseline.

    Returns one row per bill (same index): ``expected``, ``lower``, ``upper``, ``weather`` (share of its
    hours with a temperature), ``model`` (the change-point model, or ``None``) and ``reason`` (why a bill has
    no expected value: too few earlier bills), ``fit`` (the :class:`DegreeDayModel` itself, for its metadata).
    Bills sharing one baseline share one fit. Without any temperature every fit is the 2P model."""
    b = bills.sort_values("period_start")
    out = pd.DataFrame(index=b.index, columns=["expected", "lower", "upper", "weather"], dtype=float)
    out["model"], out["reason"] = None, ""
    chosen: dict[object, DegreeDayModel] = {}
    starts = b["period_start"].to_numpy()
    ends = b["period_end"].to_numpy()
    fits: dict[tuple[int, int], DegreeDayModel | str] = {}
    for pos, idx in enumerate(b.index):  # one fit per distinct baseline: a meter's bills, a few dozen
        window = (ends <= starts[pos]) & (ends > starts[pos] - np.timedelta64(baseline_days, "D"))
        members = np.flatnonzero(window)
        key = (int(members[0]), int(members[-1])) if len(members) else (-1, -1)
        if key not in fits:
            try:
                fits[key] = fit(b.iloc[members], temp) if len(members) else "no earlier bills"
            except NotEnoughBills as exc:
                fits[key] = str(exc)
        model = fits[key]
        if isinstance(model, str):
            out.at[idx, "reason"] = f"no baseline: {model} before this bill"
            continue
        pred = model.predict(b.loc[[idx]], temp, level)
        out.loc[idx, ["expected", "lower", "upper", "weather"]] = pred.iloc[0].to_numpy(float)
        out.at[idx, "model"] = model.kind
        chosen[idx] = model
    out["fit"] = pd.Series([chosen.get(i) for i in out.index], index=out.index, dtype=object)
    return out.loc[bills.index]
