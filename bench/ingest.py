"""Ingestion benchmark: N generated activity rows through the real ingestion path, next to a bare
pandas floor, in the same run.

Real path: the data core is started as its own process (``python -m services.data_core.app``) on a
fresh database; the generated CSV is POSTed to ``/api/v1/ingest`` (streamed multipart upload) and
the request is timed. The server's peak RSS during the request comes from ``/proc/<pid>/status``
(VmHWM, reset just before the upload through ``/proc/<pid>/clear_refs``).

Floor: a separate process (so its RSS is its own) does what a bare pandas script would do with the
same file: ``read_csv``, one ``merge_asof`` with the factors the real path picks (hourly NESO for
GB, eGRID subregion / EPA national for the US), ``kg = quantity x conversion x factor`` and
``DataFrame.to_sql`` into a fresh table of the same database. A stricter floor inserts the same
frame with the service's own primitive (``services.data_core.bulk.bulk_insert``: COPY on
PostgreSQL, one executemany on SQLite).

Goal (from the issue): real/floor <= 1.5 and peak RSS <= 3x the file size.

    .venv/bin/python bench/ingest.py                    # 1,000,000 rows, SQLite and PostgreSQL
    .venv/bin/python bench/ingest.py --rows 100000 --db sqlite
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: bench.harness, services

from bench.harness import OUT, PYTHON, REPO, DataCore, child_env, md_header, md_row, timer, use_offline_env  # noqa: E402

PG_ADMIN_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
FACTORS_CSV = REPO / "data" / "factors" / "factors.csv"
GWP_CSV = REPO / "data" / "factors" / "gwp.csv"
MB = 1024 * 1024

GB_START, GB_HOURS = np.datetime64("2019-01-01T00", "h"), 17_544  # NESO hourly factors: 2019-2020
US_START, US_HOURS = np.datetime64("2025-01-01T00", "h"), 8_760  # EPA-HUB-2025 (eGRID2023 subregions)
US_REGIONS = ["CAMX", "NEWE", "ERCT", "RFCE", "NYCW", "SRSO", "NWPP", "MROW", "RFCW", "SRVC"]
# what the floor converts: activity unit -> factor unit multiplier (kWh per kWh, mmBtu per therm)
FLOOR_CONVERSION = {"kWh": 1.0, "therm": 0.1}
UNSET = ("ORCHESTRATION_URL",)


def one_blas_thread() -> dict[str, str]:
    """The children's BLAS threads: one unless set (and no orchestration engine to notify: ``UNSET``)."""
    return {"OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS", "1")}


# --------------------------------------------------------------------------------------------- data


def make_sites(n_sites: int) -> list[dict[str, Any]]:
    sites = []
    n_gb = n_sites // 2
    for i in range(n_sites):
        if i < n_gb:
            sites.append({"id": f"GB{i:03d}", "org_id": "bench-gb", "name": f"UK site {i}", "country": "GB",
                          "grid_region": None, "renewable_share": 0.25 if i % 10 == 0 else 0.0})
        else:
            j = i - n_gb
            sites.append({"id": f"US{j:03d}", "org_id": "bench-us", "name": f"US site {j}", "country": "US",
                          "grid_region": US_REGIONS[j % len(US_REGIONS)],
                          "renewable_share": 0.5 if j % 10 == 0 else 0.0})
    return sites


