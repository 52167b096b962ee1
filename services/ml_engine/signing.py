"""Model integrity: a registered model's artefacts carry an HMAC that only holders of ``MODEL_SIGNING_KEY``
can compute, and nothing is deserialised (no ``mlflow.pyfunc.load_model``, no unpickling) before the files
about to be loaded have been checked against it.

Why: the registered pyfunc is a cloudpickle. Whoever can write to MLflow (or to the local model cache)
could otherwise make the ML engine and ``train-baseline`` run their code by moving ``@champion``.

**The digest** (:func:`artifact_digest`, scheme ``hmac-sha256/files-v1``) is
``HMAC-SHA256(MODEL_SIGNING_KEY, message)`` in lowercase hex, where ``message`` is the ASCII line
``carbon-nexus/model-artifacts/v1\\n`` followed, for every regular file under the model directory as
``mlflow.artifacts.download_artifacts("models:/<name>/<version>")`` writes it (MLflow's
``registered_model_meta`` with the name and version included, which binds the digest to its version),
in ascending order of the file's path relative to that directory (POSIX separators, UTF-8 bytes), by::

    u64be(len(path)) || path || u64be(len(content)) || content

Directories contribute nothing; a symlink or any other non-regular entry is refused. The digest is stored
as the model-version tags ``artifact_hmac`` and ``artifact_hmac_alg`` when ``train-baseline`` registers a
version (computed over a fresh download of what was just registered, before any alias points at it).

**Loading** (services/ml_engine/registry.py): the files are put in a private temporary directory (a
download, or a copy of the MODEL_CACHE_DIR entry), the digest is recomputed there and compared in constant
time with the tag, and only then loaded from that same directory. A missing tag, an unknown scheme, a
wrong digest or a missing key raise :class:`ModelIntegrityError` and nothing is loaded.

**Versions registered before signing** (older ``make up`` runs) are refused as unsigned. Either retrain
(``python -m flows.train_baseline``: an unsigned or tampered champion counts as no usable champion, so the
new, signed model becomes champion), or, after checking that the version is yours, sign it::

    python -m services.ml_engine.signing --version N [--name carbon-baseline]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from mlflow import MlflowClient

TAG = "artifact_hmac"
ALG_TAG = "artifact_hmac_alg"
ALG = "hmac-sha256/files-v1"
_DOMAIN = b"carbon-nexus/model-artifacts/v1\n"
_CHUNK = 1 << 20

NO_KEY = "MODEL_SIGNING_KEY is not set, so its artefact signature cannot be checked"
UNSIGNED = "it carries no artefact signature (registered before signing, or not by train-baseline)"
UNKNOWN_ALG = "its artefact signature uses an unknown scheme"
MISMATCH = "artefact signature does not match"


class ModelIntegrityError(RuntimeError):
    """A model version (or its cached copy) that must not be loaded; ``str()`` says which and why."""

    def __init__(self, name: str, version: str, reason: str) -> None:
        super().__init__(f"{name} v{version} refused: {reason}")
        self.name, self.version, self.reason = name, str(version), reason


class MissingKey(RuntimeError):
    """MODEL_SIGNING_KEY is not configured where a model must be signed or checked."""

    def __init__(self, purpose: str) -> None:
        super().__init__(f"MODEL_SIGNING_KEY is not set: {purpose} (make up writes one to .env)")


class _KeySettings(BaseSettings):
    """Only the key (the same variable and .env as MLEngineSettings), for callers without settings."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", protected_namespaces=())
    model_signing_key: SecretStr | None = None

    @field_validator("model_signing_key", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value in ("", None) else value


def key_bytes(secret: SecretStr | str | bytes | None) -> bytes:
    """The key as bytes; empty when not configured (callers refuse then: an empty HMAC key proves nothing)."""
    if secret is None:
        return b""
    if isinstance(secret, SecretStr):
        secret = secret.get_secret_value()
    return (secret.encode() if isinstance(secret, str) else secret).strip()


def configured_key() -> bytes:
    """MODEL_SIGNING_KEY from the environment (or .env); empty if unset."""
    return key_bytes(_KeySettings().model_signing_key)


def _files(root: Path) -> list[tuple[bytes, Path]]:
    out: list[tuple[bytes, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for entry in (*dirnames, *filenames):
            path = Path(dirpath) / entry
            mode = os.lstat(path).st_mode
            if stat.S_ISDIR(mode):
                continue
            if not stat.S_ISREG(mode):
                raise ValueError(f"{path.relative_to(root)} is not a regular file")
            out.append((path.relative_to(root).as_posix().encode(), path))
    return sorted(out)


def artifact_digest(root: Path, key: bytes) -> str:
    """HMAC-SHA256 over every regular file under ``root`` (the definition is in the module docstring).
    Raises ValueError for an empty key, an empty directory, or a link or special file under ``root``."""
    if not key:
        raise ValueError("an empty signing key")
    files = _files(Path(root))
    if not files:
        raise ValueError("no artefact files")
    mac = hmac.new(key, _DOMAIN, hashlib.sha256)
    for rel, path in files:
        with path.open("rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            mac.update(len(rel).to_bytes(8, "big") + rel + size.to_bytes(8, "big"))
            read = 0
            while chunk := fh.read(_CHUNK):
                read += len(chunk)
                mac.update(chunk)
        if read != size:
            raise ValueError(f"{rel.decode()} changed while it was read")
    return mac.hexdigest()


def expected_digest(tags: dict[str, str] | None, name: str, version: str) -> str:
    """The digest a version's tags promise; refuses an unsigned version or an unknown scheme."""
    tags = tags or {}
    digest = tags.get(TAG)
    if not digest:
        raise ModelIntegrityError(name, version, UNSIGNED)
    if tags.get(ALG_TAG) != ALG:
        raise ModelIntegrityError(name, version, UNKNOWN_ALG)
    return digest


def verify_dir(root: Path, expected: str | None, key: bytes, name: str, version: str) -> None:
    """Recompute the digest of ``root`` and compare it in constant time; raise unless it matches."""
    if not key:
        raise ModelIntegrityError(name, version, NO_KEY)
    if not expected:
        raise ModelIntegrityError(name, version, UNSIGNED)
    try:
        actual = artifact_digest(root, key)
    except ValueError as exc:  # our own words: a relative path at most
        raise ModelIntegrityError(name, version, f"its artefacts cannot be checked: {exc}") from exc
    except OSError as exc:
        raise ModelIntegrityError(name, version, "its artefacts could not be read") from exc
    if not hmac.compare_digest(actual.encode(), expected.strip().lower().encode("ascii", "replace")):
        raise ModelIntegrityError(name, version, MISMATCH)


def download(name: str, version: str, dst: Path) -> Path:
    """Download ``models:/name/version`` into ``dst`` (must exist) exactly as loaders do; returns the model
    directory. Only files are written: nothing is deserialised."""
    import mlflow

    return Path(mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}", dst_path=str(dst)))


def sign_version(client: MlflowClient, name: str, version: str, key: bytes) -> str:
    """Compute the digest of a registered version as a loader downloads it and store it as its tags."""
    if not key:
        raise MissingKey(f"{name} v{version} cannot be signed")
    with tempfile.TemporaryDirectory(prefix="carbon-model-sign-") as tmp:
        digest = artifact_digest(download(name, version, Path(tmp)), key)
    client.set_model_version_tag(name, version, TAG, digest)
    client.set_model_version_tag(name, version, ALG_TAG, ALG)
    return digest


def main(argv: list[str] | None = None) -> int:
    """Sign an existing version after an operator has checked that it is theirs (versions registered before
    signing existed). Never run this on a version you did not train: signing is what makes it loadable."""
    from services.ml_engine import registry
    from services.ml_engine.settings import MLEngineSettings

    parser = argparse.ArgumentParser(prog="python -m services.ml_engine.signing", description=main.__doc__)
    parser.add_argument("--version", required=True, help="the model version to sign")
    parser.add_argument("--name", default=None, help="registered model (default: MODEL_NAME, carbon-baseline)")
    parser.add_argument("--force", action="store_true", help="replace a signature that does not match")
    args = parser.parse_args(argv)
    settings = MLEngineSettings()  # type: ignore[call-arg]
    name, version = args.name or settings.model_name, str(args.version)
    key = key_bytes(settings.model_signing_key)
    if not key:
        print("MODEL_SIGNING_KEY is not set (make up writes one to .env)", file=sys.stderr)
        return 2
    client = registry.configure(settings.mlflow_tracking_uri)
    tags = dict(client.get_model_version(name, version).tags or {})
    if tags.get(TAG) and not args.force:
        with tempfile.TemporaryDirectory(prefix="carbon-model-check-") as tmp:
            try:
                verify_dir(download(name, version, Path(tmp)), tags[TAG], key, name, version)
            except ModelIntegrityError as exc:
                print(f"{exc}; check the version, then sign it again with --force", file=sys.stderr)
                return 1
        print(json.dumps({"name": name, "version": version, "signed": False, "reason": "already signed"}))
        return 0
    digest = sign_version(client, name, version, key)
    print(json.dumps({"name": name, "version": version, "signed": True, TAG: digest, ALG_TAG: ALG}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
