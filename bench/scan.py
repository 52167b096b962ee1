"""Hotspot-scan cost: the 40 Cambridge buildings x one year hourly (electricity and gas, with expected
values), then 4x the sites, in one run; the 1x scan is the anchor of the 4x one (ideal ratio 4.0).

Set-up (timed, reported apart from the scan):

1. Data core as its own process (``python -m services.data_core.app``) on a fresh database: a SQLite file
   under ``bench/out/`` or a new PostgreSQL database (``cn_bench_<hex>``, dropped afterwards).
2. 1x: the organisation and the 40 buildings registered through the API, their 2020 hourly readings
   (``services.data_core.demo.meter_records``: electricity -> NESO hourly scope 2, gas -> DESNZ-2024 applied
   on purpose, as the demo) through ``POST /api/v1/ingest`` (text/csv body, ``Idempotency-Key``), and the
   expected values of 2020 through ``PUT /api/v1/predictions`` (the real storage path, 50,000 per request).
3. 4x: three replicas of every building (``b0-r1``, ``b0-r2``, ``b0-r3``) with the same readings and the same
   expected values are added the same way: 160 sites, 4x the rows.

Expected values: the production baseline (``services/ml_engine/training.py``, as ``bench/accuracy.py``: one
global HistGradientBoosting model per activity type, 600 trees, trained on 2019 with split-conformal 90 %
intervals from the last 8 weeks of 2019) predicts every cleaned 2020 reading in-process (day-ahead
features). Cached: ``bench/out/scan_bundle.pkl`` (the trained bundle) and
``bench/out/scan_predictions_2020.parquet``; a clean checkout trains once (about 1-2 minutes on 2 cores).
Being trained on 2019, the model sees the 2020 COVID-19 lockdown as a long level shift: the scan finds
many hotspots, which is the detector's expensive path.

Measured (after each load): the scan work of the ``hotspot-scan`` flow without the orchestration engine:
``services.lib.hotspots.scan.scan_sites`` over every site, window 2020-01-01 .. 2021-01-01 (as_of = end), in
chunks of 10 sites (as ``scan_chunk`` tasks do), sequentially and with 2 threads (the flow's thread task
runner on 2 cores). Stages per chunk (the module's own functions, timed by wrapping them in place):
residual read = HTTP ``GET /api/v1/residuals?format=csv`` (server: SQL + CSV) + client parse (read_csv,
units); emission totals = ``GET /api/v1/emissions/totals``; intensity merge; detect; rest (building the
result). A server-side breakdown of the residuals endpoint (its statement run in-process on the same
database: SQL fetch, DataFrame, CSV) and alternatives follow unless ``--no-breakdown``.

    .venv/bin/python bench/scan.py                         # SQLite, 1x then 4x
    .venv/bin/python bench/scan.py --db both               # SQLite, then PostgreSQL
    .venv/bin/python bench/scan.py --db postgresql --pg-admin-url postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pickle
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: bench.harness, services

from bench.harness import OUT, REPO, DataCore, ratio  # noqa: E402
from bench.ingest import Database, proc_status, server_process  # noqa: E402
from bench.scan_breakdown import breakdown_table, residuals_breakdown  # noqa: E402

DATA = REPO / "data" / "buildings_cambridge"
YEAR = 2020
START, END = pd.Timestamp(f"{YEAR}-01-01", tz="UTC"), pd.Timestamp(f"{YEAR + 1}-01-01", tz="UTC")
TRAIN_START = pd.Timestamp(f"{YEAR - 1}-01-01", tz="UTC")
MODEL_NAME = "carbon-baseline"
PG_ADMIN_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CARRIERS = (("electricity", "electricity", "main-electricity", []), ("gas", "natural_gas", "main-gas", ["DESNZ-2024"]))
STAGES = ["residual_http", "residual_parse", "emission_totals", "intensity", "detect", "rest", "total"]


def log(msg: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {msg}", flush=True)


# ----------------------------------------------------------------------------------- expected values


def _series_and_weather() -> tuple[dict[str, pd.DataFrame], pd.DataFrame, dict[str, float]]:
    from services.ml_engine.features import wide_to_long
    from services.ml_engine.training import prepare

    frames = []
    for carrier, activity_type, _, _ in CARRIERS:
        for year in (YEAR - 1, YEAR):
            long = wide_to_long(pd.read_csv(DATA / f"{carrier}_hourly_kwh_{year}.csv")).dropna(subset=["value"])
            frames.append(long.rename(columns={"value": "quantity"}).assign(activity_type=activity_type))
    readings = pd.concat(frames, ignore_index=True)
    weather = pd.read_csv(DATA / "context_hourly_weather_bedford_and_uk_grid_ci_2019_2020.csv")
    weather = weather.rename(columns={"datetime_utc": "timestamp"})
    weather["timestamp"] = pd.to_datetime(weather["timestamp"], utc=True)
    meta = pd.read_csv(DATA / "building_metadata.csv")
    area = dict(zip(meta["building_id"].astype(str), meta["gross_internal_area_m2"].astype(float), strict=True))
    return prepare(readings), weather, area


def expected_values(args: argparse.Namespace) -> tuple[pd.DataFrame, dict[str, Any]]:
    """[site, meter, activity_type, period_start, expected, lower, upper] of every cleaned 2020 reading."""
    from services.ml_engine.bundle import INPUT_COLUMNS
    from services.ml_engine.training import Window, holdout_inputs, predictable, train_bundle

    cache, meta_path = OUT / f"scan_predictions_{YEAR}.parquet", OUT / f"scan_predictions_{YEAR}.json"
    if cache.exists() and meta_path.exists() and not args.retrain:
        log(f"expected values: cached {cache.relative_to(REPO)}")
        return pd.read_parquet(cache), json.loads(meta_path.read_text())
    t0 = time.perf_counter()
    series, weather, area = _series_and_weather()
    window = Window(TRAIN_START, START, END)  # train on 2019 (cal = last 8 weeks), predict all of 2020
    bundle_path = args.bundle or OUT / "scan_bundle.pkl"
    fit_s = None
    if bundle_path.exists() and not args.retrain:
        log(f"expected values: bundle {bundle_path}")
        bundle = pickle.loads(bundle_path.read_bytes())  # noqa: S301 - our own cache file
    else:
        log(f"expected values: training the production baseline on {YEAR - 1} (max_iter {args.max_iter}) ...")
        t = time.perf_counter()
        bundle = train_bundle(series, weather, area, window, params={"max_iter": args.max_iter})
        fit_s = time.perf_counter() - t
        bundle_path.parent.mkdir(parents=True, exist_ok=True)
        bundle_path.write_bytes(pickle.dumps(bundle))
        log(f"expected values: trained in {fit_s:.1f} s -> {bundle_path.relative_to(REPO)}")
    inputs = holdout_inputs(series, weather, window)
    inputs = inputs[predictable(bundle, inputs)]
    t = time.perf_counter()
    pred = bundle.predict(inputs[[c for c in INPUT_COLUMNS if c in inputs.columns]])
    predict_s = time.perf_counter() - t
    out = inputs[["site", "activity_type", "timestamp"]].rename(columns={"timestamp": "period_start"})
    out = out.reset_index(drop=True)
    out[["expected", "lower", "upper"]] = pred.to_numpy()
    out.insert(1, "meter", out["activity_type"].map({a: m for _, a, m, _ in CARRIERS}))
    info = {"model": MODEL_NAME, "code": "services/ml_engine/training.py train_bundle (as bench/accuracy.py)",
            "trained_on": f"{TRAIN_START.date()} .. {START.date()} (cal: last {window.calibration_weeks} weeks)",
            "predicted": f"{START.date()} .. {END.date()}", "bundle": str(bundle_path.relative_to(REPO))
            if bundle_path.is_relative_to(REPO) else str(bundle_path),
            "max_iter": args.max_iter if fit_s is not None else "from bundle", "fit_seconds": fit_s,
            "predict_seconds": predict_s, "rows": len(out), "info": {k: str(v) for k, v in bundle.info.items()},
            "model_version": f"bench-{YEAR - 1}"}
    out.to_parquet(cache)
    meta_path.write_text(json.dumps(info, indent=2, default=str))
    log(f"expected values: {len(out):,} predicted in {predict_s:.1f} s (total {time.perf_counter() - t0:.1f} s)"
        f" -> {cache.relative_to(REPO)}")
    return out, info


# ------------------------------------------------------------------------------------------- loading


def buildings() -> list[dict[str, Any]]:
    from services.data_core.demo import demo_sites

    return [s for s in demo_sites() if str(s["id"]).startswith("b")]


def replica(site: str, r: int) -> str:
    return site if r == 0 else f"{site}-r{r}"


def readings_csv(carrier: str, replicas: list[int]) -> tuple[bytes, int]:
    from services.data_core.demo import meter_records

    base = meter_records(carrier, YEAR)
    frame = pd.concat([base.assign(site=base["site"].map(lambda s, r=r: replica(s, r))) for r in replicas],
                      ignore_index=True)
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode(), len(frame)


def check(response: httpx.Response, *ok: int) -> httpx.Response:
    if response.status_code not in ok:
        raise RuntimeError(f"{response.request.method} {response.request.url} -> {response.status_code}: "
                           f"{response.text[:800]}")
    return response


def load(server: DataCore, replicas: list[int], predictions: pd.DataFrame, info: dict[str, Any],
         batch: int) -> dict[str, Any]:
    """Register the replicas' sites, ingest their 2020 readings and store their expected values."""
    from services.data_core.demo import ORG

    out: dict[str, Any] = {"replicas": replicas}
    with httpx.Client(base_url=server.base, headers=server.auth, timeout=httpx.Timeout(None),
                      trust_env=False) as dc:
        t = time.perf_counter()
        if 0 in replicas:
            check(dc.post("/api/v1/organisations", json=ORG), 201, 409)
        for r in replicas:
            for site in buildings():
                check(dc.post("/api/v1/sites", json={**site, "id": replica(str(site["id"]), r)}), 201)
        out["sites_s"] = time.perf_counter() - t
        rows = 0
        t = time.perf_counter()
        for carrier, _, _, editions in CARRIERS:
            body, n = readings_csv(carrier, replicas)
            t1 = time.perf_counter()
            report = check(dc.post("/api/v1/ingest", content=body, params=[("editions", e) for e in editions],
                                   headers={"Content-Type": "text/csv",
                                            "Idempotency-Key": f"bench-scan-{carrier}-{YEAR}-{replicas}"}),
                           200).json()
            if report["accepted"] != n or report["rejected"] or report["duplicates"]:
                raise RuntimeError(f"{carrier}: {n} rows sent, report {report}")
            log(f"  ingest {carrier} x{len(replicas)}: {n:,} rows in {time.perf_counter() - t1:.1f} s")
            rows += n
        out["ingest_s"], out["readings"] = time.perf_counter() - t, rows
        t = time.perf_counter()
        stored = 0
        records = predictions.assign(period_start=predictions["period_start"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
        for r in replicas:
            part = records.assign(site=records["site"].map(lambda s, r=r: replica(s, r)))
            rows_ = part[["site", "meter", "activity_type", "period_start", "expected", "lower", "upper"]]
            items = rows_.to_dict("records")
            for i in range(0, len(items), batch):
                body = {"model_name": MODEL_NAME, "model_version": info["model_version"], "unit": "kWh",
                        "predictions": items[i : i + batch]}
                stored += check(dc.put("/api/v1/predictions", json=body), 200).json()["stored"]
        out["predictions_s"], out["predictions"] = time.perf_counter() - t, stored
        log(f"  predictions x{len(replicas)}: {stored:,} stored in {out['predictions_s']:.1f} s")
    return out


# ------------------------------------------------------------------------------------------ the scan


class TimedClient(httpx.Client):
    """httpx client that adds each request's wall time (sent .. body read) to the current chunk's record."""

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        t = time.perf_counter()
        response = super().send(request, **kwargs)
        rec = _current.__dict__.get("rec")
        if rec is not None:
            key = "http_residuals" if request.url.path.endswith("/residuals") else "http_totals"
            rec[key] = rec.get(key, 0.0) + time.perf_counter() - t
            if key == "http_residuals":
                rec["csv_bytes"] = rec.get("csv_bytes", 0) + len(response.content)
        return response


_current = threading.local()


@contextmanager
def timed_stages() -> Any:
    """Wrap the functions ``scan_sites`` calls (module globals, looked up at call time) with timers."""
    import services.lib.hotspots.scan as scan_mod

    names = {"read_residuals": "residuals", "emissions_by": "emission_totals", "with_intensity": "intensity",
             "detect": "detect"}
    originals = {n: getattr(scan_mod, n) for n in names}

    def wrap(fn: Callable[..., Any], stage: str) -> Callable[..., Any]:
        def timed(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                rec = _current.__dict__.get("rec")
                if rec is not None:
                    rec[stage] = rec.get(stage, 0.0) + time.perf_counter() - t
        return timed

    for name, stage in names.items():
        setattr(scan_mod, name, wrap(originals[name], stage))
    try:
        yield
    finally:
        for name, fn in originals.items():
            setattr(scan_mod, name, fn)


def scan_chunk(base: str, auth: dict[str, str], sites: list[str]) -> dict[str, Any]:
    """What the flow's ``scan_chunk`` task does (a client of its own, then scan_sites), timed by stage."""
    from services.common.datacore import DataCoreClient
    from services.lib.hotspots.scan import scan_sites

    rec: dict[str, Any] = {}
    _current.rec = rec
    try:
        t = time.perf_counter()
        with TimedClient(base_url=base, headers=auth, timeout=600.0, trust_env=False) as http:
            found = scan_sites(DataCoreClient(base, None, http=http), sites, START, END, as_of=END)
        rec["total"] = time.perf_counter() - t
    finally:
        _current.rec = None
    rec["residual_http"] = rec.pop("http_residuals", 0.0)
    rec["residual_parse"] = rec.pop("residuals", 0.0) - rec["residual_http"]
    rec.pop("http_totals", None)
    rec["rest"] = rec["total"] - sum(rec.get(s, 0.0) for s in STAGES[:-2])
    rec |= {"sites": sites, "rows": found["rows"], "series": found["series"], "hotspots": len(found["hotspots"]),
            "kinds": pd.Series([h["kind"] for h in found["hotspots"]], dtype=object).value_counts().to_dict()}
    return rec


def _server_cpu(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def full_scan(server: DataCore, sites: list[str], chunk_size: int, threads: int) -> dict[str, Any]:
    chunks = [sites[i : i + chunk_size] for i in range(0, len(sites), chunk_size)]
    rss0 = proc_status(server.proc.pid)["VmRSS"]
    load0 = os.getloadavg()[0]
    cpu0, server0 = time.process_time(), _server_cpu(server.proc.pid)
    t = time.perf_counter()
    with timed_stages():
        if threads == 1:
            recs = [scan_chunk(server.base, server.auth, c) for c in chunks]
        else:
            with ThreadPoolExecutor(threads) as pool:
                recs = list(pool.map(lambda c: scan_chunk(server.base, server.auth, c), chunks))
    wall = time.perf_counter() - t
    client_cpu, server_cpu = time.process_time() - cpu0, _server_cpu(server.proc.pid) - server0
    stages = {s: sum(r.get(s, 0.0) for r in recs) for s in STAGES}
    rows = sum(r["rows"] for r in recs)
    kinds: dict[str, int] = {}
    for r in recs:
        for k, v in r["kinds"].items():
            kinds[k] = kinds.get(k, 0) + int(v)
    return {"threads": threads, "chunks": len(chunks), "sites": len(sites), "wall_s": wall, "stages_s": stages,
            "rows": rows, "rows_per_s": rows / wall, "series": sum(r["series"] for r in recs),
            "hotspots": sum(r["hotspots"] for r in recs), "kinds": kinds,
            "csv_mib": sum(r.get("csv_bytes", 0) for r in recs) / 2**20,
            "server_rss_mib": proc_status(server.proc.pid)["VmRSS"] / 2**20, "server_rss_before_mib": rss0 / 2**20,
            "chunk_total_s": [round(r["total"], 3) for r in recs], "client_cpu_s": client_cpu,
            "server_cpu_s": server_cpu, "cpu_s": client_cpu + server_cpu, "loadavg_1m_before": load0}


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run with the median wall time (its stages stay consistent with its wall time)."""
    ordered = sorted(runs, key=lambda r: r["wall_s"])
    pick = dict(ordered[(len(ordered) - 1) // 2])
    pick["wall_runs_s"] = [round(r["wall_s"], 3) for r in runs]
    return pick


# ------------------------------------------------------------------------------------------ reporting


def fmt(v: float, digits: int = 2) -> str:
    return f"{v:,.{digits}f}"


def table(results: dict[str, Any]) -> str:
    lines = []
    for threads in results["thread_counts"]:
        one, four = results["scans"]["1x"][str(threads)], results["scans"]["4x"][str(threads)]
        alt = results["scans"].get("1x_on_4x", {}).get(str(threads))
        lines.append(f"\n{results['db']}: full scan (window {START.date()} .. {END.date()}), {threads} thread(s), "
                     f"chunks of {results['chunk_size']}, median of {results['repeat']} runs")
        head = f"{'':30}{'1x':>11}{'4x':>11}{'4x/1x':>8}"
        if alt:
            head += f" |{'1x sites':>10}{'4x/that':>9}"
        lines.append(head + "   (ideal 4.00)")
        lines.append(f"{'':30}{'':>11}{'':>11}{'':>8}" + (f" |{'on 4x db':>10}" if alt else ""))

        def row(label: str, get: Callable[[dict[str, Any]], float], spec: str, note: str = "",
                one: dict[str, Any] = one, four: dict[str, Any] = four, alt: dict[str, Any] | None = alt) -> None:
            a, b = get(one), get(four)
            line = f"{label:30}{a:>11{spec}}{b:>11{spec}}{ratio(b, a):>8.2f}"
            if alt:
                c = get(alt)
                line += f" |{c:>10{spec}}{ratio(b, c):>9.2f}"
            lines.append(line + note)

        row("sites", lambda r: r["sites"], ",")
        row("chunks", lambda r: r["chunks"], ",")
        row("rows (meter-hours)", lambda r: r["rows"], ",")
        row("hotspots found", lambda r: r["hotspots"], ",")
        row("residuals CSV MiB", lambda r: r["csv_mib"], ".1f")
        row("WALL s", lambda r: r["wall_s"], ".2f", "   <- cost ratio")
        row("CPU s (client + data core)", lambda r: r["cpu_s"], ".2f")
        row("  data core process CPU s", lambda r: r["server_cpu_s"], ".2f")
        row("  scan (client) CPU s", lambda r: r["client_cpu_s"], ".2f")
        row("rows/s (wall)", lambda r: r["rows_per_s"], ",.0f")
        lines.append("  wall s by stage (summed over chunks; with >1 thread the sum exceeds the wall), share of 1x:")
        for st in STAGES:
            share = 100 * one["stages_s"][st] / one["stages_s"]["total"]
            row(f"  {st}", lambda r, st=st: r["stages_s"][st], ".2f", f"   {share:3.0f} %")
        lines.append(f"  runs (wall s): 1x {one['wall_runs_s']}, 4x {four['wall_runs_s']}"
                     + (f", 1x sites on 4x db {alt['wall_runs_s']}" if alt else ""))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------- main


def run_db(kind: str, args: argparse.Namespace, predictions: pd.DataFrame, info: dict[str, Any]) -> dict[str, Any]:
    db = Database(kind, args.pg_admin_url)
    server = server_process(db.url, OUT / f"scan-server-{kind}.log", None)
    results: dict[str, Any] = {"db": kind, "chunk_size": args.chunk_size, "repeat": args.repeat,
                               "thread_counts": args.threads, "load": {}, "scans": {}}
    try:
        server.wait_healthy(timeout=300.0)
        one_sites = sorted(replica(str(s["id"]), 0) for s in buildings())
        for label, replicas in (("1x", [0]), ("4x", [1, 2, 3])):
            log(f"{kind}: loading {label} ...")
            t = time.perf_counter()
            results["load"][label] = load(server, replicas, predictions, info, args.batch)
            results["load"][label]["total_s"] = time.perf_counter() - t
            sites = sorted(replica(s, r) for s in one_sites for r in (range(4) if label == "4x" else [0]))
            # on the 4x database the 40 original sites are scanned too, alternating with the 4x scans (the
            # same machine load for both: a second anchor, and whether a site's cost depends on the db size)
            plan = [(label, sites)] + ([("1x_on_4x", one_sites)] if label == "4x" else [])
            for threads in args.threads:
                runs: dict[str, list[dict[str, Any]]] = {name: [] for name, _ in plan}
                for i in range(args.repeat):
                    for name, scan_sites_ in plan:
                        run = full_scan(server, scan_sites_, args.chunk_size, threads)
                        log(f"{kind} {name} threads={threads} run {i + 1}: {run['wall_s']:.2f} s (cpu {run['cpu_s']:.1f}"
                            f" s, load {run['loadavg_1m_before']:.1f}), {run['rows']:,} rows, {run['hotspots']} "
                            "hotspots; " + ", ".join(f"{s} {run['stages_s'][s]:.2f}" for s in STAGES))
                        runs[name].append(run)
                for name, _ in plan:
                    results["scans"].setdefault(name, {})[str(threads)] = median_run(runs[name])
            if not args.no_breakdown:
                results.setdefault("residuals_breakdown", {})[label] = residuals_breakdown(
                    db.url, one_sites[: args.chunk_size], args.repeat, START, END)
        results["server_log"] = str((OUT / f"scan-server-{kind}.log").relative_to(REPO))
    finally:
        server.stop(30)
        if not args.keep:
            db.drop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_DEFAULT,
                        help="a PostgreSQL database to CREATE/DROP the bench database from")
    parser.add_argument("--chunk-size", type=int, default=10)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="scan thread counts to measure")
    parser.add_argument("--repeat", type=int, default=3, help="full scans per scale and thread count (median)")
    parser.add_argument("--batch", type=int, default=50_000, help="expected values per PUT")
    parser.add_argument("--max-iter", type=int, default=600, help="trees per model when training")
    parser.add_argument("--bundle", type=Path, help="a pickled BaselineBundle trained on 2019 (default: "
                                                    "bench/out/scan_bundle.pkl, trained when missing)")
    parser.add_argument("--retrain", action="store_true", help="ignore the cached bundle and expected values")
    parser.add_argument("--no-breakdown", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    parser.add_argument("--json", type=Path, default=OUT / "scan.json")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    t = time.perf_counter()
    predictions, info = expected_values(args)
    prep_s = time.perf_counter() - t
    log(f"expected values by {info['model']} ({info['code']}), trained on {info['trained_on']}, "
        f"{len(predictions):,} rows for {info['predicted']}")
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    results = {"started": datetime.now(UTC).isoformat(), "window": [START.isoformat(), END.isoformat()],
               "expected_values": info, "expected_values_prep_s": prep_s, "runs": []}
    for kind in kinds:
        results["runs"].append(run_db(kind, args, predictions, info))
    results["total_s"] = time.perf_counter() - started
    print(f"\nExpected values: {info['model']} ({info['code']}), trained on {info['trained_on']}, predicted "
          f"{info['predicted']} in-process; stored through PUT /api/v1/predictions.")
    for r in results["runs"]:
        ld = r["load"]
        print(f"\n{r['db']}: set-up (not part of the scan): 1x {ld['1x']['readings']:,} readings ingested in "
              f"{ld['1x']['ingest_s']:.1f} s + {ld['1x']['predictions']:,} expected values stored in "
              f"{ld['1x']['predictions_s']:.1f} s; 4x adds {ld['4x']['readings']:,} readings in "
              f"{ld['4x']['ingest_s']:.1f} s + {ld['4x']['predictions']:,} expected values in "
              f"{ld['4x']['predictions_s']:.1f} s")
        print(table(r))
        print(breakdown_table(r))
    print(f"\ntotal run {results['total_s']:.0f} s")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
