"""Estate bench (issue #17): 1,000 hourly meters for one year, 100 half-hourly meters and 50 monthly bills,
synthesised from the 40 real buildings (``bench/estate_data.py``), through ingest, training, fill and scan in
one run; wall time and peak memory per step, each next to its anchor.

Steps (the data core, and a Prefect server for the scan, are real processes on 127.0.0.1):

1. **ingest**: the year 2020 of every meter as the files a user uploads (long CSV, about 1M rows each; the
   half-hourly meters with period_start/period_end; the bills as one file) through ``POST /api/v1/ingest``;
   anchor: the bare pandas floor of the same files (``read_csv``, one ``merge_asof`` with the factors,
   ``to_sql``) into the same database, in its own process. Goal: real <= 1.5x floor.
2. **train**: the public training code of the ``train-baseline`` flow (``services.ml_engine.training``:
   ``prepare``, ``unusable``, ``train_bundle`` with the flow's parameters, ``evaluate``) on 2019 (the year
   before; calibration = its last 8 weeks), judged on the holdout 2020-01-01 .. 01-29 against week-ago
   naive. The monthly meters: a degree-day model per meter on its 2019 bills
   (``services.lib.expected.degree_days``). ``--train-days D`` trains on the last D days of 2019 only (a
   sample); ``--accuracy-cost`` then also trains on the whole year on the same sites and reports what the
   sample costs on the same holdout. Goal: <= 15 min. A model that holds only some sites (today's cap:
   254 sites per activity type) or a training that refuses is reported, not fatal: see fill.
3. **fill**: expected values of every hour of 2020 (day-ahead features) from the trained model
   (``BaselineBundle.predict``, the code the ML engine serves) for the sites it holds; a site it does not
   hold gets the documented fallback, the week-ago naive value (the same hour 168 h before) with the
   site's own 5-95 % quantiles of that naive's 2019 errors as interval. Stored through
   ``PUT /api/v1/predictions``, as the ``fill-expected`` flow stores them. The bills: the degree-day
   model's expected value of each 2020 bill.
4. **scan**: the ``hotspot-scan`` flow's ``scan-chunks`` subflow (chunks of ``--chunk-size`` sites, residuals
   from the data core, detection) over 2020, on the default task runner (2 threads) at ``--scan-fractions``
   of the hourly-grid sites (hourly + half-hourly meters), the per-meter slope by least squares; then the
   whole estate through the Dask task runner (``TASK_RUNNER=dask``: a local cluster of 2 worker processes,
   or ``DASK_ADDRESS``), whose hotspots must be identical. The bills: ``monthly_hotspots``. Goal: the
   year's scan <= 10 min and linear in meters.

Peak memory per step: the bench process and the data core (with its ingest workers) by VmHWM reset at the
step's start; Dask workers and the floor process by their own peaks.

    .venv/bin/python bench/estate.py                                  # 1,000 + 100 meters + 50 bills
    .venv/bin/python bench/estate.py --meters 50 --hh-meters 10 --bills 5 --scan-fractions 0.5 1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: bench.harness, services

from bench.estate_data import (  # noqa: E402
    CARRIERS,
    ORG,
    Estate,
    monthly_bills,
    site_records,
    synthesize,
    write_files,
)
from bench.estate_report import END, HOLDOUT_END, START, YEAR, finish, report  # noqa: E402
from bench.harness import BIN, OUT, PYTHON, REPO, Service, child_env, free_port, ratio, use_offline_env  # noqa: E402
from bench.ingest import Database, one_blas_thread, proc_status, reset_hwm, server_process  # noqa: E402

TRAIN_START = pd.Timestamp(f"{YEAR - 1}-01-01", tz="UTC")
WEATHER = REPO / "data" / "buildings_cambridge" / "context_hourly_weather_bedford_and_uk_grid_ci_2019_2020.csv"
FLOW_PARAMS = {"learning_rate": 0.05, "max_iter": 600, "max_leaf_nodes": 63, "min_samples_leaf": 40,
               "l2_regularization": 1.0, "early_stopping": False, "random_state": 0}  # the train-baseline flow's
MB = 2**20


def log(msg: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {msg}", flush=True)


def check(response: httpx.Response, *ok: int) -> httpx.Response:
    if response.status_code not in ok:
        raise RuntimeError(f"{response.request.method} {response.request.url} -> {response.status_code}: "
                           f"{response.text[:800]}")
    return response


# ------------------------------------------------------------------------------------------- memory


class Peaks:
    """Peak RSS of one step: the bench process and the data core (+ its workers) by VmHWM reset at the start;
    the bench's other descendants (Dask workers, the floor; not the services: ``exclude``) by sampling their summed
    RSS every 0.2 s."""

    exclude: set[int] = set()  # the Prefect server and the data core (main sets them)

    def __init__(self, server: Service | None) -> None:
        import psutil

        self.psutil = psutil
        self.pids = [os.getpid()] + ([server.pid, *self._children(server.pid)] if server else [])
        for pid in self.pids:
            reset_hwm(pid)
        self.skip = set(self.pids) | self.exclude
        self.cpu0 = self._cpu()
        self.others_peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _cpu(self) -> list[float]:
        """CPU seconds (user + system) of the bench process and of the data core with its workers."""
        out = [time.process_time(), 0.0]
        for pid in self.pids[1:]:
            try:
                t = self.psutil.Process(pid).cpu_times()
                out[1] += t.user + t.system
            except self.psutil.Error:
                pass
        return out

    def _children(self, pid: int) -> list[int]:
        try:
            return [c.pid for c in self.psutil.Process(pid).children(recursive=True)]
        except self.psutil.Error:
            return []

    def _sample(self) -> None:
        while not self._stop.wait(0.2):
            total = 0
            for child in self.psutil.Process(os.getpid()).children(recursive=True):
                try:
                    if child.pid in self.skip or any(p.pid in self.skip - {os.getpid()} for p in child.parents()):
                        continue
                    total += child.memory_info().rss
                except self.psutil.Error:
                    pass
            self.others_peak = max(self.others_peak, total)

    def done(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        cpu = self._cpu()
        out = {"bench_peak_mib": proc_status()["VmHWM"] / MB, "bench_cpu_s": cpu[0] - self.cpu0[0]}
        server = [p for p in self.pids[1:] if Path(f"/proc/{p}").exists()]
        if server:
            out["data_core_peak_mib"] = sum(proc_status(p)["VmHWM"] for p in server) / MB
            out["data_core_cpu_s"] = cpu[1] - self.cpu0[1]
        out["other_children_peak_mib"] = self.others_peak / MB
        return out


# ------------------------------------------------------------------------------------------- ingest


def register(server: Service, token: str, estate: Estate) -> None:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60,
                      trust_env=False) as dc:
        check(dc.post("/api/v1/organisations", json=ORG), 201, 409)
        for site in site_records(estate):
            check(dc.post("/api/v1/sites", json=site), 201)


def ingest(server: Service, token: str, files: list[dict[str, Any]], db: Database) -> dict[str, Any]:
    peaks = Peaks(server)
    t0 = time.perf_counter()
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"},
                      timeout=httpx.Timeout(None), trust_env=False) as dc:
        accepted, kg = 0, 0.0
        for f in files:
            t = time.perf_counter()
            with open(f["path"], "rb") as fh:
                report = check(dc.post("/api/v1/ingest", files={"file": (f["path"].name, fh, "text/csv")}), 200).json()
            if report["accepted"] != f["rows"] or report["rejected"] or report["duplicates"]:
                raise RuntimeError(f"{f['path'].name}: {f['rows']} rows sent, report "
                                   f"{ {k: report[k] for k in ('accepted', 'rejected', 'duplicates')} } "
                                   f"{report.get('rejects', [])[:3]}")
            accepted, kg = accepted + report["accepted"], kg + float(report["kg_co2e"])
            log(f"  ingest {f['path'].name}: {f['rows']:,} rows in {time.perf_counter() - t:.1f} s")
    real_s = time.perf_counter() - t0
    out = {"rows": accepted, "files": len(files), "mib": sum(f["bytes"] for f in files) / MB, "real_s": real_s,
           "kg_co2e": kg, **peaks.done()}
    cmd = [PYTHON, str(REPO / "bench" / "estate_data.py"), "--floor-worker", "--database-url", db.url,
           "--csv", *[str(f["path"]) for f in files]]
    done = subprocess.run(cmd, cwd=REPO, env=child_env(one_blas_thread()), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"floor failed:\n{done.stderr[-4000:]}")
    floor = json.loads(done.stdout.strip().splitlines()[-1])
    out |= {"floor_s": floor["seconds"], "floor_peak_mib": floor["peak_rss"] / MB, "floor_kg_co2e": floor["kg_co2e"],
            "ratio": ratio(real_s, floor["seconds"])}
    return out


# -------------------------------------------------------------------------------------------- train


def weather() -> pd.DataFrame:
    w = pd.read_csv(WEATHER).rename(columns={"datetime_utc": "timestamp"})
    w["timestamp"] = pd.to_datetime(w["timestamp"], utc=True)
    return w


def readings(estate: Estate, sites: list[str], end: pd.Timestamp) -> pd.DataFrame:
    """Hourly readings [site, activity_type, timestamp, quantity] of ``sites`` before ``end`` (what the flow
    reads from the data core: the half-hourly meters summed into their hours)."""
    parts = []
    for carrier, (activity_type, _) in CARRIERS.items():
        wide = estate.hourly[carrier][sites]
        wide = wide[wide.index < end]
        long = wide.rename_axis("timestamp").reset_index().melt(id_vars="timestamp", var_name="site",
                                                                value_name="quantity")
        parts.append(long.dropna(subset=["quantity"]).assign(activity_type=activity_type))
    return pd.concat(parts, ignore_index=True)


def train_once(estate: Estate, sites: list[str], wx: pd.DataFrame, area: dict[str, float],
               train_start: pd.Timestamp, max_iter: int, fleet_max_sites: int | None = None) -> dict[str, Any]:
    """``train-baseline``'s training and holdout evaluation (its public functions, its parameters)."""
    from services.ml_engine.training import Window, evaluate, holdout_inputs, prepare, train_bundle, unusable

    window = Window(train_start, START, HOLDOUT_END)
    t, cpu = time.perf_counter(), time.process_time()
    series = prepare(readings(estate, sites, HOLDOUT_END))
    left_out = unusable(series, window)
    out: dict[str, Any] = {"train_start": str(train_start.date()), "left_out": len(left_out)}
    try:
        bundle = train_bundle(series, wx, area, window, params={**FLOW_PARAMS, "max_iter": max_iter},
                              fleet_max_sites=fleet_max_sites)
    except Exception as exc:  # noqa: BLE001 - a refusal of the training code is a finding of the bench, reported
        out |= {"seconds": time.perf_counter() - t, "refused": f"{type(exc).__name__}: {exc}", "bundle": None}
        return out
    out["seconds"], out["cpu_s"] = time.perf_counter() - t, time.process_time() - cpu
    out["held"] = {a: len(sm.site_codes) for a, sm in bundle.series.items()}
    out["fleet"] = sorted(getattr(bundle, "fleet", {}))  # activity types whose fleet model serves any site
    out["sites_per_type"] = {a: int(s["site"].nunique()) for a, s in series.items()}
    t = time.perf_counter()
    _, metrics = evaluate(bundle, holdout_inputs(series, wx, window))
    out["evaluate_s"] = time.perf_counter() - t
    out["metrics"] = {k: round(float(metrics[k]), 3) for k in sorted(metrics) if k.endswith((
        "holdout_mae", "naive_mae", "mae_cut_vs_naive_pct", "ashrae_within_pct", "interval_coverage_pct"))
        and "naive_ashrae" not in k}
    out["bundle"] = bundle
    return out


