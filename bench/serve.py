"""Serving speed of carbon-baseline: this ML engine next to ``mlflow models serve --env-manager local``,
the same registered model, in one run (issue #3).

    .venv/bin/python bench/serve.py [--seconds 10] [--repeat 3] [--tracking-uri URI] [--json bench/out/serve.json]

1. Trains carbon-baseline on the real Cambridge buildings (train 2019, holdout 2020-01-01 .. 03-15, both
   activity types, 600 trees) into a fresh MLflow store under bench/out/serve/ and registers it as
   champion (or, with --tracking-uri, uses the champion of an existing registry, e.g. make up's).
2. Starts both servers on 127.0.0.1, one worker process each, loading ``models:/carbon-baseline@champion``.
3. Single-row requests (``dataframe_split``, every input column; rows drawn from the real holdout) at
   concurrency 1 and 16 for --seconds each, --repeat times with the servers taking turns (medians):
   requests per second, p50 and p99 latency, errors.
4. A 10,000-row batch through each server (median of 5) against the bare ``model.predict`` of the
   loaded pyfunc in this process (median of 5).

Goals: >= 3x the requests per second of ``mlflow models serve``; p99 <= 20 ms for a single row; the
batch within 2x of the bare predict. Client and servers share the machine's 2 cores; servers and the bare
predict use OMP_NUM_THREADS threads (default 1, as make up runs the services).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root: bench.harness, services

from bench.harness import BIN, Service, free_port, percentiles, use_offline_env  # noqa: E402
from bench.harness import OUT as BENCH_OUT  # noqa: E402

# The servers and the bare predict use the same number of OpenMP threads (make up runs services with 1 on
# 2 cores); set OMP_NUM_THREADS=2 to compare with two.
use_offline_env(OMP_NUM_THREADS="1")
use_offline_env(OPENBLAS_NUM_THREADS=os.environ["OMP_NUM_THREADS"])

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import secrets  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

OUT = BENCH_OUT / "serve"
NAME = "carbon-baseline"


# --------------------------------------------------------------------------- model
def train_store(max_iter: int) -> tuple[str, pd.DataFrame]:
    """A fresh MLflow store with the production model as champion; returns (uri, holdout inputs)."""
    import mlflow
    from bench.accuracy import WINDOW, load_readings, load_weather
    from services.ml_engine import registry
    from services.ml_engine.bundle import INPUT_COLUMNS
    from services.ml_engine.training import evaluate, holdout_inputs, prepare, train_bundle

    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    uri = f"sqlite:///{OUT / 'mlflow.db'}"
    registry.configure(uri)
    mlflow.MlflowClient(uri).create_experiment("carbon-baseline", artifact_location=(OUT / "artifacts").as_uri())
    readings, area = load_readings()
    series, weather = prepare(readings), load_weather()
    t = time.perf_counter()
    bundle = train_bundle(series, weather, area, WINDOW, params={"max_iter": max_iter})
    print(f"trained in {time.perf_counter() - t:.1f} s")
    inputs = holdout_inputs(series, weather, WINDOW)
    per_site, metrics = evaluate(bundle, inputs)
    example = inputs[INPUT_COLUMNS].head(2).assign(timestamp=lambda d: d["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    registry.log_and_register(bundle, name=NAME, params={"max_iter": max_iter}, metrics=metrics, per_site=per_site,
                              tags={"fingerprint": "bench-serve"}, input_example=example, promote=True)
    return uri, inputs


def holdout_rows(n: int) -> pd.DataFrame:
    from bench.accuracy import WINDOW, load_readings, load_weather
    from services.ml_engine.training import holdout_inputs, prepare

    readings, _ = load_readings()
    return holdout_inputs(prepare(readings), load_weather(), WINDOW).head(n)


def as_split(frame: pd.DataFrame) -> dict:
    from services.ml_engine.bundle import INPUT_COLUMNS

    df = frame[INPUT_COLUMNS].copy()
    df["timestamp"] = df["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    df = df.astype(object).where(df.notna(), None)
    return {"dataframe_split": {"columns": list(df.columns), "data": df.to_numpy().tolist()}}


# --------------------------------------------------------------------------- servers
# --------------------------------------------------------------------------- load
HEADERS = {"Content-Type": "application/json"}  # main() adds the engine's token


async def load(url: str, bodies: list[bytes], concurrency: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, trust_env=False, timeout=30) as client:
        headers = HEADERS
        for body in bodies[:50]:  # warm-up
            await client.post("/invocations", content=body, headers=headers)
        stop_at = time.perf_counter() + seconds
        counter = iter(range(10**9))

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < stop_at:
                body = bodies[next(counter) % len(bodies)]
                t = time.perf_counter()
                response = await client.post("/invocations", content=body, headers=headers)
                latencies.append(time.perf_counter() - t)
                errors += response.status_code != 200

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    pct = percentiles([x * 1000 for x in latencies], (50, 99))
    return {"requests": len(latencies), "rps": len(latencies) / elapsed, "p50_ms": pct[50], "p99_ms": pct[99],
            "errors": errors}


def batch(url: str, body: bytes, repeat: int = 5) -> float:
    times = []
    with httpx.Client(base_url=url, trust_env=False, timeout=300) as client:
        client.post("/invocations", content=body, headers=HEADERS)
        for _ in range(repeat):
            t = time.perf_counter()
            r = client.post("/invocations", content=body, headers=HEADERS)
            times.append(time.perf_counter() - t)
            assert r.status_code == 200 and len(r.json()["predictions"]) == 10_000, r.text[:300]
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=3, help="load runs per server and concurrency (median)")
    parser.add_argument("--max-iter", type=int, default=600)
    parser.add_argument("--tracking-uri", help="use this registry's champion instead of training one")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    # the registered model is signed and the engine loads only what verifies (services/ml_engine/signing.py):
    # a key of this run (children inherit it), unless one is set (--tracking-uri: the registry's own key)
    os.environ.setdefault("MODEL_SIGNING_KEY", secrets.token_urlsafe(32))
    if args.tracking_uri:
        OUT.mkdir(parents=True, exist_ok=True)
        uri, inputs = args.tracking_uri, holdout_rows(20_000)
    else:
        uri, inputs = train_store(args.max_iter)
    import mlflow

    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    from services.ml_engine.training import predictable

    model = mlflow.pyfunc.load_model(f"models:/{NAME}@champion")
    inputs = inputs[predictable(model.unwrap_python_model().bundle, inputs)].reset_index(drop=True)
    ours_port, theirs_port = free_port(), free_port()
    token = secrets.token_urlsafe(24)
    HEADERS["Authorization"] = f"Bearer {token}"  # the engine's /invocations needs a token (mlflow's ignores it)
    ours = Service("ml-engine", "services.ml_engine.app", OUT / "ml-engine.log",
                   {"PORT": str(ours_port), "API_TOKEN": token, "MLFLOW_TRACKING_URI": uri, "LOG_LEVEL": "WARNING",
                    "DATA_CORE_URL": "http://127.0.0.1:9"}, port=ours_port)
    theirs = Service("mlflow-models-serve", [str(BIN / "mlflow"), "models", "serve", "-m", f"models:/{NAME}@champion",
                                             "--env-manager", "local", "-h", "127.0.0.1", "-p", str(theirs_port),
                                             "-w", "1"], OUT / "mlflow-models-serve.log",
                     {"MLFLOW_TRACKING_URI": uri}, port=theirs_port)
    results: dict[str, object] = {}
    try:
        servers = {"ml-engine": ours.url, "mlflow models serve": theirs.url}
        for process in (ours, theirs):
            process.wait_healthy(process.url + "/ping", timeout=180, interval=0.5)
        rng = np.random.default_rng(0)
        sample = inputs.iloc[rng.choice(len(inputs), size=min(1000, len(inputs)), replace=False)]
        bodies = [json.dumps(as_split(sample.iloc[[i]])).encode() for i in range(len(sample))]
        big = json.dumps(as_split(inputs.iloc[:10_000])).encode()
        # answers must agree before speed means anything
        answers = [httpx.post(u + "/invocations", content=bodies[0], headers=HEADERS,
                              trust_env=False).json()["predictions"] for u in servers.values()]
        a0, a1 = answers[0][0], answers[1][0]
        assert abs(a0["expected"] - a1["expected"]) < 1e-6 * max(1.0, abs(a0["expected"])), answers
        for concurrency in (1, 16):
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in servers}
            for _ in range(args.repeat):  # the servers take turns, so drift hits both alike
                for name, url in servers.items():
                    runs[name].append(asyncio.run(load(url, bodies, concurrency, args.seconds)))
            for name in servers:
                r = {k: statistics.median(run[k] for run in runs[name]) for k in runs[name][0]}
                r["errors"] = sum(run["errors"] for run in runs[name])
                r["rps_runs"] = [round(run["rps"], 1) for run in runs[name]]  # type: ignore[assignment]
                results[f"{name} c={concurrency}"] = r
                print(f"{name:22} c={concurrency:<3} {r['rps']:8.1f} req/s  p50 {r['p50_ms']:6.2f} ms  "
                      f"p99 {r['p99_ms']:6.2f} ms  errors {r['errors']}  (median of {args.repeat}: {r['rps_runs']})")
        frame = pd.DataFrame(as_split(inputs.iloc[:10_000])["dataframe_split"]["data"],
                             columns=as_split(inputs.iloc[:1])["dataframe_split"]["columns"])
        model.predict(frame)
        bare = statistics.median(_timed(lambda: model.predict(frame)) for _ in range(5))
        inner = model.unwrap_python_model().bundle
        bare_bundle = statistics.median(_timed(lambda: inner.predict(frame)) for _ in range(5))
        for name, url in servers.items():
            results[f"{name} batch 10k s"] = batch(url, big)
        results["bare pyfunc predict 10k s"] = bare
        results["bare bundle predict 10k s"] = bare_bundle
    finally:
        ours.stop()
        theirs.stop()
    summary = {
        "rps_ratio_c1": results["ml-engine c=1"]["rps"] / results["mlflow models serve c=1"]["rps"],  # type: ignore[index]
        "rps_ratio_c16": results["ml-engine c=16"]["rps"] / results["mlflow models serve c=16"]["rps"],  # type: ignore[index]
        "p99_ms_c1": results["ml-engine c=1"]["p99_ms"],  # type: ignore[index]
        "batch_vs_bare": results["ml-engine batch 10k s"] / results["bare pyfunc predict 10k s"],  # type: ignore[operator]
        "mlflow_batch_vs_bare": results["mlflow models serve batch 10k s"] / results["bare pyfunc predict 10k s"],  # type: ignore[operator]
    }
    print(f"batch 10k: ml-engine {results['ml-engine batch 10k s']:.3f} s, mlflow models serve "
          f"{results['mlflow models serve batch 10k s']:.3f} s, bare pyfunc predict {bare:.3f} s "
          f"(bundle alone {bare_bundle:.3f} s)")
    summary["omp_num_threads"] = int(os.environ["OMP_NUM_THREADS"])
    print(json.dumps(summary, indent=2))
    print(f"goals: rps >= 3x mlflow models serve: c=1 {summary['rps_ratio_c1']:.2f}x, c=16 {summary['rps_ratio_c16']:.2f}x; "
          f"p99 single row <= 20 ms: {summary['p99_ms_c1']:.1f} ms; batch <= 2x bare predict: "
          f"{summary['batch_vs_bare']:.2f}x")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"results": results, "summary": summary}, indent=2, default=float))


def _timed(fn) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
