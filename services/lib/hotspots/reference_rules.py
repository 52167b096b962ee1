"""Fault detection against the reference (counterfactual) expectation (issue #18).

Input: one row per (site, meter, activity type, hour) with ``actual`` (NaN or no row = missing), ``reference``
and ``spread`` (kWh, :mod:`services.lib.hotspots.reference_model`) and ``temperature`` (degC). The reference has no
recent lags, so a lasting fault stays in the residual ``actual - reference`` for as long as it lasts.

Rules (per series; thresholds in :class:`ReferenceConfig`, chosen by ``bench/hotspots.py`` on the tune split
for a target false-alarm rate per meter-month):

* **segment** (change-point): the residual, as a share of the series' mean reference, in blocks of ``block_hours``.
  The best *epidemic* segment (two change points: the fault starts, and maybe ends) maximises the
  standardised difference between the mean inside and outside it (noise = robust spread of block-to-block
  differences). It is a finding when ``|z| >= z`` **and** ``|effect| >= min_effect``. Three channels:
  all hours; out-of-hours (nights 19-07 UTC and weekends, for base-load creep); for gas, hours above
  ``warm_c`` (heating in warm weather). The fault name comes from the channel, the sign, the shape
  (a ramp that fits much better than a step is a drift) and the length (>= ``shift_hours`` or still
  running at ``as_of``: a level shift; else above expected).
* **cusum** (Page's CUSUM, two-sided): the hourly residual in units of the hour-of-week spread, minus its mean
  over the ``cusum_baseline_hours`` before the last ``cusum_lag_hours`` (0: against the reference itself);
  an upper / lower sum that drops what is below ``cusum_k`` and never goes below 0 alarms at ``cusum_h``.
  It is online (an alarm at an hour uses only the hours before it), so a lasting step is flagged within
  hours of its start, where the segment rule needs days; the episode runs from where the sum left 0 to
  where it returns to 0 (or ``as_of``). Vectorised: S_t = C_t - min(0, min_{s<=t} C_s), C the cumulative sum.
* **spike**: 1..``spike_max_hours`` hours far above a robust local expectation (the reference times the
  rolling median of actual / reference around the hour), in hour-of-week spreads scaled by the series' own
  median absolute residual, at least ``spike_k`` and ``spike_tail_factor`` x the series' own
  ``spike_tail_q`` quantile, and >= ``spike_min_ratio`` above the local expectation (:func:`_spikes`).
* **stuck**: the same non-zero reading ``stuck_hours`` hours in a row (and longer than ``stuck_calib`` x the
  meter's longest repeat in its reference period, column ``ref_repeat_hours``).
* **zero_missing**: ``zero_hours`` hours in a row of zero readings or no readings, right after a non-zero
  reading, while the reference expects at least ``zero_min_share`` of the series' mean and ``zero_min_kwh``;
  zero readings count only in runs longer than ``zero_calib`` x the meter's longest zero run in its
  reference period (column ``ref_zero_hours``).

Per-meter calibration: :class:`~services.lib.hotspots.reference_model.ReferenceModel` measures the meter's
normal on its reference period; the optional columns carry it (absent: uncalibrated).

One fault, one episode: findings of one series that overlap or touch (within ``merge_gap_hours``) are merged
into one hotspot; it keeps the strongest finding's fault name and lists the others in ``evidence.also``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from services.lib.hotspots.config import Hotspot

__all__ = ["FAULTS", "KIND_OF", "ReferenceConfig", "detect_reference", "segment_calibration", "series_findings"]

FAULTS = ("above_expected", "spike", "level_shift_up", "level_shift_down", "drift", "stuck", "zero_missing",
          "baseload_creep", "warm_weather_heating")
KIND_OF = {"above_expected": "above_expected", "spike": "spike", "level_shift_up": "level_shift_up",
           "level_shift_down": "level_shift_down", "drift": "level_shift_up", "stuck": "stuck_meter",
           "zero_missing": "silent_meter", "baseload_creep": "above_expected",
           "warm_weather_heating": "above_expected"}
"""The stored hotspot kind of each fault name (the contracts' kinds; the fault name is ``evidence.fault``). A
level shift says its direction; a drift is ``level_shift_up`` or ``level_shift_down`` by its sign."""
HOUR = pd.Timedelta(hours=1)


@dataclass(frozen=True)
class ReferenceConfig:
    """Thresholds of :func:`detect_reference`. ``z`` and ``min_effect`` are per channel
    (``all``/``off_hours``/``warm``); ``sensitivity`` scales every z, k and minimum duration (``{site: x}``,
    ``"*"`` default; ``rule_sensitivity``: ``{rule: x}``, rules ``all``, ``off_hours``, ``warm``, ``cusum``, ``spike``,
    ``stuck``, ``zero``), > 1 = fewer, stronger alerts.

    Defaults: chosen by ``bench/hotspots.py`` on the TUNE split only (round 3, 2026-12-07 evening): the best
    tune event F1 within 0.2 false alarms per meter-month (docs/hotspot-detection.md). The spike rule judges
    an hour against a robust local level (for referenced series it replaces the day-ahead spikes); the CUSUM
    and the segment rule's per-meter calibration (``z_calib``) are off: neither won on TUNE."""

    z: Mapping[str, float] = field(default_factory=lambda: {"all": 6.0, "off_hours": 15.0, "warm": 6.0})
    min_effect: Mapping[str, float] = field(default_factory=lambda: {"all": 0.2, "off_hours": 0.1, "warm": 0.1})
    min_segment_hours: int = 24
    block_hours: int = 24
    """The segment rule works on means of blocks of this many hours (24: one value per day)."""
    shift_hours: int = 168
    drift_gain: float = 0.7
    flip_leading: bool = True
    """A best segment that starts with the scanned window is read as the change at its end (the level after
    it is the finding), not as a fault that ended there."""
    """A segment is a drift when a ramp's squared error is below this share of a step's."""
    warm_c: float = 15.0
    cusum_k: float = 0.25
    """CUSUM allowance (in spreads per hour); inf = the rule is off."""
    cusum_h: float = math.inf
    """CUSUM alarm level; inf (the default chosen on TUNE, 2026-12-07): off. With the day-ahead rules' false
    alarms counted, no h of 100..500 kept the TUNE total within 0.2 per meter-month; h 150 finds much more
    (docs/hotspot-detection.md) for about 0.09 more false alarms per meter-month."""
    cusum_baseline_hours: int = 0
    cusum_lag_hours: int = 24
    cusum_min_sd: float = 0.05
    """The spread used is at least this share of the series' mean reference."""
    cusum_min_effect: float = 0.0
    """An alarmed episode is kept when its (actual - reference) / reference has this size, in its direction."""
    """The spread used is at least this share of the series' mean reference."""
    spike_k: float = 8.0
    spike_min_ratio: float = 0.3
    spike_max_hours: int = 3
    spike_window_hours: int = 25
    """The spike rule's local expectation: the reference times the rolling median of actual / reference over
    this many hours around the hour (a robust local level: one to three spike hours do not move it)."""
    spike_tail_q: float = 0.995
    spike_tail_factor: float = 2.0
    """Per-meter tail calibration: the spike threshold is at least this x the series' own ``spike_tail_q``
    quantile of the standardised local residual (a meter with heavy tails needs a bigger excursion)."""
    z_calib: Mapping[str, float] = field(default_factory=dict)
    """Per-meter calibration of the segment rule: a channel's z must also reach this x the meter's own 90 %
    quantile of best-segment |z| over the 4-week windows of its reference period (:func:`segment_calibration`,
    columns ``ref_z_all`` / ``ref_z_off_hours``), per channel; absent or 0 = off."""
    stuck_hours: float = 24
    stuck_min_share: float = 0.05
    stuck_calib: float = 1.5
    """Per-meter calibration: a run must also be longer than this x the meter's longest repeated reading in
    its reference period (column ``ref_repeat_hours``, from :attr:`ReferenceModel.repeat_hours`); 0 = off."""
    zero_calib: float = 1.5
    """... and zero readings count only in runs longer than this x the meter's longest zero run in the
    reference period (column ``ref_zero_hours``); 0 = off."""
    zero_hours: float = 12
    zero_reading_hours: Mapping[str, float] = field(default_factory=lambda: {"natural_gas": 48.0, "*": 0.0})
    """Zero *readings* count toward zero_missing only in runs of at least this many hours (gas: boilers are
    off for nights and weekends, so zeros are normal; a missing row always counts)."""
    zero_min_share: float = 0.2
    zero_min_kwh: float = 0.5
    """... and at least this many kWh per hour."""
    merge_gap_hours: int = 6
    sensitivity: Mapping[str, float] = field(default_factory=lambda: {"*": 1.0})
    rule_sensitivity: Mapping[str, float] = field(default_factory=dict)

    def scale(self, site: str, rule: str) -> float:
        s = float(self.sensitivity.get(site, self.sensitivity.get("*", 1.0)))
        return s * float(self.rule_sensitivity.get(rule, 1.0))


@dataclass
class Finding:
    fault: str
    start: int  # hour index into the series grid
    end: int    # exclusive
    score: float  # statistic / its threshold (>= 1)
    evidence: dict[str, Any]


def _runs(flag: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = np.diff(np.r_[0, flag.astype(np.int8), 0])
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def _best_segment(v: np.ndarray, min_len: int) -> tuple[int, int, float, float] | None:
    """Best epidemic segment [i, j) of the block values ``v``: (i, j, z, effect)."""
    n = len(v)
    if n < 2 * min_len:
        return None
    c = np.r_[0.0, np.cumsum(v)]
    i, j = np.triu_indices(n + 1, k=min_len)
    n_in = (j - i).astype(float)
    n_out = n - n_in
    keep = n_out >= min_len
    i, j, n_in, n_out = i[keep], j[keep], n_in[keep], n_out[keep]
    s_in = c[j] - c[i]
    m_in, m_out = s_in / n_in, (c[n] - s_in) / n_out
    d = np.diff(v)
    sigma = max(1.4826 * float(np.median(np.abs(d - np.median(d)))) / np.sqrt(2), 1e-3)
    z = (m_in - m_out) / (sigma * np.sqrt(1 / n_in + 1 / n_out))
    b = int(np.argmax(np.abs(z)))
    return int(i[b]), int(j[b]), float(z[b]), float(m_in[b] - m_out[b])


def _ramp_gain(v: np.ndarray, i: int, j: int, outside: float) -> float:
    """Squared error of a ramp from the outside level vs of a step, inside [i, j)."""
    seg = v[i:j] - outside
    x = np.arange(1, j - i + 1, dtype=float)
    slope = float(seg @ x / (x @ x))
    sse_ramp = float(np.sum((seg - slope * x) ** 2))
    sse_step = float(np.sum((seg - seg.mean()) ** 2))
    return sse_ramp / sse_step if sse_step > 0 else 1.0


def _channels(a: np.ndarray, ref: np.ndarray, temp: np.ndarray, hours: pd.DatetimeIndex, gas: bool,
              cfg: ReferenceConfig) -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
    """Per channel: the residual as a share of the channel's mean reference, in blocks of ``block_hours``
    (values of the blocks with a reading, their block numbers, the number of blocks)."""
    valid = ~np.isnan(a)
    scale = max(float(np.nanmean(ref)), 1e-6)
    hod, dow = hours.hour.to_numpy(), hours.day_of_week.to_numpy()
    off = (dow >= 5) | (hod < 7) | (hod >= 19)
    channels = {"all": np.ones(len(a), bool), "off_hours": off}
    if gas:
        channels["warm"] = temp > cfg.warm_c
    res = np.where(valid, a - ref, 0.0)
    out = {}
    block = np.arange(len(a)) // cfg.block_hours
    nb = int(block[-1]) + 1 if len(a) else 0
    for name, mask in channels.items():
        use = valid & mask
        cnt = np.bincount(block, use.astype(float), nb)
        ch_scale = scale if name != "off_hours" else max(float(np.nanmean(np.where(off, ref, np.nan))), 1e-6)
        val = np.bincount(block, np.where(use, res, 0.0), nb) / np.maximum(cnt, 1) / ch_scale
        have = np.flatnonzero(cnt > 0)
        out[name] = (val[have], have, nb)
    return out


def segment_calibration(a: np.ndarray, ref: np.ndarray, temp: np.ndarray, hours: pd.DatetimeIndex, gas: bool,
                        window_days: int = 28, step_days: int = 7) -> dict[str, float]:
    """Per-meter calibration of the segment rule on the reference period (complete hourly grid ``hours``):
    the 90 % quantile, over its 4-week windows (a week apart), of the best segment's |z| per channel (all
    hours, out of hours): how far this meter's own normal weeks wander. :func:`detect_reference` takes it
    as columns ``ref_z_all`` / ``ref_z_off_hours`` and holds each channel to ``z_calib`` x it."""
    cfg = ReferenceConfig()
    out = {}
    for name, (v, have, _nb) in _channels(a, ref, temp, hours, gas, cfg).items():
        if name == "warm":
            continue
        zs = []
        for w0 in range(0, max(int(have[-1]) + 1 if len(have) else 0, 0) - window_days + 1, step_days):
            inside = (have >= w0) & (have < w0 + window_days)
            best = _best_segment(v[inside], 1) if inside.sum() >= window_days // 2 else None
            if best is not None:
                zs.append(abs(best[2]))
        if zs:
            out[name] = round(float(np.quantile(zs, 0.9)), 3)
    return out


def _segments(site: str, a: np.ndarray, ref: np.ndarray, temp: np.ndarray, hours: pd.DatetimeIndex,
              gas: bool, cfg: ReferenceConfig, zcal: Mapping[str, float] | None = None) -> list[Finding]:
    out = []
    for name, (v_, have, nb) in _channels(a, ref, temp, hours, gas, cfg).items():
        val = np.zeros(nb)
        val[have] = v_
        min_len = max(1, int(np.ceil(cfg.min_segment_hours / cfg.block_hours * len(have) / max(nb, 1))))
        best = _best_segment(val[have], min_len)
        if best is None:
            continue
        i, j, z, eff = best
        if i == 0 and j < len(have) and cfg.flip_leading:
            # the window's start is no change point: a segment from it is the level *before* a change at j
            i, j, z, eff = j, len(have), -z, -eff
        thr_z = max(cfg.z[name], cfg.z_calib.get(name, 0.0) * (zcal or {}).get(name, 0.0)) * cfg.scale(site, name)
        if abs(z) < thr_z or abs(eff) < cfg.min_effect[name] or (name == "warm" and eff < 0):
            continue
        start, end = int(have[i]) * cfg.block_hours, min((int(have[j - 1]) + 1) * cfg.block_hours, len(a))
        v = val[have]
        outside = float((v[:i].sum() + v[j:].sum()) / max(len(v) - (j - i), 1))
        gain = _ramp_gain(v, i, j, outside)
        up = eff > 0
        if name == "off_hours":
            fault = "baseload_creep" if up else "level_shift_down"
        elif name == "warm":
            fault = "warm_weather_heating"
        elif gain < cfg.drift_gain and j - i >= 4:
            fault = "drift"
        elif not up:
            fault = "level_shift_down"
        elif end - start >= cfg.shift_hours or end >= len(a):
            fault = "level_shift_up"
        else:
            fault = "above_expected"
        ev = {"channel": name, "z": round(z, 2), "threshold_z": round(thr_z, 2), "effect_ratio": round(eff, 4),
              "threshold_effect": cfg.min_effect[name], "ramp_vs_step_error": round(gain, 3),
              "actual_kwh": round(float(np.nansum(a[start:end])), 3),
              "reference_kwh": round(float(ref[start:end].sum()), 3)}
        out.append(Finding(fault, start, end, abs(z) / max(thr_z, 1e-9), ev))
    return out


def _cusum(site: str, a: np.ndarray, ref: np.ndarray, spread: np.ndarray, cfg: ReferenceConfig) -> list[Finding]:
    """Two-sided CUSUM of the standardised residual (module docstring)."""
    n = len(a)
    h = cfg.cusum_h * cfg.scale(site, "cusum")
    if not math.isfinite(cfg.cusum_k) or not math.isfinite(h) or n == 0:
        return []
    valid = ~np.isnan(a)
    scale = max(float(np.nanmean(ref)), 1e-6)
    z = np.where(valid, (np.where(valid, a, 0.0) - ref) / np.maximum(spread, cfg.cusum_min_sd * scale), 0.0)
    mu = np.zeros(n)
    if cfg.cusum_baseline_hours > 0:
        cz, cn = np.r_[0.0, np.cumsum(z)], np.r_[0, np.cumsum(valid)]
        t = np.arange(n)
        hi = np.clip(t - cfg.cusum_lag_hours, 0, n)
        lo = np.clip(hi - cfg.cusum_baseline_hours, 0, n)
        cnt = cn[hi] - cn[lo]
        mu = np.where(cnt >= 24, (cz[hi] - cz[lo]) / np.maximum(cnt, 1), 0.0)
    out = []
    for sign in (1.0, -1.0):
        c = np.cumsum(np.where(valid, sign * (z - mu) - cfg.cusum_k, 0.0))
        s = c - np.minimum(0.0, np.minimum.accumulate(c))
        pos = s > 0
        starts, ends = _runs(pos)
        run = np.cumsum(pos & ~np.r_[False, pos[:-1]]) - 1
        for r in np.unique(run[s >= h]):
            x, y = int(starts[r]), int(ends[r])
            first = x + int(np.argmax(s[x:y] >= h))
            up = sign > 0
            eff = (float(np.nansum(a[x:y])) - float(ref[x:y][valid[x:y]].sum())) / max(float(ref[x:y].sum()), 1e-6)
            if sign * eff < cfg.cusum_min_effect:
                continue
            fault = ("level_shift_up" if y - x >= cfg.shift_hours or y >= n else "above_expected") if up \
                else "level_shift_down"
            out.append(Finding(fault, x, y, 0.999, {
                "channel": "cusum", "side": "up" if up else "down", "alarm_after_hours": first - x, "peak_sum": round(
                    float(s[x:y].max()), 2), "threshold_h": round(h, 2), "k": cfg.cusum_k,
                "effect_ratio": round(eff, 4),
                "actual_kwh": round(float(np.nansum(a[x:y])), 3), "reference_kwh": round(float(ref[x:y].sum()), 3)}))
    return out


def _spikes(site: str, a: np.ndarray, ref: np.ndarray, spread: np.ndarray, cfg: ReferenceConfig) -> list[Finding]:
    """1..``spike_max_hours`` hours far above a robust local expectation: the reference times the rolling
    median of actual / reference around the hour (the day's level, which a few spike hours do not move),
    in units of the hour-of-week spread times a per-meter factor: the median absolute standardised residual
    of the series itself (/0.6745), so a meter that is noisier than its reference period says is held to
    its own noise (per-meter calibration)."""
    k = cfg.spike_k * cfg.scale(site, "spike")
    if not math.isfinite(k) or len(a) < 24:
        return []
    valid = ~np.isnan(a)
    scale = max(float(np.nanmean(ref)), 1e-6)
    base = np.maximum(ref, 0.1 * scale)
    level = pd.Series(np.where(valid, a, np.nan) / base).rolling(
        cfg.spike_window_hours, center=True, min_periods=6).median().fillna(1.0).to_numpy(float)
    e = base * level
    s = np.maximum(spread * level, 0.02 * scale)
    z = np.where(valid, (np.where(valid, a, 0.0) - e) / s, 0.0)
    calib = max(float(np.median(np.abs(z[valid]))) / 0.6745, 1.0) if valid.any() else 1.0
    z = z / calib
    tail = float(np.quantile(z[valid], cfg.spike_tail_q)) if valid.any() else 0.0
    k = max(k, cfg.spike_tail_factor * tail)
    diff = np.where(valid, a - e, 0.0)
    spike = valid & (z >= k) & (diff >= cfg.spike_min_ratio * e)
    out = []
    for x, y in zip(*_runs(spike), strict=True):
        if y - x <= cfg.spike_max_hours:
            peak = x + int(np.argmax(z[x:y]))
            out.append(Finding("spike", int(x), int(y), float(z[peak] / k),
                               {"peak_actual_kwh": round(float(a[peak]), 3),
                                "peak_local_expected_kwh": round(float(e[peak]), 3),
                                "peak_z": round(float(z[peak]), 2), "meter_noise_factor": round(calib, 3),
                                "threshold_k": k}))
    return out


def series_findings(site: str, act: str, a: np.ndarray, ref: np.ndarray, spread: np.ndarray, temp: np.ndarray,
                    hours: pd.DatetimeIndex, cfg: ReferenceConfig,
                    calib: tuple[float, float] = (0.0, 0.0), zcal: Mapping[str, float] | None = None) -> list[Finding]:
    """Every finding of one series on its complete hourly grid ``hours`` (``a`` NaN where missing);
    ``calib``: the meter's longest repeated-reading and zero runs in its reference period (hours)."""
    found = _segments(site, a, ref, temp, hours, act == "natural_gas", cfg, zcal) + _cusum(site, a, ref, spread, cfg)
    scale = max(float(np.nanmean(ref)), 1e-6)
    valid = ~np.isnan(a)
    found += _spikes(site, a, ref, spread, cfg)
    same = np.zeros(len(a), bool)
    same[1:] = valid[1:] & valid[:-1] & (a[1:] == a[:-1]) & (np.abs(a[1:]) >= cfg.stuck_min_share * scale)
    member = same | np.r_[same[1:], False]
    for x, y in zip(*_runs(member), strict=True):
        need = max(cfg.stuck_hours, cfg.stuck_calib * calib[0]) * cfg.scale(site, "stuck")
        if y - x >= need:
            found.append(Finding("stuck", int(x), int(y), (y - x) / need,
                                 {"stuck_value_kwh": float(a[x]), "hours": int(y - x), "threshold_hours": need}))
    zero = valid & (a == 0)
    long_zero = np.zeros(len(a), bool)
    min_zero = max(float(cfg.zero_reading_hours.get(act, cfg.zero_reading_hours.get("*", 0.0))),
                   cfg.zero_calib * calib[1])
    for x, y in zip(*_runs(zero), strict=True):
        long_zero[x:y] = y - x >= min_zero
    dead = ~valid | long_zero
    for x, y in zip(*_runs(dead), strict=True):
        need = cfg.zero_hours * cfg.scale(site, "zero")
        after_reading = x > 0 and valid[x - 1] and a[x - 1] > 0  # a meter dead all along is no new fault
        if y - x >= need and after_reading and ref[x:y].mean() >= max(cfg.zero_min_share * scale, cfg.zero_min_kwh):
            found.append(Finding("zero_missing", int(x), int(y), (y - x) / need,
                                 {"hours": int(y - x), "missing_hours": int((~valid[x:y]).sum()),
                                  "zero_hours": int((valid[x:y] & (a[x:y] == 0)).sum()),
                                  "reference_kwh": round(float(ref[x:y].sum()), 3), "threshold_hours": need}))
    return found


def merge(found: list[Finding], gap: int) -> list[Finding]:
    """One fault, one episode: findings that overlap or touch within ``gap`` hours become one."""
    if not found:
        return []
    found = sorted(found, key=lambda f: f.start)
    groups: list[list[Finding]] = [[found[0]]]
    end = found[0].end
    for f in found[1:]:
        if f.start <= end + gap:
            groups[-1].append(f)
            end = max(end, f.end)
        else:
            groups.append([f])
            end = f.end
    out = []
    for grp in groups:
        lead = max(grp, key=lambda f: f.score)
        ev = {**lead.evidence, "also": [{"fault": f.fault, "start": f.start, "end": f.end} for f in grp
                                        if f is not lead]}
        out.append(Finding(lead.fault, min(f.start for f in grp), max(f.end for f in grp), lead.score, ev))
    return out


def detect_reference(frame: pd.DataFrame, *, as_of: pd.Timestamp | None = None,
                     config: ReferenceConfig | None = None) -> list[Hotspot]:
    """Hotspots against the reference of every (site, meter, activity type) of ``frame`` (columns site,
    activity_type, timestamp (tz-aware), actual, reference, spread, temperature; optional meter,
    kg_per_kwh and the per-meter calibration ref_repeat_hours, ref_zero_hours, ref_z_all, ref_z_off_hours). The grid of a series runs from its first row to ``as_of`` (default: last hour + 1 h)."""
    cfg = config or ReferenceConfig()
    missing = {"site", "activity_type", "timestamp", "actual", "reference", "spread", "temperature"} - set(frame)
    if missing:
        raise ValueError(f"missing columns: {sorted(missing)}")
    if frame.empty:
        return []
    df = frame.assign(meter=frame.get("meter", ""))
    end = as_of if as_of is not None else df["timestamp"].max() + HOUR
    out: list[Hotspot] = []
    for (site, meter, act), grp in df.groupby(["site", "meter", "activity_type"], sort=True):
        hours = pd.date_range(grp["timestamp"].min(), end - HOUR, freq="h")
        g = grp.set_index("timestamp").reindex(hours)
        ref = g["reference"].interpolate(limit_direction="both").to_numpy(float)
        spread = g["spread"].interpolate(limit_direction="both").to_numpy(float)
        temp = g["temperature"].interpolate(limit_direction="both").to_numpy(float)
        a = g["actual"].to_numpy(float)
        kg = float(grp["kg_per_kwh"].mean()) if "kg_per_kwh" in grp else None
        calib = tuple(float(grp[c].max()) if c in grp and grp[c].notna().any() else 0.0
                      for c in ("ref_repeat_hours", "ref_zero_hours"))
        zcal = {c[6:]: float(grp[c].max()) for c in ("ref_z_all", "ref_z_off_hours") if c in grp and grp[c].notna().any()}
        found = merge(series_findings(str(site), str(act), a, ref, spread, temp, hours, cfg, calib, zcal),  # type: ignore[arg-type]
                      cfg.merge_gap_hours)
        for f in found:
            excess = float(np.nansum(a[f.start:f.end]) - ref[f.start:f.end].sum())
            eff = abs(excess) / max(float(ref[f.start:f.end].sum()), 1e-6)
            sev = "critical" if eff >= 1 else "high" if eff >= 0.5 else "medium" if eff >= 0.2 else "low"
            ev = {**f.evidence, "fault": f.fault, "expectation": "reference", "score": round(f.score, 3),
                  "also": [{**x, "start": hours[x["start"]].isoformat(), "end": (hours[x["end"] - 1] + HOUR)
                            .isoformat()} for x in f.evidence.get("also", [])]}
            kind = KIND_OF[f.fault] if f.fault != "drift" or excess >= 0 else "level_shift_down"
            out.append(Hotspot(kind, str(site), str(meter), str(act), hours[f.start].to_pydatetime(),
                               (hours[f.end - 1] + HOUR).to_pydatetime(), bool(f.end >= len(hours)), sev,
                               round(excess, 3), round(excess * kg, 3) if kg is not None else None,
                               "reference", ev))
    return out