def train(estate: Estate, args: argparse.Namespace, wx: pd.DataFrame) -> dict[str, Any]:
    from services.lib.expected.degree_days import NotEnoughBills, fit

    area = {s["id"]: float(s["floor_area_m2"]) for s in site_records(estate)}
    sites = estate.ids("hourly", "halfhourly")
    peaks = Peaks(None)  # in the bench process
    start = START - pd.Timedelta(days=args.train_days) if args.train_days else TRAIN_START
    main = train_once(estate, sites, wx, area, start, args.max_iter, args.fleet_max_sites or None)
    log(f"  trained from {main['train_start']} in {main['seconds']:.1f} s: "
        + (main.get("refused") or f"holds {main['held']} of {main['sites_per_type']} sites; {main['metrics']}"))
    out: dict[str, Any] = {"hourly": main}
    if args.accuracy_cost and args.train_days:
        some = sites[: args.cost_sites]
        full = train_once(estate, some, wx, area, TRAIN_START, args.max_iter)
        sample = train_once(estate, some, wx, area, start, args.max_iter)
        out["accuracy_cost"] = {"sites": len(some), "full": {k: v for k, v in full.items() if k != "bundle"},
                                "sample": {k: v for k, v in sample.items() if k != "bundle"}}
        log(f"  accuracy cost on {len(some)} sites: full year {full.get('metrics')} vs last {args.train_days} days "
            f"{sample.get('metrics')}")
    temp = wx.set_index("timestamp")["air_temperature_degC"]
    t = time.perf_counter()
    models, refused = {}, {}
    baseline = monthly_bills(estate, YEAR - 1)
    for (site, meter, activity_type), bills in baseline.groupby(["site", "meter", "activity_type"]):
        try:
            models[(site, meter, activity_type)] = fit(bills.reset_index(drop=True), temp)
        except NotEnoughBills as exc:
            refused[site] = str(exc)
    out["monthly"] = {"meters": len(models) + len(refused), "fitted": len(models), "refused": refused,
                      "seconds": time.perf_counter() - t, "models": models}
    out["seconds"] = main["seconds"] + out["monthly"]["seconds"]  # the estate's training (not the cost check)
    out |= peaks.done()
    return out


