"""Vectorised validation of raw activity rows: types, ranges, sites, activity types and units.

Each check works on whole columns and yields (row, column, reason, value) for the rows it fails;
a row with any reason is rejected, the others are returned typed.
"""

from __future__ import annotations

import contextlib
import difflib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from services.data_core import units
from services.data_core.ingest.parse import ROW

EARLIEST = pd.Timestamp("1990-01-01")
ONE_HOUR = pd.Timedelta(hours=1)
SPEND_ACTIVITIES = {"purchased_goods"}
ERROR_COLUMNS = ["row", "column", "reason", "value"]
CELL = "_cell"  # layouts.py: the column or element a long row's value came from
TIME_COLUMN = "_time_column"  # per good row: the column its period came from (named by overlap rejects)


@dataclass
class Reference:
    """What validation checks against: the registered sites and what the factor library knows."""

    sites: pd.DataFrame  # index site id; columns org_id, country, grid_region, renewable_share
    activity_dims: pd.DataFrame  # columns activity_type, unit_dim, unit (every factor's)

    @property
    def activity_types(self) -> set[str]:
        return set(self.activity_dims["activity_type"].unique())


@dataclass
class Validated:
    good: pd.DataFrame
    errors: pd.DataFrame  # ERROR_COLUMNS
    bad_rows: pd.Index  # index labels (of the input chunk) of rejected rows


def _col(chunk: pd.DataFrame, name: str, *, few: bool = False) -> pd.Series:
    """A column as stripped strings ('' when absent). ``few`` = low cardinality (sites, units,
    activity types): the work is done once per distinct value and mapped back."""
    if name not in chunk.columns:
        return pd.Series("", index=chunk.index, dtype=str)
    values = chunk[name].astype(str)
    if not few:
        return values.str.strip()
    codes, uniques = pd.factorize(values)
    stripped = pd.Index(uniques).str.strip()
    return pd.Series(stripped.take(codes), index=chunk.index, dtype=str)


def _normalise_activity(values: pd.Series) -> pd.Series:
    codes, uniques = pd.factorize(values)
    norm = pd.Index(uniques).str.lower().str.replace(r"[\s\-]+", "_", regex=True)
    return pd.Series(norm.take(codes), index=values.index, dtype=str)


def _errors(chunk: pd.DataFrame, mask: pd.Series, column: str, reason: pd.Series | str | tuple[str, str],
            value: pd.Series) -> pd.DataFrame:
    """Reject records for the rows in ``mask``. ``reason`` is a text, a per-row Series, or a
    (prefix, suffix) pair put around the row's value; only masked rows are formatted."""
    if not mask.any():
        return pd.DataFrame(columns=ERROR_COLUMNS)
    if isinstance(reason, tuple):
        reasons = reason[0] + value[mask].astype(str) + reason[1]
    elif isinstance(reason, pd.Series):
        reasons = reason[mask]
    else:
        reasons = pd.Series(reason, index=mask.index[mask])
    return pd.DataFrame({"row": chunk.loc[mask, ROW].to_numpy(), "column": column,
                         "reason": reasons.to_numpy(), "value": value[mask].to_numpy()}, index=mask.index[mask])


def _parse_times(text: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(text.where(text != ""), format="ISO8601", utc=True, errors="coerce")
    return parsed.dt.tz_convert(None).astype("datetime64[us]")


def _parse_period(text: pd.Series) -> tuple[pd.Series, pd.Series]:
    start = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us]")
    end = start.copy()
    year = text.str.fullmatch(r"\d{4}")
    month = text.str.fullmatch(r"\d{4}-\d{2}")
    day = text.str.fullmatch(r"\d{4}-\d{2}-\d{2}")
    quarter = text.str.fullmatch(r"\d{4}-?[Qq][1-4]")
    if year.any():
        s = pd.to_datetime(text[year], format="%Y", errors="coerce")
        start[year], end[year] = s, s + pd.DateOffset(years=1)
    if month.any():
        s = pd.to_datetime(text[month], format="%Y-%m", errors="coerce")
        start[month], end[month] = s, s + pd.DateOffset(months=1)
    if day.any():
        s = pd.to_datetime(text[day], format="%Y-%m-%d", errors="coerce")
        start[day], end[day] = s, s + pd.DateOffset(days=1)
    if quarter.any():
        q = text[quarter].str.upper().str.replace("-", "", regex=False)
        s = pd.PeriodIndex(q.str.replace("Q", "Q", regex=False), freq="Q").to_timestamp()
        start[quarter] = pd.Series(s, index=q.index)
        end[quarter] = start[quarter] + pd.DateOffset(months=3)
    return start, end


