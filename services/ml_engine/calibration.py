"""Per-site calibration of the fleet model without retraining (issue #17).

At serving time the engine has the site's recent readings anyway (its day-ahead lags come from them): it
predicts the site's last ``CAL_DAYS`` days with the fleet model, as it would have day-ahead, and compares:

* ``factor``: the site's level correction, sum(actual) / sum(predicted) shrunk towards 1 by
  ``hours / (hours + PRIOR_HOURS)`` and kept within [``FACTOR_MIN``, ``FACTOR_MAX``] (``LEVEL_CORRECTION``:
  whether it is applied, chosen on the tune folds of bench/coldstart_split.json);
* ``lo``, ``hi``: the site's own split-conformal quantiles of residual / recent scale once it has
  ``MIN_OWN_HOURS`` residuals, else the fleet's (from the training calibration slice).

Every new reading of the site changes both on the next request: nothing is trained or stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from services.ml_engine.bundle import INPUT_COLUMNS, BaselineBundle
from services.ml_engine.fleet import conformal_bounds

CAL_DAYS = 14
PRIOR_HOURS = 168
MIN_OWN_HOURS = 168
FACTOR_MIN, FACTOR_MAX = 0.5, 2.0
LEVEL_CORRECTION = True


@dataclass(frozen=True)
class SiteCalibration:
    factor: float
    lo: float
    hi: float
    hours: int
    source: str  # "recent": the site's own residuals; "fleet": too few yet, the fleet's quantiles

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "hours": self.hours, "level_factor": round(self.factor, 4),
                "quantiles": [round(self.lo, 4), round(self.hi, 4)]}


def calibrate(bundle: BaselineBundle, activity_type: str, site: str, rows: pd.DataFrame,
              before: pd.Timestamp, level: bool = LEVEL_CORRECTION) -> SiteCalibration | None:
    """The fleet calibration of ``site`` from ``rows`` (model inputs with the actual ``value``: see
    bundle.model_inputs) of the ``CAL_DAYS`` days before ``before``; None when the bundle has no fleet model
    of this activity type."""
    fm = bundle.fleet.get(activity_type)
    if fm is None:
        return None
    start = before.floor("D") - pd.Timedelta(days=CAL_DAYS)
    recent = rows[(rows["timestamp"] >= start) & (rows["timestamp"] < before) & rows["value"].notna()
                  & rows["recent_scale"].gt(0)]
    fleet = SiteCalibration(1.0, fm.quantiles[0], fm.quantiles[1], 0, "fleet")
    if recent.empty:
        return fleet
    frame = recent.assign(site=site, activity_type=activity_type)
    out = bundle.predict_rows(frame[[c for c in INPUT_COLUMNS if c in frame.columns]], blend=False)
    keep = out.basis == "fleet"
    y, yhat = recent["value"].to_numpy(float)[keep], out.values[keep, 0]
    scale = recent["recent_scale"].to_numpy(float)[keep]
    n = len(y)
    if n == 0:
        return fleet
    factor = 1.0
    if level and yhat.sum() > 0:
        k = n / (n + PRIOR_HOURS)
        factor = float(np.clip(1 + k * (y.sum() / yhat.sum() - 1), FACTOR_MIN, FACTOR_MAX))
    if n < MIN_OWN_HOURS:
        return SiteCalibration(factor, fm.quantiles[0], fm.quantiles[1], n, "fleet")
    lo, hi = conformal_bounds((y - factor * yhat) / scale, fm.alpha)
    return SiteCalibration(factor, lo, hi, n, "recent")
