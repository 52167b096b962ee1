"""Generate the template questions of the chatbot evaluation (issue #19) into ``questions.yaml``.

    .venv/bin/python -m tests.eval.templates.generate          # writes tests/eval/templates/questions.yaml

Each family of ``families.py`` yields its ``n`` questions, cycling over its phrasings, with slots (sites,
periods, carriers, scopes...) drawn with a fixed seed from what the demo holds: the 40 Cambridge buildings with
hourly electricity and gas in 2019-2020 (a building is drawn only for a carrier and period it has readings for),
the fleet, travel, freight and purchased-goods samples. Every question carries the ``want`` of
``tests/eval/freeform/README.md``; the gold is computed by the evaluation harness, not stored here.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from tests.eval.freeform.gold_raw import energy_by_site, hourly
from tests.eval.templates.families import FAMILIES, TEXTS

SEED = 19
OUT = Path(__file__).with_name("questions.yaml")
LAST = {"month": "2020-12", "quarter": "2020-Q4", "year": "2020"}  # the data's last reading: 2020-12-31
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
ORDINAL = {1: "first", 2: "second", 3: "third", 4: "fourth"}
CARRIERS = {"electricity": "electricity", "gas": "natural_gas"}
SEASONS = {"winter 2019/20": "2019-12-01..2020-02-29", "spring 2019": "2019-03-01..2019-05-31",
           "summer 2019": "2019-06-01..2019-08-31", "autumn 2019": "2019-09-01..2019-11-30",
           "spring 2020": "2020-03-01..2020-05-31", "summer 2020": "2020-06-01..2020-08-31",
           "autumn 2020": "2020-09-01..2020-11-30", "winter 2019 (January and February)": "2019-01-01..2019-02-28"}
EMISSION_ACTIVITIES = [  # (activity, words, sites)
    ("vehicle_diesel", "our diesel vans", ["estates-fleet"]), ("vehicle_gasoline", "the petrol grounds vehicles",
                                                                 ["estates-fleet"]),
    ("air_travel_short_haul", "short-haul flights", "all"), ("air_travel_long_haul", "long-haul flights", "all"),
    ("rail_travel_national", "national rail travel", "all"), ("hotel_stay", "hotel stays", "all"),
    ("freight_hgv", "HGV freight", "all"), ("purchased_goods", "purchased goods", "all"),
    ("natural_gas", "gas burned on site", "all"), ("electricity", "purchased electricity", "all")]
FUEL_FACTORS = [("natural_gas", "natural gas in the UK"), ("vehicle_diesel", "diesel (litres) in the UK"),
                ("vehicle_gasoline", "petrol (litres) in the UK")]
TRAVEL_FACTORS = [("electricity", "UK grid electricity"), ("rail_travel_national", "national rail passenger-km"),
                  ("hotel_stay", "a UK hotel night"), ("air_travel_short_haul", "short-haul flights per passenger-km"),
                  ("air_travel_long_haul", "long-haul flights per passenger-km"), ("freight_hgv", "HGV freight per tonne-km")]
RANK_MEASURES = [  # (words, want)
    ("electricity use", {"measure": "energy", "activity": "electricity"}),
    ("gas consumption", {"measure": "energy", "activity": "natural_gas"}),
    ("total emissions", {"measure": "emissions"}),
    ("scope 2 emissions", {"measure": "emissions", "scope": [2]}),
    ("gas emissions", {"measure": "emissions", "activity": "natural_gas"})]
SCOPES = [("scope 1", [1]), ("scope 2", [2]), ("scope 3", [3]), ("scope 1 and 2", [1, 2])]


class Draw:
    """Slot values drawn with one seeded generator; sites only where the carrier has readings in the period."""

    def __init__(self, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        self.buildings = sorted(hourly("electricity").columns, key=lambda s: int(s[1:]))

    def pick(self, items: list[Any]) -> Any:
        return items[self.rng.randrange(len(items))]

    def month(self) -> tuple[str, str]:
        year, m = self.pick([2019, 2020]), self.rng.randrange(1, 13)
        label = self.pick([f"{MONTHS[m - 1]} {year}", f"{MONTHS[m - 1][:3]} {year}", f"{MONTHS[m - 1]} {year}"])
        return label, f"{year}-{m:02d}"

    def year(self) -> tuple[str, str]:
        year = str(self.pick([2019, 2020]))
        return year, year

    def quarter(self) -> tuple[str, str]:
        year, q = self.pick([2019, 2020]), self.rng.randrange(1, 5)
        return self.pick([f"Q{q} {year}", f"the {ORDINAL[q]} quarter of {year}", f"{year} Q{q}"]), f"{year}-Q{q}"

    def date_range(self) -> tuple[str, str]:
        year, m = self.pick([2019, 2020]), self.rng.randrange(1, 13)
        a = self.rng.randrange(1, 15)
        b = a + self.rng.randrange(4, 14)
        month = MONTHS[m - 1]
        label = self.pick([f"between {a} and {b} {month} {year}", f"from {a} to {b} {month} {year}",
                           f"over {a}-{b} {month} {year}"])
        return label, f"{year}-{m:02d}-{a:02d}..{year}-{m:02d}-{b:02d}"

    def site(self, activity: str | None = None, period: str | None = None, exclude: tuple[str, ...] = ()) -> str:
        while True:
            site = self.pick(self.buildings)
            if site in exclude:
                continue
            if activity is None or period is None:
                return site
            total = energy_by_site(activity, [site], period)
            if site in total.index and total[site] > 0:
                return site


def site_words(site: str, rng: random.Random) -> str:
    return rng.choice([site, f"building {site}", site.upper() if rng.random() < 0.2 else site])


def make(family: dict[str, Any], i: int, d: Draw) -> tuple[str, dict[str, Any]]:  # noqa: C901 - one slot kind per branch
    """The i-th question of ``family``: its text and its ``want``."""
    slots = family["slots"].split(",")
    s: dict[str, Any] = {}
    want: dict[str, Any] = {}
    if "carrier" in slots:
        carrier = d.pick(["electricity", "gas"]) if family["name"] not in ("intensity-energy",) else "electricity"
        s.update(carrier=carrier, carrier_cap=carrier.capitalize())
        want["activity"] = CARRIERS[carrier]
    name = family["name"]
    # ---- periods
    period_kind = next((k for k in ("month_or_year", "year_or_quarter", "month", "year", "quarter", "range", "season",
                                    "relative_q_or_y", "relative", "period_pair_y", "period_pair") if k in slots), None)
    if period_kind == "month_or_year":
        period_kind = d.pick(["month", "year"])
    if period_kind == "year_or_quarter":
        period_kind = d.pick(["year", "quarter"])
    if period_kind in ("month", "year", "quarter"):
        s["period"], want["period"] = getattr(d, period_kind)()
    elif period_kind == "range":
        s["period"], want["period"] = d.date_range()
    elif period_kind == "season":
        s["period"] = d.pick(sorted(SEASONS))
        want["period"] = SEASONS[s["period"]]
    elif period_kind in ("relative", "relative_q_or_y"):
        kind = d.pick(["month", "quarter", "year"] if period_kind == "relative" else ["quarter", "year"])
        s["period"] = d.pick({"month": ["last month", "in the last month", "in the most recent month"],
                              "quarter": ["last quarter", "in the latest quarter", "over the last quarter"],
                              "year": ["last year", "over the last year", "in the most recent year"]}[kind])
        want.update(period=LAST[kind], relative=True)
    elif period_kind in ("period_pair", "period_pair_y"):
        kind = d.pick(["year", "quarter"] if period_kind == "period_pair_y" else ["year", "month", "quarter"])
        if kind == "year":
            s["period"], s["period2"], want["period"] = "2019", "2020", ["2019", "2020"]
        elif kind == "month":
            m = d.rng.randrange(1, 13)
            s["period"], s["period2"] = f"{MONTHS[m - 1]} 2019", f"{MONTHS[m - 1]} 2020"
            want["period"] = [f"2019-{m:02d}", f"2020-{m:02d}"]
        else:
            q = d.rng.randrange(1, 5)
            s["period"], s["period2"], want["period"] = f"Q{q} 2019", f"Q{q} 2020", [f"2019-Q{q}", f"2020-Q{q}"]
    first_period = want["period"][0] if isinstance(want.get("period"), list) else want.get("period")
    # ---- sites (drawn where the carrier measured, or the scope's carrier, has readings in the period)
    if "em_filter" in slots:
        words, scope = d.pick([("scope 2", [2]), ("scope 1", [1])])
        s.update(scope=words, scope_cap=words.capitalize())
        want.update(measure="emissions", unit="t", scope=scope)
    if name == "intensity-energy":
        want["activity"] = "electricity"
    activity = want.get("activity") or {(1,): "natural_gas", (2,): "electricity"}.get(tuple(want.get("scope", [])))
    exclude = ("b35",) if name.startswith("demand") else ()
    if "site" in slots or "site_or_all" in slots:
        if "site_or_all" in slots and d.rng.random() < 0.35:
            s["site"] = d.pick(["the whole estate", "the estate"])
            want["sites"] = "all"
        else:
            site = d.site(activity, first_period if activity else None, exclude)
            s["site"], want["sites"] = site_words(site, d.rng), [site]
    if "site2" in slots:
        other = d.site(activity, first_period, exclude=(want["sites"][0],))
        s["site2"] = site_words(other, d.rng)
        want["sites"].append(other)
    if "sites" in slots:
        chosen: list[str] = []
        for _ in range(d.pick([2, 3])):
            chosen.append(d.site(activity, first_period, exclude=tuple(chosen)))
        s["sites"] = ", ".join(chosen[:-1]) + " and " + chosen[-1]
        want["sites"] = chosen
    if "tag" in slots:
        s["tag_words"] = d.pick(["university buildings", "university-tagged sites", "university estate buildings"])
        want["sites"] = "tag:university"
    if "market_site_or_all" in slots:
        site = d.pick(["b0", "b33", "b2", "all"])
        s["site"] = "the whole estate" if site == "all" else site_words(site, d.rng)
        want["sites"] = "all" if site == "all" else [site]
    # ---- measures
    if name.startswith(("energy", "quarter-energy", "date-range", "season", "tagged", "relative-energy")) or \
            name in ("compare-sites", "compare-periods-pct", "breakdown-month", "breakdown-site"):
        want.update(measure="energy", unit="kWh")
    if "unit" in slots:
        s["unit"] = d.pick(["MWh", "kWh", "megawatt hours"])
        want["unit"] = "MWh" if s["unit"] != "kWh" else "kWh"
    if name.startswith("demand"):
        want.update(measure="demand", stat="peak" if name == "demand-peak" else "avg")
    if name == "intensity-energy":
        want.update(measure="intensity", of="energy")
    if name == "intensity-emissions":
        want.update(measure="intensity", of="emissions")
    if "scope" in slots:
        words, scope = d.pick(SCOPES)
        s.update(scope=words, scope_cap=words.capitalize())
        want.update(measure="emissions", unit="t", scope=scope, sites="all")
    if name == "emissions-market":
        want.update(measure="emissions", method="market", unit="t", scope=[2])
    if "activity" in slots:
        act, words, sites = d.pick(EMISSION_ACTIVITIES)
        s.update(what=words, what_cap=words[0].upper() + words[1:])
        want.update(measure="emissions", unit="t", activity=act, sites=sites)
    if "fuel_factor" in slots or "travel_factor" in slots:
        table = FUEL_FACTORS if "fuel_factor" in slots else TRAVEL_FACTORS
        act, words = table[i % len(table)]
        s.update(what=words, what_cap=words[0].upper() + words[1:])
        want.update(measure="factor", activity=act, region="GB")
        s["period"] = want["period"] = str(2019 + (i // len(table)) % 2)  # each activity in both years
    if "rank_measure" in slots:
        words, measure = d.pick(RANK_MEASURES)
        want.update(measure, answer="rank", sites="all", n=d.pick([2, 3, 4, 5]),
                    order="top" if name == "rank-top" else "bottom")
        s.update(what=words, n=want["n"])
    if name.startswith("compare"):
        want["answer"] = "compare"
    if name.startswith("breakdown"):
        want.update(answer="breakdown", by={"breakdown-month": "month", "breakdown-site": "site",
                                            "breakdown-activity": "activity"}[name])
        if name == "breakdown-site":
            want["sites"] = "all"
        if name == "breakdown-activity":
            s["period"] = want["period"] = str(2019 + (i // len(family["phrasings"])) % 2)
            want.update(measure="emissions", unit="t", sites="all")
    # ---- whole-text families
    if slots[0] in TEXTS:
        item = TEXTS[slots[0]][i]
        if isinstance(item, tuple):
            s["text"], want = item[0], {"answer": "explain", "topic": item[1]}
        else:
            s["text"] = item
            want = {"answer": "clarify" if slots[0] in ("vague", "missing") else "decline"}
    if name in ("energy-estate-quarter",):
        want["sites"] = "all"
    if "sites" not in want and want.get("measure") in ("energy", "emissions") and want.get("answer") != "rank":
        want["sites"] = "all"
    text = family["phrasings"][i % len(family["phrasings"])].format(**s)
    return text[0].upper() + text[1:], want


def generate(seed: int = SEED) -> list[dict[str, Any]]:
    d = Draw(seed)
    out = []
    seen: set[str] = set()
    for family in FAMILIES:
        for i in range(family["n"]):
            for _attempt in range(100):  # a question asked twice is drawn again
                text, want = make(family, i, d)
                if text.lower() not in seen:
                    break
            else:
                raise RuntimeError(f"{family['name']}: no new question after 100 draws")
            seen.add(text.lower())
            out.append({"id": f"{family['name']}-{i + 1:02d}", "family": family["name"], "split": family["split"],
                        "q": text, "want": want})
    return out


def main() -> None:
    questions = generate()
    header = ("# Generated by tests/eval/templates/generate.py (seed {seed}); do not edit by hand. See README.md: the\n"
              "# split is by family, fixed before any tuning. {n} questions, {tune} tune / {test} test.\n").format(
        seed=SEED, n=len(questions), tune=sum(q["split"] == "tune" for q in questions),
        test=sum(q["split"] == "test" for q in questions))
    lines = ["- " + yaml.safe_dump(q, default_flow_style=True, sort_keys=False, width=10_000, allow_unicode=True).strip()
             for q in questions]
    OUT.write_text(header + "\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(questions)} questions -> {OUT}")
    print(pd.Series([q["split"] for q in questions]).value_counts().to_dict())


if __name__ == "__main__":
    main()
