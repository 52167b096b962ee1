"""MLflow side of the baseline: the pyfunc wrapper, its signature, logging, registering and signing a
trained bundle, the champion/challenger aliases and loading a registered version once its artefacts verify
(services/ml_engine/signing.py: nothing is deserialised before)."""

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
from services.ml_engine import signing
from services.ml_engine.bundle import (
    FLEET_COLUMNS,
    HISTORY_COLUMNS,
    OUTPUT_COLUMNS,
    WEATHER_COLUMNS,
    BaselineBundle,
    InputError,
)

log = logging.getLogger(__name__)
CHAMPION, CHALLENGER = "champion", "challenger"
EXPERIMENT = "carbon-baseline"

SIGNATURE = ModelSignature(
    inputs=Schema([
        ColSpec("string", "site"),
        ColSpec("string", "timestamp"),
        ColSpec("string", "activity_type", required=False),
        *[ColSpec("double", c, required=False) for c in WEATHER_COLUMNS + HISTORY_COLUMNS + FLEET_COLUMNS],
        ColSpec("string", "weather_station", required=False),
        ColSpec("double", "floor_area_m2", required=False),
    ]),
    # basis: site | fleet | none (see reason); weather: hourly | none (predicted without weather)
    outputs=Schema([*[ColSpec("double", c) for c in OUTPUT_COLUMNS], ColSpec("string", "basis"),
                    ColSpec("string", "weather"), ColSpec("string", "reason", required=False)]),
)


class CarbonBaseline(PythonModel):
    """The registered pyfunc: a thin shell around :class:`BaselineBundle` so that ``mlflow models serve``,
    ``mlflow.pyfunc.load_model`` and this ML engine all run the same code."""

    def __init__(self, bundle: BaselineBundle) -> None:
        self.bundle = bundle

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        try:
            return self.bundle.predict_detail(model_input)
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


def find_by_fingerprint(client: MlflowClient, name: str, fp: str, *, key: bytes | None = None) -> ModelVersion | None:
    """A registered version trained on exactly this data, window and parameters (idempotent re-runs), whose
    artefacts verify: an unsigned or tampered one is not reused (train-baseline registers a signed one)."""
    key = _key(key, "train-baseline cannot sign what it registers")
    versions: list[ModelVersion]
    try:
        versions = list(client.search_model_versions(f"name = '{name}' and tags.fingerprint = '{fp}'"))
    except MlflowException:
        versions = [v for v in client.search_model_versions(f"name = '{name}'") if v.tags.get("fingerprint") == fp]
    for v in sorted(versions, key=lambda v: int(v.version), reverse=True):
        try:
            verify_version(name, str(v.version), tags=v.tags, key=key)
        except signing.ModelIntegrityError as exc:
            log.warning("%s: not reused", exc)
            continue
        return v
    return None


def vet_champion(client: MlflowClient, name: str, champion: ModelVersion | None, *, key: bytes | None = None
                 ) -> tuple[ModelVersion | None, bool, dict[str, str]]:
    """train-baseline's gate, before it loads the champion: (the champion to compare with, promote, gate tags).
    A champion whose artefacts do not verify (unsigned, tampered, unknown scheme) is no usable champion: it
    is never loaded, the new model is promoted without a comparison and the gate tag says why."""
    if champion is None:
        return None, True, {"gate": "no champion yet"}
    try:
        verify_version(name, str(champion.version), tags=champion.tags, key=key)
    except signing.ModelIntegrityError as exc:
        log.error("%s; it is no usable champion: the new model is promoted without a comparison", exc)
        return None, True, {"gate": f"{exc}; no usable champion, promoted without a comparison",
                            "refused_champion": str(champion.version)}
    return champion, True, {"gate": "no champion yet"}


def cached_model_dir(cache_dir: Path, name: str, version: str, run_id: str | None) -> Path:
    """Where a version's artefacts are kept locally; keyed by the run too, since two registries (or a
    re-created one) can both have a version 1."""
    return cache_dir / name / f"v{version}-{run_id or 'norun'}"


def _key(key: bytes | None, purpose: str) -> bytes:
    key = signing.configured_key() if key is None else key
    if not key:
        raise signing.MissingKey(purpose)
    return key


def _expected(name: str, version: str, tags: dict[str, str] | None) -> str:
    if tags is None:
        tags = dict(MlflowClient().get_model_version(name, version).tags or {})
    return signing.expected_digest(tags, name, version)


def verify_version(name: str, version: str, *, tags: dict[str, str] | None = None, key: bytes | None = None) -> str:
    """Download a registered version to a temporary directory and check it against its tags (nothing is
    deserialised); returns the digest. Raises :class:`signing.ModelIntegrityError`."""
    key = signing.configured_key() if key is None else key
    if not key:
        raise signing.ModelIntegrityError(name, version, signing.NO_KEY)
    expected = _expected(name, version, tags)
    with tempfile.TemporaryDirectory(prefix="carbon-model-") as tmp:
        signing.verify_dir(signing.download(name, version, Path(tmp)), expected, key, name, version)
    return expected


