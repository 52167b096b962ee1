"""The held-out template families of #19 (the TEST split since 2026-12-07 evening; every family of
``families.py`` is tune now). Written blind, by a writer who read neither the chatbot's code nor its data files
nor any verdict of the earlier sets, before the parser was changed for them; no family here shares a name, a
phrasing or a fixed text with ``families.py``. ``generate_holdout.py`` draws their slots with its own seed and
writes ``questions_holdout.yaml``.

A family: ``name``, ``n`` (questions), ``build`` (the slot builder of ``generate_holdout.py`` it uses) and its
``phrasings`` (``str.format`` templates over the slots the builder fills) or, for whole-text families, ``texts``.
"""

from __future__ import annotations

from typing import Any

Family = dict[str, Any]

HOLDOUT: list[Family] = [
    # ------------------------------------------------------------------ consumption (gold: the raw meter files)
    {"name": "energy-named-unit", "n": 12, "build": "energy_unit", "phrasings": [
        "{site_cap} {carrier} consumption, {period}, in {unit}?",
        "I need the {carrier} figure for {site} in {period}: {unit}, please.",
        "Tell me how many {unit} of {carrier} {site} used over {period}.",
        "For {period}, what did {site} use in {carrier} ({unit})?"]},
    {"name": "energy-month-span", "n": 10, "build": "month_span", "phrasings": [
        "Please total the {carrier} consumption of {site} {period}.",
        "{carrier_cap} used at {site} {period}?",
        "What was the {carrier} total for {site} {period}?"]},
    {"name": "tag-group-energy", "n": 8, "build": "tag_group", "phrasings": [
        "How much {carrier} did {group} use in {period}?",
        "{carrier_cap} consumption of {group}, {period}?",
        "Add up the {carrier} use of {group} for {period}."]},
    {"name": "demand-season-quarter", "n": 10, "build": "demand", "phrasings": [
        "What was the {stat} {carrier} demand at {site} {period}, in kW?",
        "{stat_cap} {carrier} load for {site} {period}?",
        "Tell me {site}'s {stat} hourly {carrier} draw {period}."]},
    {"name": "intensity-floor-area", "n": 6, "build": "intensity", "phrasings": [
        "{site_cap}'s {what} per m² in {period}?",
        "Normalised by floor area, what was {site}'s {what} in {period}?",
        "How much {what} per square metre did {site} have in {period}?"]},
    # ------------------------------------------------------------------ emissions (gold: the ledger's audited rows)
    {"name": "emissions-category", "n": 10, "build": "category", "phrasings": [
        "What were our scope 3 category {cat} ({cat_words}) emissions in {period}?",
        "How much CO2e did {cat_words} account for in {period}?",
        "{cat_words_cap} emissions for {period}, tonnes please."]},
    {"name": "emissions-site-kg", "n": 10, "build": "site_kg", "phrasings": [
        "How many kg of CO2e did {site}'s {carrier} use cause in {period}?",
        "{carrier_cap} emissions of {site} in {period}, in kilograms of CO2e?",
        "In kg CO2e, what did {site}'s {carrier} emit during {period}?"]},
    {"name": "relative-subjects", "n": 10, "build": "relative", "phrasings": [
        "What was {subject} {period}?",
        "{subject_cap}, {period}?",
        "Can you tell me {subject} {period}?"]},
    # ------------------------------------------------------------------ factors (gold: /factors/resolve)
    {"name": "factor-period", "n": 6, "build": "factor", "phrasings": [
        "What kg CO2e factor did the ledger use for {what} in {period}, and who publishes it?",
        "Source and value of the {what} emission factor for {period}?",
        "Which conversion factor sits behind our {what} figures for {period}, and where does it come from?"]},
    # ------------------------------------------------------------------ comparisons, rankings, breakdowns
    {"name": "compare-methods", "n": 8, "build": "methods", "phrasings": [
        "Show location-based and market-based scope 2 side by side for {site}, {period}.",
        "For {site} in {period}, how do the market-based and location-based scope 2 totals differ?",
        "Scope 2 of {site} in {period}: location method versus market method?"]},
    {"name": "compare-site-emissions", "n": 8, "build": "site_pair_emissions", "phrasings": [
        "Which emitted more {what} in {period}: {site} or {site2}?",
        "{what_cap}: {site} against {site2} for {period}?",
        "Put {site}'s and {site2}'s {what} for {period} side by side."]},
    {"name": "rank-month-season", "n": 10, "build": "rank", "phrasings": [
        "Rank our sites by {what} for {period} and give me the {order_adj} {n}.",
        "In {period}, which {n} sites had the {order_adj} {what}?",
        "Name the {n} sites with the {order_adj} {what} during {period}."]},
    {"name": "breakdown-quarter", "n": 8, "build": "quarters", "phrasings": [
        "Quarter by quarter, what was {subject} in {period}?",
        "Split {subject} for {period} into quarters.",
        "{subject_cap} per quarter of {period}?"]},
    # ------------------------------------------------------------------ explanations (gold: a cited KB topic)
    {"name": "explain-practice", "n": 12, "build": "text", "texts": [
        ("How do variable-speed drives on pumps and fans save electricity?", "buildings-controls"),
        ("What should a refrigerant leak detection and repair programme include?", "refrigerants"),
        ("Is it worth connecting the campus to a district heat network?", "heating"),
        ("How do e-cargo bikes help with last-mile deliveries?", "freight"),
        ("Should staff fly economy on long-haul trips to cut emissions?", "business-travel"),
        ("Are unbundled renewable energy certificates credible for market-based reporting?",
         "electricity-procurement"),
        ("Do small wind turbines mounted on buildings actually work?", "on-site-generation"),
        ("What low-carbon criteria can we write into procurement tenders?", "purchased-goods"),
        ("Do speed limiters really cut the fuel use of vans?", "fleet"),
        ("How does the platform decide which emission factor applies to an activity record?", "methodology"),
        ("What is the residual mix and when is it used?", "electricity-procurement"),
        ("Can demand-controlled ventilation with CO2 sensors save energy in lecture theatres?",
         "buildings-controls")]},
    # ------------------------------------------------------------------ clarify (under-specified questions)
    {"name": "clarify-underspecified", "n": 8, "build": "text", "answer": "clarify", "texts": [
        "How does that compare?", "Give me the trend for it.", "Is the second one bigger?",
        "What was the figure in Q3?", "Rank them.", "And for the year before?", "What were b40's numbers?",
        "How much did the lab use?"]},
    # ------------------------------------------------------------------ out of scope (gold: a decline)
    {"name": "oos-building-actions", "n": 12, "build": "text", "answer": "decline", "texts": [
        "Turn the boiler in b27 down to 19 degrees.", "Open a maintenance ticket for the chiller in b36.",
        "Schedule an engineer to service the gas meter at b64.", "Book a charging slot for the electric van tomorrow.",
        "Email the b91 facilities team about the lights being left on.", "Raise a purchase order for 40 LED panels.",
        "Reboot the BMS controller in b5.", "Cancel my flight to Glasgow next Tuesday.",
        "Change the heating schedule in b22 for the Christmas closure.", "Order a skip for the refurbishment at b8.",
        "Pay this month's gas bill for b35.", "Reserve a hotel room in Leeds for the energy conference."]},
    {"name": "oos-energy-trivia", "n": 12, "build": "text", "answer": "decline", "texts": [
        "How much CO2 does the average UK household emit in a year?",
        "What percentage of UK electricity came from wind in 2023?",
        "When will the UK stop selling new petrol cars?", "How much has the planet warmed since pre-industrial times?",
        "Who invented the electric light bulb?", "How does a nuclear fusion reactor work?",
        "What's the carbon footprint of a cup of coffee?", "How much does a Tesla Model 3 cost?",
        "Which country emits the most CO2?", "What did COP28 agree about fossil fuels?",
        "What's the Ofgem energy price cap this quarter?", "How many offshore wind farms are in the North Sea?"]},
]
