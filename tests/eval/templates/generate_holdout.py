"""Generate the held-out template questions of #19 (the TEST split) from ``families_holdout.py``.

    PYTHONPATH=. .venv/bin/python -m tests.eval.templates.generate_holdout   # writes questions_holdout.yaml

Each family yields its ``n`` questions, cycling over its phrasings, with slots drawn with a fixed seed (not the
seed of ``generate.py``) from what the demo holds, with :class:`generate.Draw`: a building only for a carrier and
a period it has readings in (b35's gas, billed monthly, only for whole months and never for its hourly demand),
tagged groups only where they used the carrier. Every question carries the ``want`` of
``tests/eval/freeform/README.md`` (``split: test``); the gold is computed by the evaluation harness.
"""

from __future__ import annotations

import calendar
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from services.data_core.demo import demo_sites
from tests.eval.freeform.gold_raw import energy_by_site, sites_of
from tests.eval.templates.families_holdout import HOLDOUT
from tests.eval.templates.generate import MONTHS, Draw, site_words

SEED = 20261207
OUT = Path(__file__).with_name("questions_holdout.yaml")
CARRIER = {"electricity": "electricity", "gas": "natural_gas"}
SEASONS = {"summer 2019": "2019-06-01..2019-08-31", "autumn 2019": "2019-09-01..2019-11-30",
           "winter 2019/20": "2019-12-01..2020-02-29", "the winter of 2019-2020": "2019-12-01..2020-02-29",
           "spring 2020": "2020-03-01..2020-05-31", "summer 2020": "2020-06-01..2020-08-31",
           "autumn 2020": "2020-09-01..2020-11-30", "spring 2019": "2019-03-01..2019-05-31"}
RELATIVE = [("in the most recent full month", "2020-12"), ("in the final quarter on record", "2020-Q4"),
            ("in the latest year of data", "2020"), ("in the month before last", "2020-11"),
            ("in the year before last", "2019"), ("in the quarter before last", "2020-Q3"),
            ("over the latest complete quarter", "2020-Q4")]
Slots = dict[str, Any]
Want = dict[str, Any]


def cap(text: str) -> str:
    return text[0].upper() + text[1:]


def carrier(d: Draw) -> tuple[str, str]:
    words = d.pick(["electricity", "gas"])
    return words, CARRIER[words]


def month_or_quarter(d: Draw) -> tuple[str, str]:
    return d.month() if d.rng.random() < 0.5 else d.quarter()


def year_or_quarter(d: Draw) -> tuple[str, str]:
    return d.year() if d.rng.random() < 0.5 else d.quarter()


def month_span(d: Draw) -> tuple[str, str]:
    """A run of whole months inside one year, as a user writes it (always with its preposition)."""
    year = d.pick([2019, 2020])
    if d.rng.random() < 0.3:
        half = d.pick([1, 2])
        a, b = (1, 6) if half == 1 else (7, 12)
        label = d.pick([f"in the {'first' if half == 1 else 'second'} half of {year}", f"in H{half} {year}"])
    else:
        a = d.rng.randrange(1, 11)
        b = min(12, a + d.rng.randrange(1, 5))
        label = d.pick([f"from {MONTHS[a - 1]} to {MONTHS[b - 1]} {year}", f"over {MONTHS[a - 1][:3]}-{MONTHS[b - 1][:3]} {year}",
                        f"between {MONTHS[a - 1]} and {MONTHS[b - 1]} {year}"])
    last = calendar.monthrange(year, b)[1]
    return label, f"{year}-{a:02d}-01..{year}-{b:02d}-{last:02d}"


def season_or_quarter(d: Draw) -> tuple[str, str]:
    if d.rng.random() < 0.5:
        label = d.pick(sorted(SEASONS))
        return d.pick([f"in {label}", f"over {label}", f"during {label}"]), SEASONS[label]
    label, period = d.quarter()
    return d.pick([f"in {label}", f"during {label}"]), period


def floors_groups() -> list[tuple[str, str]]:
    """(words, tag) of the floor-count tags the demo gives its buildings, for counts held by 3 or more buildings."""
    tags = [t for s in demo_sites() for t in s["tags"] if str(t).startswith("floors:")]  # type: ignore[attr-defined]
    counts = sorted({t for t in tags if tags.count(t) >= 3}, key=lambda t: int(t.split(":")[1]))
    return [(f"the {t.split(':')[1]}-storey buildings", f"tag:{t}") for t in counts] + \
        [(f"our buildings with {t.split(':')[1]} floors", f"tag:{t}") for t in counts]


