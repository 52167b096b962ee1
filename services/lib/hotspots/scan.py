"""One hotspot scan of a set of sites over a window, as plain functions over the data core's client.

The Prefect flow ``hotspot-scan`` calls these per chunk of sites; the orchestration engine's event path
calls them for the sites of one ingest. Reading: actual against expected per hour, in kWh as the data core
serves them (``GET /api/v1/residuals?format=csv``) and the emissions of the same window
(``GET /api/v1/emissions/totals``) for the kg CO2e per kWh of each site and activity type, which turns
excess energy into excess emissions. Detection is :mod:`services.lib.hotspots.detect`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar, cast

import numpy as np
import pandas as pd

from services.common.contracts import HotspotIn, SiteSkip, SkipStage, fault_reason, site_fault, unescape_cell
from services.common.datacore import DataCoreClient, window_params
from services.lib.hotspots.config import DetectionConfig, Hotspot
from services.lib.hotspots.detect import detect
from services.lib.hotspots.pareto import pareto
from services.lib.hotspots.reference_rules import ReferenceConfig, detect_reference
from services.lib.hotspots.reference_scan import KEYS, combine, with_reference

RESIDUAL_COLUMNS = ["site", "meter", "activity_type", "timestamp", "actual", "expected", "lower", "upper",
                    "model_version"]

def utc(value: datetime | str | pd.Timestamp) -> pd.Timestamp:
    ts = pd.Timestamp(value)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def extent(dc: DataCoreClient) -> tuple[pd.Timestamp | None, pd.Timestamp | None, list[str]]:
    """First and last hour of hourly readings in the data core and the sites that have them."""
    body = dc.extent()
    first = utc(body["first"]) if body["first"] else None
    last = utc(body["last"]) if body["last"] else None
    return first, last, list(body["sites"])


def read_residuals(dc: DataCoreClient, sites: list[str], start: pd.Timestamp, end: pd.Timestamp,
                   activity_types: list[str] | None = None) -> pd.DataFrame:
    """Actual, expected and interval per (site, meter, activity type, hour), in kWh (the data core's unit)."""
    frame = dc.csv("/api/v1/residuals", window_params(sites, activity_types or [], start, end),
                   dtype={"site": str, "meter": str, "model_version": str}, keep_default_na=False,
                   na_values={"expected": [""], "lower": [""], "upper": [""], "actual": [""], "model_version": [""]})
    if frame.empty:
        return pd.DataFrame(columns=RESIDUAL_COLUMNS)
    frame["meter"] = frame["meter"].map(unescape_cell)  # the export quotes names a spreadsheet would run
    out = frame.assign(timestamp=pd.to_datetime(frame["period_start"], utc=True))
    out["model_version"] = out["model_version"].astype(object).where(out["model_version"].notna(), None)
    return out[RESIDUAL_COLUMNS]


def emissions_by(dc: DataCoreClient, sites: Iterable[str], start: pd.Timestamp, end: pd.Timestamp,
                 group_by: str) -> pd.DataFrame:
    rows = dc.emissions("totals", window_params(sites, (), start, end, group_by=group_by))["rows"]
    columns = [*group_by.split(","), "kg_co2e"]
    return pd.DataFrame(rows, columns=[*columns, "rows", "t_co2e"])[columns]


def with_intensity(residuals: pd.DataFrame, kg: pd.DataFrame) -> pd.DataFrame:
    """Add ``kg_per_kwh`` per (site, activity type): the window's emissions over its metered kWh."""
    if residuals.empty:
        return residuals.assign(kg_per_kwh=pd.Series(dtype=float))
    kwh = residuals.groupby(["site", "activity_type"], as_index=False)["actual"].sum()
    both = kwh.merge(kg, left_on=["site", "activity_type"], right_on=["site", "activity_type"], how="left")
    both["kg_per_kwh"] = (both["kg_co2e"] / both["actual"]).where(both["actual"] > 0)
    return residuals.merge(both[["site", "activity_type", "kg_per_kwh"]], on=["site", "activity_type"], how="left")


def scan_sites(dc: DataCoreClient, sites: list[str], start: pd.Timestamp, end: pd.Timestamp, *,
               as_of: pd.Timestamp | None = None, config: DetectionConfig | None = None,
               activity_types: list[str] | None = None,
               reference_config: ReferenceConfig | None = None) -> dict[str, Any]:
    """Hotspots of these sites in [start, end): the JSON the orchestration engine takes, and ``skipped``:
    the sites (or meters) whose data could not be read or scanned (:class:`SiteSkip` as JSON), left out so
    that the others are scanned exactly as without them. A data core that is down or refuses our token
    raises as always (:func:`~services.common.contracts.site_fault`)."""
    skipped: list[SiteSkip] = []
    parts = per_site(lambda some: read_residuals(dc, some, start, end, activity_types), sites, "read", skipped)
    residuals = pd.concat(parts, ignore_index=True) if len(parts) > 1 else \
        parts[0] if parts else pd.DataFrame(columns=RESIDUAL_COLUMNS)
    residuals = valid_series(residuals, skipped)
    scanned = sorted(set(residuals["site"]))
    kg = pd.concat(per_site(lambda some: emissions_by(dc, some, start, end, "site,activity_type"), scanned,
                            "read", skipped), ignore_index=True) if scanned else \
        pd.DataFrame(columns=["site", "activity_type", "kg_co2e"])
    residuals = residuals[~residuals["site"].isin([s.site for s in skipped if s.stage == "read"])]
    frame = with_intensity(residuals, kg)
    found, frame = detect_contained(frame, as_of=as_of or end, config=config or DetectionConfig(), skipped=skipped)
    ref = with_reference(dc, frame, start, end) if not frame.empty else frame.iloc[0:0]
    if not ref.empty:  # the series with a stored reference baseline (issue #18)
        referenced = {tuple(k) for k in ref[KEYS].drop_duplicates().itertuples(index=False)}
        found = combine(found, detect_reference(ref, as_of=as_of or end, config=reference_config), referenced)
        found.sort(key=lambda h: (h.site, h.meter, h.activity_type, h.period_start, h.kind))
    return {"rows": len(frame), "series": int(frame.groupby(["site", "meter", "activity_type"]).ngroups)
            if not frame.empty else 0, "hotspots": [h.to_dict() for h in found],
            "skipped": [s.model_dump() for s in skipped]}


T = TypeVar("T")


def per_site(call: Callable[[list[str]], T], sites: list[str], stage: SkipStage, skipped: list[SiteSkip]) -> list[T]:
    """``[call(sites)]``; when that fails on one site's data (:func:`site_fault`), ``call([site])`` for each
    site, the sites that still fail added to ``skipped``. Costs one call while every site is fine."""
    try:
        return [call(sites)]
    except Exception as exc:
        if not site_fault(exc) or not sites:
            raise
        if len(sites) == 1:
            skipped.append(SiteSkip.of(sites[0], stage, exc))
            return []
    out: list[T] = []
    for site in sites:
        try:
            out.append(call([site]))
        except Exception as exc:
            if not site_fault(exc):
                raise
            skipped.append(SiteSkip.of(site, stage, exc))
    return out


def valid_series(residuals: pd.DataFrame, skipped: list[SiteSkip]) -> pd.DataFrame:
    """``residuals`` without the series (site, meter, activity type) whose values detection cannot use: a
    value that is not a number, a reading or interval of infinity (running sums over every series would
    turn it into NaN for the series after it), a negative reading (the data core refuses them at ingest:
    one that reached the store is corrupt), a timestamp read twice (a replay: the grid sums the readings of an
    hour, so it would count twice). Missing values (NaN) are gaps, not faults. Vectorised."""
    if residuals.empty:
        return residuals
    keys = ["site", "meter", "activity_type"]
    problems = []
    for column in ("actual", "expected", "lower", "upper"):
        raw = residuals[column]
        values = pd.to_numeric(raw, errors="coerce").astype(float)
        problems.append((values.isna() & raw.notna(), "not a number", column))
        problems.append((values.isin([np.inf, -np.inf]), "not finite", column))
        if column == "actual":
            problems.append((values < 0, "negative", column))
        residuals = residuals.assign(**{column: values})
    if "timestamp" in residuals.columns:  # a replayed reading: summing it into its hour would count it twice
        problems.append((residuals.duplicated([*keys, "timestamp"], keep="first"), "replays of a timestamp already read",
                         "actual"))
    bad = pd.concat([m for m, _, _ in problems], axis=1).any(axis=1)
    if not bad.any():
        return residuals
    reasons: dict[tuple[str, str, str], list[str]] = {}
    for mask, what, column in problems:
        for key, count in residuals[mask].groupby(keys).size().items():
            reasons.setdefault(cast(tuple[str, str, str], key), []).append(f"{count} readings are {what} ({column})" if column == "actual"
                                               else f"{count} {column} values are {what}")
    for (site, meter, activity_type), parts in sorted(reasons.items()):
        skipped.append(SiteSkip.of(site, "validate", "; ".join(parts), activity_type=activity_type, meter=meter))
    drop = pd.MultiIndex.from_tuples(list(reasons), names=keys)
    return residuals[~pd.MultiIndex.from_frame(residuals[keys]).isin(drop)].reset_index(drop=True)


def detect_contained(frame: pd.DataFrame, *, as_of: pd.Timestamp, config: DetectionConfig,
                     skipped: list[SiteSkip]) -> tuple[list[Hotspot], pd.DataFrame]:
    """:func:`detect` over every site at once; when one site's data makes it fail, each site alone to find
    it, then every other site at once again (their hotspots exactly as in a scan without it). Returns the
    hotspots and the frame that was scanned. Any hotspot a site yields that the contract refuses (a value of
    infinity) skips that site too: one bad hotspot must not make the orchestration engine refuse the rest."""
    try:
        found = detect(frame, as_of=as_of, config=config)
    except Exception as exc:
        if not site_fault(exc):
            raise
        bad: list[SiteSkip] = []
        for site, rows in frame.groupby("site", sort=True):
            try:
                detect(rows, as_of=as_of, config=config)
            except Exception as one:
                if not site_fault(one):
                    raise
                bad.append(SiteSkip.of(str(site), "detect", one))
        if not bad:  # only all together fails: nothing to blame on one site
            raise
        skipped.extend(bad)
        frame = frame[~frame["site"].isin([s.site for s in bad])]
        found = detect(frame, as_of=as_of, config=config)
    refused: dict[str, str] = {}
    for h in found:
        try:
            HotspotIn.model_validate(h.to_dict())
        except ValueError as exc:
            refused.setdefault(h.site, f"its {h.kind} hotspot is refused by the contract: {fault_reason(exc)}")
    if refused:
        skipped.extend(SiteSkip.of(site, "detect", reason) for site, reason in sorted(refused.items()))
        found = [h for h in found if h.site not in refused]
        frame = frame[~frame["site"].isin(list(refused))]
    return found, frame


def pareto_hotspots(dc: DataCoreClient, start: pd.Timestamp, end: pd.Timestamp) -> list[dict[str, Any]]:
    """The (site, category) pairs making up 80 % of emissions in [start, end) and the ones that grew
    most against the period of the same length before."""
    previous_start = start - (end - start)
    current = emissions_by(dc, [], start, end, "site,category").rename(columns={"kg_co2e": "kg"})
    previous = emissions_by(dc, [], previous_start, start, "site,category").rename(columns={"kg_co2e": "kg"})
    found = pareto(current, previous if not previous.empty else None, period_start=start.to_pydatetime(),
                   period_end=end.to_pydatetime())
    return [h.to_dict() for h in found]
