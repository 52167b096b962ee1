"""The README's configuration table, generated from the services' pydantic-settings classes.

Every field of every class in ``SETTINGS_CLASSES`` becomes a row: its environment variable, its default
and a description (the field's ``description``, else the ``#`` comment lines right above it in the
source, else a note from ``FALLBACK_DESCRIPTIONS``). Fields of ``ServiceSettings`` are listed once, in a
shared table; a service's table repeats one only when it changes the default.

Run: ``python -m services.common.config_doc`` prints the tables; ``--write README.md`` replaces the text
between the ``config-table`` markers in that file (``tests/deploy/test_config_doc.py`` keeps it true).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import json
import sys
import textwrap
from enum import Enum
from functools import cache
from pathlib import Path
from typing import Any, get_args

from pydantic import AliasChoices, AliasPath, SecretBytes, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
START_MARKER = "<!-- config-table:start -->"
END_MARKER = "<!-- config-table:end -->"

# (title, "module:Class"), in the order of the README; append a service's settings class here
SETTINGS_CLASSES: list[tuple[str, str]] = [
    ("Data core", "services.data_core.settings:DataCoreSettings"),
    ("ML engine", "services.ml_engine.settings:MLEngineSettings"),
    ("Orchestration engine", "services.orchestration.settings:OrchestrationSettings"),
    ("Chatbot (RAG)", "services.rag.settings:RagSettings"),
    ("Dashboard server", "services.frontend.app:FrontendSettings"),
    ("make up (the local platform)", "services.platform:PlatformSettings"),
    ("Flows", "flows.common:FlowSettings"),
]
SHARED_CLASS = ("All services", "services.common.settings:ServiceSettings")

# Descriptions of fields that have neither a ``description`` nor a comment in their source, by variable.
# A comment above the field in its settings class takes precedence: prefer adding one there.
FALLBACK_DESCRIPTIONS: dict[str, str] = {
    "ENVIRONMENT": "`development`, `test` or `production` (production needs an API_TOKEN of 24+ characters)",
    "SERVICE_NAME": "the service's name in its logs and health answer",
    "HOST": "listen address",
    "PORT": "listen port",
    "LOG_LEVEL": "log level (`DEBUG`, `INFO`, `WARNING`, `ERROR`)",
    "LOG_JSON": "log JSON lines (`false`: plain text)",
    "MAX_BODY_BYTES": "request body limit (413 above it)",
    "CORS_ORIGINS": "browser origins allowed to call the API (JSON list)",
    "AUTO_MIGRATE": "run the Alembic migrations at start",
    "FACTORS_CSV": "emission factor library; factors the database does not have yet are added at start",
    "GWP_CSV": "global warming potentials, added at start like the factors",
    "INGEST_CHUNK_ROWS": "rows per ingestion chunk (bounds memory)",
    "INGEST_MAX_REJECTS_LISTED": "rejected rows listed in an ingest report (all are stored)",
    "EVENT_RETRY_SECONDS": "outbox: first retry delay of an ingestion event that was not delivered",
    "EVENT_MAX_BACKOFF_SECONDS": "outbox: longest delay between retries",
    "MODEL_NAME": "registered model the engine serves",
    "MODEL_ALIAS": "alias of the registered model the engine serves",
    "MAX_ROWS": "most rows in one prediction request",
    "DATA_CORE_URL": "where the data core is reached",
    "ML_ENGINE_URL": "where the ML engine is reached",
    "ORCHESTRATION_URL": "where the orchestration engine is reached",
    "RAG_SERVICE_URL": "the chatbot service; unset or down = recommendation requests stay queued",
    "PREFECT_API_URL": "Prefect API (deployments, runs, triggers)",
    "PREFECT_UI_URL": "link to the Prefect UI",
    "MLFLOW_UI_URL": "link to the MLflow UI",
    "WS_HISTORY": "events kept per channel for resume",
    "WS_QUEUE": "messages queued per client before it is closed as too slow",
    "WS_PING_SECONDS": "WebSocket heartbeat interval",
    "WS_AUTH_SECONDS": "time a WebSocket client has to authenticate",
    "WS_TICKET_SECONDS": "lifetime of a WebSocket ticket",
    "DATA_CORE_TIMEOUT_SECONDS": "timeout of a call to the data core",
    "ML_ENGINE_TIMEOUT_SECONDS": "timeout of a call to the ML engine",
    "EVENT_SCAN_CONTEXT_HOURS": "hours of history before an ingest's first reading that its targeted scan reads",
    "LLM_MODEL": "model asked at the chat endpoint",
    "LLM_API_KEY": "API key sent to the chat endpoint",
    "LLM_TIMEOUT_SECONDS": "timeout of a call to the chat endpoint",
    "SESSION_TTL_SECONDS": "chat session lifetime",
    "MAX_MESSAGE_CHARS": "longest question (422 above it)",
    "CHATBOT_PUBLIC_URL": "where the browser reaches the chatbot",
    "UI_DIST": "the built dashboard bundle (`make ui`)",
    "INGEST_SOURCES": "the ingest flow's extra sources: paths or glob patterns of CSV/XLSX files (JSON list)",
    "DASK_ADDRESS": "Dask scheduler of `TASK_RUNNER=dask` (unset: a local cluster)",
}

MAX_DEFAULT_CHARS = 60
HEADER = "| variable | default | description |\n|---|---|---|"


def load_class(spec: str) -> type[BaseSettings]:
    """Import ``module:Class``."""
    module, _, name = spec.partition(":")
    cls = getattr(importlib.import_module(module), name)
    if not (isinstance(cls, type) and issubclass(cls, BaseSettings)):
        raise TypeError(f"{spec} is not a pydantic-settings class")
    return cls


def env_names(cls: type[BaseSettings], name: str, field: FieldInfo) -> list[str]:
    """The environment variable(s) a field is read from: its alias(es), else env_prefix + name."""
    alias = field.validation_alias or field.alias
    if isinstance(alias, str):
        names = [alias]
    elif isinstance(alias, AliasChoices | AliasPath):
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
        names = [str(c.path[0]) if isinstance(c, AliasPath) else c for c in choices]
    else:
        names = [f"{cls.model_config.get('env_prefix', '')}{name}"]
    return names if cls.model_config.get("case_sensitive") else [n.upper() for n in names]


def _is_secret(annotation: Any) -> bool:
    if annotation in (SecretStr, SecretBytes):
        return True
    return any(_is_secret(arg) for arg in get_args(annotation))


def _relative(text: str) -> str:
    """Show paths under the repository relative to it (the table must not depend on the clone's place)."""
    root = REPO_ROOT.as_posix()
    return text.replace(f"{root}/", "").replace(root, ".")


def _shorten(text: str) -> str:
    if len(text) <= MAX_DEFAULT_CHARS:
        return text
    keep = MAX_DEFAULT_CHARS - 1
    return f"{text[: keep - keep // 2]}…{text[-(keep // 2):]}"


def _plain(value: Any) -> Any:
    """A default as JSON-able data (paths relative to the repository, secrets revealed: they are in the source)."""
    if isinstance(value, SecretStr | SecretBytes):
        return _plain(value.get_secret_value())
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, Enum):
        return _plain(value.value)
    if isinstance(value, Path | str):
        return _relative(Path(value).as_posix() if isinstance(value, Path) else value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_plain(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    if value is None or isinstance(value, bool | int | float):
        return value
    return _relative(str(value))


def render_default(field: FieldInfo) -> str:
    """A field's default as a table cell."""
    secret = _is_secret(field.annotation)
    if field.is_required():
        return "**required** (secret)" if secret else "**required**"
    value = _plain(field.get_default(call_default_factory=True))
    if value is None:
        return "unset"
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, dict | list):
        text = json.dumps(value, ensure_ascii=False)
    else:
        text = str(value)
    cell = f"`{_shorten(text)}`" if text else '`""`'
    return f"{cell} (secret)" if secret else cell


@cache
def _field_comments(cls: type) -> dict[str, str]:
    """The ``#`` lines right above each annotated field of a class's own body, joined."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    lines = source.splitlines()
    body = ast.parse(source).body[0]
    comments: dict[str, str] = {}
    for node in getattr(body, "body", []):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            above: list[str] = []
            i = node.lineno - 2
            while i >= 0 and lines[i].strip().startswith("#"):
                above.insert(0, lines[i].strip().lstrip("#").strip())
                i -= 1
            if above:
                comments[node.target.id] = " ".join(above)
    return comments


def describe(cls: type[BaseSettings], name: str, field: FieldInfo, variable: str) -> str:
    """The field's description, else its comment in the nearest class of the MRO that declares it."""
    if field.description:
        return field.description
    for klass in cls.__mro__:
        if name in vars(klass).get("__annotations__", {}):
            comment = _field_comments(klass).get(name)
            if comment:
                return comment
    return FALLBACK_DESCRIPTIONS.get(variable, "")


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _rows(cls: type[BaseSettings], names: list[str]) -> list[str]:
    rows = []
    for name in names:
        field = cls.model_fields[name]
        variables = env_names(cls, name, field)
        cells = (" / ".join(f"`{v}`" for v in variables), render_default(field),
                 describe(cls, name, field, variables[0]))
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return rows


def _source_path(cls: type) -> str:
    path = Path(inspect.getfile(cls)).resolve()
    return path.relative_to(REPO_ROOT).as_posix() if path.is_relative_to(REPO_ROOT) else path.name


def settings_table() -> str:
    """The Markdown of the configuration tables: the shared settings, then one table per class."""
    shared_title, shared_spec = SHARED_CLASS
    shared = load_class(shared_spec)
    classes = [(title, load_class(spec)) for title, spec in SETTINGS_CLASSES]
    users = [title for title, cls in classes if issubclass(cls, shared)]
    parts = [
        f"### {shared_title}\n\n`{shared.__name__}` in `{_source_path(shared)}`, read by: {', '.join(users)}. "
        "A service's own table repeats a shared setting when it changes the default.\n\n"
        + "\n".join([HEADER, *_rows(shared, list(shared.model_fields))])
    ]
    for title, cls in classes:
        if issubclass(cls, shared):
            names = [n for n, f in cls.model_fields.items()
                     if n not in shared.model_fields or render_default(f) != render_default(shared.model_fields[n])]
            intro = f"`{cls.__name__}` in `{_source_path(cls)}`, with the shared settings above."
        else:
            names = list(cls.model_fields)
            intro = f"`{cls.__name__}` in `{_source_path(cls)}` (none of the shared settings)."
        table = "\n".join([HEADER, *_rows(cls, names)]) if names else "No settings of its own."
        parts.append(f"### {title}\n\n{intro}\n\n{table}")
    return "\n\n".join(parts) + "\n"


def extract(text: str) -> str:
    """The text between the markers, without the blank lines around it."""
    start, end = text.find(START_MARKER), text.find(END_MARKER)
    if start < 0 or end < start:
        raise ValueError(f"{START_MARKER} ... {END_MARKER} not found")
    return text[start + len(START_MARKER): end].strip("\n") + "\n"


def replace(text: str, table: str) -> str:
    """``text`` with the part between the markers replaced by ``table``."""
    extract(text)  # raises when the markers are missing
    head, rest = text.split(START_MARKER, 1)
    _, tail = rest.split(END_MARKER, 1)
    return f"{head}{START_MARKER}\n\n{table.strip(chr(10))}\n\n{END_MARKER}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print the configuration tables, or write them into a file.")
    parser.add_argument("--write", type=Path, metavar="FILE", help="replace the text between the markers in FILE")
    args = parser.parse_args(argv)
    table = settings_table()
    if args.write is None:
        sys.stdout.write(table)
        return 0
    text = args.write.read_text(encoding="utf-8")
    updated = replace(text, table)
    if updated != text:
        args.write.write_text(updated, encoding="utf-8")
    print(f"{args.write}: configuration table {'updated' if updated != text else 'already up to date'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
