"""Requests to act (issue #19): the chatbot reads the organisation's data and explains, it cannot operate a
building, buy, book, pay or send anything. "Switch off the air handling units in b21 tonight" or "Cancel my flight
on Tuesday" is a request to act, not a question, however close its words are to a reduction measure: declined,
saying what the chatbot can do instead.

A request to act is an instruction (its first verb, after "please" or "can you", is an operation on the world:
switch, book, order, pay, email...) about something particular: a site, a room, a day or time, the user's own
booking, or a number of items; booking, buying or paying anything at all. A general instruction without a particular object ("switch engines off after two
minutes", "replace R-404A with a transcritical system") reads as a reduction measure and is left to the knowledge
base. A question the reader found a whole data question in ("Change in gas use at b5, 2019 vs 2020") is never one.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.rag.question import Slots

LEAD = (r"^\s*(?:(?:please|pls|kindly|ok(?:ay)?|now|also|hey|hi)[,!]?\s+)*(?:(?:can|could|would|will) (?:you|someone)\s+"
        r"(?:please\s+)?|i (?:need|want) (?:you )?to\s+|(?:go and|just)\s+)?")
ACT_VERBS = (r"turn|switch|shut|power[- ]cycle|start|stop|restart|reboot|reset|open|close|lock|unlock|set|adjust|"
             r"override|dim|change|raise|log|file|submit|create|schedule|book|reserve|cancel|rebook|arrange|order|buy|"
             r"purchase|pay|settle|approve|sign|renew|e-?mail|message|text|call|phone|ring|notify|remind|send|install|"
             r"fit|replace|repair|fix|service|move|delete|remove|upload|print|hire|contact|chase|forward")
OBJECT = (r"(?:\s+(?:up|down|off|on|out|over|back))?\s+(?:the|a|an|my|our|his|her|their|this|that|these|those|all|"
          r"some|every|any|another|new|more|extra|\d+|b\d+\w*|me|us|someone|somebody|engineers?|contractors?)\b")
TRANSACTION = re.compile(LEAD + r"(?:pay|settle|buy|purchase)\b", re.I)
BOOKING = re.compile(LEAD + r"(?:book|reserve|rebook|cancel|order|buy|purchase|pay|hire)\b" + OBJECT, re.I)
"""Booking, buying and paying need no particular object: "Reserve a hotel room for the conference" is one."""
ACTION = re.compile(LEAD + rf"(?:{ACT_VERBS})\b" + OBJECT, re.I)
PARTICULAR = re.compile(
    r"\b(?:tonight|tomorrow|today|this (?:morning|afternoon|evening|weekend|week)|next (?:week|month|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday)|(?:on|for|by) (?:monday|tuesday|wednesday|thursday|"
    r"friday|saturday|sunday)|at \d{1,2}(?::\d\d)?\s*(?:am|pm)|at \d\d:\d\d|my|me|"
    r"(?:in|at|for|of|on) the \w+(?: \w+)? (?:room|theatre|hall|corridor|office|kitchen|lab|labs|floor|wing|block|"
    r"car park|plant room|canteen|reception|foyer|library))\b|"
    r"\b(?!(?:19|20)\d\d\b)\d+ (?:[a-z]+ )?(?!(?:minute|hour|day|week|month|year|degree|tonne|second)s\b)[a-z]+s\b",
    re.I)


def action_request(text: str, s: Slots) -> bool:
    """``text`` asks the chatbot to do something in the world rather than to answer (see the module)."""
    if s.intent in ("alerts", "list_sites", "site_info") or (
            s.measure is not None and s.periods and not TRANSACTION.search(text)):
        return False  # "Order b2, b5 and b33 by gas use in 2020" asks for a ranking; "Pay b35's gas bill" is no data
    if not ACTION.search(text):
        return False
    return bool((s.sites and not s.all_sites) or s.unknown_sites or PARTICULAR.search(text) or BOOKING.search(text))


DECLINE = ("I can't do that: I answer questions from the organisation's readings, ledger and knowledge base, I "
           "cannot operate equipment, raise tickets, book, buy, pay or send anything.")
