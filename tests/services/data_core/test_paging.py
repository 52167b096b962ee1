"""Row caps and pages: a page over the cap is refused, an unpaged answer over it is refused with a link to
the first page, and a paged one links to the next."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
from starlette.requests import Request

from services.data_core import paging
from services.data_core.paging import TooManyRows


def _request(query: str) -> Request:
    return Request({"type": "http", "method": "GET", "path": "/api/v1/readings", "query_string": query.encode(),
                    "headers": []})


def test_caps_per_format() -> None:
    assert paging.cap("csv") == paging.MAX_CSV_ROWS
    assert paging.cap("csv", csv_cap=False) == paging.cap("json") == paging.cap("xlsx") == paging.MAX_JSON_ROWS


def test_a_page_larger_than_the_cap_is_refused() -> None:
    assert paging.page(None, 0, 10) == paging.Page(limit=10, offset=0, explicit=False)
    assert paging.page(5, 20, 10).fetch == 6
    with pytest.raises(TooManyRows) as info:
        paging.page(11, 0, 10)
    assert info.value.status == 422 and info.value.extensions == {"field": "limit", "max_limit": 10}


def test_the_last_page_has_no_next() -> None:
    assert paging.settle(_request("site=b1"), paging.page(None, 0, 10), 10, "the answer") is None
    assert paging.link_header(None) == {}


def test_an_unpaged_answer_over_the_cap_points_at_the_first_page() -> None:
    with pytest.raises(TooManyRows, match="more than 10 rows") as info:
        paging.settle(_request("site=b1&site=b2"), paging.page(None, 0, 10), 11, "the answer")
    first = info.value.extensions["next"]
    assert parse_qsl(first[1:]) == [("site", "b1"), ("site", "b2"), ("limit", "10"), ("offset", "0")]
    assert info.value.extensions["max_rows"] == 10


def test_a_paged_answer_links_to_the_next_page_keeping_the_other_parameters() -> None:
    nxt = paging.settle(_request("site=b1&site=b2&limit=5&offset=10"), paging.page(5, 10, 10), 6, "the answer")
    assert nxt is not None and nxt.startswith("?")
    assert parse_qsl(nxt[1:]) == [("site", "b1"), ("site", "b2"), ("limit", "5"), ("offset", "15")]
    assert paging.link_header(nxt) == {"Link": f'<{nxt}>; rel="next"'}