# --------------------------------------------------------------------------------------------- fill


def naive_expected(estate: Estate, sites: list[str]) -> pd.DataFrame:
    """The fallback: the same hour a week before, interval = the site's 5-95 % naive errors of 2019."""
    frames = []
    for carrier, (activity_type, meter) in CARRIERS.items():
        wide = estate.hourly[carrier][sites]
        if carrier == "electricity":
            wide = wide.mask(wide <= 0)  # as prepare(): a zero electricity hour is a gap of the archive
        naive = wide.shift(168)
        err = (wide - naive)[wide.index < START]
        lo, hi = err.quantile(0.05), err.quantile(0.95)
        year = (wide.index >= START) & (wide.index < END)
        exp, act = naive[year], wide[year]
        keep = exp.notna() & act.notna()
        long = pd.DataFrame({"expected": exp.stack(), "lower": (exp + lo).clip(lower=0).stack(),
                             "upper": (exp + hi).clip(lower=0).stack()})
        long = long[keep.stack().reindex(long.index, fill_value=False)].dropna()  # no 2019 errors: no interval
        long.index.names = ["period_start", "site"]
        frames.append(long.reset_index().assign(meter=meter, activity_type=activity_type))
    return pd.concat(frames, ignore_index=True)


def model_expected(estate: Estate, bundle: Any, sites: list[str], wx: pd.DataFrame) -> pd.DataFrame:
    from services.ml_engine.bundle import INPUT_COLUMNS
    from services.ml_engine.training import Window, holdout_inputs, predictable, prepare

    series = prepare(readings(estate, sites, END))
    inputs = holdout_inputs(series, wx, Window(TRAIN_START, START, END))
    servable = predictable(bundle, inputs) | inputs["activity_type"].isin(list(getattr(bundle, "fleet", {})))
    inputs = inputs[servable]
    pred = bundle.predict_array(inputs[[c for c in INPUT_COLUMNS if c in inputs.columns]])
    meters = {a: m for a, m in CARRIERS.values()}
    out = pd.DataFrame({"site": inputs["site"].to_numpy(), "activity_type": inputs["activity_type"].to_numpy(),
                        "meter": inputs["activity_type"].map(meters).to_numpy(),
                        "period_start": inputs["timestamp"].to_numpy(), "expected": pred[:, 0], "lower": pred[:, 1],
                        "upper": pred[:, 2]})
    return out.dropna(subset=["expected"])  # an hour the model cannot serve yet (basis none): the fallback's


