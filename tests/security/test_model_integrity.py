"""Attack: whoever can write to MLflow (or to the engine's model cache) points ``carbon-baseline@champion``
at a pickle of their own. Every model's artefacts carry an HMAC (MODEL_SIGNING_KEY) checked before anything
is deserialised: the hostile pickles below would create a marker file when unpickled, and never do."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import pickle
from pathlib import Path

import pytest

import mlflow
from mlflow import MlflowClient
from services.ml_engine import registry, signing
from tests.conftest import AUTH
from tests.ml_fixtures import WINDOW

pytestmark = pytest.mark.integration
NAME = "carbon-baseline"
KEY = signing.configured_key()  # the suite's (tests/conftest.py)


class _Plant:
    """Unpickling this writes ``path``: the proof that something was deserialised."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.write_text, (self.path, "deserialised"))


def hostile_pickle(marker: Path) -> bytes:
    return pickle.dumps(_Plant(marker), protocol=4)


def store_dir(client: MlflowClient, version: str) -> Path:
    """Where the registry keeps a version's artefacts (what an attacker with write access edits)."""
    return Path(client.get_model_version_download_uri(NAME, version).removeprefix("file://"))


def register_copy(client: MlflowClient, of: str = "1") -> str:
    """A new, signed version with the same model as ``of`` (a challenger: no alias moves)."""
    bundle = registry.load_bundle(NAME, of)
    import pandas as pd

    return registry.log_and_register(bundle, name=NAME, params={}, metrics={"holdout_mae": 1.0},
                                     per_site=pd.DataFrame({"site": []}), tags={"fingerprint": f"copy-of-{of}"},
                                     input_example=None, promote=False).version  # type: ignore[arg-type]


def tamper(client: MlflowClient, version: str, marker: Path) -> None:
    (store_dir(client, version) / "python_model.pkl").write_bytes(hostile_pickle(marker))


def health_model(engine):  # type: ignore[no-untyped-def]
    r = engine.get("/health")
    return r.status_code, r.json()["checks"]["model"]["detail"]


# --------------------------------------------------------------------------- the digest
def test_the_digest_is_the_documented_hmac_over_paths_and_contents(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "MLmodel").write_bytes(b"flavors: {}\n")
    (tmp_path / "sub" / "a.bin").write_bytes(b"\x00\x01")
    (tmp_path / "empty").mkdir()  # directories contribute nothing
    message = b"carbon-nexus/model-artifacts/v1\n"
    for rel, content in sorted([(b"MLmodel", b"flavors: {}\n"), (b"sub/a.bin", b"\x00\x01")]):
        message += len(rel).to_bytes(8, "big") + rel + len(content).to_bytes(8, "big") + content
    assert signing.artifact_digest(tmp_path, b"k" * 32) == hmac.new(b"k" * 32, message, hashlib.sha256).hexdigest()
    before = signing.artifact_digest(tmp_path, b"k" * 32)
    assert signing.artifact_digest(tmp_path, b"j" * 32) != before  # keyed
    (tmp_path / "sub" / "a.bin").rename(tmp_path / "sub" / "b.bin")  # a renamed file is another model
    assert signing.artifact_digest(tmp_path, b"k" * 32) != before
    (tmp_path / "link").symlink_to(tmp_path / "MLmodel")
    with pytest.raises(ValueError, match="not a regular file"):
        signing.artifact_digest(tmp_path, b"k" * 32)
    with pytest.raises(ValueError):
        signing.artifact_digest(tmp_path / "empty", b"k" * 32)


# --------------------------------------------------------------------------- (a) signed champion served
def test_a_signed_champion_is_registered_with_its_digest_and_served(engine, store_uri, tmp_path):
    client = MlflowClient(store_uri, store_uri)
    tags = client.get_model_version(NAME, "1").tags
    assert tags[signing.ALG_TAG] == signing.ALG
    (tmp_path / "dl").mkdir()
    download = signing.download(NAME, "1", tmp_path / "dl")
    assert (download / "registered_model_meta").exists()  # as loaders see it: bound to its name and version
    assert signing.artifact_digest(download, KEY) == tags[signing.TAG]
    assert engine.get("/ping").status_code == 200
    status, detail = health_model(engine)
    assert status == 200 and detail["ready"] is True and detail["refused"] is None
    assert detail["served"]["version"] == "1"


