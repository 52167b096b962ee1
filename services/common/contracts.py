"""Contracts shared between services: what crosses the wire, declared once.

Channel names and hotspot kinds are enums; hotspots, alerts, alert actions, recommendations, scan results,
ingestion events and the WebSocket envelope are pydantic models. Every service imports them from here and
from nowhere else (``docs/architecture.md``). Alert rules and their evaluation are in
:mod:`services.common.alert_rules`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator


class Channel(StrEnum):
    """The orchestration engine's WebSocket channels and the data core's channel logs."""

    HOTSPOTS = "hotspots"
    ALERTS = "alerts"
    RECS = "recs"


CHANNELS: tuple[str, ...] = tuple(c.value for c in Channel)


Kind = Literal["above_expected", "spike", "level_shift", "level_shift_up", "level_shift_down", "silent_meter",
               "stuck_meter", "pareto", "growth"]
"""``level_shift`` (the day-ahead rule's, always upward) stays valid; the reference rules say the direction (#18)."""


class HotspotKind(StrEnum):
    ABOVE_EXPECTED = "above_expected"
    SPIKE = "spike"
    LEVEL_SHIFT = "level_shift"
    LEVEL_SHIFT_UP = "level_shift_up"
    LEVEL_SHIFT_DOWN = "level_shift_down"
    SILENT_METER = "silent_meter"
    STUCK_METER = "stuck_meter"
    PARETO = "pareto"
    GROWTH = "growth"


KINDS: tuple[str, ...] = tuple(k.value for k in HotspotKind)
EXCESS_KINDS = frozenset({"above_expected", "spike", "level_shift", "level_shift_up", "level_shift_down", "growth"})
"""Kinds that carry an excess (kWh, kg CO2e)."""
GAP_KINDS = frozenset({"silent_meter", "stuck_meter"})
"""Kinds about a meter's data, with no excess."""
FAULT_KINDS = frozenset({"above_expected", "spike", "level_shift", "level_shift_up", "level_shift_down", "stuck_meter",
                         "silent_meter"})
"""Kinds found against the expected value of one meter (the others rank emission totals)."""
INFO_KINDS = frozenset({"pareto", "growth"})
DEFAULT_ALERT_KINDS: tuple[Kind, ...] = ("above_expected", "spike", "level_shift", "level_shift_up", "level_shift_down",
                                         "silent_meter", "stuck_meter")
LEVEL_SHIFT_KINDS = frozenset({"level_shift", "level_shift_up", "level_shift_down"})
"""An alert rule that lists ``level_shift`` (before #18's directions) also takes the directed kinds."""


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


SEVERITIES: tuple[str, ...] = tuple(s.value for s in Severity)
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}

SeverityName = Literal["low", "medium", "high", "critical"]
ChannelName = Literal["hotspots", "alerts", "recs"]


def naive_utc(value: datetime) -> datetime:
    """``value`` as a naive UTC datetime (how the data core stores times)."""
    return value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)


def finite_json(value: Any, name: str) -> None:
    """Refuse NaN or Infinity in a JSON member (PostgreSQL's json refuses them; NaN != NaN would also make
    every re-sent hotspot look changed)."""
    try:
        json.dumps(value, allow_nan=False)
    except ValueError as exc:
        raise ValueError(f"{name} must not contain NaN or Infinity") from exc


