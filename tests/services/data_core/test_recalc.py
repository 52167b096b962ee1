"""create_version without HTTP: the rows a version's filters select are recalculated, the rest copied."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from services.common.errors import Unprocessable
from services.data_core.ledger import current_version
from services.data_core.models import Emission
from services.data_core.recalc import create_version
from services.data_core.schemas import LedgerVersionCreate
from tests.services.data_core.helpers import ingest, make_site, record

pytestmark = pytest.mark.integration


@pytest.fixture
def loaded(client):
    make_site(client, "us1", country="US")
    make_site(client, "us2", country="US")
    ingest(client, [record("us1", "electricity", 1000, "kWh", period="2024-03"),
                    record("us1", "electricity", 1000, "kWh", period="2024-04"),
                    record("us2", "electricity", 1000, "kWh", period="2024-03")])
    return client.app.state


def _rows(engine, version: int) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(Emission).where(Emission.version_id == version)).scalar_one()


def test_a_version_of_one_site_recalculates_it_and_copies_the_rest(loaded) -> None:
    body = LedgerVersionCreate(description="us1 again", sites=["us1"], editions=["EPA-HUB-2025"])
    version = create_version(loaded.engine, loaded.factor_cache, body)
    assert (version["id"], version["parent_id"]) == (2, 1)
    assert (version["recalculated_rows"], version["copied_rows"]) == (2, 1)
    assert version["filters"]["sites"] == ["us1"] and version["applied_editions"] == ["EPA-HUB-2025"]
    assert _rows(loaded.engine, 2) == _rows(loaded.engine, 1) == 3
    with loaded.engine.connect() as conn:
        assert current_version(conn) == 2


def test_a_period_filter_recalculates_only_its_activities(loaded) -> None:
    body = LedgerVersionCreate(description="april", start="2024-04-01T00:00:00Z", end="2024-05-01T00:00:00Z")
    version = create_version(loaded.engine, loaded.factor_cache, body)
    assert (version["recalculated_rows"], version["copied_rows"]) == (1, 2)
    assert version["filters"]["start"].startswith("2024-04-01")


def test_an_unknown_edition_is_refused_before_anything_is_written(loaded) -> None:
    with pytest.raises(Unprocessable, match="NOPE-1"):
        create_version(loaded.engine, loaded.factor_cache, LedgerVersionCreate(description="x", editions=["NOPE-1"]))
    with loaded.engine.connect() as conn:
        assert current_version(conn) == 1
