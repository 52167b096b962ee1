"""The model the engine serves: loaded from the registry by alias, swapped atomically when the alias moves.

Requests take a reference to the current :class:`Served` once and use it to the end, so a swap never
fails or mixes a request in flight; the old model is freed when its last request finishes. Every replica
loads the version the registry's alias names; with ``MODEL_CACHE_DIR`` the artefacts are kept there (compose:
the ml-models volume), so a restart while the registry is unreachable serves the last champion it loaded.
Nothing is loaded whose artefacts do not verify against their signature (services/ml_engine/signing.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from mlflow import MlflowClient
from services.ml_engine import registry, signing
from services.ml_engine.bundle import BaselineBundle
from services.ml_engine.settings import MLEngineSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Served:
    name: str
    version: str
    alias: str
    run_id: str | None
    bundle: BaselineBundle
    loaded_at: float = field(default_factory=time.time)

    def describe(self) -> dict[str, object]:
        return {"name": self.name, "version": self.version, "alias": self.alias, "run_id": self.run_id,
                "loaded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.loaded_at)),
                "activity_types": self.bundle.activity_types(),
                # #17: the types whose sites beyond the site model's are served by the fleet model
                "fleet_activity_types": sorted(self.bundle.fleet)}


@dataclass(frozen=True)
class Refusal:
    version: str
    run_id: str | None
    digest: str | None  # the version's artifact_hmac tag when refused (signing it again is a change)
    reason: str  # "carbon-baseline v3 refused: artefact signature does not match"

    @property
    def key(self) -> tuple[str, str | None, str | None]:
        return self.version, self.run_id, self.digest

    def describe(self) -> dict[str, object]:
        return {"version": self.version, "run_id": self.run_id, "reason": self.reason}


class ModelHolder:
    def __init__(self, settings: MLEngineSettings) -> None:
        self.settings = settings
        self.current: Served | None = None
        self.last_check: float | None = None
        self.last_error: str | None = None
        # the registry answered the last time it was asked (a missing champion is an answer)
        self.registry_reachable = False
        self.from_cache = False
        self.swaps = 0
        # the version the alias names whose artefacts did not verify (kept until the alias moves)
        self.refused: Refusal | None = None
        self._lock = threading.Lock()  # one refresh at a time (poller and the reload endpoint)
        self._client: MlflowClient | None = None

    @property
    def client(self) -> MlflowClient:
        """The registry client, made once (it also points this process's mlflow at the registry)."""
        if self._client is None:
            self._client = registry.configure(self.settings.mlflow_tracking_uri)
        return self._client

    def refresh(self) -> bool:
        """Ask the registry which version the alias names; load and swap if it moved. True if swapped.

        A version whose artefacts do not verify (signing.py) is refused: the served model stays, the refusal
        is remembered (that version and run are not downloaded again until the alias moves) and reported.
        """
        with self._lock:
            s = self.settings
            try:
                mv = registry.alias_version(self.client, s.model_name, s.model_alias)
            except Exception as exc:  # noqa: BLE001 - registry down: keep serving what we have
                return self._failed("the model registry did not answer", exc)
            self.last_check = time.time()
            self.registry_reachable = True
            if mv is None:
                self.last_error = f"no version of {s.model_name} has the alias {s.model_alias!r} yet"
                return False
            version = str(mv.version)
            if self.current is not None and self.current.version == version and not self.from_cache:
                self.last_error = self.refused = None
                return False
            if self.current is not None and self.current.run_id == mv.run_id:  # the cached one is current
                self.from_cache, self.last_error, self.refused = False, None, None
                return False
            digest_tag = (mv.tags or {}).get(signing.TAG)
            if self.refused is not None and self.refused.key == (version, mv.run_id, digest_tag):
                self.last_error = self._refusal_note()  # refused before: not downloaded again
                return False
            try:
                key = signing.key_bytes(s.model_signing_key)
                if not key:
                    raise signing.ModelIntegrityError(s.model_name, version, signing.NO_KEY)
                bundle = registry.load_bundle(s.model_name, version, cache_dir=s.model_cache_dir, run_id=mv.run_id,
                                              key=key, tags=dict(mv.tags or {}))
                digest = signing.expected_digest(mv.tags, s.model_name, version)
            except signing.ModelIntegrityError as exc:
                self.refused = Refusal(version, mv.run_id, digest_tag, str(exc))
                log.error("%s; %s", exc, f"still serving v{self.current.version}" if self.current
                          else "nothing else to serve")
                if self.current is None:
                    self._load_cached()  # the champion this cache served last, if it verifies
                self.last_error = self._refusal_note()
                return False
            except Exception as exc:  # noqa: BLE001 - a broken artefact: keep serving what we have
                return self._failed(f"{s.model_name} v{version} could not be loaded", exc)
            previous = self.current
            self.current = Served(s.model_name, version, s.model_alias, mv.run_id, bundle)
            self.last_error = self.refused = None
            self.from_cache = False
            self.swaps += 1
            self._remember(self.current, digest)
            log.info("serving %s v%s (%s)%s", s.model_name, version, s.model_alias,
                     f", was v{previous.version}" if previous else "")
            return True

    def _failed(self, what: str, exc: Exception) -> bool:
        """Health and problem answers get ``what`` (our words); the log gets the exception."""
        self.last_error = what
        log.warning("model refresh failed: %s: %s: %s", what, type(exc).__name__, exc)
        return self.current is None and self._load_cached()

    def _refusal_note(self) -> str | None:
        if self.refused is None:
            return None
        if self.current is None:
            return f"{self.refused.reason}; no model is served"
        return f"{self.refused.reason}; still serving v{self.current.version}"

    def _marker(self) -> Path | None:
        s = self.settings
        return s.model_cache_dir / s.model_name / f"serving-{s.model_alias}.json" if s.model_cache_dir else None

    def _remember(self, served: Served, digest: str) -> None:
        marker = self._marker()
        if marker is None:
            return
        try:
            marker.write_text(json.dumps({"version": served.version, "run_id": served.run_id,
                                          signing.TAG: digest}))
        except OSError as exc:  # a read-only cache costs the restart fallback, never serving
            log.warning("could not record the served model in %s: %s", marker, exc)

    def _load_cached(self) -> bool:
        """Nothing is served and the registry's version cannot be: load the last version this cache served,
        if its copy verifies against the digest recorded when it was served."""
        s = self.settings
        marker = self._marker()
        if marker is None or s.model_cache_dir is None or not marker.exists():
            return False
        try:
            seen = json.loads(marker.read_text())
            path = registry.cached_model_dir(s.model_cache_dir, s.model_name, str(seen["version"]), seen["run_id"])
            bundle = registry.load_cached_bundle(path, s.model_name, str(seen["version"]),
                                                 expected=seen.get(signing.TAG),
                                                 key=signing.key_bytes(s.model_signing_key))
        except signing.ModelIntegrityError as exc:
            log.error("no usable cached model in %s: %s", s.model_cache_dir, exc)
            return False
        except Exception as exc:  # noqa: BLE001 - a damaged cache: wait for the registry
            log.warning("no usable cached model in %s: %s", s.model_cache_dir, exc)
            return False
        self.current = Served(s.model_name, str(seen["version"]), s.model_alias, seen["run_id"], bundle)
        self.from_cache = True
        self.swaps += 1
        log.warning("serving the cached %s v%s until the registry's %s can be loaded", s.model_name,
                    seen["version"], s.model_alias)
        return True

    async def poll(self) -> None:
        while True:
            # until the registry has answered once (it may start after the engine), ask every second
            waiting = not self.registry_reachable and self.current is None
            await asyncio.sleep(min(1.0, self.settings.model_poll_seconds) if waiting else self.settings.model_poll_seconds)
            await asyncio.to_thread(self.refresh)