def _copy_verified(src: Path, dst: Path, expected: str, key: bytes, name: str, version: str) -> Path:
    """Copy a cached model directory (links copied as links, then refused) and verify the copy."""
    if src.is_symlink():
        raise signing.ModelIntegrityError(name, version, "its cached copy is a link")
    try:
        shutil.copytree(src, dst, symlinks=True)
    except (OSError, shutil.Error) as exc:
        raise signing.ModelIntegrityError(name, version, "its cached copy could not be read") from exc
    signing.verify_dir(dst, expected, key, name, version)
    return dst


def _keep(local: Path, target: Path) -> None:
    """Put a verified download into the cache (atomically: a rename; a replica may have got there first)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=".download-"))
    try:
        shutil.copytree(local, staging / "model")
        try:
            (staging / "model").rename(target)
        except OSError:  # another replica sharing the volume got there first
            if not (target / "MLmodel").exists():
                raise
    except OSError as exc:  # a read-only cache costs the restart fallback, never serving
        log.warning("could not keep %s in the model cache: %s", target.name, exc)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _verified_local(name: str, version: str, expected: str, key: bytes, tmp: Path, cache_dir: Path | None,
                    run_id: str | None) -> Path:
    """The version's files in ``tmp`` (private to this process), verified: from the cache if it holds a
    copy that verifies (one that does not is discarded), else downloaded (and kept in the cache)."""
    target = cached_model_dir(cache_dir, name, version, run_id) if cache_dir is not None else None
    if target is not None and (target.is_symlink() or (target / "MLmodel").exists()):
        try:
            return _copy_verified(target, tmp / "cached", expected, key, name, version)
        except signing.ModelIntegrityError as exc:
            log.error("the cached copy of %s is refused (%s): discarded, downloading it again", target.name, exc.reason)
            if target.is_symlink():
                target.unlink(missing_ok=True)
            shutil.rmtree(target, ignore_errors=True)
            shutil.rmtree(tmp / "cached", ignore_errors=True)
    (tmp / "download").mkdir()
    local = signing.download(name, version, tmp / "download")
    signing.verify_dir(local, expected, key, name, version)
    if target is not None:
        _keep(local, target)
    return local


def load_bundle(name: str, version: str, *, cache_dir: Path | None = None, run_id: str | None = None,
                key: bytes | None = None, tags: dict[str, str] | None = None) -> BaselineBundle:
    """Load a registered version once its artefact signature checks out (services/ml_engine/signing.py):
    the files are put in a private temporary directory, verified there and loaded from there. With
    ``cache_dir`` a verified download is also kept there (compose: the ml-models volume) and later loads
    copy it from there, verified again (the cache is writable too). ``key`` defaults to MODEL_SIGNING_KEY,
    ``tags`` (the version's) are read from the registry when not given.
    Raises :class:`signing.ModelIntegrityError`, and nothing is deserialised, unless the files verify."""
    key = signing.configured_key() if key is None else key
    if not key:
        raise signing.ModelIntegrityError(name, version, signing.NO_KEY)
    expected = _expected(name, version, tags)
    with tempfile.TemporaryDirectory(prefix="carbon-model-") as tmp:
        local = _verified_local(name, version, expected, key, Path(tmp), cache_dir, run_id)
        return _bundle_of(mlflow.pyfunc.load_model(str(local)), name, version)


def load_cached_bundle(path: Path, name: str, version: str, *, expected: str | None = None,
                       key: bytes | None = None) -> BaselineBundle:
    """Load a cached copy (the registry is unreachable) if it verifies against ``expected``, the digest
    recorded when it was served (an attacker who can write the cache cannot compute one without the key)."""
    key = signing.configured_key() if key is None else key
    if not key:
        raise signing.ModelIntegrityError(name, version, signing.NO_KEY)
    if not expected:
        raise signing.ModelIntegrityError(name, version, "its cached copy has no recorded signature")
    with tempfile.TemporaryDirectory(prefix="carbon-model-") as tmp:
        local = _copy_verified(Path(path), Path(tmp) / "cached", expected, key, name, version)
        return _bundle_of(mlflow.pyfunc.load_model(str(local)), name, version)


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
                     promote: bool, key: bytes | None = None) -> Registered:
    """One MLflow run: parameters, holdout metrics, per-site metrics (artifact), the pyfunc with signature
    and input example, registered under ``name`` and signed (tags ``artifact_hmac``, ``artifact_hmac_alg``,
    with ``key``, default MODEL_SIGNING_KEY) before any alias names it; alias champion if ``promote`` else
    challenger."""
    key = _key(key, f"{name} cannot be signed, so nothing is registered")
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
    signing.sign_version(client, name, version, key)
    for tag, value in tags.items():
        client.set_model_version_tag(name, version, tag, value)
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
