"""Hotspot detection over hourly residuals (actual vs the day-ahead expected value) and emission totals.

Plain, vectorised pandas/numpy (no row loops over the data, no Prefect): the ``hotspot-scan`` flow reads the
residuals of a window from the data core and calls :func:`detect`; :func:`pareto` ranks emission totals.
Method and thresholds: ``docs/hotspot-detection.md``; lasting faults against the reference expectation:
:mod:`services.lib.hotspots.reference_rules`.

Layout (:mod:`services.lib.hotspots.grid`): every series (site, meter, activity type) is laid out on a
complete hourly grid from its first reading to ``as_of`` (exclusive), all series end to end in one flat
array. Thresholds: :mod:`services.lib.hotspots.config`; emission totals: :mod:`services.lib.hotspots.pareto`.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pandas as pd

from services.common.contracts import KINDS
from services.lib.hotspots.config import DetectionConfig, Hotspot
from services.lib.hotspots.grid import (
    _cum,
    _Grid,
    _grid,
    _make,
    _merge,
    _r,
    _runs,
    _severity,
    _ts,
    _valid_parts,
    _validate,
    _window_sum,
)
from services.lib.hotspots.pareto import pareto

__all__ = ["DetectionConfig", "Hotspot", "detect", "pareto"]


def detect(residuals: pd.DataFrame, *, as_of: pd.Timestamp | None = None,
           config: DetectionConfig | None = None) -> list[Hotspot]:
    """Hotspots of the scanned window ``[first reading, as_of)`` of every (site, meter, activity_type).

    ``residuals``: one row per reading with columns site, activity_type, timestamp (tz-aware, hourly),
    actual, expected, lower, upper (kWh; expected/lower/upper may be NaN) and optionally meter (default
    ""), model_version and kg_per_kwh. ``as_of`` (exclusive end of the window) defaults to the last hour + 1 h.
    Returns hotspots sorted by site, meter, activity type, start and kind."""
    cfg = config or DetectionConfig()
    _validate(residuals)
    if residuals.empty:
        return []
    g = _grid(residuals, as_of)
    if g is None:
        return []
    types = g.keys["activity_type"].to_numpy()
    episodes = _above_expected(g, cfg, types)
    covered = np.zeros(len(g.sid) + 1, dtype=np.int64)
    for h in episodes:  # one entry per episode (few), not per row
        s0, s1 = h.evidence["_span"]
        covered[s0] += 1
        covered[s1] -= 1
    inside = np.cumsum(covered[:-1]) > 0
    found = episodes + _spikes(g, cfg, types, inside) + _level_shifts(g, cfg, types)
    found += _silent(g, cfg, types) + _stuck(g, cfg, types)
    out = []
    for h in found:
        ev = {k: v for k, v in h.evidence.items() if not k.startswith("_")}
        out.append(Hotspot(h.kind, h.site, h.meter, h.activity_type, h.period_start, h.period_end, h.ongoing,
                           h.severity, h.excess_kwh, h.excess_kg, h.model_version, ev))
    out.sort(key=lambda h: (h.site, h.meter, h.activity_type, h.period_start, KINDS.index(h.kind)))
    return out


def _above_expected(g: _Grid, cfg: DetectionConfig, types: np.ndarray) -> list[Hotspot]:
    valid, a, e, kg = _valid_parts(g)
    above = valid & ~np.isnan(g.upper) & (g.actual > g.upper)
    ca, ce, cab, cv, ckg = _cum(a), _cum(e), _cum(above), _cum(valid), _cum(kg)
    n, w = len(g.sid), cfg.window_hours
    idx, start = np.arange(n), g.seg_start()
    sa, se = _window_sum(ca, idx, w, start), _window_sum(ce, idx, w, start)
    nab, nv = _window_sum(cab, idx, w, start), _window_sum(cv, idx, w, start)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(se > 0, (sa - se) / se, np.nan)
    thr = cfg.per_series("excess_ratio", types)[g.sid]
    floor = cfg.per_series("excess_floor_kwh", types)[g.sid]
    min_above = cfg.per_series("min_hours_above_upper", types)[g.sid]
    flag = (nv >= cfg.min_window_hours) & (se > 0) & (ratio >= thr) & (sa - se >= floor) & (nab >= min_above)
    f0, f1 = _runs(flag, g.seg_first())
    f0, f1 = _merge(f0, f1, g.sid, cfg.merge_gap_hours)
    if not len(f0):
        return []
    pos = np.arange(n)
    nxt = np.minimum.accumulate(np.where(above, pos, n)[::-1])[::-1]
    prv = np.maximum.accumulate(np.where(above, pos, -1))
    sid = g.sid[f0]
    span_start = np.maximum(f0 - w + 1, g.offset[sid])
    s0 = nxt[span_start]                         # first hour above the interval that contributed
    seg_end = g.seg_end()[sid]
    ongoing = f1 >= seg_end                      # still flagged at the last hour before as_of
    s1 = np.where(ongoing, seg_end, prv[f1 - 1] + 1)
    peak = np.array([np.nanmax(ratio[x:y]) for x, y in zip(f0, f1, strict=True)])
    out = []
    for i in range(len(f0)):
        x, y = int(s0[i]), int(s1[i])
        exp_sum, act_sum = ce[y] - ce[x], ca[y] - ca[x]
        excess = act_sum - exp_sum
        if exp_sum <= 0 or excess <= 0:
            continue
        r = excess / exp_sum
        s = int(sid[i])
        start_h, end_h = int(g.hour[x]), int(g.hour[y - 1]) + 1
        ev = {"actual_kwh": _r(act_sum, 3), "expected_kwh": _r(exp_sum, 3), "excess_ratio": _r(r),
              "hours": end_h - start_h, "hours_with_expected": int(cv[y] - cv[x]),
              "hours_above_upper": int(cab[y] - cab[x]), "peak_window_excess_ratio": _r(peak[i]),
              "window_hours": w, "threshold_ratio": cfg.value("excess_ratio", str(types[s])),
              "threshold_kwh": cfg.value("excess_floor_kwh", str(types[s])),
              "min_hours_above_upper": int(cfg.value("min_hours_above_upper", str(types[s]))),
              "_span": (x, y)}
        out.append(_make(g, "above_expected", s, start_h, g.end_hour if ongoing[i] else end_h,
                         _severity(r, cfg.severity_ratio_bands), excess, ckg[y] - ckg[x], ev))
    return out


def _spikes(g: _Grid, cfg: DetectionConfig, types: np.ndarray, inside: np.ndarray) -> list[Hotspot]:
    valid, a, e, kg = _valid_parts(g)
    ok = valid & ~np.isnan(g.upper)
    diff = g.actual - g.expected
    with np.errstate(invalid="ignore", divide="ignore"):
        hour_ratio = np.where(ok & (g.expected > 0), diff / g.expected, np.inf)
        flag = ok & (diff >= cfg.per_series("spike_k", types)[g.sid] * (g.upper - g.expected)) \
            & (diff >= cfg.per_series("spike_floor_kwh", types)[g.sid]) \
            & (hour_ratio >= cfg.per_series("spike_min_ratio", types)[g.sid])
    r0, r1 = _runs(flag, g.seg_first())
    if not len(r0):
        return []
    cin = _cum(inside)
    keep = (r1 - r0 <= cfg.spike_max_hours) & (cin[r1] - cin[r0] == 0)  # a spike inside an episode is the episode
    ca, ce, ckg = _cum(a), _cum(e), _cum(kg)
    out = []
    for x, y in zip(r0[keep], r1[keep], strict=True):
        s = int(g.sid[x])
        act_sum, exp_sum = ca[y] - ca[x], ce[y] - ce[x]
        peak_i = x + int(np.argmax(diff[x:y]))
        peak_ratio = float(hour_ratio[peak_i])
        width = float(g.upper[peak_i] - g.expected[peak_i])
        ev = {"actual_kwh": _r(act_sum, 3), "expected_kwh": _r(exp_sum, 3), "hours": int(y - x),
              "peak_at": _ts(g.hour[peak_i]).isoformat(), "peak_actual_kwh": _r(g.actual[peak_i], 3),
              "peak_expected_kwh": _r(g.expected[peak_i], 3), "peak_upper_kwh": _r(g.upper[peak_i], 3),
              "peak_excess_ratio": _r(peak_ratio), "peak_interval_multiple": _r(diff[peak_i] / width) if width > 0
              else None, "threshold_k": cfg.value("spike_k", str(types[s])),
              "threshold_kwh": cfg.value("spike_floor_kwh", str(types[s])),
              "threshold_ratio": cfg.value("spike_min_ratio", str(types[s]))}
        out.append(_make(g, "spike", s, int(g.hour[x]), int(g.hour[y - 1]) + 1,
                         _severity(peak_ratio, cfg.spike_severity_bands), act_sum - exp_sum, ckg[y] - ckg[x], ev))
    return out


def _silent(g: _Grid, cfg: DetectionConfig, types: np.ndarray) -> list[Hotspot]:
    r0, r1 = _runs(~g.present, g.seg_first())
    if not len(r0):
        return []
    sid = g.sid[r0]
    need = cfg.per_series("silent_hours", types)[sid]
    keep = (r1 - r0) >= need
    out = []
    for x, y, s in zip(r0[keep], r1[keep], sid[keep], strict=True):
        hours = int(y - x)
        last = g.hour[x - 1]  # a series starts with a reading, so x - 1 is in the same series
        seg_end = g.offset[s] + (g.end_hour - g.first_hour[s])
        ev = {"hours": hours, "last_reading_at": _ts(last).isoformat(),
              "next_reading_at": _ts(g.hour[y]).isoformat() if y < seg_end else None,
              "last_actual_kwh": _r(g.actual[x - 1], 3),
              "threshold_hours": int(cfg.value("silent_hours", str(types[s])))}
        out.append(_make(g, "silent_meter", int(s), int(g.hour[x]), int(g.hour[y - 1]) + 1,
                         _severity(hours, cfg.gap_severity_hours), 0.0, 0.0, ev))
    return out


def _stuck(g: _Grid, cfg: DetectionConfig, types: np.ndarray) -> list[Hotspot]:
    v = g.actual
    same = np.zeros(len(v), dtype=bool)
    same[1:] = g.present[1:] & g.present[:-1] & (np.abs(v[1:] - v[:-1]) <= 1e-9 * np.maximum(1.0, np.abs(v[1:])))
    seg_first = g.seg_first()
    same &= ~seg_first
    # a run of equal readings = one position whose successor repeats it, plus the repeats
    member = same | np.r_[same[1:], False]
    r0, r1 = _runs(member, seg_first)
    # split runs where the value changes between two repeating pairs (a, a, b, b): 'same' is False there
    breaks = member & ~same & np.r_[False, member[:-1]] & ~seg_first
    if breaks.any():
        r0, r1 = _runs(member, seg_first | breaks)
    if not len(r0):
        return []
    sid = g.sid[r0]
    value = v[r0]
    length = r1 - r0
    zero_need = np.array([cfg.stuck_zero_hours.get(str(t), math.inf) for t in types], dtype=float)[sid]
    keep = np.where(np.abs(value) <= 1e-12, length >= zero_need,
                    (length >= cfg.per_series("stuck_hours", types)[sid])
                    & (value >= cfg.per_series("stuck_min_kwh", types)[sid]))
    valid, a, e, kg = _valid_parts(g)
    ca, ce, ckg, cv = _cum(a), _cum(e), _cum(kg), _cum(valid)
    out = []
    for x, y, s in zip(r0[keep], r1[keep], sid[keep], strict=True):
        has_exp = cv[y] - cv[x] > 0
        act_sum, exp_sum = ca[y] - ca[x], ce[y] - ce[x]
        hours = int(y - x)
        ev = {"hours": hours, "stuck_value_kwh": _r(v[x], 4), "run_length": hours,
              "actual_kwh": _r(act_sum, 3), "expected_kwh": _r(exp_sum, 3) if has_exp else None,
              "threshold_hours": int(cfg.value("stuck_hours", str(types[s]))) if v[x] != 0
              else int(cfg.stuck_zero_hours.get(str(types[s]), 0)),
              "threshold_kwh": cfg.value("stuck_min_kwh", str(types[s]))}
        out.append(_make(g, "stuck_meter", int(s), int(g.hour[x]), int(g.hour[y - 1]) + 1,
                         _severity(hours, cfg.gap_severity_hours), act_sum - exp_sum if has_exp else 0.0,
                         ckg[y] - ckg[x], ev))
    return out


def _level_shifts(g: _Grid, cfg: DetectionConfig, types: np.ndarray) -> list[Hotspot]:
    """Best split per series of the daily actual/expected ratio, tested on the ``shift_min_days`` days
    after it (the day-ahead model catches up with a lasting step within 1-4 weeks, so the residual of a
    step is a decaying excess, not a lasting one; its persistence is judged on raw actuals)."""
    valid, a, e, kg = _valid_parts(g)
    day = g.hour // 24
    first_day = g.first_hour // 24
    dspan = (g.end_hour - 1) // 24 - first_day + 1
    doff = np.r_[0, np.cumsum(dspan)[:-1]].astype(np.int64)
    dpos = doff[g.sid] + day - first_day[g.sid]
    nd = int(dspan.sum())
    dsid = np.repeat(np.arange(len(dspan)), dspan)
    day_a, day_e = np.bincount(dpos, a, nd), np.bincount(dpos, e, nd)
    day_nv = np.bincount(dpos, valid.astype(float), nd)
    raw = np.bincount(dpos, np.where(g.present, g.actual, 0.0), nd)
    raw_n = np.bincount(dpos, g.present.astype(float), nd)
    ok_day = (day_nv >= cfg.day_min_hours) & (day_e > 0)
    if not ok_day.any():
        return []
    di = np.flatnonzero(ok_day)                         # compressed: judged days, in series order
    r = np.clip(day_a[di] / day_e[di], 0.0, cfg.shift_ratio_clip)
    cs = dsid[di]
    first = np.searchsorted(cs, np.arange(len(dspan)), side="left")
    last = np.searchsorted(cs, np.arange(len(dspan)), side="right")
    C, Q, R = _cum(r), _cum(r * r), _cum(raw[di] / np.maximum(raw_n[di], 1))  # R: mean hourly actual
    m, back = cfg.shift_min_days, cfg.shift_baseline_days
    i = np.arange(len(di))
    s0, s1 = np.maximum(first[cs], i - back), last[cs]
    i2 = np.minimum(i + m, s1)
    n1, n2 = (i - s0).astype(float), (i2 - i).astype(float)
    ok = (n1 >= m) & (n2 >= m)
    with np.errstate(divide="ignore", invalid="ignore"):
        m1, m2 = (C[i] - C[s0]) / n1, (C[i2] - C[i]) / n2
        v1 = (Q[i] - Q[s0] - n1 * m1 * m1) / (n1 - 1)
        v2 = (Q[i2] - Q[i] - n2 * m2 * m2) / (n2 - 1)
        floor = 1e-4  # (1 % of the ratio)^2: a perfectly flat segment must not make t infinite
        t = (m2 - m1) / np.sqrt(np.maximum(v1, floor) / n1 + np.maximum(v2, floor) / n2)
        rel = np.where(m1 > 0, m2 / m1 - 1, np.nan)
        ib = np.maximum(i - m, first[cs])
        raw_before = (R[i] - R[ib]) / (i - ib)
        raw_up = (R[i2] - R[i]) / n2 / raw_before - 1
        # the second block after the split (when there is one): a 1-3 day excess is not a level shift
        i3 = np.minimum(i2 + m, s1)
        raw_up2 = np.where(i3 - i2 >= m, (R[i3] - R[i2]) / np.maximum(i3 - i2, 1) / raw_before - 1, np.inf)
    need = cfg.per_series("shift_min_ratio", types)[cs]
    cand = ok & (rel >= need) & (t >= cfg.shift_min_t) & (raw_up >= need) \
        & (raw_up2 >= cfg.shift_persist_share * need)
    if not cand.any():
        return []
    score = np.where(cand, t, -np.inf)
    order = np.lexsort((-score, cs))
    best = order[np.r_[True, cs[order][1:] != cs[order][:-1]]]
    best = best[cand[best]]
    ca, ce, ckg = _cum(a), _cum(e), _cum(kg)
    out = []
    for b in best:
        s = int(cs[b])
        change_day = int(first_day[s] + (di[b] - doff[s]))
        start_h = max(change_day * 24, int(g.first_hour[s]))
        x = int(g.offset[s] + start_h - g.first_hour[s])
        y = int(g.offset[s] + g.end_hour - g.first_hour[s])
        act_sum, exp_sum = ca[y] - ca[x], ce[y] - ce[x]
        ll = int(last[s])
        n_last = min(m, ll - int(b))
        last_raw = (R[ll] - R[ll - n_last]) / n_last
        last_up = last_raw / raw_before[b] - 1 if raw_before[b] > 0 else math.nan
        ongoing = bool(last_up >= cfg.shift_persist_share * raw_up[b])
        ev = {"change_point": _ts(change_day * 24).date().isoformat(), "before_mean_ratio": _r(m1[b]),
              "after_mean_ratio": _r(m2[b]), "shift_ratio": _r(rel[b]), "t_stat": _r(t[b], 2),
              "days_before": int(n1[b]), "days_tested_after": int(n2[b]), "days_after": int(ll - b),
              "before_mean_kwh_per_hour": _r(raw_before[b], 3),
              "after_mean_kwh_per_hour": _r(raw_before[b] * (1 + raw_up[b]), 3) if math.isfinite(raw_up[b]) else None,
              "last_days_mean_kwh_per_hour": _r(last_raw, 3), "actual_step_ratio": _r(raw_up[b]),
              "actual_kwh": _r(act_sum, 3), "expected_kwh": _r(exp_sum, 3),
              "threshold_t": cfg.shift_min_t, "threshold_ratio": float(need[b]), "min_days": m}
        h = _make(g, "level_shift", s, start_h, g.end_hour, _severity(float(raw_up[b]), cfg.severity_ratio_bands),
                  act_sum - exp_sum, ckg[y] - ckg[x], ev)
        out.append(replace(h, ongoing=ongoing))
    return out
