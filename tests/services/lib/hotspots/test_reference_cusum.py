"""Issue #18: the CUSUM rule against the reference (synthetic series, not the bench's windows or faults) and
the direction of a level shift in the stored kind (``level_shift_up`` / ``level_shift_down``) with alert
rules that still list ``level_shift``."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from services.common.alert_rules import AlertRules
from services.lib.hotspots.reference_rules import ReferenceConfig, _cusum, detect_reference

pytestmark = pytest.mark.unit
CFG = replace(ReferenceConfig(), cusum_k=0.25, cusum_h=100.0, cusum_baseline_hours=0)


def _series(step_at: int | None, factor: float, n: int = 21 * 24, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2021-03-01", periods=n, freq="h", tz="UTC")
    ref = 50 + 30 * np.sin(np.arange(n) * 2 * np.pi / 24) ** 2
    actual = ref * (1 + rng.normal(0, 0.04, n))
    if step_at is not None:
        actual[step_at:] *= factor
    return pd.DataFrame({"site": "s1", "activity_type": "electricity", "timestamp": ts, "actual": actual,
                         "reference": ref, "spread": 0.04 * ref, "temperature": 10.0})


def test_the_vectorised_cusum_is_pages_recursion() -> None:
    rng = np.random.default_rng(11)
    x = rng.normal(0.1, 1, 500)
    c = np.cumsum(x)
    fast = c - np.minimum(0.0, np.minimum.accumulate(c))
    slow, s = [], 0.0
    for v in x:
        s = max(0.0, s + v)
        slow.append(s)
    assert np.allclose(fast, slow)


@pytest.mark.parametrize(("factor", "kind"), [(1.3, "level_shift_up"), (0.7, "level_shift_down")])
def test_a_step_is_flagged_within_a_day_with_its_direction(factor: float, kind: str) -> None:
    at = 9 * 24 + 7
    frame = _series(at, factor)
    ts = frame["timestamp"]
    as_of = ts.iloc[at] + pd.Timedelta(hours=24)  # a scan one day after the step
    part = frame[ts < as_of]
    found = _cusum("s1", *(part[c].to_numpy(float) for c in ("actual", "reference", "spread")), CFG)
    assert len(found) == 1 and found[0].fault == kind and found[0].end == len(part)  # still running
    assert abs(found[0].start - at) <= 6 and found[0].start + found[0].evidence["alarm_after_hours"] < at + 24
    assert np.sign(found[0].evidence["effect_ratio"]) == np.sign(factor - 1)
    only = replace(CFG, rule_sensitivity={"all": 1e6, "off_hours": 1e6})
    hs = detect_reference(part, as_of=as_of, config=only)
    assert [h.kind for h in hs] == [kind] and hs[0].ongoing and hs[0].evidence["expectation"] == "reference"
    assert len(detect_reference(part, as_of=as_of, config=CFG)) == 1  # with the segment rules: one episode


def test_a_clean_series_and_a_switched_off_rule_raise_nothing() -> None:
    frame = _series(None, 1.0)
    assert [h for h in detect_reference(frame, config=CFG) if h.evidence.get("channel") == "cusum"] == []
    a = frame["actual"].to_numpy(float)
    off = replace(CFG, cusum_k=np.inf)
    assert _cusum("s1", a * 1.5, frame["reference"].to_numpy(float), frame["spread"].to_numpy(float), off) == []
    quiet = replace(CFG, rule_sensitivity={"cusum": 1e6})
    assert _cusum("s1", a * 1.5, frame["reference"].to_numpy(float), frame["spread"].to_numpy(float), quiet) == []


def test_alert_rules_listing_level_shift_take_both_directions_and_drops_alert() -> None:
    hotspot = {"id": "h1", "site": "b1", "kind": "level_shift_down", "severity": "high", "excess_kg": -120.0,
               "excess_kwh": -600.0, "activity_type": "electricity", "meter": ""}
    legacy = AlertRules(kinds=["level_shift"], min_excess_kg=50.0)
    alert = legacy.evaluate(hotspot)
    assert alert is not None and "dropped" in alert["title"]
    assert AlertRules(kinds=["level_shift_up"]).evaluate(hotspot) is None
    assert AlertRules().evaluate({**hotspot, "kind": "level_shift_up", "excess_kg": 120.0}) is not None
    assert AlertRules(min_excess_kg=500.0).evaluate(hotspot) is None
