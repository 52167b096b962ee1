"""The README's configuration table lists every setting of every service, with its current default."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from services.common.config_doc import (
    FALLBACK_DESCRIPTIONS,
    REPO_ROOT,
    SETTINGS_CLASSES,
    SHARED_CLASS,
    extract,
    load_class,
    replace,
    settings_table,
)

pytestmark = pytest.mark.unit

README = REPO_ROOT / "README.md"


@pytest.fixture(scope="module")
def table() -> str:
    return settings_table()


def _variables(spec: str) -> dict[str, str]:
    """Field name -> the environment variable pydantic-settings reads it from (alias, else prefix + name)."""
    cls = load_class(spec)
    prefix = cls.model_config.get("env_prefix", "")
    out = {}
    for name, field in cls.model_fields.items():
        alias = field.validation_alias or field.alias
        out[name] = (alias if isinstance(alias, str) else f"{prefix}{name}").upper()
    return out


def test_readme_table_is_current(table: str) -> None:
    assert extract(README.read_text(encoding="utf-8")) == table, (
        "README.md's configuration table is out of date: run "
        "`python -m services.common.config_doc --write README.md`"
    )


@pytest.mark.parametrize("spec", [SHARED_CLASS[1], *(spec for _, spec in SETTINGS_CLASSES)])
def test_every_field_is_listed(table: str, spec: str) -> None:
    missing = [v for v in _variables(spec).values() if f"| `{v}` |" not in table]
    assert not missing, f"{spec}: {missing} missing from the configuration table"


def test_required_secret_shows_as_required(table: str) -> None:
    shared = load_class(SHARED_CLASS[1])
    assert shared.model_fields["api_token"].annotation is SecretStr and shared.model_fields["api_token"].is_required()
    assert "| `API_TOKEN` | **required** (secret) |" in table
    # shared settings appear once (the dashboard server, not a ServiceSettings, has an optional one for /metrics)
    assert table.count("| `API_TOKEN` | **required**") == 1


def test_deterministic_and_portable(table: str) -> None:
    assert settings_table() == table
    assert str(REPO_ROOT) not in table and "\n| `" in table


def test_fallback_descriptions_name_real_variables() -> None:
    variables = {v for _, spec in [SHARED_CLASS, *SETTINGS_CLASSES] for v in _variables(spec).values()}
    assert set(FALLBACK_DESCRIPTIONS) <= variables, set(FALLBACK_DESCRIPTIONS) - variables


def test_replace_keeps_the_rest(tmp_path: Path) -> None:
    text = "# T\n\n<!-- config-table:start -->\nold\n<!-- config-table:end -->\n\n## Next\n"
    out = replace(text, "| new |\n")
    assert out == "# T\n\n<!-- config-table:start -->\n\n| new |\n\n<!-- config-table:end -->\n\n## Next\n"
    assert extract(out) == "| new |\n" and replace(out, "| new |\n") == out
    with pytest.raises(ValueError):
        replace("no markers", "x")
