"""Seeding the factor library: idempotent, and a newer edition may close an older one's validity."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from services.data_core.db import make_engine
from services.data_core.factors.store import seed_library
from services.data_core.models import EmissionFactor
from services.data_core.settings import REPO_ROOT

pytestmark = pytest.mark.integration
GWP = REPO_ROOT / "data/factors/gwp.csv"


def test_seed_is_idempotent_and_closes_superseded_factors(database_url: str, tmp_path: Path) -> None:
    engine = make_engine(database_url)
    library = pd.read_csv(REPO_ROOT / "data/factors/factors.csv", dtype=str, keep_default_na=False)
    with engine.begin() as conn:
        assert seed_library(conn, REPO_ROOT / "data/factors/factors.csv", GWP) == 0  # the template is seeded
        count = conn.execute(select(func.count()).select_from(EmissionFactor)).scalar_one()
    assert count == len(library)
    # a newer DESNZ edition arrives: the 2024 rows get an end of validity, nothing else changes
    closed = library.copy()
    mask = closed["edition_key"] == "DESNZ-2024"
    closed.loc[mask, "valid_to"] = "2025-01-01"
    path = tmp_path / "factors.csv"
    closed.to_csv(path, index=False)
    with engine.begin() as conn:
        assert seed_library(conn, path, GWP) == 0
        ends = conn.execute(select(EmissionFactor.valid_to).where(EmissionFactor.edition_key == "DESNZ-2024")
                            ).scalars().all()
        other = conn.execute(select(func.count()).select_from(EmissionFactor)
                             .where(EmissionFactor.edition_key == "EPA-HUB-2025", EmissionFactor.valid_to.is_(None))
                             ).scalar_one()
    assert len(ends) == int(mask.sum()) and {e.year for e in ends} == {2025}
    assert other == int(((library["edition_key"] == "EPA-HUB-2025") & (library["valid_to"] == "")).sum())
    engine.dispose()