def generate(path: Path, rows: int, sites: list[dict[str, Any]], seed: int) -> None:
    """Hourly meter readings, one block per site and meter in time order (as meter exports come).
    GB: electricity kWh in 2019-2020; US: electricity kWh and (a fifth) natural gas in therm in 2025."""
    rng = np.random.default_rng(seed)
    per_site = np.full(len(sites), rows // len(sites))
    per_site[: rows % len(sites)] += 1
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("site", "meter", "hour", "activity_type", "quantity", "unit")}
    for site, n in zip(sites, per_site, strict=True):
        if site["country"] == "GB":
            start0, capacity = GB_START, GB_HOURS
            streams = [("main", "electricity", "kWh", int(n))]
        else:
            start0, capacity = US_START, US_HOURS
            gas = int(n) // 5
            streams = [("main", "electricity", "kWh", int(n) - gas), ("gas", "natural_gas", "therm", gas)]
        for meter, activity, unit, count in streams:
            part = 0
            while count > 0:
                k = min(count, capacity)
                name = meter if part == 0 else f"{meter}-{part + 1}"
                offset = int(rng.integers(0, capacity - k + 1))
                hours = start0 + offset + np.arange(k)
                hod = hours.astype(np.int64) % 24
                base = rng.lognormal(4.0 if activity == "electricity" else 0.5, 0.8)
                diurnal = 0.65 + 0.35 * np.sin((hod - 6) / 24 * 2 * np.pi).clip(-1, 1)
                qty = base * diurnal * rng.lognormal(0.0, 0.2, k)
                cols["site"].append(np.full(k, site["id"], dtype=object))
                cols["meter"].append(np.full(k, name, dtype=object))
                cols["hour"].append(hours)
                cols["activity_type"].append(np.full(k, activity, dtype=object))
                cols["quantity"].append(qty)
                cols["unit"].append(np.full(k, unit, dtype=object))
                count -= k
                part += 1
    hours = np.concatenate(cols["hour"]).astype("datetime64[s]")
    frame = pd.DataFrame({
        "site": np.concatenate(cols["site"]),
        "meter": np.concatenate(cols["meter"]),
        "timestamp": np.datetime_as_string(hours, timezone="UTC"),  # 2019-01-01T00:00:00Z
        "activity_type": np.concatenate(cols["activity_type"]),
        "quantity": np.concatenate(cols["quantity"]),
        "unit": np.concatenate(cols["unit"]),
    })
    assert len(frame) == rows
    tmp = path.with_suffix(".tmp")
    frame.to_csv(tmp, index=False, float_format="%.3f", lineterminator="\n")
    tmp.replace(path)


# ------------------------------------------------------------------------------------ processes


def proc_status(pid: int | str = "self") -> dict[str, int]:
    """VmRSS / VmHWM in bytes."""
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                out[key] = int(value.split()[0]) * 1024
    return out


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by these processes (``/proc/<pid>/stat``; gone ones count 0)."""
    total = 0
    for pid in pids:
        with suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def reset_hwm(pid: int) -> bool:
    """Reset the peak RSS (VmHWM) of ``pid`` to its current RSS (Linux >= 4.0)."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


class RssSampler(threading.Thread):
    """Samples a process's RSS while a request runs (for the time of the peak, not its size)."""

    def __init__(self, pid: int, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, int]] = []
        self._halt = threading.Event()
        self.t0 = time.perf_counter()

    def run(self) -> None:
        while not self._halt.is_set():
            with suppress(OSError, KeyError):
                self.samples.append((time.perf_counter() - self.t0, proc_status(self.pid)["VmRSS"]))
            self._halt.wait(self.every)

    def stop(self) -> list[tuple[float, int]]:
        self._halt.set()
        self.join()
        return self.samples


def server_process(database_url: str, log_path: Path, chunk_rows: int | None) -> DataCore:
    """The data core as a real process on ``database_url`` (also bench/scan.py's)."""
    env = {"LOG_LEVEL": "INFO", "ENVIRONMENT": "development", "AUTO_MIGRATE": "true", **one_blas_thread()}
    if chunk_rows:
        env["INGEST_CHUNK_ROWS"] = str(chunk_rows)
    return DataCore(database_url, log_path, unset=UNSET, **env)


# ------------------------------------------------------------------------------------ databases


def pg_url(admin_url: str, name: str) -> str:
    return admin_url.rsplit("/", 1)[0] + "/" + name


class Database:
    def __init__(self, kind: str, admin_url: str) -> None:
        self.kind, self.admin_url = kind, admin_url
        self.name = f"cn_bench_{uuid.uuid4().hex[:10]}"
        if kind == "sqlite":
            self.path = OUT / f"{self.name}.db"
            self.url = f"sqlite:///{self.path}"
        else:
            from sqlalchemy import create_engine, text

            admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.name}"'))
            admin.dispose()
            self.url = pg_url(admin_url, self.name)

    def drop(self) -> None:
        if self.kind == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            return
        from sqlalchemy import create_engine, text

        admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        admin.dispose()

    def count(self, table: str) -> int:
        from sqlalchemy import create_engine, text

        engine = create_engine(self.url)
        try:
            with engine.connect() as conn:
                return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
        finally:
            engine.dispose()


# ------------------------------------------------------------------------------------ real path