def store(dc: httpx.Client, frame: pd.DataFrame, model: str, version: str, batch: int) -> int:
    frame = frame.assign(period_start=pd.to_datetime(frame["period_start"], utc=True).dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    items = frame[["site", "meter", "activity_type", "period_start", "expected", "lower", "upper"]].to_dict("records")
    stored = 0
    for i in range(0, len(items), batch):
        body = {"model_name": model, "model_version": version, "unit": "kWh", "predictions": items[i : i + batch]}
        stored += check(dc.put("/api/v1/predictions", json=body), 200).json()["stored"]
    return stored


def fill(server: Service, token: str, estate: Estate, trained: dict[str, Any], wx: pd.DataFrame,
         args: argparse.Namespace) -> dict[str, Any]:
    bundle = trained["hourly"].get("bundle")
    sites = estate.ids("hourly", "halfhourly")
    held = set().union(*(sm.site_codes for sm in bundle.series.values())) if bundle else set()
    if bundle and getattr(bundle, "fleet", None):  # the hybrid of #17: the fleet model serves every other site
        held |= set(sites)
    peaks = Peaks(server)
    t0 = time.perf_counter()
    out: dict[str, Any] = {"model_rows": 0, "fallback_rows": 0, "predict_s": 0.0, "store_s": 0.0}
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"},
                      timeout=httpx.Timeout(None), trust_env=False) as dc:
        for i in range(0, len(sites), args.fill_sites):
            chunk = sites[i : i + args.fill_sites]
            t = time.perf_counter()
            model = model_expected(estate, bundle, [s for s in chunk if s in held], wx) \
                if bundle and held.intersection(chunk) else pd.DataFrame()
            covered = set(zip(model["site"], model["activity_type"], strict=True)) if len(model) else set()
            naive = naive_expected(estate, chunk)
            naive = naive[[k not in covered for k in zip(naive["site"], naive["activity_type"], strict=True)]]
            out["predict_s"] += time.perf_counter() - t
            t = time.perf_counter()
            if len(model):
                out["model_rows"] += store(dc, model, "carbon-baseline", "estate-bench", args.batch)
            if len(naive):
                out["fallback_rows"] += store(dc, naive, "week-ago-naive", "estate-fallback", args.batch)
            out["store_s"] += time.perf_counter() - t
    temp = wx.set_index("timestamp")["air_temperature_degC"]
    bills = monthly_bills(estate, YEAR)
    t = time.perf_counter()
    expected = []
    for key, part in bills.groupby(["site", "meter", "activity_type"]):
        model = trained["monthly"]["models"].get(key)
        if model is not None:
            expected.append((key, part.reset_index(drop=True), model.predict(part.reset_index(drop=True), temp)))
    out["bills"] = sum(len(p) for _, p, _ in expected)
    out["bills_s"] = time.perf_counter() - t
    out["seconds"] = time.perf_counter() - t0
    out["sites"], out["sites_on_model"] = len(sites), len(held.intersection(sites))
    out |= peaks.done()
    out["bill_expected"] = expected
    return out


