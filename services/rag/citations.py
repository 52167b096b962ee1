"""Citations of a chat answer: every number cites the data-core query that produced it ([Q1], [Q2]...,
with the endpoint, parameters, ledger version and, for the first query of a call, its result), every
claim about measures or methodology the knowledge-base document it comes from ([doc-id]).

The grounded composer numbers what it writes with :class:`Refs`; the answers of a language model are
cited from its tool calls (:func:`citations_from_results`), numbered as the system prompt tells it.
"""

from __future__ import annotations

import json
from typing import Any

from haystack.dataclasses import ChatMessage

ToolResult = tuple[str, dict[str, Any], Any, bool]
"""(tool name, arguments, parsed result, error) of one tool call."""


def kb_citation(doc_id: str, title: str, snippet: str = "", section: str = "") -> dict[str, Any]:
    """A knowledge-base document cited by its id (opened at ``/api/kb/{id}``)."""
    return {"ref": doc_id, "type": "kb", "id": doc_id, "title": title, "section": section, "snippet": snippet,
            "url": f"/api/kb/{doc_id}"}


def _add_doc(items: list[dict[str, Any]], doc_id: str, title: str, snippet: str = "", section: str = "") -> None:
    if not any(i["type"] == "kb" and i["id"] == doc_id for i in items):
        items.append(kb_citation(doc_id, title, snippet, section))


class Refs:
    """Citation references for one answer: queries numbered Q1..., knowledge-base documents by id."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def query(self, citation: dict[str, Any], result: Any = None) -> str:
        """The reference of a query (the same query, by its URL, keeps its number)."""
        for item in self.items:
            if item["type"] == "query" and item["url"] == citation.get("url"):
                return str(item["ref"])
        ref = f"Q{sum(1 for i in self.items if i['type'] == 'query') + 1}"
        entry = {"ref": ref, **citation}
        if result is not None:
            entry["result"] = result
        self.items.append(entry)
        return ref

    def doc(self, doc_id: str, title: str, snippet: str = "", section: str = "") -> str:
        _add_doc(self.items, doc_id, title, snippet, section)
        return doc_id


def collect_tool_results(messages: list[ChatMessage]) -> list[ToolResult]:
    """(tool name, arguments, parsed result, error) of the tool calls after the last user message."""
    last_user = max((i for i, m in enumerate(messages) if m.is_from("user")), default=-1)
    out = []
    for m in messages[last_user + 1:]:
        for r in m.tool_call_results:
            try:
                value = json.loads(r.result) if isinstance(r.result, str) else r.result
            except ValueError:
                value = r.result
            out.append((r.origin.tool_name, dict(r.origin.arguments), value, bool(r.error)))
    return out


def citations_from_results(results: list[ToolResult]) -> list[dict[str, Any]]:
    """Citations of a turn answered by a language model: the n-th data tool call is [Qn] (its further queries,
    e.g. the two baselines of recommend_actions, [Qnb], [Qnc]), as the system prompt tells the model; every
    knowledge-base document returned is cited by its id."""
    items: list[dict[str, Any]] = []
    n = 0
    for _name, _args, value, error in results:
        if error or not isinstance(value, dict):
            continue
        queries = ([value["citation"]] if "citation" in value else []) + [
            c for c in value.get("citations", []) if c.get("type") == "query"]
        if queries:
            n += 1
            for i, c in enumerate(queries):
                entry = {"ref": f"Q{n}" + ("" if i == 0 else "bcdefghij"[i - 1]), **c}
                if i == 0 and "result" in value:
                    entry["result"] = value["result"]
                items.append(entry)
        for d in value.get("documents", []):
            _add_doc(items, d["id"], d["title"], d.get("snippet", ""), d.get("section", ""))
        for a in value.get("actions", []):
            _add_doc(items, a["id"], a["title"], a.get("summary", ""))
    return items