# --------------------------------------------------------------------------- (b) tampered version
def test_a_tampered_champion_is_refused_unloaded_and_the_previous_one_kept(engine, store_uri, tmp_path,
                                                                          monkeypatch):
    client = MlflowClient(store_uri, store_uri)
    marker = tmp_path / "pwned"
    version = register_copy(client)
    tamper(client, version, marker)
    client.set_registered_model_alias(NAME, "champion", version)
    downloads: list[str] = []
    real_download = signing.download
    monkeypatch.setattr(signing, "download", lambda n, v, d: downloads.append(v) or real_download(n, v, d))

    reload = engine.post("/api/v1/models/reload", headers=AUTH).json()
    assert reload["swapped"] is False and reload["served"]["version"] == "1"
    assert not marker.exists()  # nothing was deserialised
    status, detail = health_model(engine)
    assert status == 200 and detail["ready"] is True and detail["served"]["version"] == "1"
    assert detail["refused"]["version"] == version
    assert detail["refused"]["reason"] == f"{NAME} v{version} refused: artefact signature does not match"
    assert detail["last_error"].endswith("still serving v1")
    r = engine.post("/invocations", json={"dataframe_records": [{"site": "b0", "timestamp": "2019-04-10T09:00:00Z"}]})
    assert r.status_code == 200 and r.headers["x-model-version"] == "1"

    # remembered: the poller (and a reload) do not fetch the refused version again until the alias moves
    assert downloads == [version]
    engine.post("/api/v1/models/reload", headers=AUTH)
    assert downloads == [version] and health_model(engine)[1]["refused"]["version"] == version
    client.set_registered_model_alias(NAME, "champion", "2")
    assert engine.post("/api/v1/models/reload", headers=AUTH).json()["served"]["version"] == "2"
    assert health_model(engine)[1]["refused"] is None and not marker.exists()

    # control: the version really was hostile (an unchecked load runs the attacker's code)
    with contextlib.suppress(Exception):
        mlflow.pyfunc.load_model(f"models:/{NAME}/{version}")
    assert marker.exists()


# --------------------------------------------------------------------------- (c) unsigned / forged
@pytest.mark.parametrize("forgery", ["unsigned", "signed with another key", "unknown scheme", "digest of v1"])
def test_an_unsigned_or_forged_champion_is_refused_and_nothing_served(engine_settings, store_uri, tmp_path, forgery):
    from fastapi.testclient import TestClient

    from services.ml_engine.app import create_app

    client = MlflowClient(store_uri, store_uri)
    marker = tmp_path / "pwned"
    version = register_copy(client)
    tamper(client, version, marker)
    if forgery == "unsigned":
        client.delete_model_version_tag(NAME, version, signing.TAG)
    elif forgery == "signed with another key":
        signing.sign_version(client, NAME, version, b"the-attackers-own-key-0123456789")
    elif forgery == "unknown scheme":
        client.set_model_version_tag(NAME, version, signing.ALG_TAG, "none")
    else:  # a genuine digest copied from another version
        client.set_model_version_tag(NAME, version, signing.TAG, client.get_model_version(NAME, "1").tags[signing.TAG])
    client.set_registered_model_alias(NAME, "champion", version)
    with TestClient(create_app(engine_settings())) as engine:  # a fresh engine: no previous champion
        assert engine.get("/ping").status_code == 503
        status, detail = health_model(engine)
    assert not marker.exists()
    assert status == 200 and detail["ready"] is False and detail["refused"]["version"] == version
    reason = detail["refused"]["reason"]
    assert reason.startswith(f"{NAME} v{version} refused: ")
    expected = {"unsigned": "carries no artefact signature", "unknown scheme": "unknown scheme"}
    assert expected.get(forgery, "artefact signature does not match") in reason


def test_without_a_key_nothing_is_loaded_and_production_refuses_to_start(engine_settings):
    from fastapi.testclient import TestClient
    from pydantic import ValidationError

    from services.ml_engine.app import create_app
    from services.ml_engine.settings import MLEngineSettings
    from tests.conftest import TOKEN

    with TestClient(create_app(engine_settings(model_signing_key=""))) as engine:
        assert engine.get("/ping").status_code == 503
        detail = health_model(engine)[1]
    assert "MODEL_SIGNING_KEY is not set" in detail["refused"]["reason"]
    for key in ("", "changeme", "short-key"):
        with pytest.raises(ValidationError, match="MODEL_SIGNING_KEY"):
            MLEngineSettings(api_token="x" * 32, environment="production", model_signing_key=key)
    with pytest.raises(ValidationError, match="placeholder"):
        MLEngineSettings(api_token=TOKEN, environment="development", model_signing_key="secret")
    assert MLEngineSettings(api_token="x" * 32, environment="production", model_signing_key="k" * 32)


