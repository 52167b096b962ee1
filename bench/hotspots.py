"""Held-out evaluation of hotspot detection against the reference expectation (issue #18).

    PYTHONPATH=. python bench/hotspots.py [--target 0.2] [--quick] [--split tune|test] [--defaults]

The set is ``bench/hotspots_split.json`` (written before the detector by ``bench/hotspots_cases.py``):
564 meter-windows of the Cambridge buildings, 9 fault kinds at 10-80 %, in 4-week windows 2019-07-01 ..
2020-03-09. TUNE (496): the first split's cases and the first two TEST splits' (origin test-1, test-2: their
figures were published). TEST (68, the third, written 2026-12-07 evening before round 3's detection changes):
the 45 (building, window) pairs no tune case used, seed 1813. Steps:

1. Fit every meter's reference baseline (:mod:`services.lib.hotspots.reference_model`) on 2019-01-01 .. 06-30 only.
2. Choose thresholds on the TUNE cases only: per rule, the most sensitive value of a grid whose false alarms
   per meter-month on tune stay within its share of ``--target`` (greedy, rule by rule); the CUSUM and the
   out-of-hours segment jointly (highest tune recall within the whole target); then what is left of the
   target to the other rules. ``--defaults`` skips this and reports ``ReferenceConfig()``'s defaults.
3. Report on TUNE, and on TEST only with ``--split test`` (run once tuning is finished): recall per fault kind and magnitude, precision, event F1, false alarms per
   meter-month and the median detection delay of sustained faults (the scan re-run as if it had run with
   ``as_of`` = fault start + 6 h, 12 h, 24 h, 48 h, 72 h, 120 h, 168 h, 336 h: the first that finds it).

Every case is scanned as ``hotspot-scan`` scans a series with a reference: the day-ahead rules
(``detect``, production defaults) on the day-ahead stand-in of ``bench/hotspots_data.day_ahead`` and the
reference rules, combined by ``reference_scan.combine``.

Scoring: a fault is found when a hotspot of its meter-window overlaps [fault start, fault end + 24 h);
the kind is right when the hotspot's ``evidence.fault`` names it. A hotspot that overlaps no fault is a
false alarm (a clean meter-window is 28 days = 0.92 meter-months). Event precision = hotspots on a fault /
hotspots; F1 from event recall and precision. ``--quick`` skips the delay runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.harness import md_header, md_row, use_offline_env  # noqa: E402
from bench.hotspots_data import case_frame, load, read_split  # noqa: E402
from services.lib.hotspots.config import Hotspot  # noqa: E402
from services.lib.hotspots.detect import detect  # noqa: E402
from services.lib.hotspots.reference_rules import FAULTS, ReferenceConfig, detect_reference  # noqa: E402
from services.lib.hotspots.reference_scan import combine  # noqa: E402

MONTH_DAYS = 30.44
DELAYS_H = (6, 12, 24, 48, 72, 120, 168, 336)
SUSTAINED = ("above_expected", "level_shift_up", "level_shift_down", "drift", "stuck", "baseload_creep",
             "warm_weather_heating")
GRID = {  # rule -> (field, candidate values from most to least sensitive)
    "all": ("z", [(z, e, 24) for z in (6.0, 8.0, 10.0, 12.0, 15.0) for e in (0.2, 0.3)]),
    "cusum": ("cusum_h", [75.0, 100.0, 150.0, 200.0, 300.0, 500.0, 1e9]),
    "off_hours": ("z", [5.0, 6.0, 7.0, 8.0, 10.0, 12.0, 15.0, 1e9]),
    "warm": ("z", [4.0, 5.0, 6.0, 7.0, 8.0, 10.0, 1e9]),
    "spike_k": ("spike_k", [4.0, 6.0, 8.0, 10.0, 15.0, 1e9]),
    "stuck_hours": ("stuck_hours", [12, 24, 48, 10**6]),
    "zero_hours": ("zero_hours", [3, 6, 12, 24, 10**6]),
}
"""The CUSUM's allowance k is 0.25 spreads per hour (a sweep of k 0.25 / 0.5 / 0.75 and of its baseline, the
reference itself vs its trailing week, on TUNE); the grid moves its alarm level h."""
JOINT = {"cusum": [100.0, 150.0, 300.0, 1e9], "off_hours": [7.0, 10.0, 15.0, 1e9]}
BUDGET = {"all": 0.2, "cusum": 0.3, "off_hours": 0.15, "warm": 0.1, "spike_k": 0.05, "stuck_hours": 0.1,
          "zero_hours": 0.1}
RULE_OF = {"spike_k": "spike", "stuck_hours": "stuck", "zero_hours": "zero_missing"}


def _set(cfg: ReferenceConfig, rule: str, value: float) -> ReferenceConfig:
    name, _ = GRID[rule]
    if rule == "all" and isinstance(value, tuple):
        z, eff, block = value
        return replace(cfg, z={**cfg.z, "all": z}, min_effect={**cfg.min_effect, "all": eff}, block_hours=block)
    if isinstance(value, tuple):
        z, eff = value
        return replace(cfg, z={**cfg.z, rule: z}, min_effect={**cfg.min_effect, rule: eff})
    if name == "z":
        return replace(cfg, z={**cfg.z, rule: value})
    return replace(cfg, **{name: value})


GAPS: dict[int, pd.DatetimeIndex] = {}
"""Hours of each case's window without a reading in the archive itself (before any injection)."""


