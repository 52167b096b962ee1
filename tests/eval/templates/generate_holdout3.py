"""Generate the third held-out template questions of #19 (the TEST split) from ``families_holdout3.py``.

    PYTHONPATH=. .venv/bin/python -m tests.eval.templates.generate_holdout3   # writes questions_holdout3.yaml

Each family yields its ``n`` questions, cycling over its phrasings, with slots drawn with a fixed seed (not the
seed of ``generate.py`` nor of ``generate_holdout.py``) from what the demo holds, with :class:`generate.Draw`: a
building only for a carrier and a period it has readings in; never b35's gas (billed monthly: no hourly demand,
no day window), nor a building that burns under 5 MWh of gas a year, for a gas question; relative periods
resolved against the data's last reading (2020-12-31). Every question carries the ``want`` of
``tests/eval/freeform/README.md`` (``split: test``); the gold is computed by the evaluation harness.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.data_core.demo import demo_sites
from tests.eval.freeform.gold_raw import energy_by_site, sites_of
from tests.eval.templates import generate_holdout as holdout
from tests.eval.templates.families_holdout3 import HOLDOUT3
from tests.eval.templates.generate import MONTHS, Draw
from tests.eval.templates.generate_holdout import cap, floors_groups, month_span

SEED = 20261219
OUT = Path(__file__).with_name("questions_holdout3.yaml")
CARRIER_WORDS = [("electricity", "electricity"), ("power", "electricity"), ("electric", "electricity"),
                 ("gas", "natural_gas"), ("natural gas", "natural_gas")]
NO_GAS = ("b35", "b32", "b80", "b83", "b84", "b86", "b87")  # b35: billed monthly (no hours); the others: < 5 MWh a year
RELATIVE_WINDOWS = [("last month", "2020-12"), ("in the last three months", "2020-Q4"),
                    ("over the past twelve months", "2020"), ("last quarter", "2020-Q4"), ("last year", "2020")]
ALIAS_RE = re.compile(r"\b(?:building|bldg|site) (b\d+)")
Slots = dict[str, Any]
Want = dict[str, Any]


def alias(site: str, d: Draw) -> str:
    """A building as users name it: b33, B33, Building b33, bldg b33, site b33."""
    return d.pick([site, site.upper(), f"Building {site}", f"bldg {site}", f"site {site}"])


def carrier_of(d: Draw, plain: bool = False) -> tuple[str, str]:
    return d.pick(CARRIER_WORDS[::3] if plain else CARRIER_WORDS)


def site_for(d: Draw, act: str, period: str, exclude: tuple[str, ...] = ()) -> str:
    return d.site(act, period, exclude=exclude + (NO_GAS if act == "natural_gas" else ()))


def any_period(d: Draw) -> tuple[str, str]:
    return d.pick([d.year, d.quarter, d.month])()


def unit_for(d: Draw, kwh: float) -> tuple[str, str]:
    """(words, unit): MWh only when the figure is at least 10 MWh, GWh when at least 2 GWh."""
    choices = [("kWh", "kWh"), ("kilowatt hours", "kWh")]
    if kwh >= 10_000:
        choices += [("MWh", "MWh"), ("megawatt hours", "MWh")]
    if kwh >= 2e6:
        choices += [("GWh", "GWh")]
    return d.pick(choices)


# ------------------------------------------------------------------------------------------- consumption
def b_alias(d: Draw, i: int) -> tuple[Slots, Want]:
    words, act = carrier_of(d)
    label, period = any_period(d)
    site = site_for(d, act, period)
    unit_words, unit = unit_for(d, float(energy_by_site(act, [site], period).sum()))
    if i % 3 != 1:  # only the second phrasing names a unit
        unit_words, unit = "kWh", "kWh"
    s = alias(site, d)
    return ({"site": s, "site_cap": cap(s), "carrier": words, "period": label, "unit": unit_words},
            {"measure": "energy", "unit": unit, "activity": act, "sites": [site], "period": period})


def day_window(d: Draw) -> tuple[str, str]:
    """One day, a week from a given day, or a day range inside one month."""
    year, m = d.pick([2019, 2020]), d.rng.randrange(1, 13)
    month = MONTHS[m - 1]
    a = d.rng.randrange(1, 21)
    kind = d.pick(["day", "week", "range"])
    if kind == "day":
        return d.pick([f"on {a} {month} {year}", f"on {month} {a}, {year}"]), f"{year}-{m:02d}-{a:02d}..{year}-{m:02d}-{a:02d}"
    b = a + 6 if kind == "week" else min(calendar.monthrange(year, m)[1], a + d.rng.randrange(2, 9))
    label = f"in the week starting {a} {month} {year}" if kind == "week" else d.pick(
        [f"between the {a}th and the {b}th of {month} {year}", f"from {month[:3]} {a} to {month[:3]} {b} {year}"])
    return label, f"{year}-{m:02d}-{a:02d}..{year}-{m:02d}-{b:02d}"


def b_day_window(d: Draw, i: int) -> tuple[Slots, Want]:
    words, act = carrier_of(d, plain=True)
    label, period = day_window(d)
    sites: str | list[str]
    if act == "electricity" and d.rng.random() < 0.3:
        s, sites = d.pick(["all our sites", "the whole organisation"]), "all"
    else:
        site = site_for(d, act, period)
        s, sites = alias(site, d), [site]
    return ({"site": s, "carrier": words, "carrier_cap": cap(words), "window": label},
            {"measure": "energy", "unit": "kWh", "activity": act, "sites": sites, "period": period})


def b_combined(d: Draw, i: int) -> tuple[Slots, Want]:
    words, act = carrier_of(d, plain=True)
    label, period = d.pick([d.year, d.quarter])()
    sites: list[str] = []
    for _ in range(d.pick([2, 3])):
        sites.append(site_for(d, act, period, exclude=tuple(sites)))
    unit_words, unit = unit_for(d, float(energy_by_site(act, sites, period).sum()))
    names = ", ".join(sites[:-1]) + " and " + sites[-1]
    return ({"sites": names, "carrier": words, "period": label, "unit": unit_words},
            {"measure": "energy", "unit": unit, "activity": act, "sites": sites, "period": period})


def b_relative_window(d: Draw, i: int) -> tuple[Slots, Want]:
    label, period = d.pick(RELATIVE_WINDOWS)
    kind = d.pick(["site", "all", "scope"])
    if kind == "scope":
        words, scope = d.pick([("the organisation's scope 1", [1]), ("total scope 2 across every site", [2]),
                               ("our scope 3 footprint", [3])])
        return ({"subject": words, "subject_cap": cap(words), "period": label},
                {"measure": "emissions", "unit": "t", "scope": scope, "sites": "all", "period": period,
                 "relative": True})
    cw, act = carrier_of(d, plain=True)
    sites: str | list[str]
    if kind == "all":
        words, sites = f"the estate's {cw} consumption", "all"
    else:
        site = site_for(d, act, period)
        words, sites = f"{alias(site, d)}'s {cw} consumption", [site]
    return ({"subject": words, "subject_cap": cap(words), "period": label},
            {"measure": "energy", "unit": "kWh", "activity": act, "sites": sites, "period": period, "relative": True})


def b_demand_month(d: Draw, i: int) -> tuple[Slots, Want]:
    words, act = carrier_of(d, plain=True)
    label, period = d.month()
    site = site_for(d, act, period)
    return ({"site": alias(site, d), "carrier": words, "period": label},
            {"measure": "demand", "stat": "peak" if i % 4 in (0, 2) else "avg", "activity": act, "sites": [site],
             "period": period})


def b_per_area(d: Draw, i: int) -> tuple[Slots, Want]:
    what, of, act = d.pick([("electricity consumption", "energy", "electricity"),
                            ("gas consumption", "energy", "natural_gas"), ("carbon footprint", "emissions", None)])
    label, period = d.year()
    # b0 and b2 also carry the travel and freight rows of the demo: their per-m2 carbon is not a building's
    site = site_for(d, act or "electricity", period, exclude=("b0", "b2") if act is None else ())
    want = {"measure": "intensity", "of": of, "sites": [site], "period": period}
    if act:
        want["activity"] = act
    return {"site": alias(site, d), "what": what, "what_cap": cap(what), "period": label}, want


# ------------------------------------------------------------------------------------------- emissions
def b_negation(d: Draw, i: int) -> tuple[Slots, Want]:
    label, period = any_period(d)
    shape = i % 4
    if shape == 0:
        return {"period": label}, {"measure": "emissions", "unit": "t", "scope": [1, 2], "sites": "all", "period": period}
    act = "natural_gas" if shape == 1 else "electricity"
    site = site_for(d, act, period)
    want: Want = {"measure": "emissions", "unit": "t", "sites": [site], "period": period}
    want.update({"activity": act} if shape != 2 else {"method": "location", "scope": [2]})
    return {"site": alias(site, d), "period": label}, want


def b_scope_site(d: Draw, i: int) -> tuple[Slots, Want]:
    words, scope, act = d.pick([("scope 1", [1], "natural_gas"), ("scope 2", [2], "electricity"),
                                ("scope 1 and 2", [1, 2], "electricity")])
    label, period = any_period(d)
    site = site_for(d, act, period)
    unit_words, unit = d.pick([("tonnes", "t"), ("t CO2e", "t"), ("kg", "kg"), ("kilograms", "kg")])
    return ({"scope": words, "scope_cap": cap(words), "site": alias(site, d), "period": label, "unit_words": unit_words},
            {"measure": "emissions", "unit": unit, "scope": scope, "sites": [site], "period": period})


def b_multiplier(d: Draw, i: int) -> tuple[Slots, Want]:
    act, what, region, period_of = [
        ("vehicle_diesel", "a litre of diesel", "GB", "year"), ("natural_gas", "a kWh of gas", "GB", "year"),
        ("electricity", "a kWh of UK grid electricity", "GB", "month"),
        ("air_travel_long_haul", "a long-haul passenger-km", "GB", "year"),
        ("electricity", "a kWh at the US office", "US", "year")][i % 5]
    label, period = d.month() if period_of == "month" else d.year()
    return ({"what": what, "what_cap": cap(what), "period": label},
            {"measure": "factor", "activity": act, "region": region, "period": period})


# ------------------------------------------------------------------------------------------- rank, compare, breakdown
RANK_YQ = [("electricity consumption", {"measure": "energy", "activity": "electricity"}, True),
           ("gas consumption", {"measure": "energy", "activity": "natural_gas"}, False),
           ("total emissions", {"measure": "emissions"}, True),
           ("emissions from electricity", {"measure": "emissions", "activity": "electricity"}, True),
           ("location-based scope 2", {"measure": "emissions", "scope": [2], "method": "location"}, False)]


def b_rank_yq(d: Draw, i: int) -> tuple[Slots, Want]:
    what, measure, bottom_ok = d.pick(RANK_YQ)
    order = "bottom" if bottom_ok and d.rng.random() < 0.5 else "top"
    label, period = d.pick([d.year, d.quarter])()
    n = d.pick([2, 3, 4, 6])
    return ({"what": what, "period": label, "period_cap": cap(label), "n": n,
             "order_words": "top" if order == "top" else "bottom",
             "order_adj": d.pick(["biggest", "largest"] if order == "top" else ["smallest", "lowest"])},
            {"answer": "rank", **measure, "sites": "all", "period": period, "n": n, "order": order})


def b_yoy(d: Draw, i: int) -> tuple[Slots, Want]:
    if d.rng.random() < 0.5:
        m = d.rng.randrange(1, 13)
        p1, p2 = f"{MONTHS[m - 1]} 2019", f"{MONTHS[m - 1]} 2020"
        periods = [f"2019-{m:02d}", f"2020-{m:02d}"]
    else:
        q = d.rng.randrange(1, 5)
        p1, p2, periods = f"Q{q} 2019", f"Q{q} 2020", [f"2019-Q{q}", f"2020-Q{q}"]
    if d.rng.random() < 0.5:
        cw, act = carrier_of(d, plain=True)
        site = site_for(d, act, periods[0])
        while energy_by_site(act, [site], periods[1]).sum() <= 0:  # a change from nothing is no percentage
            site = site_for(d, act, periods[0])
        words = f"{alias(site, d)}'s {cw} use"
        want: Want = {"measure": "energy", "activity": act, "sites": [site]}
    else:
        words, filt = d.pick([("our scope 1 emissions", {"scope": [1]}), ("scope 2 across all sites", {"scope": [2]}),
                              ("the organisation's total emissions", {})])
        want = {"measure": "emissions", **filt, "sites": "all"}
    return ({"subject": words, "subject_cap": cap(words), "p1": p1, "p2": p2},
            {"answer": "compare", **want, "period": periods})


def b_three_sites(d: Draw, i: int) -> tuple[Slots, Want]:
    label, period = any_period(d)
    what, want = d.pick([("electricity use", {"measure": "energy", "unit": "kWh", "activity": "electricity"}),
                         ("gas use", {"measure": "energy", "unit": "kWh", "activity": "natural_gas"}),
                         ("scope 2 emissions", {"measure": "emissions", "unit": "t", "scope": [2]})])
    act = want.get("activity", "electricity")
    sites: list[str] = []
    for _ in range(3):
        sites.append(site_for(d, act, period, exclude=tuple(sites)))
    a, b, c = (alias(s, d) for s in sites)
    return ({"what": what, "what_cap": cap(what), "period": label, "a": a, "b": b, "c": c},
            {"answer": "compare", **want, "sites": sites, "period": period})


def b_by_building(d: Draw, i: int) -> tuple[Slots, Want]:
    while True:
        cw, act = carrier_of(d, plain=True)
        label, period = d.pick([d.quarter, d.month])()
        if d.rng.random() < 0.5:
            group, sites = d.pick(floors_groups())
            members = sites_of(sites, act)
        else:
            members = []
            for _ in range(3):
                members.append(site_for(d, act, period, exclude=tuple(members)))
            group, sites = ", ".join(members[:2]) + " and " + members[2], members
        parts = energy_by_site(act, members, period)
        if len(parts) >= 2 and (parts > 0).sum() >= 2:
            break
    return ({"group": group, "carrier": cw, "period": label},
            {"answer": "breakdown", "measure": "energy", "unit": "kWh", "activity": act, "sites": sites,
             "period": period, "by": "site"})


def b_month_span_breakdown(d: Draw, i: int) -> tuple[Slots, Want]:
    label, period = month_span(d)
    if i % 2 == 0:
        cw, act = carrier_of(d, plain=True)
        site = site_for(d, act, period)
        words = f"{cw} consumption at {alias(site, d)}"
        want: Want = {"measure": "energy", "unit": "kWh", "activity": act, "sites": [site]}
    else:
        words, filt = d.pick([("scope 1 emissions", {"scope": [1]}), ("scope 2 emissions", {"scope": [2]}),
                              ("total emissions", {})])
        want = {"measure": "emissions", "unit": "t", **filt, "sites": "all"}
    return {"subject": words, "span": label}, {"answer": "breakdown", **want, "period": period, "by": "month"}


# ------------------------------------------------------------------------------------------- clarify
def not_demo_sites() -> list[str]:
    demo = {str(s["id"]) for s in demo_sites()}
    return [s for s in ("b150", "b12", "b9", "b240", "b1", "b6", "b14") if s not in demo]


def b_no_data(d: Draw, i: int) -> tuple[Slots, Want]:
    words, act = carrier_of(d, plain=True)
    label, period = d.pick([d.year, d.month])()
    site = site_for(d, act, period)
    bad = not_demo_sites()
    return ({"bad_site": bad[i // 4 % len(bad)], "site": alias(site, d), "carrier": words, "period": label,
             "bad_year": d.pick([2016, 2017, 2018, 2021, 2022, 2023])}, {"answer": "clarify"})


BUILDERS: dict[str, Callable[[Draw, int], tuple[Slots, Want]]] = {
    "alias": b_alias, "day_window": b_day_window, "combined": b_combined, "relative_window": b_relative_window,
    "demand_month": b_demand_month, "per_area": b_per_area, "negation": b_negation, "scope_site": b_scope_site,
    "multiplier": b_multiplier, "rank_yq": b_rank_yq, "yoy": b_yoy, "three_sites": b_three_sites,
    "by_building": b_by_building, "month_span_breakdown": b_month_span_breakdown, "no_data": b_no_data}


def generate(seed: int = SEED) -> list[dict[str, Any]]:
    """The questions of ``HOLDOUT3`` ("site b0" and "b0" ask the same question: drawn again)."""
    return holdout.generate(seed, HOLDOUT3, BUILDERS, plain=lambda text: ALIAS_RE.sub(r"\1", text.lower()))


def main() -> None:
    questions = generate()
    holdout.write(questions, OUT, f"# Generated by tests/eval/templates/generate_holdout3.py (seed {SEED}); do not "
                  f"edit by hand. The third\n# held-out TEST split of #19 (README.md): {len(questions)} questions from "
                  f"{len(HOLDOUT3)} families, written blind.\n")


if __name__ == "__main__":
    main()
