"""Reference baselines and verdicts on hotspots (issue #18; migration 0008).

* A reference baseline is the fitted M&V model of one series (:mod:`services.lib.hotspots.reference_model`),
  stored as JSON with the period it was fit on. It changes only by an explicit re-baseline (``PUT``) or
  after a person accepts a hotspot as the new normal: that verdict sets ``rebaseline_from`` on the series'
  baseline, and the next ``fit-reference`` run refits it from that hour.
* A verdict: ``false_alarm`` (also resolves the hotspot's alert), ``confirmed`` or ``new_normal``; one per
  hotspot (a second one replaces the first). :func:`verdict_counts` is what the evaluation counts.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON, Connection, ForeignKey, String, Text, delete, func, insert, select, update
from sqlalchemy.orm import Mapped, mapped_column

from services.common.contracts import naive_utc
from services.common.errors import NotFound
from services.data_core.models import Alert, Base, Hotspot

Verdict = Literal["false_alarm", "confirmed", "new_normal"]
Reason = Literal["initial", "rebaseline", "new_normal"]


class ReferenceBaseline(Base):
    __tablename__ = "reference_baselines"
    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    meter: Mapped[str] = mapped_column(String(120), primary_key=True)
    activity_type: Mapped[str] = mapped_column(String(80), primary_key=True)
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(40))
    model: Mapped[dict[str, Any]] = mapped_column(JSON)
    rebaseline_from: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(server_default=func.current_timestamp())


class HotspotVerdict(Base):
    __tablename__ = "hotspot_verdicts"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    hotspot_id: Mapped[str] = mapped_column(ForeignKey("hotspots.id"), unique=True)
    verdict: Mapped[str] = mapped_column(String(20))
    by: Mapped[str | None] = mapped_column(String(120))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.current_timestamp())


class BaselineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site: str = Field(min_length=1, max_length=64)
    meter: str = Field(default="", max_length=120)
    activity_type: str = Field(min_length=1, max_length=80)
    period_start: datetime
    period_end: datetime
    reason: Reason = "initial"
    model: dict[str, Any]


class VerdictIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verdict: Verdict
    by: str | None = Field(default=None, max_length=120)
    note: str | None = Field(default=None, max_length=4000)


def _baseline_dict(r: Any) -> dict[str, Any]:
    return {"site": r["site_id"], "meter": r["meter"], "activity_type": r["activity_type"],
            "period_start": r["period_start"].isoformat() + "Z", "period_end": r["period_end"].isoformat() + "Z",
            "reason": r["reason"], "model": r["model"],
            "rebaseline_from": r["rebaseline_from"].isoformat() + "Z" if r["rebaseline_from"] else None}


def put_baselines(conn: Connection, items: list[BaselineIn], now: datetime) -> int:
    """Store (replace) the baselines of these series; a pending re-baseline request is cleared."""
    t = ReferenceBaseline.__table__
    for b in items:
        conn.execute(delete(ReferenceBaseline).where(t.c.site_id == b.site, t.c.meter == b.meter,
                                     t.c.activity_type == b.activity_type))
        conn.execute(insert(ReferenceBaseline).values(site_id=b.site, meter=b.meter, activity_type=b.activity_type,
                                      period_start=naive_utc(b.period_start), period_end=naive_utc(b.period_end),
                                      reason=b.reason, model=b.model, rebaseline_from=None, updated_at=now))
    return len(items)


def baselines(conn: Connection, sites: list[str]) -> list[dict[str, Any]]:
    t = ReferenceBaseline.__table__
    q = select(t).order_by(t.c.site_id, t.c.meter, t.c.activity_type)
    if sites:
        q = q.where(t.c.site_id.in_(sites))
    return [_baseline_dict(r) for r in conn.execute(q).mappings()]


def mark(conn: Connection, hotspot_id: str, body: VerdictIn, now: datetime) -> dict[str, Any]:
    """Record a person's verdict on a hotspot (replacing an earlier one)."""
    h = conn.execute(select(Hotspot.__table__).where(Hotspot.__table__.c.id == hotspot_id)).mappings().first()
    if h is None:
        raise NotFound(f"no hotspot {hotspot_id}")
    v = HotspotVerdict.__table__
    conn.execute(delete(HotspotVerdict).where(v.c.hotspot_id == hotspot_id))
    row = {"id": uuid.uuid4().hex, "hotspot_id": hotspot_id, "verdict": body.verdict, "by": body.by,
           "note": body.note, "created_at": now}
    conn.execute(insert(HotspotVerdict).values(**row))
    a = Alert.__table__
    if body.verdict == "false_alarm":
        conn.execute(update(Alert).where(a.c.hotspot_id == hotspot_id, a.c.status != "resolved").values(
            status="resolved", resolved_at=now, resolved_by=body.by, updated_at=now,
            note=f"false alarm: {body.note}" if body.note else "false alarm"))
    rebaseline = None
    if body.verdict == "new_normal":
        t = ReferenceBaseline.__table__
        rebaseline = h["period_start"]
        conn.execute(update(ReferenceBaseline).where(t.c.site_id == h["site_id"], t.c.meter == h["meter"],
                                     t.c.activity_type == h["activity_type"]).values(rebaseline_from=rebaseline))
    return {"hotspot_id": hotspot_id, "verdict": body.verdict, "by": body.by, "note": body.note,
            "created_at": now.isoformat() + "Z",
            "rebaseline_from": rebaseline.isoformat() + "Z" if rebaseline is not None else None}


def verdict_counts(conn: Connection, since: datetime | None = None) -> dict[str, Any]:
    """Verdicts per (verdict, kind, fault, expectation) and the share of judged hotspots marked false alarms."""
    h, v = Hotspot.__table__, HotspotVerdict.__table__
    q = select(v.c.verdict, h.c.kind, h.c.site_id, h.c.evidence, h.c.period_start).join(h, h.c.id == v.c.hotspot_id)
    if since is not None:
        q = q.where(h.c.period_start >= naive_utc(since))
    rows = list(conn.execute(q).mappings())
    counts: dict[tuple[str, str, str, str], int] = {}
    for r in rows:
        ev = r["evidence"] or {}
        key = (r["verdict"], r["kind"], str(ev.get("fault", r["kind"])), str(ev.get("expectation", "day_ahead")))
        counts[key] = counts.get(key, 0) + 1
    judged = len(rows)
    false = sum(n for k, n in counts.items() if k[0] == "false_alarm")
    return {"judged": judged, "false_alarms": false, "false_alarm_share": false / judged if judged else None,
            "counts": [{"verdict": k[0], "kind": k[1], "fault": k[2], "expectation": k[3], "count": n}
                       for k, n in sorted(counts.items())]}


def verdict_of(conn: Connection, hotspot_id: str) -> dict[str, Any] | None:
    v = HotspotVerdict.__table__
    r = conn.execute(select(v).where(v.c.hotspot_id == hotspot_id)).mappings().first()
    return None if r is None else {"verdict": r["verdict"], "by": r["by"], "note": r["note"],
                                   "created_at": r["created_at"].isoformat() + "Z"}
