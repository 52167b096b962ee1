"""Monthly bills as the ``monthly-bills`` flow judges them: each bill by the degree-day model fitted on the
bills of the year before it (``services.lib.expected.bills.judge_meter``, rolling), at the flow's level (0.99,
chosen on the tune split by ``bench/monthly.py``), on held-out buildings.

Evaluation set: ``bench/monthly_eval.py`` (bills from the 40 Cambridge buildings' real hourly meters on their own
read dates, Bedford weather, the committed tune/test building split, faults of four shapes on one test bill of
each meter, test bills January-March 2020). A fault changes only its own bill and each bill is judged by the
bills before it, so the faulty bill's interval is the clean run's: a fault is caught when the faulty kWh is
above the upper bound of its bill in the clean run (one rolling run per meter, exactly what the flow does).

Reported per split (figures: test): the share of test bills the flow judges, the share of clean test bills
flagged, the share of each fault shape caught; and the time of the rolling judgement of one meter (every bill
its own baseline, as the flow stores them) next to its anchor, one fit on the baseline and one prediction of the
test bills (``bench/monthly.py``'s path), as a ratio.

    .venv/bin/python bench/monthly_flow.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import md_header, md_row, ratio  # noqa: E402
from bench.monthly_eval import FAULTS, SEED, inject, meters, split, temperature  # noqa: E402
from services.lib.expected.bills import LEVEL, judge_meter  # noqa: E402
from services.lib.expected.degree_days import fit  # noqa: E402


def _utc(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(period_start=frame["period_start"].dt.tz_localize("UTC"),
                        period_end=frame["period_end"].dt.tz_localize("UTC"))


def main() -> None:
    temp = temperature()
    utc_temp = temp.tz_localize("UTC") if temp.index.tz is None else temp
    parts = split()
    where = {b: name for name in ("tune", "test") for b in parts[name]}
    rng = np.random.default_rng(SEED)
    stats: dict[str, dict[str, list]] = {s: {"judged": [], "clean": [], **{f: [] for f in FAULTS}} for s in where.values()}
    rolling_s, anchor_s = 0.0, 0.0
    all_meters = meters()
    for m in all_meters:
        bills = pd.concat([m.baseline, m.test], ignore_index=True)
        t0 = time.perf_counter()
        judged = judge_meter(_utc(bills), utc_temp, level=LEVEL)
        rolling_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        fit(m.baseline, temp).predict(m.test, temp, LEVEL)  # meters() has at least 9 baseline bills
        anchor_s += time.perf_counter() - t0
        test = judged.iloc[len(m.baseline):].reset_index(drop=True)
        s = stats[where[m.building]]
        ok = test["upper"].notna()
        s["judged"].extend(ok.tolist())
        s["clean"].extend((test.loc[ok, "kwh"] > test.loc[ok, "upper"]).tolist())
        for fault in FAULTS:
            faulty, row = inject(m.test, m.baseline, fault, rng)
            if ok.iloc[row]:
                s[fault].append(bool(faulty.at[row, "kwh"] > test.at[row, "upper"]))
    print(f"{len(all_meters)} meters; level {LEVEL} (chosen on tune by bench/monthly.py)\n")
    print(md_header(["split", "test bills judged", "clean bills flagged", *[f"{f} caught" for f in FAULTS]]))
    for name in ("tune", "test"):
        s = stats[name]
        print(md_row([name, f"{np.mean(s['judged']):.1%} of {len(s['judged'])}", f"{np.mean(s['clean']):.1%}",
                      *[f"{np.mean(s[f]):.1%}" for f in FAULTS]]))
    print(f"\nrolling judgement (the flow): {rolling_s / len(all_meters):.2f} s per meter; anchor (one fit + "
          f"prediction): {anchor_s / len(all_meters):.2f} s per meter; ratio {ratio(rolling_s, anchor_s):.1f}x")


if __name__ == "__main__":
    main()