# ------------------------------------------------------------------------------------------- the builders
def b_energy_unit(d: Draw, i: int) -> tuple[Slots, Want]:
    words, act = carrier(d)
    label, period = month_or_quarter(d)
    unit_words, unit = d.pick([("kWh", "kWh"), ("MWh", "MWh"), ("megawatt-hours", "MWh"), ("kilowatt-hours", "kWh")])
    site = d.site(act, period)
    if unit == "MWh" and energy_by_site(act, [site], period).sum() < 10_000:  # not a few hundredths of a MWh
        unit_words, unit = d.pick([("kWh", "kWh"), ("kilowatt-hours", "kWh")])
    s = site_words(site, d.rng)
    return ({"site": s, "site_cap": cap(s), "carrier": words, "carrier_cap": cap(words), "unit": unit_words,
             "period": label}, {"measure": "energy", "unit": unit, "activity": act, "sites": [site], "period": period})


def b_month_span(d: Draw, i: int) -> tuple[Slots, Want]:
    words, act = carrier(d)
    label, period = month_span(d)
    if d.rng.random() < 0.3:
        s, sites = d.pick(["all our sites", "every site we have"]), "all"
    else:
        site = d.site(act, period)
        s, sites = site_words(site, d.rng), [site]
    return ({"site": s, "carrier": words, "carrier_cap": cap(words), "period": label},
            {"measure": "energy", "unit": "kWh", "activity": act, "sites": sites, "period": period})


def b_tag_group(d: Draw, i: int) -> tuple[Slots, Want]:
    named = [("the Cambridge buildings", "tag:cambridge"), ("every site tagged cambridge", "tag:cambridge"),
             ("the sites tagged university", "tag:university"), ("the university's buildings", "tag:university")]
    while True:
        words, act = carrier(d)
        group, tag = d.pick(named if d.rng.random() < 0.5 else floors_groups())
        label, period = d.pick([d.year, d.quarter, d.month])()
        if energy_by_site(act, sites_of(tag, act), period).sum() > 0:
            break
    return ({"group": group, "carrier": words, "carrier_cap": cap(words), "period": label},
            {"measure": "energy", "unit": "kWh", "activity": act, "sites": tag, "period": period})


def b_demand(d: Draw, i: int) -> tuple[Slots, Want]:
    words, act = carrier(d)
    stat_words, stat = d.pick([("peak", "peak"), ("maximum", "peak"), ("average", "avg"), ("mean", "avg")])
    label, period = season_or_quarter(d)
    site = d.site(act, period, exclude=("b35",))  # b35's gas is billed monthly: no hourly demand
    s = site_words(site, d.rng)
    return ({"site": s, "stat": stat_words, "stat_cap": cap(stat_words), "carrier": words, "period": label},
            {"measure": "demand", "stat": stat, "activity": act, "sites": [site], "period": period})


def b_intensity(d: Draw, i: int) -> tuple[Slots, Want]:
    what, of, act = d.pick([("electricity use", "energy", "electricity"), ("gas use", "energy", "natural_gas"),
                            ("carbon emissions", "emissions", None), ("CO2e emissions", "emissions", None)])
    label, period = year_or_quarter(d)
    # b0 and b2 also carry the travel and freight rows of the demo: their per-m2 carbon is not a building's
    site = d.site(act or "electricity", period, exclude=("b0", "b2") if act is None else ())
    want = {"measure": "intensity", "of": of, "sites": [site], "period": period}
    if act:
        want["activity"] = act
    s = site_words(site, d.rng)
    return {"site": s, "site_cap": cap(s), "what": what, "period": label}, want


def b_category(d: Draw, i: int) -> tuple[Slots, Want]:
    cat, words = [(1, "purchased goods and services"), (4, "upstream transportation and distribution"),
                  (6, "business travel"), (7, "employee commuting")][i % 4]
    label, period = year_or_quarter(d)
    return ({"cat": cat, "cat_words": words, "cat_words_cap": cap(words), "period": label},
            {"measure": "emissions", "unit": "t", "scope": [3], "category": cat, "sites": "all", "period": period})


