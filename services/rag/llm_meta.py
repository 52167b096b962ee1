"""The ``kind`` and ``restated`` of an answer written by a language model (issue #19), so that both paths
return the same fields and the same evaluation judges them.

* ``restated`` is what the model itself wrote as the question it answered: the system prompt tells it to
  start with it ("Electricity use of b33, March 2019: ..."), so it is the text before the first colon of the
  first line (nothing when the answer does not start that way: never a restatement the model did not make).
* ``kind`` comes from what was computed: the tools called and their arguments (two queries of one measure
  over two periods or sites: ``compare``; a grouped query with a ranked list: ``rank``, else ``breakdown``; one
  query: ``value``; only the knowledge base: ``explain``), and from the text when no number was computed (a
  question back: ``clarify``; "I don't know": ``decline``).
"""

from __future__ import annotations

import re
from typing import Any

from services.rag.citations import ToolResult

DATA_TOOLS = ("consumption", "emissions_totals", "emissions_timeseries", "top_contributors", "resolve_factor",
              "site_info", "list_sites", "site_alerts")
DECLINE = re.compile(r"\b(?:i don'?t know|i do not know|outside (?:what|the scope)|out of scope|cannot help|"
                     r"can'?t help|not something i can|i can only answer)\b", re.I)
NUMBERED = re.compile(r"^\s*(?:1[.)]|#1\b)", re.M)


def llm_restated(text: str) -> str | None:
    """The model's own restatement: the first line's text before its first colon (3 to 200 characters)."""
    first = text.strip().split("\n", 1)[0]
    head, colon, _rest = first.partition(":")
    head = head.strip().strip("*").strip()
    if not colon or not 3 <= len(head) <= 200 or DECLINE.search(head):
        return None
    return head


def llm_kind(text: str, results: list[ToolResult]) -> str:
    """What the answer is, from the calls that succeeded and the text."""
    ok = [(name, args) for name, args, _value, error in results if not error]
    data = [(name, args) for name, args in ok if name in DATA_TOOLS]
    if not data:
        if DECLINE.search(text):
            return "decline"
        if text.rstrip().endswith("?"):
            return "clarify"
        return "explain" if ok else ("clarify" if "?" in text else "decline")
    measures = [(name, args) for name, args in data if name in ("consumption", "emissions_totals",
                                                                "emissions_timeseries", "top_contributors")]
    if len(measures) >= 2 and len({name for name, _a in measures}) == 1:
        spans = {(str(a.get("start")), str(a.get("end")), str(a.get("site")), str(a.get("method"))) for _n, a in measures}
        if len(spans) >= 2:
            return "compare"
    grouped = [a for name, a in measures if name in ("emissions_timeseries", "top_contributors")
               or str(a.get("group_by") or "") not in ("", "scope")]
    if grouped and any(name == "top_contributors" for name, _a in measures):
        return "rank"
    if grouped:
        return "rank" if NUMBERED.search(text) else "breakdown"
    return "value"


def llm_meta(text: str, results: list[ToolResult]) -> dict[str, Any]:
    kind = llm_kind(text, results)
    return {"kind": kind, "restated": llm_restated(text) if kind not in ("decline", "clarify") else None,
            "declined": kind == "decline"}
