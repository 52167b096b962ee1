"""The secrets of the local platform (``make up``): the ``.env`` it writes, and which process gets which.

``.env`` is created with mode 0600 and every secret random; keys missing from an existing one are appended
(an older ``.env`` that only has ``API_TOKEN`` keeps its token). A variable set in the environment wins over
the file, as it does for the services' settings. ``CARBON_NEXUS_ENV_FILE`` names another file (empty: none).

Each process ``make up`` starts gets the credentials it needs as environment variables (never on its
command line, never in a URL): see ``CREDENTIALS`` and docs/security.md.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path

from dotenv import dotenv_values

from services.common.settings import ENV_FILE_VARIABLE

ROOT = Path(__file__).resolve().parents[1]
MLFLOW_USER = "carbon-nexus"


def _random() -> str:
    return secrets.token_urlsafe(32)


# every secret of the platform and how a new one is made (compose reads the last two too)
SECRETS: dict[str, Callable[[], str]] = {
    "API_TOKEN": _random,  # write role: every endpoint
    "READ_TOKEN": _random,  # read role: GETs and the read POSTs; the dashboard link carries this one
    "PREFECT_API_AUTH_STRING": lambda: f"carbon-nexus:{_random()}",  # user:password of the Prefect server
    "MLFLOW_TRACKING_USERNAME": lambda: MLFLOW_USER,  # the MLflow basic-auth admin user
    "MLFLOW_TRACKING_PASSWORD": _random,
    "MLFLOW_FLASK_SERVER_SECRET_KEY": _random,  # MLflow's CSRF/session key (the tracking server only)
    "MODEL_SIGNING_KEY": _random,  # HMAC key of the model artefacts
    "POSTGRES_PASSWORD": _random,  # compose only
    "GRAFANA_ADMIN_PASSWORD": _random,  # compose only
}

# which process gets which credential: environment variable -> the .env key it is read from
_SERVICE = {"API_TOKEN": "API_TOKEN", "READ_TOKEN": "READ_TOKEN"}
_PREFECT_CLIENT = {"PREFECT_API_AUTH_STRING": "PREFECT_API_AUTH_STRING"}
_MLFLOW_CLIENT = {"MLFLOW_TRACKING_USERNAME": "MLFLOW_TRACKING_USERNAME",
                  "MLFLOW_TRACKING_PASSWORD": "MLFLOW_TRACKING_PASSWORD"}
FLOWS = {**_SERVICE, **_PREFECT_CLIENT, **_MLFLOW_CLIENT, "MODEL_SIGNING_KEY": "MODEL_SIGNING_KEY"}
CREDENTIALS: dict[str, dict[str, str]] = {
    # the server checks the auth string; its own in-process clients send it
    "prefect-server": {"PREFECT_SERVER_API_AUTH_STRING": "PREFECT_API_AUTH_STRING", **_PREFECT_CLIENT},
    # the basic-auth app creates this admin user on its first start (MLflow's own variables)
    "mlflow": {"MLFLOW_AUTH_ADMIN_USERNAME": "MLFLOW_TRACKING_USERNAME",
               "MLFLOW_AUTH_ADMIN_PASSWORD": "MLFLOW_TRACKING_PASSWORD",
               "MLFLOW_FLASK_SERVER_SECRET_KEY": "MLFLOW_FLASK_SERVER_SECRET_KEY"},
    "data-core": _SERVICE,
    "ml-engine": {**_SERVICE, **_MLFLOW_CLIENT, "MODEL_SIGNING_KEY": "MODEL_SIGNING_KEY"},
    "orchestration": {**_SERVICE, **_PREFECT_CLIENT},
    "rag-chatbot": _SERVICE,
    "frontend-ui": {"READ_TOKEN": "READ_TOKEN"},  # its /metrics only
    "flow-runner": FLOWS,
}


def env_file() -> Path | None:
    """The file the platform and its processes read: ``CARBON_NEXUS_ENV_FILE`` (empty: none), else ./.env
    of the checkout."""
    value = os.environ.get(ENV_FILE_VARIABLE)
    if value is None:
        return ROOT / ".env"
    return Path(value).resolve() if value else None


def ensure_env_file(path: Path) -> list[str]:
    """Create ``path`` (0600) or append the secrets it lacks; returns the keys written. A key set in the
    environment is not written (the environment wins anyway). The mode is 0600 afterwards either way."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.fchmod(fd, 0o600)
        existing = dotenv_values(path)
        missing = [key for key in SECRETS if not existing.get(key) and not os.environ.get(key)]
        if missing:
            text = path.read_text()
            prefix = "\n" if text and not text.endswith("\n") else ""
            lines = "".join(f"{key}={SECRETS[key]()}\n" for key in missing)
            os.write(fd, (prefix + lines).encode())
    finally:
        os.close(fd)
    return missing


def load(path: Path | None) -> dict[str, str]:
    """Every secret: the environment's value, else the file's, else empty."""
    values = {k: v for k, v in dotenv_values(path).items() if v is not None} if path and path.exists() else {}
    return {key: os.environ.get(key) or values.get(key, "") for key in SECRETS}


def credentials(service: str, values: dict[str, str]) -> dict[str, str]:
    """The environment variables of ``service``'s credentials (only those that have a value)."""
    return {var: values[key] for var, key in CREDENTIALS.get(service, {}).items() if values.get(key)}


def mlflow_auth_config(mlflow_dir: Path) -> Path:
    """MLflow's basic-auth configuration (``MLFLOW_AUTH_CONFIG_PATH``): its user database next to the
    tracking store; no password in it (the admin's comes from the environment). Mode 0600."""
    path = mlflow_dir / "basic_auth.ini"
    text = ("[mlflow]\n"
            "# written by `make up` (services/platform_env.py); the admin password is MLFLOW_AUTH_ADMIN_PASSWORD\n"
            "default_permission = NO_PERMISSIONS\n"
            f"database_uri = sqlite:///{mlflow_dir / 'basic_auth.db'}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
            "grant_default_workspace_access = false\n")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    return path


def sync_mlflow_admin(mlflow_dir: Path, username: str, password: str) -> bool:
    """Make the MLflow admin's stored password the one in ``.env`` (MLflow itself reads it only when it
    creates the user): rotating ``MLFLOW_TRACKING_PASSWORD`` in ``.env`` takes effect at the next
    ``make up``. The same hash MLflow's auth store writes (werkzeug); True when the stored one changed."""
    import sqlite3
    from contextlib import closing

    from werkzeug.security import check_password_hash, generate_password_hash

    database = mlflow_dir / "basic_auth.db"
    if not database.exists() or not username or not password:
        return False
    with closing(sqlite3.connect(database)) as db, db:
        row = db.execute("SELECT password_hash FROM users WHERE username = ?", (username,)).fetchone()
        if row is None or check_password_hash(row[0], password):
            return False
        db.execute("UPDATE users SET password_hash = ? WHERE username = ?", (generate_password_hash(password), username))
    return True


def private_dir(path: Path) -> Path:
    """Create ``path`` readable by its owner only (0700): the Prefect home, the MLflow store."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path