def _suggest(values: pd.Series, known: set[str]) -> pd.Series:
    """'did you mean' per distinct unknown value (not per row)."""
    hints = {}
    for value in values.unique():
        close = difflib.get_close_matches(str(value).lower(), known, n=1, cutoff=0.75)
        hints[value] = f"; did you mean '{close[0]}'?" if close else ""
    return values.map(hints)


def validate(chunk: pd.DataFrame, ref: Reference, *, now: pd.Timestamp | None = None) -> Validated:
    now = now or pd.Timestamp.now(tz="UTC").tz_convert(None)
    errors: list[pd.DataFrame] = []

    site = _col(chunk, "site", few=True)
    missing = site == ""
    errors.append(_errors(chunk, missing, "site", "site is missing", site))
    unknown = ~missing & ~site.isin(ref.sites.index)
    errors.append(_errors(chunk, unknown, "site",
                          ("unknown site '", "'; register it with POST /api/v1/sites"), site))

    activity = _normalise_activity(_col(chunk, "activity_type", few=True))
    missing = activity == ""
    errors.append(_errors(chunk, missing, "activity_type", "activity_type is missing", activity))
    unknown = ~missing & ~activity.isin(ref.activity_types)
    if unknown.any():
        reason = "unknown activity type '" + activity[unknown] + "'" + _suggest(activity[unknown], ref.activity_types)
        errors.append(_errors(chunk, unknown, "activity_type", reason.reindex(chunk.index), activity))

    raw_qty = _col(chunk, "quantity").str.replace(",", "", regex=False)
    quantity = pd.to_numeric(raw_qty.where(raw_qty != ""), errors="coerce").astype(float)
    missing = raw_qty == ""
    errors.append(_errors(chunk, missing, "quantity", "quantity is missing", raw_qty))
    not_number = ~missing & (quantity.isna() | ~np.isfinite(quantity.fillna(0)))
    errors.append(_errors(chunk, not_number, "quantity", ("quantity '", "' is not a finite number"), raw_qty))
    negative = quantity < 0
    errors.append(_errors(chunk, negative, "quantity", "quantity must not be negative", raw_qty))

    unit_raw = _col(chunk, "unit", few=True)
    unit_expr = pd.Series("", index=chunk.index, dtype=object)
    unit_dim = pd.Series("", index=chunk.index, dtype=object)
    known_units: dict[str, tuple[str, str]] = {}
    for value in unit_raw.unique():
        with contextlib.suppress(units.UnknownUnit):
            known_units[value] = (units.normalise_unit(value), units.dimensionality(value))
    ok_unit = unit_raw.isin(known_units.keys())
    unit_expr[ok_unit] = unit_raw[ok_unit].map({k: v[0] for k, v in known_units.items()})
    unit_dim[ok_unit] = unit_raw[ok_unit].map({k: v[1] for k, v in known_units.items()})
    missing = unit_raw == ""
    errors.append(_errors(chunk, missing, "unit", "unit is missing", unit_raw))
    errors.append(_errors(chunk, ~missing & ~ok_unit, "unit", ("unknown unit '", "'"), unit_raw))
    # a unit of the wrong kind for the activity (kg of electricity): checked per distinct pair
    check = ok_unit & activity.isin(ref.activity_types)
    if check.any():
        pairs = pd.DataFrame({"activity_type": activity[check], "unit_dim": unit_dim[check]})
        valid_pairs = ref.activity_dims[["activity_type", "unit_dim"]].drop_duplicates().assign(_ok=True)
        merged = pairs.merge(valid_pairs, on=["activity_type", "unit_dim"], how="left")
        bad = pd.Series(merged["_ok"].isna().to_numpy(), index=pairs.index)
        if bad.any():
            listed = ref.activity_dims.groupby("activity_type")["unit"].agg(lambda u: ", ".join(sorted(set(u))[:5]))
            reason = ("unit '" + unit_raw[bad.index[bad]] + "' does not fit activity '" + activity[bad.index[bad]]
                      + "' (its factors are per " + activity[bad.index[bad]].map(listed) + ")")
            mask = pd.Series(False, index=chunk.index)
            mask[bad.index[bad]] = True
            errors.append(_errors(chunk, mask, "unit", reason.reindex(chunk.index), unit_raw))

    start, end, time_column = _times(chunk)
    time_text = time_column.text
    # each reject names the column its row's time came from (timestamp, period or period_start)
    for name in time_column.labels.unique():
        here = time_column.labels == name
        column = str(name) or time_column.name
        unreadable = here & time_text.ne("") & start.isna()
        errors.append(_errors(chunk, unreadable, column,
                              ("impossible or unreadable date '", "' (use ISO 8601, e.g. 2024-03-01T13:00:00Z)"),
                              time_text))
        no_time = here & time_text.eq("")
        errors.append(_errors(chunk, no_time, column, "no timestamp or period given", time_text))
        early = here & start.notna() & (start < EARLIEST)
        errors.append(_errors(chunk, early, column, "date is before 1990-01-01", time_text))
        future = here & start.notna() & (start > now + pd.Timedelta(days=1))
        errors.append(_errors(chunk, future, column, "date is in the future", time_text))
    bad_end = start.notna() & (end.isna() | (end <= start))
    errors.append(_errors(chunk, bad_end, "period_end", "period_end is missing, unreadable or not after the start",
                          _col(chunk, "period_end")))

    naics = _col(chunk, "naics_code", few=True)
    spend = activity.isin(SPEND_ACTIVITIES)
    bad_naics = spend & ~naics.str.fullmatch(r"\d{6}")
    errors.append(_errors(chunk, bad_naics, "naics_code",
                          "spend-based activity needs a 6-digit NAICS code", naics))
    naics = naics.where(spend, "")

    cat_raw = _col(chunk, "scope3_category", few=True)
    category = pd.to_numeric(cat_raw.where(cat_raw != ""), errors="coerce")
    bad_cat = cat_raw.ne("") & (category.isna() | (category % 1 != 0) | (category < 1) | (category > 15))
    errors.append(_errors(chunk, bad_cat, "scope3_category", "scope3_category must be a whole number 1..15", cat_raw))

    all_errors = pd.concat([e for e in errors if not e.empty], ignore_index=False) if any(
        not e.empty for e in errors) else pd.DataFrame(columns=ERROR_COLUMNS)
    if CELL in chunk.columns and not all_errors.empty:  # a wide layout: name the cell the value came from
        cells = all_errors["column"].eq("quantity")
        all_errors.loc[cells, "column"] = chunk.loc[all_errors.index[cells], CELL].to_numpy()
    bad_rows = pd.Index(all_errors.index.unique())
    keep = ~chunk.index.isin(bad_rows)
    sites = ref.sites
    good = pd.DataFrame({
        "site_id": site[keep],
        "meter": _col(chunk, "meter", few=True)[keep].str.slice(0, 120),
        "activity_type": activity[keep],
        "naics_code": naics[keep],
        "period_start": start[keep],
        "period_end": end[keep],
        "quantity": quantity[keep],
        "unit": unit_expr[keep].astype(str),
        "unit_dim": unit_dim[keep].astype(str),
        "supplier": _col(chunk, "supplier", few=True)[keep].str.slice(0, 200),
        "scope3_category": category[keep].astype("Int64"),
        ROW: chunk.loc[keep, ROW],
        TIME_COLUMN: (chunk[CELL] if CELL in chunk.columns else time_column.labels)[keep],
    })
    good = good.join(sites[["org_id", "country", "grid_region", "renewable_share"]], on="site_id")
    return Validated(good=good, errors=all_errors.reset_index(drop=True)[ERROR_COLUMNS], bad_rows=bad_rows)


