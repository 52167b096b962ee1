"""Exports of query results as CSV or XLSX. Text cells that a spreadsheet would run as a formula (starting
with ``= + - @``, tab or carriage return) are written with a leading single quote in both formats, so an
uploaded site, meter or source name cannot become a live formula (OWASP CSV injection)."""

from __future__ import annotations

import io
from typing import Any, Literal

import pandas as pd
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from starlette.responses import Response

from services.common.contracts import FORMULA_START, escape_cell

Format = Literal["json", "csv", "xlsx"]
XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MAX_EXACT_INT = 2**53


def escape_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell passed through ``escape_cell`` (a copy only when one changes)."""
    changed: dict[str, pd.Series] = {}
    for c in frame.columns:
        col = frame[c]
        if pd.api.types.is_string_dtype(col) and col.dtype != object:  # only str or missing: vectorised
            hit = col.str.startswith(FORMULA_START).fillna(False).astype(bool)
            if hit.any():
                changed[c] = col.where(~hit, "'" + col)
        elif col.dtype == object:
            escaped = col.map(escape_cell)
            if not escaped.equals(col):
                changed[c] = escaped
    return frame.assign(**changed) if changed else frame


def frame_response(frame: pd.DataFrame, *, fmt: Format, name: str, meta: dict[str, Any] | None = None) -> Response:
    frame = escape_formulas(frame)
    if fmt == "csv":
        body = frame.to_csv(index=False).encode("utf-8")
        return Response(body, media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        _excel_safe(frame).to_excel(writer, index=False, sheet_name="data")
        if meta:
            _excel_safe(pd.DataFrame([{"key": k, "value": escape_cell(str(v))} for k, v in meta.items()])).to_excel(
                writer, index=False, sheet_name="about")
    return Response(buffer.getvalue(), media_type=XLSX_MEDIA,
                    headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})


def _excel_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """What a worksheet can hold exactly: integers beyond 2**53 (activity ids) as text, since Excel
    stores numbers as doubles; text without the control characters XLSX forbids (openpyxl refuses them)."""
    wide = [c for c in frame.columns if pd.api.types.is_integer_dtype(frame[c])
            and not frame[c].empty and frame[c].abs().max() > MAX_EXACT_INT]
    frame = frame.astype({c: str for c in wide}) if wide else frame.copy()
    for c in frame.columns:
        if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c]):
            text = frame[c].map(lambda v: isinstance(v, str))
            if text.any():
                frame.loc[text, c] = frame.loc[text, c].str.replace(ILLEGAL_CHARACTERS_RE, "", regex=True)
    return frame


def inventory_frame(inv: dict[str, Any]) -> pd.DataFrame:
    lines = [
        {"line": "Scope 1", "category": "", "t_co2e": inv["scope1_t_co2e"]},
        {"line": "Scope 2 (location-based)", "category": "", "t_co2e": inv["scope2_location_t_co2e"]},
        {"line": "Scope 2 (market-based)", "category": "", "t_co2e": inv["scope2_market_t_co2e"]},
    ]
    lines += [{"line": "Scope 3", "category": c["category"], "t_co2e": c["t_co2e"]} for c in inv["scope3_by_category"]]
    lines += [
        {"line": "Scope 3 total", "category": "", "t_co2e": inv["scope3_t_co2e"]},
        {"line": "Total (location-based scope 2)", "category": "", "t_co2e": inv["total_location_t_co2e"]},
        {"line": "Total (market-based scope 2)", "category": "", "t_co2e": inv["total_market_t_co2e"]},
    ]
    return pd.DataFrame(lines)


def arrow_csv_response(frame: pd.DataFrame, *, name: str) -> Response:
    """CSV written by pyarrow (C++): for large machine-read answers (the hotspot scan's residuals)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    buffer = io.BytesIO()
    pacsv.write_csv(pa.Table.from_pandas(escape_formulas(frame), preserve_index=False), buffer)
    return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
