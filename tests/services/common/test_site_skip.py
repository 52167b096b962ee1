"""The skip contract: which failures are one site's (skipped) and which the platform's (raised), and the
reason a skip carries: one short line, no stack trace."""

from __future__ import annotations

import httpx
import pytest
from pydantic import BaseModel, ValidationError

from services.common.contracts import REASON_LENGTH, SiteSkip, fault_reason, site_fault
from services.common.datacore import TokenRefused, UpstreamProblem
from services.common.errors import ServiceUnavailable

pytestmark = pytest.mark.unit


def problem(status: int, **body: object) -> httpx.Response:
    return httpx.Response(status, json={"status": status, "title": "Unprocessable content", "detail": "no", **body})


@pytest.mark.parametrize(("error", "theirs"), [
    (UpstreamProblem(problem(422), "ml-engine"), True),
    (UpstreamProblem(problem(400)), True),
    (UpstreamProblem(problem(409)), True),
    (UpstreamProblem(problem(404)), False),  # a route that is not there: a wrong URL, every site alike
    (UpstreamProblem(problem(429)), False),  # a rate limit: the service, not the site
    (UpstreamProblem(problem(408)), False),
    (TokenRefused(problem(401)), False),
    (ServiceUnavailable("the data-core failed (503)"), False),
    (ValueError("duplicate readings"), True),
    (KeyError("predictions"), True),
    (ZeroDivisionError("division by zero"), True),
    (TypeError("a bug of ours"), False),
    (RuntimeError("anything else"), False),
], ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v))
def test_which_failures_are_one_sites(error: Exception, theirs: bool) -> None:
    assert site_fault(error) is theirs


def test_a_reason_is_one_short_line() -> None:
    assert fault_reason(ValueError("duplicate readings for one (site, meter, activity_type, timestamp)")) == \
        "ValueError: duplicate readings for one (site, meter, activity_type, timestamp)"
    assert fault_reason(KeyError("predictions")) == "KeyError: predictions"
    long = fault_reason(ValueError("x" * 1000 + "\nline two"))
    assert len(long) == REASON_LENGTH and long.endswith("...") and "\n" not in long
    assert fault_reason(ValueError("first\n  File 'x.py', line 3")) == "ValueError: first"
    refused = UpstreamProblem(problem(422, detail="invalid or missing: body",
                                      errors=[{"field": "body", "message": "timestamps must span at most 10000 hours"}]))
    assert fault_reason(refused) == ("422 Unprocessable content: invalid or missing: body "
                                     "(body: timestamps must span at most 10000 hours)")


def test_a_pydantic_error_names_its_field() -> None:
    class M(BaseModel):
        excess_kwh: float

    with pytest.raises(ValidationError) as caught:
        M.model_validate({"excess_kwh": "much"})
    assert fault_reason(caught.value).startswith("invalid excess_kwh: Input should be a valid number")


def test_a_skip_is_json_with_a_label() -> None:
    skip = SiteSkip.of("b1", "validate", "3 readings are negative", activity_type="electricity", meter="main")
    assert skip.label() == "b1/electricity/main" and SiteSkip.of("b1", "read", ValueError("x")).label() == "b1"
    assert SiteSkip.model_validate(skip.model_dump()) == skip
    with pytest.raises(ValidationError):
        SiteSkip.model_validate({**skip.model_dump(), "stage": "elsewhere"})