@dataclass
class _TimeColumn:
    name: str  # the most common time column (for rows that have none)
    text: pd.Series
    labels: pd.Series  # per row: the column its time came from ('' when none)


def _times(chunk: pd.DataFrame) -> tuple[pd.Series, pd.Series, _TimeColumn]:
    """Period of each row: period_start/period_end, else period (YYYY, YYYY-MM, YYYY-MM-DD, YYYY-Qn),
    else timestamp (the hour starting then; a bare date is that day)."""
    idx = chunk.index
    start = pd.Series(pd.NaT, index=idx, dtype="datetime64[us]")
    end = start.copy()
    label = pd.Series("", index=idx, dtype=object)
    text = pd.Series("", index=idx, dtype=object)
    ts = _col(chunk, "timestamp")
    use = ts != ""
    if use.any():
        parsed = _parse_times(ts[use])
        # a bare date ("2024-03-01") means that day; a date with a time, the hour starting then
        length = pd.Series(ONE_HOUR, index=parsed.index).where(
            ~ts[use].str.fullmatch(r"\d{4}-\d{2}-\d{2}"), pd.Timedelta(days=1))
        start[use], end[use] = parsed, parsed + length
        label[use], text[use] = "timestamp", ts[use]
    period = _col(chunk, "period", few=True)
    use = period != ""
    if use.any():
        s, e = _parse_period(period[use])
        start[use], end[use] = s, e
        label[use], text[use] = "period", period[use]
    ps, pe = _col(chunk, "period_start"), _col(chunk, "period_end")
    use = ps != ""
    if use.any():
        start[use] = _parse_times(ps[use])
        end[use] = _parse_times(pe[use])
        label[use], text[use] = "period_start", ps[use]
    name = label[label != ""].mode().iloc[0] if (label != "").any() else "timestamp"
    return start, end, _TimeColumn(name=str(name), text=text.astype(str), labels=label.astype(str))
