"""The reference (counterfactual) expectation of one meter: an M&V baseline in the style of ASHRAE Guideline 14
and IPMVP Option C, LBNL's time-of-week-and-temperature (TOWT) regression.

Unlike the day-ahead forecast it has no lagged readings among its features: it is fit once on a reference
period (calendar and outdoor temperature only) and then predicts what the meter *would* have used, so a
lasting fault never leaks into it. It changes only when a new reference period is chosen: an explicit
re-baseline, or a user accepting a change as the new normal (:func:`fit` on the new period).

Features per hour (all vectorised numpy):

* time of week: 168 indicators (hour of the UTC week); public holidays of the site's country and the
  24 Dec .. 1 Jan closure count as Sunday hours (the usual M&V treatment of holidays);
* temperature: a piecewise-linear spline with fixed knots (:data:`KNOTS`, degC), one set of slopes for
  occupied hours (weekday 07-19 UTC) and one for the others; temperatures are clipped to the range seen in
  the reference period, so a hotter summer than the reference's never extrapolates a slope.

The fit is ridge-regularised least squares (``ridge`` x identity on all but the time-of-week columns), one
small dense solve per meter (a few thousand rows x 180 columns). :class:`ReferenceModel` also carries the
Guideline 14 goodness of fit on the reference period (CV(RMSE), NMBE) and the residual spread per hour of
week, which gives the interval detection uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["KNOTS", "ReferenceModel", "design", "fit", "longest_runs", "predict"]

KNOTS = (5.0, 10.0, 15.0, 20.0, 25.0)
N_TOW = 168
OCCUPIED_HOURS = (7, 19)  # UTC, weekdays: the occupied temperature slopes


@lru_cache(maxsize=16)
def _holiday_days(country: str, years: tuple[int, ...]) -> frozenset[np.datetime64]:
    import holidays  # lazy: only the reference fit needs it

    days = {np.datetime64(d, "D") for d in holidays.country_holidays(country, years=list(years))}
    for y in years:  # the Christmas closure: 24 Dec .. 1 Jan
        days |= {np.datetime64(f"{y}-12-{d:02d}", "D") for d in range(24, 32)}
        days.add(np.datetime64(f"{y}-01-01", "D"))
    return frozenset(days)


def _calendar(ts: pd.DatetimeIndex, country: str) -> tuple[np.ndarray, np.ndarray]:
    """Hour of week (0 = Monday 00 UTC; holidays as Sunday) and whether the hour is occupied."""
    ts = ts.tz_convert("UTC") if ts.tz is not None else ts
    hour = ts.hour.to_numpy()
    dow = ts.day_of_week.to_numpy()
    days = ts.to_numpy().astype("datetime64[D]") if ts.tz is None else ts.tz_localize(None).to_numpy().astype(
        "datetime64[D]")
    hol = np.isin(days, np.array(sorted(_holiday_days(country, tuple(sorted(set(ts.year)))))))
    dow = np.where(hol, 6, dow)
    occupied = (dow < 5) & (hour >= OCCUPIED_HOURS[0]) & (hour < OCCUPIED_HOURS[1])
    return dow * 24 + hour, occupied


def _spline(temp: np.ndarray) -> np.ndarray:
    """Piecewise-linear basis: column 0 = min(t, k0), then the part of t inside each knot interval."""
    k = np.asarray(KNOTS)
    lows = np.r_[-np.inf, k]
    highs = np.r_[k, np.inf]
    basis = np.clip(temp[:, None], lows[None, :], highs[None, :]) - np.where(np.isfinite(lows), lows, 0)[None, :]
    basis[:, 0] = np.minimum(temp, k[0])
    return basis


def design(ts: pd.DatetimeIndex, temp: np.ndarray, t_range: tuple[float, float], country: str = "GB") -> np.ndarray:
    """The TOWT design matrix of hours ``ts`` with outdoor temperatures ``temp`` (degC; NaN -> the range's middle)."""
    tow, occ = _calendar(ts, country)
    t = np.asarray(temp, dtype=float)
    t = np.where(np.isnan(t), 0.5 * (t_range[0] + t_range[1]), t)
    s = _spline(np.clip(t, t_range[0], t_range[1]))
    x = np.zeros((len(ts), N_TOW + 2 * s.shape[1]))
    x[np.arange(len(ts)), tow] = 1.0
    x[:, N_TOW:N_TOW + s.shape[1]] = s * occ[:, None]
    x[:, N_TOW + s.shape[1]:] = s * ~occ[:, None]
    return x


@dataclass(frozen=True)
class ReferenceModel:
    """A fitted reference baseline of one meter (JSON-able via :meth:`to_dict`)."""

    period: tuple[str, str]
    coef: np.ndarray
    t_range: tuple[float, float]
    country: str
    n_hours: int
    mean_kwh: float
    cv_rmse: float
    nmbe: float
    spread: np.ndarray = field(repr=False)
    """Residual standard deviation per hour of week on the reference period (kWh)."""
    repeat_hours: float = 0.0
    """The longest run of one repeated non-zero reading (>= 5 % of the mean) in the reference period (hours):
    the meter's own normal, which calibrates the stuck rule (a coarse gas meter repeats 0.1 kWh for days)."""
    zero_hours: float = 0.0
    """The longest run of zero readings in the reference period (hours): calibrates the zero rule."""
    segment_z: dict[str, float] = field(default_factory=dict)
    """How far the meter's own normal 4-week windows of the reference period wander, per channel
    (``reference_rules.segment_calibration``): calibrates the segment rule."""

    def to_dict(self) -> dict[str, Any]:
        return {"period": list(self.period), "coef": self.coef.round(6).tolist(), "t_range": list(self.t_range),
                "country": self.country, "n_hours": self.n_hours, "mean_kwh": self.mean_kwh,
                "cv_rmse": self.cv_rmse, "nmbe": self.nmbe, "spread": self.spread.round(6).tolist(),
                "repeat_hours": self.repeat_hours, "zero_hours": self.zero_hours, "segment_z": dict(self.segment_z)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReferenceModel:
        return cls(tuple(d["period"]), np.asarray(d["coef"], float), tuple(d["t_range"]), d["country"],
                   int(d["n_hours"]), float(d["mean_kwh"]), float(d["cv_rmse"]), float(d["nmbe"]),
                   np.asarray(d["spread"], float), float(d.get("repeat_hours", 0.0)),
                   float(d.get("zero_hours", 0.0)), {str(k): float(v) for k, v in d.get("segment_z", {}).items()})


def fit(ts: pd.DatetimeIndex, actual: np.ndarray, temp: np.ndarray, *, country: str = "GB",
        ridge: float = 1.0, min_hours: int = 24 * 28) -> ReferenceModel | None:
    """Fit the reference on the hours ``ts`` (the reference period; NaN actuals are skipped). ``None`` when
    fewer than ``min_hours`` hours have a reading. A site without weather (all temperatures NaN) gets a
    time-of-week-only model (its temperature columns are constant)."""
    a = np.asarray(actual, dtype=float)
    t = np.asarray(temp, dtype=float)
    ok = ~np.isnan(a)
    if ok.sum() < min_hours:
        return None
    ts_ok, a_ok, t_ok = ts[ok], a[ok], t[ok]
    known = t_ok[~np.isnan(t_ok)]
    t_range = (float(np.min(known)), float(np.max(known))) if len(known) else (10.0, 10.0)
    x = design(ts_ok, t_ok, t_range, country)
    pen = np.full(x.shape[1], ridge)
    pen[:N_TOW] = 1e-6
    coef = np.linalg.solve(x.T @ x + np.diag(pen), x.T @ a_ok)
    res = a_ok - x @ coef
    mean = float(a_ok.mean())
    p = x.shape[1]
    dof = max(len(a_ok) - p, 1)
    tow = x[:, :N_TOW].argmax(axis=1)
    cnt = np.bincount(tow, minlength=N_TOW)
    var = np.bincount(tow, res * res, minlength=N_TOW) / np.maximum(cnt - 1, 1)
    spread = np.sqrt(np.where(cnt > 1, var, np.mean(res * res)))
    period = (str(ts_ok[0]), str(ts_ok[-1]))
    cv = float(np.sqrt(np.sum(res * res) / dof) / mean) if mean > 0 else float("nan")
    nmbe = float(np.sum(res) / dof / mean) if mean > 0 else float("nan")
    repeat, zero = longest_runs(ts, a, mean)
    model = ReferenceModel(period, coef, t_range, country, int(len(a_ok)), mean, cv, nmbe, spread, repeat, zero)
    return replace(model, segment_z=_segment_z(model, ts, a, t))


def _segment_z(model: ReferenceModel, ts: pd.DatetimeIndex, actual: np.ndarray, temp: np.ndarray) -> dict[str, float]:
    """The segment rule's per-meter calibration on the reference period's complete hourly grid."""
    from services.lib.hotspots.reference_rules import segment_calibration  # the rules import no model

    grid = pd.date_range(ts.min(), ts.max(), freq="h")
    frame = pd.DataFrame({"a": actual, "t": temp}, index=ts).groupby(level=0).first().reindex(grid)
    t = frame["t"].to_numpy(float)
    ref, _ = predict(model, grid, t)
    return segment_calibration(frame["a"].to_numpy(float), ref, t, grid, False)  # warm: not calibrated


def longest_runs(ts: pd.DatetimeIndex, actual: np.ndarray, mean: float) -> tuple[float, float]:
    """The longest runs (hours, on the complete hourly grid of ``ts``) of one repeated reading >= 5 % of
    ``mean``, and of zero readings: what is normal for this meter (:attr:`ReferenceModel.repeat_hours`)."""
    if len(ts) == 0:
        return 0.0, 0.0
    grid = pd.date_range(ts.min(), ts.max(), freq="h")
    a = pd.Series(np.asarray(actual, float), ts).groupby(level=0).first().reindex(grid).to_numpy(float)
    ok = ~np.isnan(a)
    same = np.zeros(len(a), bool)
    same[1:] = ok[1:] & ok[:-1] & (a[1:] == a[:-1]) & (np.abs(a[1:]) >= 0.05 * mean)
    out = []
    for flag in (same | np.r_[same[1:], False], ok & (a == 0)):
        d = np.diff(np.r_[0, flag.astype(np.int8), 0])
        lengths = np.flatnonzero(d == -1) - np.flatnonzero(d == 1)
        out.append(float(lengths.max()) if len(lengths) else 0.0)
    return out[0], out[1]


def predict(model: ReferenceModel, ts: pd.DatetimeIndex, temp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reference kWh of the hours ``ts`` (never below 0) and the residual spread of each hour (kWh)."""
    x = design(ts, temp, model.t_range, model.country)
    tow = x[:, :N_TOW].argmax(axis=1)
    return np.maximum(x @ model.coef, 0.0), model.spread[tow]
