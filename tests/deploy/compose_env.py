"""Debian's docker-compose run the way the tests need it: with the placeholder secrets of
deployments/compose-check.env (or another env file), never the checkout's ``.env`` and never a secret of
the test process's own environment (compose prefers the environment over any env file)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from dotenv import dotenv_values

ROOT = Path(__file__).resolve().parents[2]
CHECK_ENV_FILE = ROOT / "deployments" / "compose-check.env"
# every secret compose requires (${NAME:?}): the keys of the placeholder file
REQUIRED_SECRETS: list[str] = list(dotenv_values(CHECK_ENV_FILE))
COMPOSE_FILES = ["compose.yaml", "compose.dev.yaml", "compose.prod.yaml"]
VARIANTS = [["compose.yaml"], ["compose.yaml", "compose.dev.yaml"], ["compose.yaml", "compose.prod.yaml"]]
PROFILES = [[], ["--profile", "monitoring"], ["--profile", "scale"]]
needs_compose = pytest.mark.skipif(shutil.which("docker-compose") is None,
                                   reason="Debian docker-compose not installed (make system-deps)")


def docker_compose(*args: str, env_file: Path = CHECK_ENV_FILE, cwd: Path = ROOT,
                   extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in REQUIRED_SECRETS}
    env.update(extra_env or {})
    return subprocess.run(["docker-compose", "--env-file", str(env_file), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False)


def env_file_without(tmp_path: Path, missing: str) -> Path:
    """A copy of the placeholder secrets without ``missing``."""
    path = tmp_path / f"without-{missing}.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in dotenv_values(CHECK_ENV_FILE).items() if k != missing))
    return path