def b_site_kg(d: Draw, i: int) -> tuple[Slots, Want]:
    words, act = carrier(d)
    label, period = d.month()
    site = d.site(act, period)
    return ({"site": site_words(site, d.rng), "carrier": words, "carrier_cap": cap(words), "period": label},
            {"measure": "emissions", "unit": "kg", "activity": act, "sites": [site], "period": period})


def b_relative(d: Draw, i: int) -> tuple[Slots, Want]:
    label, period = d.pick(RELATIVE)
    kind = d.pick(["site", "all", "scope"])
    if kind == "scope":
        words, scope = d.pick([("our scope 1 emissions", [1]), ("our scope 2 emissions", [2]),
                               ("the scope 1 and 2 emissions of the organisation", [1, 2])])
        return ({"subject": words, "subject_cap": cap(words), "period": label},
                {"measure": "emissions", "unit": "t", "scope": scope, "sites": "all", "period": period, "relative": True})
    cw, act = carrier(d)
    if kind == "all":
        words, sites = f"the {cw} use of all our sites", "all"
    else:
        site = d.site(act, period)
        words, sites = f"{site}'s {cw} use", [site]
    return ({"subject": words, "subject_cap": cap(words), "period": label},
            {"measure": "energy", "unit": "kWh", "activity": act, "sites": sites, "period": period, "relative": True})


def b_factor(d: Draw, i: int) -> tuple[Slots, Want]:
    act, what = [("electricity", "grid electricity"), ("natural_gas", "natural gas"), ("hotel_stay", "hotel stay"),
                 ("air_travel_long_haul", "long-haul flights"), ("vehicle_gasoline", "petrol"),
                 ("freight_hgv", "HGV road freight")][i % 6]
    label, period = (d.quarter() if d.rng.random() < 0.5 else d.month()) if act == "electricity" else d.year()
    return {"what": what, "period": label}, {"measure": "factor", "activity": act, "region": "GB", "period": period}


def b_methods(d: Draw, i: int) -> tuple[Slots, Want]:
    site = d.pick(["b0", "b2", "b33", "all", "b21"])
    label, period = year_or_quarter(d)
    s = d.pick(["the whole organisation", "all sites"]) if site == "all" else site_words(site, d.rng)
    return ({"site": s, "period": label},
            {"answer": "compare", "measure": "emissions", "unit": "t", "method": ["location", "market"], "scope": [2],
             "sites": "all" if site == "all" else [site], "period": period})


def b_site_pair_emissions(d: Draw, i: int) -> tuple[Slots, Want]:
    what, filt, act = d.pick([("scope 1 emissions", {"scope": [1]}, "natural_gas"),
                              ("scope 2 emissions", {"scope": [2]}, "electricity"),
                              ("gas-related emissions", {"activity": "natural_gas"}, "natural_gas"),
                              ("electricity emissions", {"activity": "electricity"}, "electricity")])
    label, period = d.pick([d.year, d.quarter, d.month])()
    a = d.site(act, period)
    b = d.site(act, period, exclude=(a,))
    return ({"what": what, "what_cap": cap(what), "site": site_words(a, d.rng), "site2": site_words(b, d.rng),
             "period": label},
            {"answer": "compare", "measure": "emissions", "unit": "t", **filt, "sites": [a, b], "period": period})


RANK_BY = [  # (words, want, bottom allowed: no site near zero that could tie)
    ("electricity use", {"measure": "energy", "activity": "electricity"}, True),
    ("gas use", {"measure": "energy", "activity": "natural_gas"}, False),
    ("scope 1 emissions", {"measure": "emissions", "scope": [1]}, False),
    ("electricity emissions", {"measure": "emissions", "activity": "electricity"}, True),
    ("total emissions", {"measure": "emissions"}, True),
    ("market-based scope 2 emissions", {"measure": "emissions", "scope": [2], "method": "market"}, False)]


