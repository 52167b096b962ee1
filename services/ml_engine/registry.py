"""MLflow side of the baseline: the pyfunc wrapper, its signature, logging and registering a trained
bundle, the champion/challenger aliases and loading a registered version."""

from __future__ import annotations

import io
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import sklearn
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel
from mlflow.types.schema import ColSpec, Schema

import mlflow
from mlflow import MlflowClient
from services.common.settings import apply_offline_env
from services.ml_engine.bundle import HISTORY_COLUMNS, OUTPUT_COLUMNS, WEATHER_COLUMNS, BaselineBundle, InputError

log = logging.getLogger(__name__)
CHAMPION, CHALLENGER = "champion", "challenger"
EXPERIMENT = "carbon-baseline"

SIGNATURE = ModelSignature(
    inputs=Schema([
        ColSpec("string", "site"),
        ColSpec("string", "timestamp"),
        ColSpec("string", "activity_type", required=False),
        *[ColSpec("double", c, required=False) for c in WEATHER_COLUMNS + HISTORY_COLUMNS],
    ]),
    outputs=Schema([ColSpec("double", c) for c in OUTPUT_COLUMNS]),
)


class CarbonBaseline(PythonModel):
    """The registered pyfunc: a thin shell around :class:`BaselineBundle` so that ``mlflow models serve``,
    ``mlflow.pyfunc.load_model`` and this ML engine all run the same code."""

    def __init__(self, bundle: BaselineBundle) -> None:
        self.bundle = bundle

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        try:
            return self.bundle.predict(model_input)
        except InputError as exc:
            raise MlflowException(f"{exc} (field: {exc.field})", error_code=INVALID_PARAMETER_VALUE) from exc


def pip_requirements() -> list[str]:
    import holidays
    import numpy

    return [f"mlflow=={mlflow.__version__}", f"scikit-learn=={sklearn.__version__}", f"pandas=={pd.__version__}",
            f"numpy=={numpy.__version__}", f"holidays=={holidays.__version__}", "cloudpickle", "carbon-nexus"]


def configure(tracking_uri: str) -> MlflowClient:
    apply_offline_env()
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def alias_version(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
            return None
        raise


def find_by_fingerprint(client: MlflowClient, name: str, fp: str) -> ModelVersion | None:
    """A registered version trained on exactly this data, window and parameters (idempotent re-runs)."""
    versions: list[ModelVersion]
    try:
        versions = list(client.search_model_versions(f"name = '{name}' and tags.fingerprint = '{fp}'"))
    except MlflowException:
        versions = [v for v in client.search_model_versions(f"name = '{name}'") if v.tags.get("fingerprint") == fp]
    return max(versions, key=lambda v: int(v.version)) if versions else None


def cached_model_dir(cache_dir: Path, name: str, version: str, run_id: str | None) -> Path:
    """Where a version's artefacts are kept locally; keyed by the run too, since two registries (or a
    re-created one) can both have a version 1."""
    return cache_dir / name / f"v{version}-{run_id or 'norun'}"


def load_bundle(name: str, version: str, *, cache_dir: Path | None = None, run_id: str | None = None) -> BaselineBundle:
    """Load a registered version; with ``cache_dir`` its artefacts are downloaded there once (compose: the
    ml-models volume) and later loads read the local copy."""
    uri = f"models:/{name}/{version}"
    if cache_dir is not None:
        target = cached_model_dir(cache_dir, name, version, run_id)
        if not (target / "MLmodel").exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".download-"))
            try:
                local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(staging)))
                try:
                    local.rename(target)
                except OSError:  # another replica sharing the volume got there first
                    if not (target / "MLmodel").exists():
                        raise
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        uri = str(target)
    return _bundle_of(mlflow.pyfunc.load_model(uri), name, version)


def load_cached_bundle(path: Path, name: str, version: str) -> BaselineBundle:
    return _bundle_of(mlflow.pyfunc.load_model(str(path)), name, version)


def _bundle_of(model: Any, name: str, version: str) -> BaselineBundle:
    python_model = model.unwrap_python_model()
    if not isinstance(python_model, CarbonBaseline):
        raise TypeError(f"{name} v{version} is not a carbon-baseline pyfunc")
    return python_model.bundle


@dataclass
class Registered:
    version: str
    run_id: str
    alias: str


def log_and_register(bundle: BaselineBundle, *, name: str, params: dict[str, Any], metrics: dict[str, float],
                     per_site: pd.DataFrame, tags: dict[str, str], input_example: pd.DataFrame,
                     promote: bool) -> Registered:
    """One MLflow run: parameters, holdout metrics, per-site metrics (artifact), the pyfunc with signature
    and input example, registered under ``name``; alias champion if ``promote`` else challenger."""
    client = MlflowClient()
    mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run(run_name=f"train-{tags.get('fingerprint', '')[:12]}") as run:
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if pd.notna(v)})
        mlflow.set_tags(tags)
        buffer = io.StringIO()
        per_site.to_csv(buffer, index=False, float_format="%.4f")
        mlflow.log_text(buffer.getvalue(), "evaluation/per_site_metrics.csv")
        info = mlflow.pyfunc.log_model(
            name="model", python_model=CarbonBaseline(bundle), signature=SIGNATURE,
            input_example=input_example, pip_requirements=pip_requirements(),
            registered_model_name=name, await_registration_for=60)
        version = str(info.registered_model_version)
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    client.set_model_version_tag(name, version, "holdout_mae", f"{metrics.get('holdout_mae', float('nan')):.6g}")
    alias = CHAMPION if promote else CHALLENGER
    client.set_registered_model_alias(name, alias, version)
    log.info("registered %s v%s as %s", name, version, alias)
    return Registered(version=version, run_id=run.info.run_id, alias=alias)


def describe_versions(client: MlflowClient, name: str) -> list[dict[str, Any]]:
    """Every version with its aliases, holdout metrics, run id and training time (newest first)."""
    try:
        versions = client.search_model_versions(f"name = '{name}'")
        aliases = dict(client.get_registered_model(name).aliases or {})
    except MlflowException:
        return []
    by_version: dict[str, list[str]] = {}
    for alias, version in aliases.items():
        by_version.setdefault(str(version), []).append(alias)
    out = []
    for v in sorted(versions, key=lambda v: int(v.version), reverse=True):
        metrics: dict[str, float] = {}
        if v.run_id:
            try:
                metrics = dict(client.get_run(v.run_id).data.metrics)
            except MlflowException:
                metrics = {}
        out.append({
            "name": name, "version": str(v.version), "aliases": sorted(by_version.get(str(v.version), [])),
            "run_id": v.run_id, "status": v.status,
            "trained_at": pd.Timestamp(v.creation_timestamp, unit="ms", tz="UTC").isoformat(),
            "metrics": metrics, "tags": dict(v.tags or {}),
        })
    return out