def natural_gaps(arc, cases: list[dict]) -> None:
    for i, c in enumerate(cases):
        w0, w1 = (pd.Timestamp(x, tz="UTC") for x in c["window"])
        ser = arc.readings[c["activity_type"]][c["site"]].loc[w0:w1 - pd.Timedelta(hours=1)]
        GAPS[i] = ser.index[ser.isna().to_numpy()]


DAY_AHEAD: dict[tuple[int, pd.Timestamp], list[Hotspot]] = {}
"""The day-ahead rules' findings per (case, as_of): they do not depend on the reference thresholds."""


def fault_of(h: Hotspot) -> str:
    """The fault name of a hotspot: ``evidence.fault`` (reference rules) or the day-ahead kind."""
    return str(h.evidence.get("fault", {"silent_meter": "zero_missing", "stuck_meter": "stuck"}.get(h.kind, h.kind)))


def detect_case(i: int, frame: pd.DataFrame, as_of: pd.Timestamp, cfg: ReferenceConfig) -> list[Hotspot]:
    """What the scan finds for one series: the day-ahead rules (``detect``, production defaults, on the
    stand-in forecast) and the reference rules, combined as ``hotspot-scan`` does (``combine``)."""
    key = (i, as_of)
    if key not in DAY_AHEAD:
        DAY_AHEAD[key] = detect(frame, as_of=as_of)
    series = {(str(frame["site"].iloc[0]), "", str(frame["activity_type"].iloc[0]))}
    return combine(DAY_AHEAD[key], detect_reference(frame, as_of=as_of, config=cfg), series)


def run(frames: dict[int, pd.DataFrame], cases: list[dict], cfg: ReferenceConfig) -> pd.DataFrame:
    """One row per (case, hotspot) with whether it overlaps the case's fault; cases without hotspot get
    one row with no hotspot. A zero_missing hotspot over hours the archive itself lacks is a real data gap
    (``real_gap``): neither a false alarm nor a found fault."""
    rows = []
    for i, case in enumerate(cases):
        frame = frames.get(i)
        if frame is None:
            continue
        hs = detect_case(i, frame, pd.Timestamp(case["window"][1], tz="UTC"), cfg)
        f0 = pd.Timestamp(case["start"], tz="UTC") if case["kind"] != "clean" else None
        f1 = f0 + pd.Timedelta(hours=case["duration_h"] + 24) if f0 is not None else None
        gaps = GAPS.get(i, pd.DatetimeIndex([]))
        hs = [h for h in hs if not (fault_of(h) == "zero_missing" and len(gaps)
                                    and ((gaps >= h.period_start) & (gaps < h.period_end)).any())]
        if not hs:
            rows.append({"case": i, "hotspot": False, "on_fault": False, "fault": None, "rule": None})
        for h in hs:
            on = f0 is not None and h.period_start < f1 and h.period_end > f0
            rows.append({"case": i, "hotspot": True, "on_fault": on, "fault": fault_of(h),
                         "rule": h.evidence.get("channel", fault_of(h)) if h.evidence.get("expectation") == "reference"
                         else f"day_ahead:{h.kind}"})
    return pd.DataFrame(rows)


def score(res: pd.DataFrame, cases: list[dict], idx: list[int]) -> dict:
    meta = pd.DataFrame([cases[i] | {"case": i} for i in idx]).set_index("case")
    res = res[res["case"].isin(idx)]
    hs = res[res["hotspot"]]
    faulty = meta[meta["kind"] != "clean"]
    found = hs[hs["on_fault"]].groupby("case")["fault"].agg(list)
    faulty = faulty.assign(found=faulty.index.isin(found.index),
                           right_kind=[k in found.get(c, []) or (k == "stuck" and "zero_missing" in found.get(c, []))
                                       for c, k in zip(faulty.index, faulty["kind"], strict=True)])
    recall = float(faulty["found"].mean()) if len(faulty) else float("nan")
    precision = float(hs["on_fault"].mean()) if len(hs) else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    months = len(meta) * 28 / MONTH_DAYS
    fa = int((~hs["on_fault"]).sum())
    return {"faulty": faulty, "recall": recall, "precision": precision, "f1": f1, "false_alarms": fa,
            "fa_per_month": fa / months, "meter_months": months, "fa_by_rule": hs[~hs["on_fault"]]["rule"]
            .value_counts().to_dict(), "kind_right": float(faulty["right_kind"].mean()) if len(faulty) else 0.0}


