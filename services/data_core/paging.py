"""Row caps and paging of the reads that can be huge (issue #15): ``/api/v1/readings``, ``/api/v1/residuals``
and ``/api/v1/emissions/timeseries`` (``interval=hour`` over a year of many sites), in JSON and as files.

Each answer carries at most a cap of rows. A request with ``limit`` (at most the cap) and ``offset`` gets
that page; when more rows follow, the answer has a ``Link: <?...&offset=N>; rel="next"`` header (a
reference relative to the request's own URL, so it also works through the orchestration engine's
pass-through) and, in JSON, a ``next`` member with the same query. A request without ``limit`` whose
answer would exceed the cap is refused (422 problem+json, with ``next`` pointing at the first page)
instead of being cut silently.

Caps (rows): JSON ``MAX_JSON_ROWS`` 100,000; CSV of readings and residuals ``MAX_CSV_ROWS`` 2,000,000 (a
year of hourly electricity and gas of 40 buildings is ~700,000 rows: the training flow, the ML engine's
history and the hotspot scan read it in one answer); CSV and XLSX of the time series ``MAX_JSON_ROWS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import Query, Request

from services.common.errors import DomainError

MAX_JSON_ROWS = 100_000
MAX_CSV_ROWS = 2_000_000

LimitQ = Query(default=None, ge=1, le=MAX_CSV_ROWS,
               description="rows per answer (at most 100,000 in JSON and XLSX, 2,000,000 in CSV of readings and "
                           "residuals); without it a larger answer is refused with a link to the first page")
OffsetQ = Query(default=0, ge=0, le=1_000_000_000, description="rows to skip (the next page's is in the Link header)")


class TooManyRows(DomainError):
    status = 422
    title = "Too many rows"
    type_suffix = "too-many-rows"


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int
    explicit: bool  # the client asked for a page (limit given)

    @property
    def fetch(self) -> int:
        """Rows to ask the database for: one more than the page shows whether another page follows."""
        return self.limit + 1


def cap(fmt: str, *, csv_cap: bool = True) -> int:
    """The most rows one answer in ``fmt`` carries (read at call time: tests lower the module's caps)."""
    return MAX_CSV_ROWS if fmt == "csv" and csv_cap else MAX_JSON_ROWS


def page(limit: int | None, offset: int, cap: int) -> Page:
    if limit is not None and limit > cap:
        raise TooManyRows(f"limit may be at most {cap:,} rows for this answer", field="limit", max_limit=cap)
    return Page(limit=limit or cap, offset=offset, explicit=limit is not None)


def _query(request: Request, **replace: Any) -> str:
    items = [(k, v) for k, v in request.query_params.multi_items() if k not in replace]
    return "?" + urlencode(items + [(k, str(v)) for k, v in replace.items()])


def settle(request: Request, p: Page, fetched: int, what: str) -> str | None:
    """The next page's relative URL (None if this is the last), or TooManyRows if the client did not page."""
    if fetched <= p.limit:
        return None
    if not p.explicit:
        first = _query(request, limit=p.limit, offset=0)
        raise TooManyRows(f"{what} has more than {p.limit:,} rows, the most one answer carries; ask for pages "
                          f"with limit (at most {p.limit:,}) and offset (each page's Link header names the next), "
                          f"or narrow the filters", max_rows=p.limit, next=first)
    return _query(request, limit=p.limit, offset=p.offset + p.limit)


def link_header(next_url: str | None) -> dict[str, str]:
    return {"Link": f'<{next_url}>; rel="next"'} if next_url else {}
