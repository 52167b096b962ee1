"""The template families of the generated chatbot questions (issue #19): for each family its split (fixed before
any tuning, whole families held out: see README.md), how many questions it yields, its phrasings and the slots
it draws. ``generate.py`` draws the slots with a seed from what the demo holds and writes ``questions.yaml``.

A phrasing is a ``str.format`` template over the slots of its family: ``{site}``, ``{site2}``, ``{sites}``,
``{period}`` (the period as a user writes it), ``{period2}``, ``{n}``, ``{scope}``, ``{what}``, ``{unit}``.
"""

from __future__ import annotations

from typing import Any

Family = dict[str, Any]

FAMILIES: list[Family] = [
    # ------------------------------------------------------------------ consumption (gold: the raw meter files)
    {"name": "energy-site-month", "split": "tune", "n": 18, "slots": "site,month,carrier", "phrasings": [
        "How much {carrier} did {site} use in {period}?",
        "What was {site}'s {carrier} consumption in {period}?",
        "{carrier_cap} used by {site} during {period}?",
        "Total {carrier} use at {site} for {period}, please."]},
    {"name": "energy-site-year-unit", "split": "test", "n": 16, "slots": "site,year,carrier,unit", "phrasings": [
        "How many {unit} of {carrier} did {site} consume in {period}?",
        "In {unit}, what was the {carrier} use of {site} over {period}?",
        "{site} {carrier} for the whole of {period}, expressed in {unit}?",
        "Give me {site}'s {period} {carrier} total in {unit}."]},
    {"name": "energy-estate-quarter", "split": "tune", "n": 12, "slots": "quarter,carrier", "phrasings": [
        "What was the estate's total {carrier} consumption in {period}?",
        "How much {carrier} did all our sites use in {period}?",
        "Across every building, {carrier} use in {period}?"]},
    {"name": "energy-multi-site", "split": "test", "n": 12, "slots": "sites,month,carrier", "phrasings": [
        "What was the combined {carrier} use of {sites} in {period}?",
        "{sites} together: how much {carrier} in {period}?",
        "Sum of {carrier} consumption for {sites} during {period}?"]},
    {"name": "demand-peak", "split": "tune", "n": 14, "slots": "site,month,carrier", "phrasings": [
        "What was the peak hourly {carrier} demand at {site} in {period}?",
        "Maximum {carrier} load recorded at {site} during {period}, in kW?",
        "Highest hourly {carrier} draw of {site} in {period}?"]},
    {"name": "demand-average", "split": "test", "n": 14, "slots": "site,month_or_year,carrier", "phrasings": [
        "What was the average {carrier} demand of {site} in {period}, in kW?",
        "Mean hourly {carrier} load at {site} over {period}?",
        "On average, how many kW of {carrier} did {site} draw in {period}?"]},
    {"name": "intensity-energy", "split": "test", "n": 10, "slots": "site,year", "phrasings": [
        "What was {site}'s electricity use per square metre in {period} (kWh/m2)?",
        "Electricity intensity of {site} in {period}, kWh per m2?",
        "How many kWh of electricity per m2 did {site} use in {period}?"]},
    {"name": "quarter-energy", "split": "tune", "n": 12, "slots": "site,quarter,carrier", "phrasings": [
        "{carrier_cap} consumption of {site} in {period}?",
        "How much {carrier} did {site} get through in {period}?",
        "What did {site} use in {carrier} during {period}?"]},
    {"name": "date-range-energy", "split": "tune", "n": 10, "slots": "site_or_all,range,carrier", "phrasings": [
        "How much {carrier} did {site} use {period}?",
        "{carrier_cap} consumption at {site} {period}?",
        "Total {carrier} for {site} {period}?"]},
    {"name": "season-energy", "split": "test", "n": 12, "slots": "site_or_all,season,carrier", "phrasings": [
        "How much {carrier} did {site} use in {period}?",
        "What was {site}'s {carrier} consumption over {period}?",
        "{carrier_cap} use at {site} during {period}?"]},
    {"name": "tagged-group", "split": "test", "n": 8, "slots": "tag,year_or_quarter,carrier", "phrasings": [
        "How much {carrier} did the {tag_words} use in {period}?",
        "Total {carrier} consumption of our {tag_words} in {period}?"]},
    {"name": "relative-energy", "split": "tune", "n": 12, "slots": "site_or_all,relative,carrier", "phrasings": [
        "How much {carrier} did {site} use {period}?",
        "What was {site}'s {carrier} consumption {period}?",
        "{carrier_cap} at {site} {period}?"]},
    # ------------------------------------------------------------------ emissions (gold: the ledger's audited rows)
    {"name": "emissions-scope", "split": "tune", "n": 14, "slots": "scope,year_or_quarter", "phrasings": [
        "What were our {scope} emissions in {period}?",
        "Total {scope} for the organisation in {period}, in tonnes CO2e?",
        "How much {scope} CO2e did we emit in {period}?"]},
    {"name": "emissions-activity", "split": "test", "n": 14, "slots": "activity,year", "phrasings": [
        "What were the emissions from {what} in {period}?",
        "How many tonnes of CO2e came from {what} in {period}?",
        "{what_cap}: emissions for {period}?"]},
    {"name": "emissions-market", "split": "tune", "n": 10, "slots": "market_site_or_all,year_or_quarter", "phrasings": [
        "What were the market-based scope 2 emissions of {site} in {period}?",
        "Market-based scope 2 for {site}, {period}?",
        "Scope 2 ({site}, {period}) under the market-based method?"]},
    {"name": "emissions-site", "split": "test", "n": 12, "slots": "site,month_or_year,em_filter", "phrasings": [
        "What were {site}'s {scope} emissions in {period}?",
        "{scope_cap} emissions of {site} for {period}, in t CO2e?",
        "How much {scope} CO2e did {site} emit in {period}?"]},
    {"name": "intensity-emissions", "split": "tune", "n": 10, "slots": "site,year", "phrasings": [
        "What was the carbon intensity of {site} per square metre in {period}?",
        "kg CO2e per m2 for {site} in {period}?",
        "Emissions per m2 of floor area at {site}, {period}?"]},
    {"name": "relative-emissions", "split": "test", "n": 10, "slots": "scope,relative_q_or_y", "phrasings": [
        "What were our {scope} emissions {period}?",
        "{scope_cap} emissions {period}, please.",
        "How much {scope} did we emit {period}?"]},
    # ------------------------------------------------------------------ factors (gold: /factors/resolve)
    {"name": "factor-fuel", "split": "tune", "n": 6, "slots": "fuel_factor,year", "phrasings": [
        "What emission factor do you use for {what} in {period}?",
        "Which conversion factor applies to {what} in {period}, and what is its source?",
        "{what_cap}: kg CO2e per unit you apply for {period}?"]},
    {"name": "factor-travel-grid", "split": "test", "n": 8, "slots": "travel_factor,year", "phrasings": [
        "What emission factor do you apply to {what} in {period}?",
        "Which factor is used for {what} in {period}, and where does it come from?",
        "Tell me the kg CO2e factor for {what} in {period} and its source."]},
    # ------------------------------------------------------------------ rankings
    {"name": "rank-top", "split": "tune", "n": 14, "slots": "rank_measure,year_or_quarter,n", "phrasings": [
        "Which {n} sites had the highest {what} in {period}?",
        "Top {n} sites by {what} for {period}?",
        "Rank the {n} biggest sites by {what} in {period}."]},
    {"name": "rank-bottom", "split": "test", "n": 14, "slots": "rank_measure,year_or_quarter,n", "phrasings": [
        "Which {n} sites had the lowest {what} in {period}?",
        "Bottom {n} sites by {what} for {period}?",
        "List the {n} smallest sites by {what} in {period}."]},
    # ------------------------------------------------------------------ comparisons
    {"name": "compare-sites", "split": "tune", "n": 12, "slots": "site,site2,month_or_year,carrier", "phrasings": [
        "Compare {carrier} use at {site} and {site2} in {period}.",
        "Did {site} use more {carrier} than {site2} in {period}?",
        "{site} versus {site2}: {carrier} consumption in {period}?"]},
    {"name": "compare-periods-pct", "split": "test", "n": 14, "slots": "site_or_all,period_pair,carrier", "phrasings": [
        "By what percentage did {site}'s {carrier} use change from {period} to {period2}?",
        "How did {carrier} consumption at {site} in {period2} compare with {period}, in %?",
        "Percentage change in {carrier} use at {site}, {period} vs {period2}?"]},
    {"name": "compare-emissions-periods", "split": "tune", "n": 10, "slots": "scope,period_pair_y", "phrasings": [
        "How did our {scope} emissions change between {period} and {period2}?",
        "Compare {scope} emissions in {period} with {period2}.",
        "{scope_cap} emissions: {period} against {period2}?"]},
    # ------------------------------------------------------------------ breakdowns
    {"name": "breakdown-month", "split": "test", "n": 10, "slots": "site,year,carrier", "phrasings": [
        "Break down {site}'s {carrier} use by month for {period}.",
        "Monthly {carrier} consumption at {site} in {period}?",
        "Show {site}'s {carrier} month by month through {period}."]},
    {"name": "breakdown-site", "split": "tune", "n": 8, "slots": "month,carrier", "phrasings": [
        "Break down {carrier} use by site for {period}.",
        "{carrier_cap} consumption of every building in {period}?",
        "Show {carrier} per site for {period}."]},
    {"name": "breakdown-activity", "split": "test", "n": 6, "slots": "year", "phrasings": [
        "Break our {period} emissions down by activity.",
        "What were our emissions by activity in {period}?",
        "Emissions per activity for {period}?"]},
    # ------------------------------------------------------------------ explanations (gold: a cited KB topic)
    {"name": "explain-definitions", "split": "tune", "n": 10, "slots": "definition", "phrasings": ["{text}"]},
    {"name": "explain-measures", "split": "test", "n": 10, "slots": "measure_advice", "phrasings": ["{text}"]},
    # ------------------------------------------------------------------ clarify (ambiguous questions)
    {"name": "clarify-vague", "split": "tune", "n": 10, "slots": "vague", "phrasings": ["{text}"]},
    {"name": "clarify-missing-slot", "split": "test", "n": 10, "slots": "missing", "phrasings": ["{text}"]},
    # ------------------------------------------------------------------ out of scope (gold: a decline)
    {"name": "oos-general", "split": "tune", "n": 20, "slots": "oos_general", "phrasings": ["{text}"]},
    {"name": "oos-tasks", "split": "tune", "n": 15, "slots": "oos_tasks", "phrasings": ["{text}"]},
    {"name": "oos-domain-words", "split": "test", "n": 25, "slots": "oos_domain", "phrasings": ["{text}"]},
    {"name": "oos-facts-and-chat", "split": "test", "n": 20, "slots": "oos_facts", "phrasings": ["{text}"]},
]