def tune(frames: dict[int, pd.DataFrame], cases: list[dict], idx: list[int], target: float) -> ReferenceConfig:
    """Greedy, rule by rule: the most sensitive value whose false alarms stay within the rule's budget."""
    off = {r: GRID[r][1][-1] for r in GRID}  # every rule off, then switched on one by one
    cfg = replace(ReferenceConfig(), cusum_k=0.25, cusum_baseline_hours=0)
    for r, v in off.items():
        cfg = _set(cfg, r, v)
    sub = {i: frames[i] for i in idx if i in frames}
    for rule, (_, values) in GRID.items():
        best: tuple[float, ReferenceConfig, object, float] | None = None
        for v in values:
            trial = _set(cfg, rule, v)
            s = score(run(sub, cases, trial), cases, idx)
            own = s["fa_by_rule"].get(RULE_OF.get(rule, rule), 0)
            if own / s["meter_months"] <= BUDGET[rule] * target and (best is None or s["recall"] > best[0]):
                best = (s["recall"], trial, v, own / s["meter_months"])
                if not isinstance(v, tuple):  # values run from most to least sensitive: the first within budget
                    break
        if best is not None:
            cfg = best[1]
            print(f"  tune {rule} = {best[2]}: tune FA/meter-month of the rule {best[3]:.3f}, "
                  f"tune recall {best[0]:.3f}", flush=True)
    # joint pass: the CUSUM and the out-of-hours segment find much the same faults and share the false
    # alarms of the estate's natural level changes; per-rule budgets starve both, so this pair is chosen
    # jointly: the highest tune recall whose total false alarms per meter-month stay within the target
    best_j: tuple[float, ReferenceConfig, tuple] | None = None
    for h in JOINT["cusum"]:
        for zo in JOINT["off_hours"]:
            trial = _set(_set(cfg, "cusum", h), "off_hours", zo)
            s = score(run(sub, cases, trial), cases, idx)
            if s["fa_per_month"] <= target and (best_j is None or s["recall"] > best_j[0]):
                best_j = (s["recall"], trial, (h, zo, round(s["fa_per_month"], 3)))
    if best_j is not None:
        cfg = best_j[1]
        print(f"  joint cusum h, off_hours z = {best_j[2][:2]}: tune FA/meter-month {best_j[2][2]}, "
              f"tune recall {best_j[0]:.3f}", flush=True)
    # second pass: what the budgets left of the target goes to the other rules, most sensitive value first
    for rule, (_, values) in GRID.items():
        if rule in ("all", "cusum", "off_hours"):
            continue
        for v in values:
            trial = _set(cfg, rule, v)
            s = score(run(sub, cases, trial), cases, idx)
            if s["fa_per_month"] <= target:
                if trial != cfg:
                    print(f"  fill {rule} = {v}: tune FA/meter-month {s['fa_per_month']:.3f}, "
                          f"tune recall {s['recall']:.3f}", flush=True)
                cfg = trial
                break
    return cfg


def delays(arc, cases: list[dict], idx: list[int], cfg: ReferenceConfig) -> list[float]:
    out = []
    for i in idx:
        c = cases[i]
        if c["kind"] not in SUSTAINED or c["magnitude"] < 0.2:
            continue
        f0 = pd.Timestamp(c["start"], tz="UTC")
        for h in DELAYS_H:
            end = min(f0 + pd.Timedelta(hours=h), pd.Timestamp(c["window"][1], tz="UTC"))
            frame = case_frame(arc, c, end)
            if frame is None:
                break
            hs = detect_case(i, frame, end, cfg)
            if any(x.period_end > f0 for x in hs):
                out.append(float(h))
                break
            if end >= pd.Timestamp(c["window"][1], tz="UTC"):
                out.append(float("inf"))
                break
    return out


