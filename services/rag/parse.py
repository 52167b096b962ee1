"""The former name of :mod:`services.rag.question` (with :mod:`services.rag.period` and
:mod:`services.rag.entities`), kept only for ``bench/parse.py`` until it imports ``services.rag.question``;
delete it then. Nothing in the services imports it."""

from services.rag.question import Slots, merge_follow_up, parse

__all__ = ["Slots", "merge_follow_up", "parse"]
