"""The estate bench's printed summary and its JSON (``bench/estate.py``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import pandas as pd  # noqa: E402

from bench.harness import ratio  # noqa: E402

YEAR = 2020
START, END = pd.Timestamp(f"{YEAR}-01-01", tz="UTC"), pd.Timestamp(f"{YEAR + 1}-01-01", tz="UTC")
HOLDOUT_END = START + pd.Timedelta(days=28)  # the training step's holdout (its test split)


def report(r: dict[str, Any]) -> str:
    ing, tr, fi, sc = r["ingest"], r["train"], r["fill"], r["scan"]
    hourly = tr["hourly"]
    lines = [f"\nEstate: {r['meters']['hourly']:,} hourly + {r['meters']['halfhourly']:,} half-hourly meters "
             f"({r['sites']['hourly_grid']:,} sites) + {r['meters']['monthly']} monthly bills, {YEAR}; "
             f"{r['db']}; load before {r['loadavg_before']:.1f}",
             f"{'step':10}{'wall s':>10}{'anchor s':>10}{'ratio':>8}  {'goal':28}{'bench MiB':>10}{'data core MiB':>14}"
             f"{'others MiB':>11}{'bench CPU s':>12}{'data core CPU s':>16}"]

    def row(step: str, wall: float, anchor: float | None, goal: str, mem: dict[str, Any]) -> None:
        a = f"{anchor:10.1f}{ratio(wall, anchor):8.2f}" if anchor else f"{'':10}{'':8}"
        lines.append(f"{step:10}{wall:10.1f}{a}  {goal:28}{mem.get('bench_peak_mib', 0):10.0f}"
                     f"{mem.get('data_core_peak_mib', 0):14.0f}{mem.get('other_children_peak_mib', 0):11.0f}"
                     f"{mem.get('bench_cpu_s', 0):12.0f}{mem.get('data_core_cpu_s', 0):16.0f}")

    row("ingest", ing["real_s"], ing["floor_s"], f"<= 1.5x floor: {'met' if ing['ratio'] <= 1.5 else 'MISSED'}", ing)
    lines[-1] += f"   (floor process {ing['floor_peak_mib']:.0f} MiB)"
    row("train", tr["seconds"], None, f"<= 900 s: {'met' if tr['seconds'] <= 900 else 'MISSED'}", tr)
    row("fill", fi["seconds"], None, "", fi)
    full = sc["runs"][-1]
    row("scan", full["wall_s"], None, f"<= 600 s: {'met' if full['wall_s'] <= 600 else 'MISSED'}", full)
    if "dask" in sc:
        row("scan dask", sc["dask"]["wall_s"], full["wall_s"], f"identical: {sc['dask_identical']}", sc["dask"])
    lines.append(f"\ningest: {ing['rows']:,} rows in {ing['files']} files ({ing['mib']:.0f} MiB); kg CO2e real "
                 f"{ing['kg_co2e']:,.0f} vs floor {ing['floor_kg_co2e']:,.0f}")
    if hourly.get("refused"):
        lines.append(f"train: REFUSED ({hourly['refused']}); every hourly-grid site filled by the fallback")
    else:
        lines.append(f"train: from {hourly['train_start']}, {hourly['seconds']:.0f} s ({hourly['cpu_s']:.0f} CPU s); the model holds {hourly['held']} "
                     f"of {hourly['sites_per_type']} sites per activity type; holdout {START.date()} .. "
                     f"{HOLDOUT_END.date()} (test split): " + ", ".join(f"{k} {v:.3g}" for k, v in hourly["metrics"].items()))
    if "accuracy_cost" in tr:
        c = tr["accuracy_cost"]
        lines.append(f"train sample cost ({c['sites']} sites, same holdout): full year MAE "
                     f"{c['full'].get('metrics', {}).get('holdout_mae')} in {c['full']['seconds']:.0f} s vs sample "
                     f"{c['sample'].get('metrics', {}).get('holdout_mae')} in {c['sample']['seconds']:.0f} s")
    m = tr["monthly"]
    lines.append(f"train monthly: {m['fitted']} of {m['meters']} bill meters fitted in {m['seconds']:.2f} s")
    lines.append(f"fill: {fi['model_rows']:,} expected values from the model ({fi['sites_on_model']} of {fi['sites']} "
                 f"sites), {fi['fallback_rows']:,} from the week-ago fallback; predict {fi['predict_s']:.0f} s, store "
                 f"{fi['store_s']:.0f} s; {fi['bills']} bills in {fi['bills_s']:.2f} s")
    lines.append("scan (default runner, 2 threads): " + "; ".join(
        f"{x['meters']} meters {x['wall_s']:.1f} s ({x['rows']:,} meter-hours, {x['hotspots']} hotspots)" for x in sc["runs"]))
    lines.append(f"scan slope: {sc['slope_s_per_meter'] * 1000:.1f} ms per meter (+ {sc['intercept_s']:.1f} s); "
                 f"linearity (time ratio / meter ratio, 1 = linear): {sc.get('linearity', float('nan')):.2f}")
    lines.append(f"monthly scan: {r['monthly_scan']['hotspots']} hotspots in {r['monthly_scan']['bills']} bills, "
                 f"{r['monthly_scan']['seconds']:.2f} s")
    return "\n".join(lines)


def finish(result: dict[str, Any], args: argparse.Namespace) -> None:
    """Drop what does not serialise and write the JSON."""
    if "train" not in result:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2, default=str))
        print(f"total {result['total_s']:.0f} s; wrote {args.json}")
        return
    for step in ("train",):
        result[step]["hourly"].pop("bundle", None)
        result[step]["monthly"].pop("models", None)
    result["fill"].pop("bill_expected", None)
    for run in result["scan"]["runs"] + ([result["scan"]["dask"]] if "dask" in result["scan"] else []):
        run["found"] = len(run["found"])
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, default=str))
    print(f"total {result['total_s']:.0f} s; wrote {args.json}")