def report(s: dict, split: str) -> None:
    f = s["faulty"]
    print(f"\n{split.upper()}: {len(f)} faults, event recall {s['recall']:.3f}, precision {s['precision']:.3f}, "
          f"event F1 {s['f1']:.3f}, false alarms {s['false_alarms']} = {s['fa_per_month']:.3f} per meter-month "
          f"({s['meter_months']:.1f} meter-months), right fault name {s['kind_right']:.3f}; FA by rule "
          f"{s['fa_by_rule']}")
    tab = f.pivot_table(index="kind", columns="magnitude", values="found", aggfunc=["mean", "size"])
    print(md_header(["kind", *[f"{m:.0%}" for m in sorted(f["magnitude"].unique())], ">=20 %", "kind right"]))
    for kind in FAULTS:
        if kind not in tab.index:
            continue
        cells = []
        for m in sorted(f["magnitude"].unique()):
            n = tab.loc[kind, ("size", m)] if ("size", m) in tab.columns else 0
            cells.append(f"{tab.loc[kind, ('mean', m)]:.2f} ({int(n)})" if n == n and n else "-")
        big = f[(f["kind"] == kind) & (f["magnitude"] >= 0.2)]
        cells.append(f"{big['found'].mean():.2f} ({len(big)})")
        cells.append(f"{f[f['kind'] == kind]['right_kind'].mean():.2f}")
        print(md_row([kind, *cells]))


def main() -> None:
    use_offline_env()
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", type=float, default=0.2, help="false alarms per meter-month (tune)")
    ap.add_argument("--quick", action="store_true", help="skip the detection-delay runs")
    ap.add_argument("--split", choices=("tune", "test"), default="tune",
                    help="the split to report after tuning (test: only once tuning is finished)")
    ap.add_argument("--defaults", action="store_true",
                    help="no tuning: report ReferenceConfig()'s defaults (the thresholds an earlier run chose on tune)")
    ap.add_argument("--cusum-h", type=float, default=None,
                    help="then set the CUSUM's alarm level to this (an operating point other than the target's)")
    args = ap.parse_args()
    t = time.perf_counter()
    split = read_split()
    arc = load(split)
    cases = split["cases"]
    tune_idx = [i for i, c in enumerate(cases) if c["split"] == "tune"]
    test_idx = [i for i, c in enumerate(cases) if c["split"] == "test"]
    only_test = args.defaults and args.split == "test"  # nothing to tune: the test cases alone
    frames = {i: f for i in (test_idx if only_test else tune_idx + (test_idx if args.split == "test" else []))
              if (f := case_frame(arc, cases[i])) is not None}
    natural_gaps(arc, cases)
    print(f"references fit on {split['design']['train_period']} for {len(arc.models)} meters; "
          f"{len(frames)} cases have one ({time.perf_counter() - t:.0f} s)", flush=True)
    cfg = ReferenceConfig() if args.defaults else tune(frames, cases, tune_idx, args.target)
    if args.cusum_h is not None:
        cfg = replace(cfg, cusum_h=args.cusum_h)
    print(f"{'defaults' if args.defaults else 'chosen on tune'}: z {dict(cfg.z)}, min_effect {dict(cfg.min_effect)}, block_hours {cfg.block_hours}, "
          f"cusum k {cfg.cusum_k} h {cfg.cusum_h} baseline {cfg.cusum_baseline_hours} h, "
          f"spike_k {cfg.spike_k}, stuck_hours {cfg.stuck_hours}, zero_hours {cfg.zero_hours}")
    d = ReferenceConfig()
    fields = ("spike_k", "stuck_hours", "zero_hours", "block_hours", "cusum_k", "cusum_h", "cusum_baseline_hours")
    same = all(float(getattr(cfg, f)) == float(getattr(d, f)) or getattr(cfg, f) >= 1e6 and
               not np.isfinite(getattr(d, f)) for f in fields)
    same = same and dict(cfg.min_effect) == dict(d.min_effect) and all(cfg.z[k] == d.z[k] for k in d.z)
    print(f"ReferenceConfig() defaults {'are' if same else 'are NOT'} the thresholds chosen here")
    if not only_test:
        report(score(run({i: frames[i] for i in tune_idx if i in frames}, cases, cfg), cases, tune_idx), "tune")
    idx = tune_idx
    if args.split == "test":
        idx = test_idx
        report(score(run({i: frames[i] for i in test_idx if i in frames}, cases, cfg), cases, test_idx), "test")
    if not args.quick:
        dl = delays(arc, cases, idx, cfg)
        found = [x for x in dl if np.isfinite(x)]
        print(f"{args.split.upper()} delay, sustained faults >= 20 %: median {np.median(dl):.0f} h over {len(dl)} "
              f"faults ({len(found)} found by the end of their window; grid {DELAYS_H} h)")
    print(f"bench time {time.perf_counter() - t:.0f} s")


if __name__ == "__main__":
    main()
