"""What the chatbot answers and what it declines: a knowledge question is out of scope when it is a
request of another kind (booking, e-mail, finance, trivia), or has no word of the domain and nothing in
the knowledge base is semantically close to it. ``CAPABILITIES`` is what a decline offers instead."""

from __future__ import annotations

import re

from services.rag.kb import KnowledgeBase

CAPABILITIES = ("I can answer from your organisation's ledger (emissions by scope, site, activity, period; "
                "location- or market-based scope 2; top contributors; changes between periods; intensity per m2), "
                "explain open alerts and hotspots, recommend ranked reduction actions for a site or hotspot with "
                "estimated abatement, and explain reduction measures and GHG accounting methodology from the "
                "knowledge base.")
DOMAIN = re.compile(
    r"\b(?:emission\w*|carbon|co2\w*|ghg|greenhouse|climate|net[- ]zero|scope|energy|electric\w*|gas|heat\w*|boiler\w*|"
    r"hvac|ventilat\w*|cool\w*|chill\w*|lighting|led|insulat\w*|solar|pv|wind|renewable\w*|tariff|ppa|rego\w*|rec|"
    r"certificate\w*|grid|fleet|vehicle\w*|vans?|diesel|petrol|ev|evs|electrif\w*|freight|logistic\w*|shipping|travel|"
    r"flights?|flying|rail|trains?|hotel\w*|commut\w*|supplier\w*|procurement|purchas\w*|refrigerant\w*|f-?gas\w*|"
    r"leak\w*|gwp|hfc\w*|factor\w*|ledger|kwh|mwh|tco2e|tonnes?|abatement|reduc\w*|decarbon\w*|efficien\w*|"
    r"building\w*|sites?|meter\w*|alerts?|hotspots?|sbti|target\w*|baseline|inventory|offset\w*|intensity|"
    r"retrofit\w*|bms|bems|thermostat\w*|pump\w*|compressor\w*|sustainab\w*|footprint|desnz|defra|epa|iea|"
    r"r-?\d{2,3}[a-z]?|degrees?|setpoints?|temperatures?|burners?|envelope|ashp|gshp|trvs?|dhw|lfp|batter\w*|"
    r"panels?|fugitive|\w*commission\w*|restat\w*|recalculat\w*|upload\w*|csv|duplicat\w*|egrid|obligation\w*|"
    r"savings?|insulation|glazing|draught\w*|kw|fuel\w*|litres?|mileage|tonne-km|payback|capex|m2|"
    r"report\w*|occupan\w*|thermal|radiator\w*|ventilation|air[- ]?con\w*)\b", re.I)
# requests an assistant for carbon data must not answer from a loosely related passage (a meeting room is not
# "virtual meetings", a marketing budget is not a carbon budget)
OFF_TOPIC = re.compile(
    r"\b(?:book(?:ing)? a|send an? (?:e-?mail|message)|marketing|revenue|profit|payroll|headcount|"
    r"how many (?:employees|staff|people)|canteen|joke|poem|recipe|weather|stock price|exchange rate|translate|"
    r"football|world cup|novel|films? (?:on|showing)|cinema|password)\b", re.I)
DECLINE_DENSE = 0.30
"""Cosine of the knowledge base's best section below which a question without a domain word is declined."""


def out_of_scope(question: str, kb: KnowledgeBase, decline_dense: float = DECLINE_DENSE) -> bool:
    """Declined: a request of another kind (booking, e-mail, finance, trivia), or no word of the domain and
    nothing in the knowledge base semantically close (cosine of the best section below ``decline_dense``;
    without the embedding model, no word of the domain is enough)."""
    if DOMAIN.search(question):
        return False
    if OFF_TOPIC.search(question):
        return True
    dense = kb.dense_top_score(question)
    return dense is None or dense < decline_dense