def run_real(db: Database, csv_path: Path, sites: list[dict[str, Any]], rows: int,
             chunk_rows: int | None) -> dict[str, Any]:
    import httpx

    server = server_process(db.url, OUT / f"server-{db.kind}.log", chunk_rows)
    try:
        with timer() as startup:
            health = server.wait_healthy(timeout=300.0).json()
        startup_s = startup.s
        with httpx.Client(base_url=server.base, headers=server.auth, timeout=60) as client:
            for org, name in (("bench-gb", "Bench UK"), ("bench-us", "Bench US")):
                client.post("/api/v1/organisations", json={"id": org, "name": name}).raise_for_status()
            for site in sites:
                client.post("/api/v1/sites", json=site).raise_for_status()
        time.sleep(0.5)
        before = proc_status(server.proc.pid)
        lifetime_hwm_before = before["VmHWM"]
        reset = reset_hwm(server.proc.pid)
        before = proc_status(server.proc.pid)
        # the ingest worker processes (started with the server) count too
        import psutil

        children = [c.pid for c in psutil.Process(server.proc.pid).children(recursive=True)]
        for pid in children:
            reset_hwm(pid)
        children_before = {pid: proc_status(pid) for pid in children}
        sampler = RssSampler(server.proc.pid)
        sampler.start()
        cpu_before = cpu_seconds([server.proc.pid, *children])
        with open(csv_path, "rb") as fh, httpx.Client(base_url=server.base, headers=server.auth,
                                                      timeout=httpx.Timeout(None)) as client:
            t0 = time.perf_counter()
            response = client.post("/api/v1/ingest", files={"file": (csv_path.name, fh, "text/csv")})
            seconds = time.perf_counter() - t0
        cpu_s = cpu_seconds([server.proc.pid, *children]) - cpu_before
        samples = sampler.stop()
        after = proc_status(server.proc.pid)
        children_after = {pid: proc_status(pid) for pid in children if Path(f"/proc/{pid}").exists()}
        if response.status_code != 200:
            raise RuntimeError(f"ingest answered {response.status_code}: {response.text[:2000]}")
        report = response.json()
        if report["accepted"] != rows or report["rejected"] or report["duplicates"]:
            raise RuntimeError(f"expected {rows} accepted, got {report['accepted']} accepted, "
                               f"{report['duplicates']} duplicates, {report['rejected']} rejected: "
                               f"{report['rejects'][:5]}")
    finally:
        server.stop(30)
    ledger_rows = db.count("emissions")
    if ledger_rows != rows:
        raise RuntimeError(f"expected {rows} ledger rows, found {ledger_rows}")
    peak_at = max(samples, key=lambda s: s[1])[0] if samples else float("nan")
    return {
        "seconds": seconds, "cpu_s": cpu_s, "rows_per_s": rows / seconds, "startup_s": startup_s,
        "rss_before": before["VmRSS"], "peak_rss": after["VmHWM"], "rss_after": after["VmRSS"],
        "workers_rss_before": sum(v["VmRSS"] for v in children_before.values()),
        "workers_peak_rss": sum(v["VmHWM"] for v in children_after.values()),
        "hwm_reset": reset, "lifetime_hwm_before_upload": lifetime_hwm_before,
        "peak_at_s": peak_at, "factors": health.get("checks", health), "kg_co2e": report["kg_co2e"],
        "ledger_rows": ledger_rows,
    }


# ---------------------------------------------------------------------------------------- floor


def floor_factors(sites: list[dict[str, Any]]) -> pd.DataFrame:
    """The factors the real path picks for this data set, one kg CO2e per unit value each."""
    f = pd.read_csv(FACTORS_CSV, keep_default_na=False,
                    na_values={c: [""] for c in ("co2_kg", "ch4_kg", "n2o_kg", "co2e_kg", "valid_to")})
    gwp = pd.read_csv(GWP_CSV).set_index(["gwp_set", "gas"])["gwp"]
    hourly = f[(f["edition_key"] == "NESO-HOURLY") & (f["activity_type"] == "electricity")]
    egrid = f[(f["edition_key"] == "EPA-HUB-2025") & (f["region_level"] == "subnational")
              & (f["activity_type"] == "electricity")]
    gas = f[(f["edition_key"] == "EPA-HUB-2025") & (f["activity_type"] == "natural_gas") & (f["unit"] == "mmBtu")]
    chosen = pd.concat([hourly, egrid, gas], ignore_index=True)
    ch4 = chosen["gwp_set"].map(lambda s: gwp.get((s, "CH4"), 0.0))
    n2o = chosen["gwp_set"].map(lambda s: gwp.get((s, "N2O"), 0.0))
    from_gases = chosen["co2_kg"].fillna(0) + ch4 * chosen["ch4_kg"].fillna(0) + n2o * chosen["n2o_kg"].fillna(0)
    out = pd.DataFrame({
        "activity_type": chosen["activity_type"].astype(str),
        "region": chosen["region"].astype(str),
        "valid_from": pd.to_datetime(chosen["valid_from"], format="ISO8601").astype("datetime64[us]"),
        "factor_id": chosen["factor_id"].astype(str),
        "factor_unit": chosen["unit"].astype(str),
        "kg_per_unit": chosen["co2e_kg"].fillna(from_gases).astype(float),
    })
    return out.sort_values("valid_from", kind="stable").reset_index(drop=True)