def b_rank(d: Draw, i: int) -> tuple[Slots, Want]:
    what, measure, bottom_ok = d.pick(RANK_BY)
    order = "bottom" if bottom_ok and d.rng.random() < 0.45 else "top"
    if d.rng.random() < 0.5:
        label, period = d.month()
    else:
        label = d.pick(sorted(SEASONS))
        period = SEASONS[label]
    n = d.pick([2, 3, 4, 5])
    adj = d.pick(["highest", "largest", "biggest"] if order == "top" else ["lowest", "smallest"])
    return ({"what": what, "period": label, "n": n, "order_adj": adj},
            {"answer": "rank", **measure, "sites": "all", "period": period, "n": n, "order": order})


def b_quarters(d: Draw, i: int) -> tuple[Slots, Want]:
    label, period = d.year()
    if i % 2 == 0:
        cw, act = carrier(d)
        site = d.site(act, period)
        words = f"{site_words(site, d.rng)}'s {cw} use"
        want = {"measure": "energy", "unit": "kWh", "activity": act, "sites": [site]}
    else:
        words, filt = d.pick([("our scope 1 emissions", {"scope": [1], "sites": "all"}),
                              ("the organisation's scope 2 emissions", {"scope": [2], "sites": "all"}),
                              ("total emissions across all sites", {"sites": "all"}),
                              ("the vehicle fleet's emissions", {"sites": ["estates-fleet"]})])
        want = {"measure": "emissions", "unit": "t", **filt}
    return ({"subject": words, "subject_cap": cap(words), "period": label},
            {"answer": "breakdown", **want, "period": period, "by": "quarter"})


BUILDERS: dict[str, Callable[[Draw, int], tuple[Slots, Want]]] = {
    "energy_unit": b_energy_unit, "month_span": b_month_span, "tag_group": b_tag_group, "demand": b_demand,
    "intensity": b_intensity, "category": b_category, "site_kg": b_site_kg, "relative": b_relative,
    "factor": b_factor, "methods": b_methods, "site_pair_emissions": b_site_pair_emissions, "rank": b_rank,
    "quarters": b_quarters}


Builders = dict[str, Callable[[Draw, int], tuple[Slots, Want]]]


def make(family: dict[str, Any], i: int, d: Draw, builders: Builders | None = None) -> tuple[str, Want]:
    """The i-th question of ``family``: its text and its ``want``."""
    if family["build"] == "text":
        item = family["texts"][i]
        if isinstance(item, tuple):
            return item[0], {"answer": "explain", "topic": item[1]}
        return item, {"answer": family["answer"]}
    slots, want = (builders or BUILDERS)[family["build"]](d, i)
    return cap(family["phrasings"][i % len(family["phrasings"])].format(**slots)), want


def generate(seed: int = SEED, families: list[dict[str, Any]] | None = None, builders: Builders | None = None,
             plain: Callable[[str], str] = str.lower) -> list[dict[str, Any]]:
    """The questions of ``families`` (default: ``HOLDOUT``); a question whose ``plain`` text was drawn already, or
    a figure question whose ``want`` was (the same question in other words), is drawn again."""
    d = Draw(seed)
    out = []
    seen: set[str] = set()
    for family in HOLDOUT if families is None else families:
        for i in range(family["n"]):
            for _attempt in range(100):
                text, want = make(family, i, d, builders)
                key = json.dumps(want, sort_keys=True) if "measure" in want else plain(text)
                if plain(text) not in seen and key not in seen:
                    break
            else:
                raise RuntimeError(f"{family['name']}: no new question after 100 draws")
            seen |= {plain(text), key}
            out.append({"id": f"{family['name']}-{i + 1:02d}", "family": family["name"], "split": "test", "q": text,
                        "want": want})
    return out


def write(questions: list[dict[str, Any]], path: Path, header: str) -> None:
    """The questions as a YAML list, one flow mapping a line, under the ``header`` comment."""
    lines = ["- " + yaml.safe_dump(q, default_flow_style=True, sort_keys=False, width=10_000, allow_unicode=True).strip()
             for q in questions]
    path.write_text(header + "\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(questions)} questions -> {path}")


def main() -> None:
    questions = generate()
    write(questions, OUT, f"# Generated by tests/eval/templates/generate_holdout.py (seed {SEED}); do not edit by hand. "
          f"The held-out\n# TEST split of #19 (README.md): {len(questions)} questions from {len(HOLDOUT)} families, "
          "written blind.\n")


if __name__ == "__main__":
    main()