# --------------------------------------------------------------------------------------------- scan


def canonical(results: list[dict[str, Any]]) -> list[str]:
    """The hotspots (and skips) of a scan as sorted JSON strings: two scans agree when these are equal."""
    return sorted(json.dumps(h, sort_keys=True, default=str) for r in results for h in r["hotspots"] + r["skipped"])


def scan_once(sites: list[str], chunk_size: int, runner: str, server: Service) -> dict[str, Any]:
    from flows.common import make_task_runner
    from flows.hotspot_scan import scan_chunks

    chunks = [sites[i : i + chunk_size] for i in range(0, len(sites), chunk_size)]
    peaks = Peaks(server)
    cpu0 = time.process_time()
    t = time.perf_counter()
    results = scan_chunks.with_options(task_runner=make_task_runner(runner))(chunks, START.isoformat(), END.isoformat())
    wall = time.perf_counter() - t
    out = {"runner": runner, "sites": len(sites), "meters": 2 * len(sites), "chunks": len(chunks), "wall_s": wall,
           "bench_cpu_s": time.process_time() - cpu0, "rows": sum(r["rows"] for r in results),
           "hotspots": sum(len(r["hotspots"]) for r in results), "skipped": sum(len(r["skipped"]) for r in results),
           "loadavg_1m": os.getloadavg()[0], **peaks.done()}
    out["found"] = canonical(results)
    log(f"  scan {runner} {len(sites)} sites ({out['meters']} meters): {wall:.1f} s, {out['rows']:,} meter-hours, "
        f"{out['hotspots']} hotspots, {out['skipped']} skipped, load {out['loadavg_1m']:.1f}")
    return out


