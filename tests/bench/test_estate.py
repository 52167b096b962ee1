"""bench/estate.py runs end to end at a small size (2 hourly sites, 1 half-hourly site, 2 bill meters, a short
model): every step answers, the scan is measured at two sizes and the Dask task runner finds the same
hotspots. Figures are the bench's business (bench/RESULTS.md), not this test's."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bench.harness import PYTHON, REPO, child_env

pytestmark = pytest.mark.slow


def _run(tmp_path: Path, *extra: str) -> dict[str, Any]:
    out = tmp_path / "estate.json"
    done = subprocess.run([PYTHON, str(REPO / "bench" / "estate.py"), "--meters", "4", "--hh-meters", "2", "--bills",
                           "2", "--max-iter", "20", "--chunk-size", "1", *extra, "--json", str(out)], cwd=REPO,
                          env=child_env(), capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return dict(json.loads(out.read_text()))


def test_the_estate_bench_runs_every_step_at_a_small_size(tmp_path: Path) -> None:
    r = _run(tmp_path, "--scan-fractions", "0.5", "1")
    assert r["meters"] == {"hourly": 4, "halfhourly": 2, "monthly": 2}
    ing = r["ingest"]
    assert ing["rows"] > 3 * 2 * 8000 and ing["floor_s"] > 0 and ing["ratio"] > 0
    assert abs(ing["kg_co2e"] - ing["floor_kg_co2e"]) < 0.02 * ing["kg_co2e"]  # the floor applies the same factors
    hourly = r["train"]["hourly"]
    assert "refused" not in hourly and sum(hourly["held"].values()) == 6  # 3 sites x 2 activity types
    assert r["train"]["monthly"]["fitted"] == 2
    fill = r["fill"]
    assert fill["model_rows"] > 3 * 2 * 8000 and fill["sites_on_model"] == 3 and fill["bills"] == 24
    scan = r["scan"]
    assert [run["sites"] for run in scan["runs"]] == [2, 3] and scan["runs"][-1]["rows"] > 3 * 2 * 8000
    assert scan["dask"]["rows"] == scan["runs"][-1]["rows"] and scan["dask_identical"] is True
    assert scan["slope_s_per_meter"] == scan["slope_s_per_meter"]  # a number, not NaN
    assert "ingest" in r["report"] and "scan dask" in r["report"]


def test_a_training_that_refuses_is_reported_and_the_scan_runs_on_the_fallback(tmp_path: Path) -> None:
    """10 days of history: the training code refuses (fewer than 28 days per site); the bench says so, fills
    every hour with the week-ago fallback and still scans."""
    r = _run(tmp_path, "--train-days", "10", "--scan-fractions", "1", "--no-dask")
    assert "enough hourly history" in r["train"]["hourly"]["refused"]
    assert r["fill"]["model_rows"] == 0 and r["fill"]["fallback_rows"] > 3 * 2 * 8000
    assert r["scan"]["runs"][-1]["rows"] > 3 * 2 * 8000 and "REFUSED" in r["report"]
