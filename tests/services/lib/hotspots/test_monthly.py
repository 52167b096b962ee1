"""Monthly hotspots from bills above their degree-day interval (services/lib/hotspots/monthly.py)."""

from __future__ import annotations

import pytest

from services.lib.expected.degree_days import fit
from services.lib.hotspots.monthly import monthly_hotspots, severity
from tests.services.lib.expected.test_degree_days import bills, temperature

pytestmark = pytest.mark.unit


def test_a_bill_above_its_interval_is_a_hotspot_with_evidence() -> None:
    temp = temperature()
    history = bills(temp, lambda h, c: 200 + 40 * h, n=15, noise=0.02)
    base, later = history.iloc[:12], history.iloc[12:].reset_index(drop=True).copy()
    later.loc[1, "kwh"] *= 1.4
    model = fit(base, temp)
    expected = model.predict(later, temp, level=0.99)
    found = monthly_hotspots("s1", "gas-1", "natural_gas", later, expected, model, model_version="dd-1", level=0.99)
    assert [(h.period_start, h.period_end) for h in found] == [
        (later.loc[1, "period_start"].to_pydatetime(), later.loc[1, "period_end"].to_pydatetime())]
    hotspot = found[0]
    assert hotspot.kind == "above_expected" and hotspot.site == "s1" and hotspot.meter == "gas-1"
    assert hotspot.excess_kwh == pytest.approx(later.loc[1, "kwh"] - expected.loc[1, "expected"], rel=1e-3)
    assert hotspot.evidence["granularity"] == "bill" and hotspot.evidence["model"] == "3PH"
    assert hotspot.severity in ("medium", "high")


def test_no_hotspot_for_clean_bills() -> None:
    temp = temperature()
    history = bills(temp, lambda h, c: 200 + 40 * h, n=15, noise=0.02)
    model = fit(history.iloc[:12], temp)
    later = history.iloc[12:]
    assert monthly_hotspots("s1", "", "natural_gas", later, model.predict(later, temp, 0.99), model) == []


@pytest.mark.parametrize(("share", "name"), [(0.05, "low"), (0.1, "medium"), (0.3, "high"), (0.6, "critical")])
def test_severity_follows_the_excess_share(share: float, name: str) -> None:
    assert severity(share) == name