def monthly_scan(trained: dict[str, Any], filled: dict[str, Any]) -> dict[str, Any]:
    from services.lib.hotspots.monthly import monthly_hotspots

    t = time.perf_counter()
    found = []
    for (site, meter, activity_type), bills, expected in filled["bill_expected"]:
        model = trained["monthly"]["models"][(site, meter, activity_type)]
        found += monthly_hotspots(site, meter, activity_type, bills, expected, model, model_version="estate-bench")
    return {"bills": filled["bills"], "hotspots": len(found), "seconds": time.perf_counter() - t}


def scan(server: Service, estate: Estate, args: argparse.Namespace) -> dict[str, Any]:
    sites = estate.ids("hourly", "halfhourly")
    order = list(np.random.default_rng(args.seed).permutation(sites))  # a size's sites: hourly and half-hourly mixed
    runs = []
    for fraction in sorted(args.scan_fractions):
        some = sorted(order[: max(1, round(fraction * len(sites)))])
        runs.append(scan_once(some, args.chunk_size, "thread", server))
    full = runs[-1]
    meters = np.array([r["meters"] for r in runs], float)
    walls = np.array([r["wall_s"] for r in runs])
    slope, intercept = np.polyfit(meters, walls, 1) if len(runs) > 1 else (walls[0] / meters[0], 0.0)
    out: dict[str, Any] = {"runs": runs, "slope_s_per_meter": float(slope), "intercept_s": float(intercept)}
    if len(runs) > 1:
        out["linearity"] = ratio(walls[-1] / walls[0], meters[-1] / meters[0])  # 1.0: exactly linear
    if not args.no_dask:
        dask = scan_once(sorted(sites), args.chunk_size, "dask", server)
        out["dask"] = dask
        out["dask_identical"] = dask["found"] == full["found"] if full["sites"] == len(sites) else None
        if out["dask_identical"] is False:
            only_t, only_d = set(full["found"]) - set(dask["found"]), set(dask["found"]) - set(full["found"])
            out["dask_difference"] = {"only_default": sorted(only_t)[:5], "only_dask": sorted(only_d)[:5]}
    return out


# --------------------------------------------------------------------------------------------- main