def floor_worker(args: argparse.Namespace) -> None:
    """One floor run in its own process; prints a JSON line with timings and memory."""
    from sqlalchemy import create_engine

    base = proc_status()
    sites = json.loads(Path(args.sites_json).read_text())
    engine = create_engine(args.database_url)
    with engine.connect():
        pass
    t = time.perf_counter()
    factors = floor_factors(sites)
    grid_or_country = {s["id"]: s["grid_region"] or s["country"] for s in sites}
    country = {s["id"]: s["country"] for s in sites}
    prep_s = time.perf_counter() - t
    stages: dict[str, float] = {}

    t0, c0 = time.perf_counter(), time.process_time()
    df = pd.read_csv(args.csv)
    stages["read_csv"] = time.perf_counter() - t0

    t = time.perf_counter()
    df["period_start"] = pd.to_datetime(df["timestamp"], format="ISO8601", utc=True).dt.tz_localize(None)
    df["region"] = np.where(df["activity_type"] == "electricity", df["site"].map(grid_or_country),
                            df["site"].map(country))
    df = pd.merge_asof(df.sort_values("period_start", kind="stable"), factors, left_on="period_start",
                       right_on="valid_from", by=["activity_type", "region"], direction="backward")
    if df["factor_id"].isna().any():
        raise RuntimeError(f"floor: {int(df['factor_id'].isna().sum())} rows without a factor")
    df["kg_co2e"] = df["quantity"] * df["unit"].map(FLOOR_CONVERSION) * df["kg_per_unit"]
    out = df[["site", "meter", "period_start", "activity_type", "quantity", "unit", "factor_id", "kg_co2e"]]
    stages["merge+compute"] = time.perf_counter() - t

    t = time.perf_counter()
    if args.insert == "to_sql":
        method = None if args.to_sql_method == "none" else "multi"
        out.to_sql(args.table, engine, index=False, if_exists="replace", chunksize=args.to_sql_chunk,
                   method=method)
    else:
        from services.data_core.bulk import bulk_insert

        out.head(0).to_sql(args.table, engine, index=False, if_exists="replace")
        with engine.begin() as conn:
            bulk_insert(conn, args.table, out, not_null_text=("site", "meter", "activity_type", "unit"))
    stages["insert"] = time.perf_counter() - t
    seconds = time.perf_counter() - t0
    cpu_s = time.process_time() - c0
    kg = float(out["kg_co2e"].sum())
    engine.dispose()
    status = proc_status()
    print(json.dumps({"seconds": seconds, "cpu_s": cpu_s, "stages": stages, "prep_s": prep_s, "rows": len(out), "kg_co2e": kg,
                      "rss_before": base["VmRSS"], "peak_rss": status["VmHWM"]}))


def run_floor(db: Database, csv_path: Path, sites_json: Path, insert: str, args: argparse.Namespace) -> dict[str, Any]:
    table = "bench_floor_" + insert
    cmd = [PYTHON, str(Path(__file__).resolve()), "--floor-worker", "--database-url", db.url, "--csv", str(csv_path),
           "--sites-json", str(sites_json), "--table", table, "--insert", insert,
           "--to-sql-method", args.to_sql_method, "--to-sql-chunk", str(args.to_sql_chunk)]
    done = subprocess.run(cmd, cwd=REPO, env=child_env(one_blas_thread(), unset=UNSET), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"floor ({insert}) failed:\n{done.stderr[-4000:]}")
    result = dict(json.loads(done.stdout.strip().splitlines()[-1]))
    result["rows_per_s"] = result["rows"] / result["seconds"]
    result["table_rows"] = db.count(table)
    return result