# --------------------------------------------------------------------------- hotspots
class HotspotIn(BaseModel):
    """One finding of a scan, as the flows send it and the data core stores it. ``period_end`` is
    exclusive; ``ongoing`` means the episode reaches the scan's end. For ``pareto``/``growth`` hotspots
    ``activity_type`` holds the emissions category."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())
    kind: Kind
    site: str = Field(min_length=1, max_length=64)
    meter: str = Field(default="", max_length=120)
    activity_type: str = Field(default="", max_length=80, description="activity type, or category for Pareto")
    period_start: datetime
    period_end: datetime
    ongoing: bool = False
    severity: SeverityName
    excess_kwh: float = Field(default=0.0, allow_inf_nan=False)
    excess_kg: float | None = Field(default=None, allow_inf_nan=False)
    model_version: str | None = Field(default=None, max_length=40)
    evidence: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _period(self) -> HotspotIn:
        if naive_utc(self.period_end) <= naive_utc(self.period_start):
            raise ValueError("period_end must be after period_start")
        finite_json(self.evidence, "evidence")
        return self


class Hotspot(BaseModel):
    """A stored hotspot (an episode), as the data core and the orchestration engine answer it."""

    model_config = ConfigDict(protected_namespaces=())
    id: str
    kind: Kind
    site: str
    meter: str = ""
    activity_type: str = ""
    period_start: str
    period_end: str
    status: Literal["open", "closed"] | str
    severity: SeverityName
    excess_kwh: float | None = None
    excess_kg: float | None = None
    model_version: str | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)
    revision: int = 1
    first_seen_at: str | None = None
    updated_at: str | None = None
    closed_at: str | None = None


class ScanScope(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sites: list[str] = Field(default_factory=list, max_length=10_000, description="empty = every site")
    kinds: list[Kind] = Field(default_factory=list, description="empty = every kind")
    start: datetime | None = None
    end: datetime | None = None
    close_missing: bool = Field(default=False, description="close open hotspots of this scope the scan did not find")


class ScanResult(BaseModel):
    """What a scan sends the orchestration engine (``POST /api/v1/results``)."""

    model_config = ConfigDict(extra="forbid")
    scan_id: str | None = Field(default=None, max_length=100)
    scope: ScanScope = Field(default_factory=ScanScope)
    hotspots: list[HotspotIn] = Field(default_factory=list, max_length=10_000)


# --------------------------------------------------------------------------- alerts
class AlertIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    hotspot_id: str = Field(min_length=1, max_length=32)
    rule: str = Field(min_length=1, max_length=120)
    severity: SeverityName
    title: str = Field(min_length=1, max_length=300)


class AlertAction(BaseModel):
    """Body of ``POST /alerts/{id}/acknowledge`` and ``.../resolve``."""

    model_config = ConfigDict(extra="forbid")
    by: str = Field(default="dashboard", min_length=1, max_length=120)
    note: str | None = Field(default=None, max_length=4000)


class Alert(BaseModel):
    id: str
    hotspot_id: str
    rule: str
    severity: SeverityName
    title: str
    status: Literal["open", "acknowledged", "resolved"] | str
    created_at: str | None = None
    updated_at: str | None = None
    acknowledged_at: str | None = None
    acknowledged_by: str | None = None
    resolved_at: str | None = None
    resolved_by: str | None = None
    note: str | None = None
    hotspot: Hotspot | None = None


AlertActionName = Literal["acknowledge", "resolve"]


# --------------------------------------------------------------------------- recommendations
class RecommendationIn(BaseModel):
    """A recommendation's answer stored for a hotspot (``PUT``/``POST .../recommendations/{hotspot_id}``)."""

    model_config = ConfigDict(extra="forbid")
    status: Literal["ready", "failed", "pending"]
    content: dict[str, Any] | None = None
    error: str | None = Field(default=None, max_length=4000)

    @model_validator(mode="after")
    def _content(self) -> RecommendationIn:
        if self.status == "ready" and not self.content:
            raise ValueError("a ready recommendation needs content")
        finite_json(self.content, "content")
        return self


class HotspotRef(BaseModel):
    """A hotspot described inline in a recommendation request (it need not be stored)."""

    model_config = ConfigDict(extra="allow")
    id: str | None = Field(default=None, max_length=200)
    site: str = Field(min_length=1, max_length=200)
    kind: str | None = Field(default=None, max_length=40)
    activity_type: str | None = Field(default=None, max_length=80)
    meter: str | None = Field(default=None, max_length=200)
    severity: str | None = Field(default=None, max_length=20)
    period_start: str | None = Field(default=None, max_length=40)
    period_end: str | None = Field(default=None, max_length=40)
    excess_kwh: float | None = Field(default=None, allow_inf_nan=False)
    excess_kg: float | None = Field(default=None, allow_inf_nan=False)


class RecommendRequest(BaseModel):
    """What the chatbot's ``POST /api/recommendations`` takes: a stored hotspot, one described inline, or a
    site (and optionally an activity type or Scope 3 category)."""

    model_config = ConfigDict(extra="forbid")
    hotspot_id: str | None = Field(default=None, min_length=1, max_length=200)
    hotspot: HotspotRef | None = None
    site: str | None = Field(default=None, min_length=1, max_length=200)
    activity_type: str | None = Field(default=None, min_length=1, max_length=80)
    category: int | None = Field(default=None, ge=1, le=15)
    top_k: int = Field(default=5, ge=1, le=20)

    @model_validator(mode="after")
    def _target(self) -> RecommendRequest:
        if not (self.hotspot_id or self.hotspot or self.site):
            raise ValueError("give hotspot_id, hotspot or site")
        return self


# --------------------------------------------------------------------------- events
class Envelope(BaseModel):
    """Every WebSocket message from the orchestration engine (see ../shared/DESIGN.md)."""

    channel: ChannelName
    seq: int = Field(ge=0)
    epoch: str
    id: str
    type: str
    ts: datetime
    payload: dict[str, Any]


