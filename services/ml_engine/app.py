"""ML engine (port 8001): serves ``models:/carbon-baseline@champion``.

* MLflow scoring protocol: ``POST /invocations`` (JSON ``dataframe_split`` / ``dataframe_records`` /
  ``inputs`` / ``instances``, or ``text/csv``), ``GET /ping``, ``GET /version``;
* typed API: ``POST /api/v1/predict`` (site, timestamps, optional features; history from the data core),
  ``GET /api/v1/models``, ``POST /api/v1/models/reload``.

Stateless: the model comes from the registry, history from the data core; run as many replicas as needed.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import orjson
import pandas as pd
from fastapi import APIRouter, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.responses import Response

import mlflow
from services.common.app import create_app as base_app
from services.common.app import serve
from services.common.auth import WriteAuth
from services.common.datacore import AsyncDataCoreClient
from services.common.errors import DomainError, ServiceUnavailable, Unprocessable, UnsupportedMediaType
from services.common.ratelimit import RateLimitMiddleware, RateRule
from services.ml_engine import registry
from services.ml_engine.bundle import (
    FLEET_COLUMNS,
    HISTORY_COLUMNS,
    INPUT_COLUMNS,
    OUTPUT_COLUMNS,
    BaselineBundle,
    Detail,
    InputError,
    Table,
    history_inputs,
)
from services.ml_engine.calibration import CAL_DAYS, calibrate
from services.ml_engine.history import HISTORY_DAYS, fetch_history
from services.ml_engine.proxies import ForwardedForMiddleware
from services.ml_engine.serving import ModelHolder, Served
from services.ml_engine.settings import MLEngineSettings, get_settings

log = logging.getLogger(__name__)
THREAD_ROWS = 256
MAX_SPAN_HOURS = 10_000  # one typed request covers at most ~14 months (history is built hour by hour)  # larger requests predict in a worker thread so the event loop keeps answering
JSON_FORMATS = ("dataframe_split", "dataframe_records", "inputs", "instances")


# --------------------------------------------------------------------------- helpers
def _served(request: Request) -> Served:
    holder: ModelHolder = request.app.state.holder
    current = holder.current
    if current is None:
        raise ServiceUnavailable(f"no model loaded yet: {holder.last_error or 'waiting for the registry'}")
    return current


def _json_response(result: Detail, served: Served) -> Response:
    """MLflow's answer shape: {"predictions": [{"expected": .., "lower": .., "upper": .., "basis": "site",
    "weather": "hourly", "reason": null}, ...]} (NaN -> null; basis none + a reason for a row that cannot be
    predicted yet)."""
    rows = [dict(zip(OUTPUT_COLUMNS, row, strict=True)) | {"basis": b, "weather": "hourly" if w else "none",
                                                            "reason": r or None}
            for row, b, w, r in zip(result.values.tolist(), result.basis.tolist(), result.weather.tolist(),
                                    result.reason.tolist(), strict=True)]
    return Response(orjson.dumps({"predictions": rows}), media_type="application/json",
                    headers={"X-Model-Version": served.version, "X-Model-Name": served.name})


async def _predict(served: Served, frame: Table, max_rows: int) -> Detail:
    rows = len(frame) if isinstance(frame, pd.DataFrame) else max((len(v) for v in frame.values()), default=0)
    if rows == 0:
        raise Unprocessable("no rows to predict", field="data")
    if rows > max_rows:
        raise Unprocessable(f"{rows} rows exceed the limit of {max_rows} per request", field="data")
    try:
        if rows > THREAD_ROWS:
            return await run_in_threadpool(served.bundle.predict_rows, frame)
        return served.bundle.predict_rows(frame)
    except InputError as exc:
        raise Unprocessable(str(exc), field=exc.field) from exc


def _frame_from_json(payload: Any) -> Table:
    """The MLflow scoring-protocol JSON forms -> DataFrame (errors name the field)."""
    if not isinstance(payload, dict):
        raise Unprocessable("the body must be a JSON object with one of: " + ", ".join(JSON_FORMATS), field="body")
    present = [k for k in JSON_FORMATS if k in payload]
    extra = [k for k in payload if k not in (*JSON_FORMATS, "params")]
    if extra:
        raise Unprocessable(f"unknown key(s): {', '.join(map(str, extra[:5]))}; expected one of "
                            f"{', '.join(JSON_FORMATS)} (and optionally params)", field=str(extra[0]))
    if len(present) != 1:
        raise Unprocessable(f"the body must have exactly one of: {', '.join(JSON_FORMATS)}",
                            field=present[1] if present else "body")
    key = present[0]
    data = payload[key]
    try:
        if key == "dataframe_split":
            if not isinstance(data, dict) or "data" not in data:
                raise Unprocessable("dataframe_split needs 'columns' and 'data'", field="dataframe_split")
            columns, rows = data.get("columns"), data["data"]
            if not isinstance(rows, list) or (columns is not None and not isinstance(columns, list)):
                raise Unprocessable("dataframe_split.columns and .data must be lists", field="dataframe_split.data")
            if not all(isinstance(r, list) for r in rows):
                raise Unprocessable("each row of dataframe_split.data must be a list", field="dataframe_split.data")
            if columns is None or not all(isinstance(c, str) for c in columns):
                raise Unprocessable("dataframe_split.columns must be a list of column names",
                                    field="dataframe_split.columns")
            widths = {len(r) for r in rows}
            if widths and widths != {len(columns)}:
                raise Unprocessable(f"every row needs {len(columns)} values (one per column)",
                                    field="dataframe_split.data")
            if len(set(columns)) != len(columns):
                raise Unprocessable("dataframe_split.columns has a name twice", field="dataframe_split.columns")
            if 0 < len(rows) <= THREAD_ROWS:
                # small requests skip the DataFrame: plain columns (each cell kept as sent) are enough
                return {name: np.fromiter((r[j] for r in rows), dtype=object, count=len(rows))
                        for j, name in enumerate(columns)}
            return pd.DataFrame(rows, columns=columns, index=data.get("index") if isinstance(data.get("index"), list) else None)
        if isinstance(data, list):
            if not all(isinstance(r, dict) for r in data):
                raise Unprocessable(f"{key} must be a list of objects (one per row) or an object of columns",
                                    field=key)
            return pd.DataFrame.from_records(data)
        if isinstance(data, dict) and key != "dataframe_records":
            columns = {k: v if isinstance(v, list) else [v] for k, v in data.items()}
            if len({len(v) for v in columns.values()}) > 1:
                raise Unprocessable(f"every column of {key} needs the same number of values", field=key)
            return pd.DataFrame(columns)
    except (ValueError, TypeError) as exc:
        raise Unprocessable(f"{key} is not a table: {exc}", field=key) from exc
    raise Unprocessable(f"{key} must be a list of rows" + ("" if key == "dataframe_records" else " or an object of columns"),
                        field=key)


# --------------------------------------------------------------------------- MLflow scoring protocol
scoring = APIRouter(tags=["scoring protocol"])


@scoring.get("/ping", summary="200 when a model is loaded (MLflow scoring protocol)")
async def ping(request: Request) -> Response:
    _served(request)
    return Response("\n", media_type="application/json")


@scoring.get("/version", summary="MLflow version and the model version served")
async def version(request: Request) -> dict[str, Any]:
    current = request.app.state.holder.current
    return {"mlflow": mlflow.__version__, "model": current.describe() if current else None}


@scoring.post(
    "/invocations",
    summary="Score rows (MLflow scoring protocol)",
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"type": "object", "properties": {
            "dataframe_split": {"type": "object"}, "dataframe_records": {"type": "array", "items": {"type": "object"}},
            "inputs": {}, "instances": {}, "params": {"type": "object"}}}},
        "text/csv": {"schema": {"type": "string"}}}}},
)
async def invocations(request: Request) -> Response:
    served = _served(request)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if content_type == "application/json":
        try:
            payload = orjson.loads(body)
        except (orjson.JSONDecodeError, ValueError, UnicodeDecodeError) as exc:
            raise Unprocessable(f"the body is not valid JSON: {exc}", field="body") from exc
        frame = _frame_from_json(payload)
    elif content_type == "text/csv":
        try:
            frame = pd.read_csv(io.BytesIO(body), dtype={"site": str, "timestamp": str, "activity_type": str})
        except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
            raise Unprocessable(f"the body is not a CSV table: {exc}", field="body") from exc
    else:
        raise UnsupportedMediaType(f"content type {content_type or '(none)'!r} is not supported; send "
                                   "application/json or text/csv", field="content-type")
    result = await _predict(served, frame, request.app.state.settings.max_rows)
    return _json_response(result, served)


# --------------------------------------------------------------------------- typed API
api = APIRouter(prefix="/api/v1", tags=["predictions"])


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site: str = Field(min_length=1, max_length=64, description="site id as registered in the data core")
    activity_type: str = Field(default="electricity", min_length=1, max_length=80)
    timestamps: list[datetime] = Field(min_length=1, max_length=10_000, description="hours to predict (UTC unless an offset is given)")
    features: dict[Literal["temp_c", "rh", "irradiance", *HISTORY_COLUMNS], list[float | None]] | None = Field(  # type: ignore[valid-type]
        default=None, description="optional per-timestamp values (weather forecast, or history in kWh) that "
                                  "override what the engine would look up")
    history: Literal["auto", "none"] = Field(
        default="auto", description="auto: day-ahead lags from the data core's readings; none: without history")

    @model_validator(mode="after")
    def _aligned(self) -> PredictRequest:
        stamps = [t if t.tzinfo else t.replace(tzinfo=UTC) for t in self.timestamps]
        if any(not 1900 <= t.year <= 2200 for t in stamps):
            raise ValueError("timestamps must lie between the years 1900 and 2200")
        if (max(stamps) - min(stamps)).total_seconds() > MAX_SPAN_HOURS * 3600:
            raise ValueError(f"timestamps must span at most {MAX_SPAN_HOURS} hours (split longer ranges)")
        for name, values in (self.features or {}).items():
            if len(values) != len(self.timestamps):
                raise ValueError(f"features.{name} needs {len(self.timestamps)} values (one per timestamp)")
            if any(v is not None and not np.isfinite(v) for v in values):
                raise ValueError(f"features.{name} must hold finite numbers or null")
        return self


class Prediction(BaseModel):
    timestamp: datetime
    expected: float | None = Field(description="null when the hour cannot be predicted yet (see reason)")
    lower: float | None
    upper: float | None
    basis: Literal["site", "fleet", "none"] = Field(
        description="site: the site model (trained on this site); fleet: the fleet model (a site the site "
                    "model does not know, from its own recent history); none: not predicted, see reason")
    weather: Literal["hourly", "none"] = Field(description="none: predicted without weather for this hour")
    reason: str | None = None


class PredictResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())
    site: str
    activity_type: str
    unit: str = "kWh"
    interval: float
    model: dict[str, Any]
    history: dict[str, Any]
    weather: dict[str, Any] = Field(description="where the weather came from: the model's packed series of the "
                                                "site's station, the data core, or none")
    calibration: dict[str, Any] | None = Field(
        default=None, description="the fleet model's per-site calibration from the site's recent readings")
    predictions: list[Prediction]


@api.post("/predict", response_model=PredictResponse, summary="Expected value and interval per timestamp")
async def predict(body: PredictRequest, request: Request) -> dict[str, Any]:
    served = _served(request)
    bundle = served.bundle
    if body.activity_type not in bundle.activity_types():
        raise Unprocessable(f"the model has no {body.activity_type!r}; known: {', '.join(bundle.activity_types())}",
                            field="activity_type")
    sm = bundle.series.get(body.activity_type)
    known = sm is not None and body.site in sm.site_codes
    if not known and body.activity_type not in bundle.fleet:
        raise Unprocessable(f"unknown site {body.site!r} for {body.activity_type} (the model knows "
                            f"{len(sm.site_codes) if sm else 0} sites and has no fleet model for new sites)",
                            field="site")
    ts = pd.DatetimeIndex([pd.Timestamp(t) for t in body.timestamps])
    ts = (ts.tz_localize("UTC") if ts.tz is None else ts.tz_convert("UTC")).floor("h")
    frame = pd.DataFrame({"site": body.site, "activity_type": body.activity_type, "timestamp": ts})
    history: dict[str, Any] = {"source": "none"}
    past = pd.DataFrame()
    weather = await _site_weather(request, bundle, body.site, ts, known)
    if body.history == "auto":
        history, past = await _history_features(request, body, frame)
    if weather.get("frame") is not None:
        _put_weather(frame, weather["frame"])
        if len(past):
            _put_weather(past, weather["frame"])
    for name, values in (body.features or {}).items():
        frame[name] = np.array([np.nan if v is None else v for v in values], dtype=float)
    calibration = None
    ready = frame["timestamp"][frame["recent_scale"] > 0] if "recent_scale" in frame else pd.Series([], dtype=object)
    if not known and len(past) and len(ready):  # from the readings before the first hour it can predict
        first_ready = pd.Timestamp(ready.min())
        calibration = await run_in_threadpool(calibrate, bundle, body.activity_type, body.site, past, first_ready)
    cals = {(body.activity_type, body.site): calibration} if calibration is not None else None
    detail = await _predict_detail(served, frame[[c for c in INPUT_COLUMNS if c in frame.columns]],
                                   request.app.state.settings.max_rows, cals)
    if history.get("source") == "none":  # the fleet needs the site's history: say why it had none
        why = history.get("reason") or "history none"
        detail.reason[detail.basis == "none"] = f"no history in this request ({why}); " \
            f"a site the site model was not trained on is predicted from its own readings"
    out = pd.DataFrame(detail.values, columns=OUTPUT_COLUMNS).astype(object)
    out = out.where(out.notna(), None)
    alpha = sm.intervals.alpha if known and sm is not None else bundle.fleet[body.activity_type].alpha
    weather.pop("frame", None)
    return {"site": body.site, "activity_type": body.activity_type, "interval": 1 - alpha,
            "model": served.describe(), "history": history, "weather": weather,
            "calibration": calibration.describe() if calibration is not None else None,
            "predictions": [{"timestamp": t.isoformat(), "expected": e, "lower": lo, "upper": hi, "basis": b,
                             "weather": "hourly" if w else "none", "reason": r or None}
                            for t, e, lo, hi, b, w, r in zip(ts, out["expected"], out["lower"], out["upper"],
                                                             detail.basis, detail.weather, detail.reason,
                                                             strict=True)]}


async def _predict_detail(served: Served, frame: pd.DataFrame, max_rows: int, calibrations: Any) -> Detail:
    if len(frame) > max_rows:
        raise Unprocessable(f"{len(frame)} rows exceed the limit of {max_rows} per request", field="data")
    try:
        return await run_in_threadpool(served.bundle.predict_rows, frame, calibrations)
    except InputError as exc:
        raise Unprocessable(str(exc), field=exc.field) from exc


def _put_weather(frame: pd.DataFrame, weather: pd.DataFrame) -> None:
    """The data core's weather of each hour of ``frame`` as the model's weather inputs (NaN where none)."""
    at = weather.drop_duplicates("timestamp").set_index("timestamp")
    for col, src in WEATHER_SOURCES.items():
        frame[col] = at[src].reindex(frame["timestamp"]).to_numpy(float)


WEATHER_SOURCES = {"temp_c": "air_temperature_degC", "rh": "relative_humidity_pct",
                   "irradiance": "global_irradiance_w_m2"}


async def _site_weather(request: Request, bundle: BaselineBundle, site: str, ts: pd.DatetimeIndex,
                        known: bool) -> dict[str, Any]:
    """The weather of the site's station: the model's packed series when the site's station is packed and
    covers every hour asked (and, for the fleet, the history before), else the data core's
    (``GET /sites/{id}/weather``; none when the site has no station or the data core does not answer)."""
    station = bundle.site_station.get(site, bundle.default_station)
    if station in bundle.weather:
        first = ts.min().floor("D") - (pd.Timedelta(0) if known else pd.Timedelta(days=CAL_DAYS))
        table = bundle.weather[station].index
        if len(table) and table.min() <= first and table.max() >= ts.max():
            return {"source": "model", "station": station}
    client: AsyncDataCoreClient = request.app.state.data_core
    start = ts.min().floor("D") - pd.Timedelta(days=CAL_DAYS + 1)
    try:
        frame = await client.weather(site, start, ts.max() + pd.Timedelta("1h"))
    except (DomainError, ValueError) as exc:  # the data core down, a site it does not know, a bad CSV
        log.warning("weather of %s from the data core unavailable: %s", site, exc)
        return {"source": "none", "station": None, "reason": f"data core: {type(exc).__name__}"}
    if frame.attrs.get("weather") == "none" or frame.empty:
        return {"source": "none", "station": frame.attrs.get("station"),
                "reason": "the site has no weather station, or its station no hour of this window"}
    return {"source": "data-core", "station": frame.attrs.get("station"), "frame": frame}


async def _history_features(request: Request, body: PredictRequest,
                            frame: pd.DataFrame) -> tuple[dict[str, Any], pd.DataFrame]:
    """Fill the history columns of ``frame`` from the data core (and return the model inputs of the site's
    recent readings, with their values, for the fleet's calibration); on failure predict without them and
    say so."""
    client: AsyncDataCoreClient = request.app.state.data_core
    first, last = frame["timestamp"].min(), frame["timestamp"].max()
    try:
        readings = await fetch_history(client, body.site, body.activity_type, first, last)
    except (DomainError, ValueError) as exc:  # the client's UpstreamProblem / ServiceUnavailable, a bad CSV
        log.warning("history from the data core unavailable: %s", exc)
        return {"source": "none", "reason": f"data core unavailable: {type(exc).__name__}"}, pd.DataFrame()
    hourly = readings.rename(columns={"quantity": "value"})[["site", "timestamp", "value"]]
    long = hourly.groupby(["site", "timestamp"])["value"].sum().reset_index()
    targets = frame[["site", "timestamp"]].drop_duplicates().assign(value=np.nan)
    long = pd.concat([long, targets[~targets["timestamp"].isin(long["timestamp"])]], ignore_index=True)
    hist = await run_in_threadpool(history_inputs, long, body.activity_type)
    at = hist.set_index("timestamp")
    for col in [*HISTORY_COLUMNS, *FLEET_COLUMNS]:
        frame[col] = at[col].reindex(frame["timestamp"]).to_numpy()
    # every reading with its inputs: calibration.calibrate takes those before the first hour it calibrates for
    past = long[long["value"].notna()].merge(hist, on=["site", "timestamp"])
    past.insert(1, "activity_type", body.activity_type)
    start = first.floor("D") - pd.Timedelta(days=HISTORY_DAYS)
    days = frame["history_days"]
    return {"source": "data-core", "readings": int(len(readings)), "from": start.isoformat(),
            "to": (last + pd.Timedelta("1h")).isoformat(),
            "days": int(days.iloc[0]) if len(days) and days.notna().iloc[0] else 0}, past


@api.get("/models", summary="Registered versions: aliases, holdout metrics, run id, when trained")
async def models(request: Request) -> dict[str, Any]:
    holder: ModelHolder = request.app.state.holder
    s = holder.settings
    try:
        versions = await asyncio.to_thread(registry.describe_versions, holder.client, s.model_name)
        registry_status: dict[str, Any] = {"reachable": True}
    except Exception as exc:  # noqa: BLE001 - the registry being down must not fail this answer
        log.warning("listing the registered models failed: %s: %s", type(exc).__name__, exc)
        versions, registry_status = [], {"reachable": False, "error": "the model registry did not answer"}
    current = holder.current
    return {"name": s.model_name, "alias": s.model_alias, "served": current.describe() if current else None,
            "registry": registry_status | {"uri": s.mlflow_tracking_uri, "last_error": holder.last_error},
            "versions": versions}


@api.post("/models/reload", dependencies=[WriteAuth], summary="Check the alias now (the engine also polls)")
async def reload(request: Request) -> dict[str, Any]:
    holder: ModelHolder = request.app.state.holder
    swapped = await asyncio.to_thread(holder.refresh)
    current = holder.current
    return {"swapped": swapped, "served": current.describe() if current else None, "last_error": holder.last_error}


# --------------------------------------------------------------------------- app
def _app(settings: MLEngineSettings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        holder = ModelHolder(settings)
        app.state.holder = holder
        app.state.data_core = AsyncDataCoreClient(settings.data_core_url, settings.api_token.get_secret_value(),
                                                  timeout=settings.data_core_timeout_seconds)
        await asyncio.to_thread(holder.refresh)
        poller = asyncio.create_task(holder.poll())
        try:
            yield
        finally:
            poller.cancel()
            with suppress(asyncio.CancelledError):
                await poller
            await app.state.data_core.aclose()

    # /health is liveness: the engine runs and its registry answers (or it serves a model). A registry
    # without a champion yet is healthy (not ready): the champion is trained from the data core's data,
    # which starts after the engine. Readiness to score is /ping (the MLflow scoring protocol).
    # A version the alias names whose artefacts do not verify is refused (services/ml_engine/signing.py):
    # the previous champion stays served (ready stays true) and "refused" / "last_error" say why, in our
    # words (never exception text).
    async def model_check(app: FastAPI) -> tuple[bool, dict[str, Any]]:
        holder: ModelHolder = app.state.holder
        current, refused = holder.current, holder.refused
        return current is not None or holder.registry_reachable, {
            "ready": current is not None, "served": current.describe() if current else None,
            "from_cache": holder.from_cache, "refused": refused.describe() if refused else None,
            "last_error": holder.last_error}

    return base_app(
        settings,
        title="Carbon Nexus ML engine",
        description="Expected consumption per site and hour with prediction intervals, served from the MLflow "
                    "registry (carbon-baseline@champion).",
        routers=[scoring, api],
        lifespan=lifespan,
        health_checks={"model": model_check},
        public_paths=["/ping"],
        read_posts=["/invocations", "/api/v1/predict"],
    )


PREDICT_PATHS = (r"/invocations", r"/api/v1/predict")


def create_app(settings: MLEngineSettings | None = None) -> FastAPI:
    """The engine with a rate limit per client on scoring (``RATE_LIMIT_PER_MINUTE``; the write token the
    flows use has its own budget, by default not limited: fill-expected sends thousands of calls)."""
    settings = settings or get_settings()
    app = _app(settings)
    app.add_middleware(RateLimitMiddleware, rules=[RateRule("POST", p) for p in PREDICT_PATHS],
                       per_minute=settings.rate_limit_per_minute, write_token=settings.api_token.get_secret_value(),
                       write_per_minute=settings.rate_limit_write_per_minute)
    # outside the limit: it keys on the client behind the load balancer (TRUSTED_PROXIES), not on the LB
    app.add_middleware(ForwardedForMiddleware, trusted=settings.trusted_proxies)
    return app


def main() -> None:
    settings = get_settings()
    serve(create_app(settings), settings)


if __name__ == "__main__":
    main()
