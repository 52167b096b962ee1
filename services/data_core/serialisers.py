"""Rows of the hotspot, alert and recommendation tables as the JSON the API answers (one place for each)."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table

from services.data_core.models import Hotspot
from services.data_core.streams import utc_iso

PREFIX = "h_"
HOTSPOTS = cast(Table, Hotspot.__table__)


def hotspot_dict(row: Any) -> dict[str, Any]:
    return {"id": row["id"], "kind": row["kind"], "site": row["site_id"], "meter": row["meter"],
            "activity_type": row["activity_type"], "period_start": utc_iso(row["period_start"]),
            "period_end": utc_iso(row["period_end"]), "status": row["status"], "severity": row["severity"],
            "excess_kwh": row["excess_kwh"], "excess_kg": row["excess_kg"], "model_version": row["model_version"],
            "evidence": row["evidence"], "revision": row["revision"],
            "first_seen_at": utc_iso(row["first_seen_at"]), "updated_at": utc_iso(row["updated_at"]),
            "closed_at": utc_iso(row["closed_at"])}


def alert_dict(row: Any, hotspot: Any | None = None) -> dict[str, Any]:
    out = {"id": row["id"], "hotspot_id": row["hotspot_id"], "rule": row["rule"], "severity": row["severity"],
           "title": row["title"], "status": row["status"], "created_at": utc_iso(row["created_at"]),
           "updated_at": utc_iso(row["updated_at"]),
           "acknowledged_at": utc_iso(row["acknowledged_at"]), "acknowledged_by": row["acknowledged_by"],
           "resolved_at": utc_iso(row["resolved_at"]), "resolved_by": row["resolved_by"], "note": row["note"]}
    if hotspot is not None:
        out["hotspot"] = hotspot_dict(hotspot)
    return out


def rec_dict(row: Any, hotspot: Any | None = None) -> dict[str, Any]:
    out = {"hotspot_id": row["hotspot_id"], "status": row["status"], "attempts": row["attempts"],
           "last_error": row["last_error"], "requested_at": utc_iso(row["requested_at"]),
           "answered_at": utc_iso(row["answered_at"]), "content": row["content"]}
    if hotspot is not None:
        out["hotspot"] = hotspot_dict(hotspot)
    return out


def hotspot_columns() -> list[Any]:
    """The hotspot table's columns labelled ``h_<name>``, to select beside an alert or recommendation."""
    return [c.label(PREFIX + c.name) for c in HOTSPOTS.c]


def joined_hotspot(row: Any) -> dict[str, Any]:
    """The hotspot row selected with :func:`hotspot_columns`."""
    return {c.name: row[PREFIX + c.name] for c in HOTSPOTS.c}