class IngestionEvent(BaseModel):
    """Sent by the data core to ``ORCHESTRATION_URL`` after an ingest commits."""

    event_id: str
    type: Literal["ingestion.committed"] = "ingestion.committed"
    batch_id: str
    occurred_at: datetime
    accepted: int
    sites: list[str]
    period_start: datetime | None
    period_end: datetime | None
    activity_types: list[str]


# --------------------------------------------------------------------------- export cells
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""OWASP CSV injection: a text cell starting with one of these is read as a formula by spreadsheets."""


def escape_cell(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula, prefixed with a single quote (how the data core's
    CSV and XLSX exports write it); anything else as is (numbers, negative ones included, stay numbers)."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def unescape_cell(value: Any) -> Any:
    """What :func:`escape_cell` wrote, read back by a machine reader (the hotspot scan's meter names)."""
    if isinstance(value, str) and len(value) > 1 and value[0] == "'" and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value


# --------------------------------------------------------------------------- sites a run left out
SkipStage = Literal["read", "validate", "detect", "predict", "store", "train"]
"""Where a site failed: its data read from the data core, checked, scanned for hotspots, predicted by the
ML engine, its expected values stored, or prepared for training."""
SITE_FAULTS: tuple[type[Exception], ...] = (ValueError, KeyError, IndexError, ArithmeticError)
"""Errors that one site's data raises (pandas, numpy and pydantic raise these on bad values); with a 4xx
answer of a service about that site, the only failures a run skips the site for."""
# our token refused, a route that is not there (a wrong URL), a timeout, a rate limit: the platform, not the site
_NOT_THE_SITES = (401, 403, 404, 405, 408, 429)
REASON_LENGTH = 300


def site_fault(exc: BaseException) -> bool:
    """Whether ``exc`` is about one site's data (skip the site, go on with the others) rather than about the
    platform (a service down or failing, our token refused: fail or retry the task as always). A service's
    4xx answer is the site's (the data core's or the ML engine's problem, ``UpstreamProblem``); a 5xx, no
    answer or a refused token (``ServiceUnavailable``, ``TokenRefused``) never is, nor a 404/405 (a route
    that is not there: a wrong URL fails every site alike), a timeout (408) or a rate limit (429)."""
    from services.common.errors import DomainError  # errors has the web framework; contracts stays light

    if isinstance(exc, DomainError):
        return 400 <= exc.status < 500 and exc.status not in _NOT_THE_SITES
    return isinstance(exc, SITE_FAULTS)


def fault_reason(exc: BaseException) -> str:
    """A short, one-line reason for a skip: the error's kind and message, never a stack trace (the first line
    of the message, cut at :data:`REASON_LENGTH`). A service's problem reads "<status> <title>: <detail>"."""
    from services.common.errors import DomainError

    if isinstance(exc, DomainError):
        title = getattr(exc, "title", "") or ""
        text = f"{exc.status} {title}: {exc.detail}" if title else f"{exc.status}: {exc.detail}"
        errors = exc.extensions.get("errors")  # a validation problem: its first error says what
        if isinstance(errors, list) and errors and isinstance(errors[0], dict) and errors[0].get("message"):
            text += f" ({errors[0].get('field') or 'body'}: {errors[0]['message']})"
    elif isinstance(exc, ValidationError) and exc.errors():
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or exc.title
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        text = f"invalid {where}: {first.get('msg', 'invalid')}{more}"
    else:
        message = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    line = " ".join(text.strip().splitlines()[:1]) or type(exc).__name__
    return line if len(line) <= REASON_LENGTH else line[: REASON_LENGTH - 3] + "..."


class SiteSkip(BaseModel):
    """A site (or one meter or activity type of it) that a run left out because its data could not be
    handled; the run went on with the other sites. Flows return these as ``skipped``, list them in a table
    artifact and log one warning each; the event path returns and logs them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    site: str = Field(min_length=1, max_length=64)
    stage: SkipStage
    reason: str = Field(min_length=1, max_length=REASON_LENGTH)
    activity_type: str = Field(default="", max_length=80, description="empty: every activity type of the site")
    meter: str = Field(default="", max_length=120, description="empty: every meter of the site")

    @classmethod
    def of(cls, site: str, stage: SkipStage, error: BaseException | str, *, activity_type: str = "",
           meter: str = "") -> SiteSkip:
        """The skip of ``site`` at ``stage`` for ``error`` (an exception, or a reason already written)."""
        reason = error if isinstance(error, str) else fault_reason(error)
        return cls(site=str(site)[:64], stage=stage, reason=reason[:REASON_LENGTH] or "failed",
                   activity_type=str(activity_type)[:80], meter=str(meter)[:120])

    def label(self) -> str:
        """``site``, ``site/activity_type`` or ``site/activity_type/meter``: what the log line names."""
        return "/".join(p for p in (self.site, self.activity_type, self.meter) if p)