def start_prefect() -> Service:
    """A Prefect server of the bench's own (``prefect server start``) with its database under bench/out."""
    home = OUT / "estate-prefect"
    for leftover in home.glob("*.db*"):
        leftover.unlink()
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {"PREFECT_HOME": str(home), "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home}/prefect.db",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PREFECT_UI_ENABLED": "false"}
    return Service("prefect server", [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port",
                                      str(port)], OUT / "estate-prefect.log", env, port=port)


def flush_prefect_logs() -> None:
    """Send the run logs Prefect still holds before its server stops."""
    if "prefect" in sys.modules:
        from prefect.logging.handlers import APILogHandler

        APILogHandler().flush()  # the worker that sends them is one per process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--meters", type=int, default=1000, help="hourly meters (two per site)")
    parser.add_argument("--hh-meters", type=int, default=100, help="half-hourly meters (two per site)")
    parser.add_argument("--bills", type=int, default=50, help="monthly bill meters (one per site)")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--pg-admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--chunk-size", type=int, default=10, help="sites per scan task (the flow's default)")
    parser.add_argument("--scan-fractions", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    parser.add_argument("--train-days", type=int, default=0, help="train on the last D days of 2019 (0: all)")
    parser.add_argument("--max-iter", type=int, default=FLOW_PARAMS["max_iter"], help="trees per model (smoke runs)")
    parser.add_argument("--fleet-max-sites", type=int, default=0,
                        help="train the fleet model on a seeded sample of N sites per type (0: all)")
    parser.add_argument("--accuracy-cost", action="store_true", help="with --train-days: what the sample costs")
    parser.add_argument("--cost-sites", type=int, default=40)
    parser.add_argument("--fill-sites", type=int, default=50, help="sites per fill batch")
    parser.add_argument("--batch", type=int, default=50_000, help="expected values per PUT")
    parser.add_argument("--no-dask", action="store_true")
    parser.add_argument("--ingest-only", action="store_true", help="the ingest step and its floor only")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--json", type=Path, default=OUT / "estate.json")
    args = parser.parse_args()
    use_offline_env(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    prefect = start_prefect()
    db = Database(args.db, args.pg_admin_url)
    server = server_process(db.url, OUT / "estate-data-core.log", None)
    token = server.token
    try:
        t = time.perf_counter()
        estate = synthesize(args.meters, args.hh_meters, args.bills, args.seed)
        files = write_files(estate, YEAR, OUT / f"estate-{args.meters}-{args.hh_meters}-{args.bills}-{args.seed}")
        log(f"estate: {len(estate.sites)} sites, {sum(f['rows'] for f in files):,} rows in {len(files)} files "
            f"({time.perf_counter() - t:.0f} s)")
        server.wait_healthy(timeout=300.0)
        prefect.wait_healthy(prefect.url + "/api/health", timeout=300.0)
        Peaks.exclude = {server.pid, prefect.pid}
        os.environ |= {"PREFECT_API_URL": prefect.url + "/api", "PREFECT_HOME": str(OUT / "estate-prefect"),
                       "DATA_CORE_URL": server.url, "API_TOKEN": token}
        register(server, token, estate)
        wx = weather()
        log("ingest ...")
        result: dict[str, Any] = {"started": datetime.now(UTC).isoformat(), "db": args.db, "loadavg_before": load_before,
                                  "args": {k: str(v) for k, v in vars(args).items()},
                                  "meters": {"hourly": estate.meters("hourly"), "halfhourly": estate.meters("halfhourly"),
                                             "monthly": estate.meters("monthly")},
                                  "sites": {"hourly_grid": len(estate.ids("hourly", "halfhourly")),
                                            "monthly": len(estate.ids("monthly"))}}
        result["ingest"] = ingest(server, token, files, db)
        log(f"ingest: {result['ingest']['real_s']:.1f} s vs floor {result['ingest']['floor_s']:.1f} s "
            f"(ratio {result['ingest']['ratio']:.2f})")
        if args.ingest_only:
            result["total_s"] = time.perf_counter() - started
            return finish(result, args)
        log("train ...")
        result["train"] = train(estate, args, wx)
        log("fill ...")
        result["fill"] = fill(server, token, estate, result["train"], wx, args)
        log(f"fill: {result['fill']['seconds']:.1f} s")
        log("scan ...")
        result["scan"] = scan(server, estate, args)
        result["monthly_scan"] = monthly_scan(result["train"], result["fill"])
        result["total_s"] = time.perf_counter() - started
        text = report(result)
        print(text)
        result["report"] = text
    finally:
        flush_prefect_logs()
        server.stop(30)
        prefect.stop(30)
        if not args.keep:
            db.drop()
    finish(result, args)


if __name__ == "__main__":
    main()
