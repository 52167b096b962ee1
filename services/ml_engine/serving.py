"""The model the engine serves: loaded from the registry by alias, swapped atomically when the alias moves.

Requests take a reference to the current :class:`Served` once and use it to the end, so a swap never
fails or mixes a request in flight; the old model is freed when its last request finishes. Nothing is
kept on local disk between starts: every replica loads the same version from the registry.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field

from mlflow import MlflowClient
from services.ml_engine import registry
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
                "activity_types": sorted(self.bundle.series)}


class ModelHolder:
    def __init__(self, settings: MLEngineSettings) -> None:
        self.settings = settings
        self.current: Served | None = None
        self.last_check: float | None = None
        self.last_error: str | None = None
        self.swaps = 0
        self._lock = threading.Lock()  # one refresh at a time (poller and the reload endpoint)
        self._client: MlflowClient | None = None

    @property
    def client(self) -> MlflowClient:
        """The registry client, made once (it also points this process's mlflow at the registry)."""
        if self._client is None:
            self._client = registry.configure(self.settings.mlflow_tracking_uri)
        return self._client

    def refresh(self) -> bool:
        """Ask the registry which version the alias names; load and swap if it moved. True if swapped."""
        with self._lock:
            s = self.settings
            try:
                mv = registry.alias_version(self.client, s.model_name, s.model_alias)
                self.last_check = time.time()
                if mv is None:
                    self.last_error = f"no version of {s.model_name} has the alias {s.model_alias!r} yet"
                    return False
                version = str(mv.version)
                if self.current is not None and self.current.version == version:
                    self.last_error = None
                    return False
                bundle = registry.load_bundle(s.model_name, version)
            except Exception as exc:  # noqa: BLE001 - registry down or a bad artefact: keep serving what we have
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("model refresh failed: %s", self.last_error)
                return False
            previous = self.current
            self.current = Served(s.model_name, version, s.model_alias, mv.run_id, bundle)
            self.last_error = None
            self.swaps += 1
            log.info("serving %s v%s (%s)%s", s.model_name, version, s.model_alias,
                     f", was v{previous.version}" if previous else "")
            return True

    async def poll(self) -> None:
        while True:
            await asyncio.sleep(self.settings.model_poll_seconds)
            await asyncio.to_thread(self.refresh)