# ---------------------------------------------------------------------------------------- report


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median times over the runs of one database; the largest peak RSS (the goal is about the worst case)."""
    def med(part: str, key: str) -> float:
        return float(np.median([r[part][key] for r in runs]))
    strict = all(r.get("strict") for r in runs)
    worst = max(runs, key=lambda r: r["real"]["peak_rss"])
    out = {
        "db": runs[0]["db"], "rows": runs[0]["rows"], "runs": len(runs),
        "real_s": med("real", "seconds"), "floor_s": med("floor", "seconds"),
        "strict_s": med("strict", "seconds") if strict else None,
        "ratio": float(np.median([r["real"]["seconds"] / r["floor"]["seconds"] for r in runs])),
        "ratios": [round(r["real"]["seconds"] / r["floor"]["seconds"], 3) for r in runs],
        "ratio_strict": float(np.median([r["real"]["seconds"] / r["strict"]["seconds"] for r in runs])) if strict
        else None,
        "peak_rss": worst["real"]["peak_rss"],
        "rss_growth": max(r["real"]["peak_rss"] - r["real"]["rss_before"] for r in runs),
        "workers_peak_rss": max(r["real"].get("workers_peak_rss", 0) for r in runs),
        "workers_growth": max(r["real"].get("workers_peak_rss", 0) - r["real"].get("workers_rss_before", 0)
                              for r in runs),
        "floor_peak_rss": max(r["floor"]["peak_rss"] for r in runs),
        "strict_peak_rss": max(r["strict"]["peak_rss"] for r in runs) if strict else None,
    }
    return out


def print_table(summaries: list[dict[str, Any]], file_bytes: int) -> str:
    header = ["db", "rows", "runs", "file MiB", "real s", "real rows/s", "floor s", "floor rows/s",
              "ratio real/floor", "strict floor s", "ratio real/strict", "peak RSS real MiB", "x file",
              "RSS growth MiB", "growth x file", "worker peak RSS MiB", "worker growth MiB",
              "server+worker growth x file", "floor peak RSS MiB", "strict peak RSS MiB"]
    lines = [md_header(header)]
    for r in summaries:
        strict = r["strict_s"] is not None
        lines.append(md_row([
            r["db"], f"{r['rows']:,}", str(r["runs"]), f"{file_bytes / MB:.1f}",
            f"{r['real_s']:.1f}", f"{r['rows'] / r['real_s']:,.0f}",
            f"{r['floor_s']:.1f}", f"{r['rows'] / r['floor_s']:,.0f}", f"{r['ratio']:.2f}",
            f"{r['strict_s']:.1f}" if strict else "-", f"{r['ratio_strict']:.2f}" if strict else "-",
            f"{r['peak_rss'] / MB:.0f}", f"{r['peak_rss'] / file_bytes:.1f}",
            f"{r['rss_growth'] / MB:.0f}", f"{r['rss_growth'] / file_bytes:.1f}",
            f"{r['workers_peak_rss'] / MB:.0f}", f"{r['workers_growth'] / MB:.0f}",
            f"{(r['rss_growth'] + r['workers_growth']) / file_bytes:.1f}",
            f"{r['floor_peak_rss'] / MB:.0f}", f"{r['strict_peak_rss'] / MB:.0f}" if strict else "-",
        ]))
    text = "\n".join(lines)
    print(text)
    return text


def run_once(kind: str, run: int, csv_path: Path, sites: list[dict[str, Any]], sites_json: Path,
             file_bytes: int, args: argparse.Namespace) -> dict[str, Any]:
    tag = f"[{kind} #{run}]"
    db = Database(kind, args.pg_admin_url)
    try:
        print(f"{tag} real path ...", flush=True)
        real = run_real(db, csv_path, sites, args.rows, args.chunk_rows)
        print(f"{tag} real: {real['seconds']:.1f}s, {real['rows_per_s']:,.0f} rows/s, peak RSS "
              f"{real['peak_rss'] / MB:.0f} MiB (before upload {real['rss_before'] / MB:.0f} MiB, "
              f"peak at {real['peak_at_s']:.0f}s)", flush=True)
        floor = run_floor(db, csv_path, sites_json, "to_sql", args)
        print(f"{tag} floor (to_sql): {floor['seconds']:.1f}s " + _stages(floor), flush=True)
        # the ratio of this run (real and floor side by side, same load); the summary gives the median
        print(f"{tag} ratio real/floor {real['seconds'] / floor['seconds']:.2f} "
              f"(load average {os.getloadavg()[0]:.2f}; CPU seconds real {real['cpu_s']:.1f} (server + ingest worker) / "
              f"floor {floor['cpu_s']:.1f} = {real['cpu_s'] / floor['cpu_s']:.2f})", flush=True)
        strict = None
        if not args.no_strict:
            strict = run_floor(db, csv_path, sites_json, "bulk", args)
            print(f"{tag} strict floor (bulk_insert): {strict['seconds']:.1f}s " + _stages(strict), flush=True)
        for name, result in (("floor", floor), ("strict", strict)):
            if result is not None and abs(result["kg_co2e"] - real["kg_co2e"]) > 1e-6 * abs(real["kg_co2e"]):
                print(f"{tag} note: {name} kg CO2e {result['kg_co2e']:.3f} vs real {real['kg_co2e']:.3f}")
        return {"db": kind, "run": run, "rows": args.rows, "file_bytes": file_bytes, "real": real, "floor": floor,
                "strict": strict}
    finally:
        if args.keep:
            print(f"{tag} kept {db.url}")
        else:
            db.drop()


def _stages(result: dict[str, Any]) -> str:
    return "(" + ", ".join(f"{k} {v:.1f}s" for k, v in result["stages"].items()) + ")"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--seed", type=int, default=20240601)
    parser.add_argument("--pg-admin-url", default=os.environ.get("BENCH_POSTGRES_URL", PG_ADMIN_DEFAULT),
                        help="a database on the server to CREATE/DROP the bench database from")
    parser.add_argument("--chunk-rows", type=int, default=None,
                        help="INGEST_CHUNK_ROWS for the server (default: the service's default)")
    parser.add_argument("--to-sql-method", choices=["none", "multi"], default="none")
    parser.add_argument("--to-sql-chunk", type=int, default=50_000)
    parser.add_argument("--no-strict", action="store_true", help="skip the bulk_insert floor")
    parser.add_argument("--keep", action="store_true", help="keep the databases (SQLite file / PG database)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per database (fresh database each); "
                        "the table shows median times and the largest peak RSS")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures as JSON here")
    # internal: one floor run
    parser.add_argument("--floor-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    parser.add_argument("--sites-json", help=argparse.SUPPRESS)
    parser.add_argument("--table", help=argparse.SUPPRESS)
    parser.add_argument("--insert", choices=["to_sql", "bulk"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_worker:
        floor_worker(args)
        return

    use_offline_env()
    OUT.mkdir(parents=True, exist_ok=True)
    sites = make_sites(args.sites)
    sites_json = OUT / "sites.json"
    sites_json.write_text(json.dumps(sites))
    csv_path = OUT / f"activities-{args.rows}-{args.seed}.csv"
    with timer() as t:
        generate(csv_path, args.rows, sites, args.seed)
    file_bytes = csv_path.stat().st_size
    print(f"generated {args.rows:,} rows ({file_bytes / MB:.1f} MiB) in {t.s:.1f}s: {csv_path}")

    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    load_before = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f} (other processes on the machine change the figures)")
    results: list[dict[str, Any]] = []
    for kind in kinds:
        for run in range(1, args.repeat + 1):
            results.append(run_once(kind, run, csv_path, sites, sites_json, file_bytes, args))
    print()
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, python {sys.version.split()[0]}, "
          f"pandas {pd.__version__}, load average {load_before[0]:.2f} before / {os.getloadavg()[0]:.2f} after "
          "(the bench itself keeps about one core busy)")
    summaries = [summarise([r for r in results if r["db"] == kind]) for kind in kinds]
    print_table(summaries, file_bytes)
    for r in summaries:
        speed = r["ratio"] <= 1.5
        memory = r["peak_rss"] <= 3 * file_bytes
        print(f"ratios [{r['db']}] per run: {', '.join(f'{x:.2f}' for x in r['ratios'])}; median {r['ratio']:.2f}")
        print(f"goal [{r['db']}]: ratio {r['ratio']:.2f} {'<=' if speed else '>'} 1.5 ({'met' if speed else 'MISSED'}); "
              f"peak RSS {r['peak_rss'] / file_bytes:.1f}x {'<=' if memory else '>'} 3x file "
              f"({'met' if memory else 'MISSED'}; growth during the request {r['rss_growth'] / file_bytes:.1f}x, "
              f"with the ingest worker {(r['rss_growth'] + r['workers_growth']) / file_bytes:.1f}x)")
    if args.json:
        args.json.write_text(json.dumps({"when": datetime.now(UTC).isoformat(), "cpus": os.cpu_count(),
                                         "file_bytes": file_bytes, "summaries": summaries, "runs": results},
                                        indent=2, default=str))


if __name__ == "__main__":
    main()