# --------------------------------------------------------------------------- (d) tampered cache
def test_a_tampered_cache_is_refused_and_replaced_from_the_registry(engine_settings, store_uri, tmp_path):
    from fastapi.testclient import TestClient

    from services.ml_engine.app import create_app

    cache, marker = tmp_path / "volume", tmp_path / "pwned"
    with TestClient(create_app(engine_settings(model_cache_dir=cache))) as engine:
        assert engine.get("/ping").status_code == 200
    (cached,) = (cache / NAME).glob("v1-*")
    (cached / "python_model.pkl").write_bytes(hostile_pickle(marker))

    (tmp_path / "not-a-dir").write_text("")  # the registry is unreachable: only the cache could serve
    dead = f"sqlite:///{tmp_path / 'not-a-dir' / 'mlflow.db'}"
    with TestClient(create_app(engine_settings(model_cache_dir=cache, mlflow_tracking_uri=dead))) as engine:
        assert engine.get("/ping").status_code == 503
        assert health_model(engine)[1]["served"] is None
    assert not marker.exists()

    with TestClient(create_app(engine_settings(model_cache_dir=cache))) as engine:  # the registry answers
        assert engine.get("/ping").status_code == 200
        assert health_model(engine)[1]["served"]["version"] == "1"
    assert not marker.exists()
    tags = MlflowClient(store_uri, store_uri).get_model_version(NAME, "1").tags
    assert signing.artifact_digest(cached, KEY) == tags[signing.TAG]  # the cache holds the genuine copy again


def test_a_cache_entry_without_a_recorded_digest_is_not_served(engine_settings, tmp_path):
    """A marker written before signing existed (or by someone else) names no digest: refused."""
    import json

    from fastapi.testclient import TestClient

    from services.ml_engine.app import create_app

    cache = tmp_path / "volume"
    with TestClient(create_app(engine_settings(model_cache_dir=cache))) as engine:
        assert engine.get("/ping").status_code == 200
    state = cache / NAME / "serving-champion.json"
    seen = json.loads(state.read_text())
    assert seen.pop(signing.TAG)
    state.write_text(json.dumps(seen))
    (tmp_path / "not-a-dir").write_text("")
    dead = f"sqlite:///{tmp_path / 'not-a-dir' / 'mlflow.db'}"
    with TestClient(create_app(engine_settings(model_cache_dir=cache, mlflow_tracking_uri=dead))) as engine:
        assert engine.get("/ping").status_code == 503


# --------------------------------------------------------------------------- (e) train-baseline's gate
def test_the_training_gate_refuses_a_tampered_champion(prefect_harness, flow_env, tmp_path):
    client = MlflowClient(tracking_uri=flow_env["tracking_uri"], registry_uri=flow_env["tracking_uri"])
    marker = tmp_path / "pwned"
    first = flow_env["module"].train_baseline(**WINDOW, max_iter=40)
    assert first["alias"] == "champion" and first["version"] == "1"
    tamper(client, "1", marker)
    # a weak model (2 trees) could never beat the real champion: it is promoted only because v1 is refused
    weak = flow_env["module"].train_baseline(**WINDOW, max_iter=2)
    assert not marker.exists()
    assert weak["alias"] == "champion" and weak["version"] == "2"
    assert weak["gate"] == (f"{NAME} v1 refused: artefact signature does not match; "
                            "no usable champion, promoted without a comparison")
    tags = client.get_model_version(NAME, "2").tags
    assert tags["gate"] == weak["gate"] and tags["refused_champion"] == "1"
    assert signing.TAG in tags
    # the same data and parameters as the tampered v1 are not "already registered": trained and signed anew
    again = flow_env["module"].train_baseline(**WINDOW, max_iter=40)
    assert again["reused"] is False and again["version"] == "3" and not marker.exists()
    registry.verify_version(NAME, "3")


def test_unsigned_registrations_fail_without_a_key(store_uri, monkeypatch):
    monkeypatch.setenv("MODEL_SIGNING_KEY", "")
    with pytest.raises(signing.MissingKey, match="MODEL_SIGNING_KEY is not set"):
        registry.log_and_register(None, name=NAME, params={}, metrics={}, per_site=None, tags={},  # type: ignore[arg-type]
                                  input_example=None, promote=True)
    assert len(MlflowClient(store_uri, store_uri).search_model_versions(f"name = '{NAME}'")) == 2


def test_the_sign_command_signs_a_checked_version_once(store_uri, monkeypatch, capsys):
    client = MlflowClient(store_uri, store_uri)
    version = register_copy(client)
    good = client.get_model_version(NAME, version).tags[signing.TAG]
    client.delete_model_version_tag(NAME, version, signing.TAG)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_uri)
    assert signing.main(["--version", version]) == 0
    assert client.get_model_version(NAME, version).tags[signing.TAG] == good
    assert signing.main(["--version", version]) == 0 and "already signed" in capsys.readouterr().out
    (store_dir(client, version) / "MLmodel").write_text("changed")
    assert signing.main(["--version", version]) == 1  # a signature that no longer matches: needs --force
    assert signing.main(["--version", version, "--force"]) == 0