# fixed texts of the families whose question is the whole slot (each used once)
TEXTS: dict[str, list[Any]] = {
    "definition": [
        ("What is the difference between location-based and market-based scope 2?", "methodology"),
        ("Define scope 1 emissions.", "methodology"),
        ("What counts as scope 3 category 6?", "methodology"),
        ("What does CO2e mean and how are other gases converted to it?", "methodology"),
        ("How does the platform calculate the emissions of a meter reading?", "methodology"),
        ("What is a base year and when must it be recalculated?", "methodology"),
        ("Why do emission factors have editions?", "methodology"),
        ("What is the GHG Protocol's scope 2 guidance about?", "methodology"),
        ("How are hourly grid carbon intensities used in the calculation?", "methodology"),
        ("Is spend-based data worse than activity-based data for scope 3?", "methodology"),
        ("What is a REGO and how does it affect market-based emissions?", "electricity-procurement"),
        ("What is a corporate power purchase agreement?", "electricity-procurement"),
    ],
    "measure_advice": [
        ("How can we reduce the emissions of our delivery vans?", "fleet"),
        ("What are good ways to cut gas use for space heating?", "heating"),
        ("How do we lower electricity use outside working hours?", "buildings-controls"),
        ("What can we do about refrigerant leaks in our chillers?", "refrigerants"),
        ("How can business travel emissions be reduced?", "business-travel"),
        ("How could we cut the emissions of our freight deliveries?", "freight"),
        ("Is rooftop solar worth it for our buildings?", "on-site-generation"),
        ("How do we reduce the footprint of the IT equipment we purchase?", "purchased-goods"),
        ("Would a heat pump cut our heating emissions compared with a gas boiler?", "heating"),
        ("Should we switch to a green electricity tariff, and does it change our reported emissions?",
         "electricity-procurement"),
        ("How can eco-driving training help the fleet?", "fleet"),
        ("What does BMS recommissioning involve and what does it save?", "buildings-controls"),
    ],
    "vague": ["How much did we use?", "What are the numbers?", "Is that good?", "How are we doing this year?",
              "Show me the data.", "What about last time?", "And the other building?", "Give me a summary.",
              "Which one is worse?", "How big is it?", "Tell me the usage.", "Is it going up?"],
    "missing": ["What was b33's consumption?", "How much did b2 emit?", "Compare b0 and b5.",
                "What was the peak?", "Rank the buildings.", "What was the change in percent?",
                "How much electricity did we use in the building?", "What's the emission factor?",
                "Show the monthly breakdown.", "What was it in 2019 compared with then?",
                "What were the emissions in March?", "Which site is the biggest?"],
    "oos_general": ["What's the capital of Australia?", "Who wrote Pride and Prejudice?",
                    "What's 17 times 23?", "What time is it in Tokyo?", "How tall is Mount Everest?",
                    "Tell me a joke.", "What's your favourite film?", "Who is the prime minister?",
                    "Recommend a good novel for the summer.", "What's the exchange rate of the euro today?",
                    "How do I make a sourdough starter?", "What are the rules of cricket?",
                    "Which football team won the league last season?", "How many legs does a spider have?",
                    "What's a good name for a cat?", "Is it going to rain tomorrow?",
                    "How do I get rid of hiccups?", "What's the meaning of life?",
                    "Where should we go for the office Christmas party?", "Who painted the Mona Lisa?",
                    "What is the speed of light?", "Which is the longest river in the world?"],
    "oos_tasks": ["Write me a cover letter for a marketing job.", "Draft an email to my landlord about the rent.",
                  "Translate 'good morning' into Spanish.", "Book a meeting room for Tuesday at 10.",
                  "Summarise the news headlines for today.", "Write a haiku about autumn.",
                  "Create a packing list for a ski trip.", "Order me a pizza.",
                  "Set an alarm for 7am.", "Plan a birthday party for a five-year-old.",
                  "Fix the bug in my JavaScript code.", "Write a limerick about a cat.",
                  "Send a reminder to the team about the quarterly review.", "Convert this PDF to Word.",
                  "Generate a strong password for me.", "Reply to my boss's email politely."],
    "oos_domain": ["Which hotel should I book in Rome?", "How do I fix a leaking tap?",
                   "What's the cheapest flight from London to Paris next week?",
                   "Which electric car has the longest range for a family?",
                   "How do I bleed the radiator in my flat?", "Can you recommend a gas engineer near me?",
                   "What train should I take to get to Edinburgh by noon?",
                   "How do I change the fuse in a plug?", "Where can I buy solar panels for my house?",
                   "What's the best diesel price near Cambridge today?",
                   "How do I reset the thermostat in my car?", "Which freight company is cheapest for moving house?",
                   "Is it safe to touch an electric fence?", "How many calories does cycling to work burn?",
                   "What's the best boiler brand for a home?", "How do I get a refund on my rail ticket?",
                   "Which airline has the best legroom on long-haul flights?", "How do I jump-start a van?",
                   "What should I pack for a business trip to Rome?",
                   "Which laptop is best for gaming?", "How do I unblock a kitchen sink?",
                   "What's the weather like in Rome in March?", "How much does a taxi to Heathrow cost?",
                   "Can you recommend a good hotel restaurant in Manchester?",
                   "How do I repair a puncture on my bike?", "What paint should I use for the office walls?",
                   "Is the water in the lab kitchen safe to drink?"],
    "oos_facts": ["Who won the World Cup in 2018?", "What's the population of France?",
                  "How old is the universe?", "Hello, how are you today?", "Thanks, that's all.",
                  "What's your name?", "Are you a robot?", "Can you sing?",
                  "What is quantum computing?", "Explain blockchain to me.", "What's the stock price of Apple?",
                  "Who invented the telephone?", "What is the boiling point of gold?",
                  "How do vaccines work?", "What year did the Berlin Wall fall?", "Recommend a podcast.",
                  "What's trending on social media?", "Who is the richest person in the world?",
                  "How many moons does Jupiter have?", "What language is spoken in Brazil?",
                  "What's the best programming language?", "Do you dream?"],
}
