"""Judging a chatbot answer against the gold of its question (issue #19).

An answer is the JSON of ``POST /api/chat``: ``answer`` (text), ``citations``, ``declined`` and, once the
question model gives them, ``kind`` (value, rank, compare, breakdown, explain, decline, clarify) and
``restated``. ``kind`` and ``declined`` are used when present; without them (the language-model path) the
kind is read from the text. Numbers are always read from the answer TEXT, with their unit.

Verdicts: ``correct``, ``wrong``, ``declined`` (an in-scope question declined), ``clarified`` (an in-scope
question answered with a clarifying question). A decline or a clarifying question is never wrong on an
in-scope question; on an out-of-scope question (``answer: decline``) anything but a decline is wrong; on an
ambiguous one (``answer: clarify``) a clarifying question or a decline is correct and any number is wrong.

Numbers: a figure matches the gold when it is in the measure asked (energy, demand, emissions, intensity,
factor, %), in the unit asked when the question names one (otherwise any unit of the measure, converted), and
within the displayed rounding of the gold (half a unit of its last digit; at least 0.001 % relative for
numerical noise, at most 0.5 % relative; a % change within its rounding, at most 0.5 percentage points).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

KB = Path(__file__).resolve().parents[2] / "docs" / "kb"
VERDICTS = ("correct", "wrong", "declined", "clarified")
KINDS = ("value", "rank", "compare", "breakdown", "explain", "decline", "clarify")
NOISE, CAP, PCT_CAP = 1e-5, 5e-3, 0.5

_NUM = r"(?<![\w.\-])(?P<num>[-−+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?)"
_AREA = r"(?:/\s*|\s+per\s+)(?:m2|m²|m\^2|sq\.?\s*m|square\s+met(?:re|er))\b"
_CO2 = r"CO2e?|CO₂e?"
_PER = r"(?:/\s*|\s+per\s+)"
# (pattern after the number, measure, factor to the base unit, unit name); the first that matches wins
UNITS: list[tuple[str, str, float, str]] = [
    (rf"kg\s*(?:of\s+)?(?:{_CO2}){_AREA}", "intensity_emissions", 1.0, "kg CO2e/m2"),
    (rf"(?:t|tonnes?)\s*(?:of\s+)?(?:{_CO2}){_AREA}", "intensity_emissions", 1e3, "t CO2e/m2"),
    (rf"kWh{_AREA}", "intensity_energy", 1.0, "kWh/m2"),
    (rf"MWh{_AREA}", "intensity_energy", 1e3, "MWh/m2"),
    (rf"kg\s*(?:{_CO2}){_PER}(?!m2|m²|sq|square)[A-Za-z$]", "factor", 1.0, "kg CO2e/unit"),
    (rf"g\s*(?:{_CO2}){_PER}(?!m2|m²|sq|square)[A-Za-z$]", "factor", 1e-3, "g CO2e/unit"),
    (rf"(?:t|tonnes?|metric\s+tons?|tons?)\s*(?:of\s+)?(?:{_CO2})", "emissions", 1e3, "t"),
    (r"tCO2e?|tCO₂e?", "emissions", 1e3, "t"),
    (rf"(?:kg|kilo(?:gram)?s?)\s*(?:of\s+)?(?:{_CO2})", "emissions", 1.0, "kg"),
    (r"GWh|gigawatt[- ]hours?", "energy", 1e6, "GWh"),
    (r"MWh|megawatt[- ]hours?", "energy", 1e3, "MWh"),
    (r"kWh|kilowatt[- ]hours?", "energy", 1.0, "kWh"),
    (r"MW\b|megawatts?", "demand", 1e3, "MW"),
    (r"kW\b|kilowatts?", "demand", 1.0, "kW"),
    (r"%|\s*per\s*cent\b|\s*percent\b", "pct", 1.0, "%"),
]
_UNIT_RE = [(re.compile(r"\s*(?:million\s+)?(?:" + p + ")", re.I if n not in ("MWh", "MW", "GWh") else 0), m, f, n)
            for p, m, f, n in UNITS]
MEASURE_OF = {"energy": "energy", "demand": "demand", "emissions": "emissions", "factor": "factor"}
UNIT_WORDS = {"kWh": r"\bkwh\b|kilowatt[- ]hours?", "MWh": r"\bmwh\b|megawatt[- ]hours?",
              "GWh": r"\bgwh\b|gigawatt[- ]hours?", "t": r"\btonnes?\b|\bt\s*co2|\btons?\b",
              "kg": r"\bkg\b|kilograms?"}
UNIT_SCALE = {"kWh": 1.0, "MWh": 1e3, "GWh": 1e6, "t": 1e3, "kg": 1.0}
DECLINE_RE = re.compile(
    r"\b(?:I\s+(?:can(?:no|')t|am\s+not\s+able|'m\s+not\s+able|am\s+unable|'m\s+unable|only\s+answer|don't\s+know"
    r"|do\s+not\s+know|will\s+not\s+guess|won't\s+guess)|outside\s+(?:what|my|the\s+scope)|out\s+of\s+scope"
    r"|not\s+something\s+I|beyond\s+(?:what|my)|I\s+can\s+help\s+with|I\s+can\s+answer\s+questions)", re.I)
CLARIFY_RE = re.compile(
    r"\b(?:do\s+you\s+mean|did\s+you\s+mean|which\s+(?:site|sites|building|buildings|period|year|month|measure"
    r"|one)|could\s+you\s+(?:say|tell|specify|clarify)|can\s+you\s+(?:say|tell|specify|clarify)|please\s+(?:say|"
    r"specify|tell\s+me)|would\s+you\s+like|clarify|for\s+which)\b", re.I)
SITE_RE = re.compile(r"\b(b\d{1,3}|estates-fleet|us-liaison)\b")


@dataclass
class Figure:
    value: float  # in the base unit of its measure (kWh, kW, kg CO2e, kg CO2e/m2, kWh/m2, kg CO2e/unit, %)
    measure: str
    unit: str
    step: float  # half a unit of the last displayed digit, in the base unit
    start: int


@dataclass
class Verdict:
    verdict: str
    kind: str  # the kind of answer read (from ``kind`` or the text)
    reason: str = ""
    figures: list[dict[str, Any]] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- reading
def figures(text: str) -> list[Figure]:
    """Every number of the text that carries a unit, in the base unit of its measure, in order."""
    out = []
    for m in re.finditer(_NUM, text):
        raw = m.group("num").replace("−", "-").replace(",", "").lstrip("+")
        tail = text[m.end():]
        for pattern, measure, scale, unit in _UNIT_RE:
            u = pattern.match(tail)
            if u:
                mult = 1e6 if "million" in u.group(0).lower() else 1.0
                decimals = len(raw.split(".")[1]) if "." in raw else 0
                step = 0.5 * 10 ** -decimals * scale * mult
                out.append(Figure(float(raw) * scale * mult, measure, unit, step, m.start()))
                break
    return out


def _close(shown: Figure | float, gold: float, step: float = 0.0, pct: bool = False) -> bool:
    value = shown.value if isinstance(shown, Figure) else shown
    step = shown.step if isinstance(shown, Figure) else step
    if not math.isfinite(gold):
        return False
    if pct:
        return abs(value - gold) <= min(max(step, 1e-9), PCT_CAP) + 1e-9
    tol = min(max(step, NOISE * abs(gold)), CAP * abs(gold)) if gold else step
    return abs(value - gold) <= tol + 1e-12


@cache
def kb_topics() -> dict[str, str]:
    """doc id -> topic, from the knowledge base's front matter."""
    out = {}
    for path in KB.glob("*/*.md"):
        text = path.read_text(encoding="utf-8")
        if text.startswith("---"):
            meta = yaml.safe_load(text.split("---", 2)[1]) or {}
            out[str(meta.get("id", path.stem))] = str(meta.get("topic", path.parent.name))
    return out


def answer_kind(answer: dict[str, Any]) -> str:
    """The kind of an answer: ``kind`` when the chatbot gives it, else ``decline`` when ``declined``, else
    read from the text (a clarifying question without a number, a decline phrase without a number...)."""
    kind = answer.get("kind")
    if kind in KINDS:
        return str(kind)
    if answer.get("declined"):
        return "decline"
    text = str(answer.get("answer") or "")
    figs = [f for f in figures(text) if f.measure != "pct"]
    if not figs and text.strip().endswith("?") or (not figs and CLARIFY_RE.search(text) and "?" in text):
        return "clarify"
    if not figs and DECLINE_RE.search(text) and not _kb_cites(answer):
        return "decline"
    return "answer"


def _kb_cites(answer: dict[str, Any]) -> list[str]:
    ids = [str(c.get("id") or c.get("ref")) for c in answer.get("citations") or [] if c.get("type") == "kb"]
    text = str(answer.get("answer") or "")
    ids += [d for d in re.findall(r"\[([a-z0-9][a-z0-9\-]+)\]", text) if d in kb_topics()]
    return ids


# --------------------------------------------------------------------------------------------- judging
def judge(question: str, want: dict[str, Any], gold: Any, answer: dict[str, Any]) -> Verdict:
    """The verdict of ``answer`` (the chat JSON) to ``question`` with its ``want`` and ``gold``."""
    wanted = want.get("answer", "value")
    kind = answer_kind(answer)
    text = str(answer.get("answer") or "")
    figs = figures(text)
    shown = [{"value": f.value, "measure": f.measure, "unit": f.unit} for f in figs]
    if wanted == "decline":
        ok = kind == "decline"
        return Verdict("correct" if ok else "wrong", kind, "" if ok else "answered an out-of-scope question", shown)
    if wanted == "clarify":
        ok = kind in ("clarify", "decline") and not [f for f in figs if f.measure != "pct"]
        return Verdict("correct" if ok else "wrong", kind, "" if ok else "answered an ambiguous question", shown)
    if kind == "decline":
        return Verdict("declined", kind, "in-scope question declined", shown)
    if kind == "clarify":
        return Verdict("clarified", kind, "in-scope question answered with a question", shown)
    if kind in KINDS and kind != wanted and not (wanted == "value" and kind == "answer"):
        return Verdict("wrong", kind, f"answered as {kind}, asked {wanted}", shown)
    if wanted == "explain":
        topic = want["topic"]
        cited = [d for d in _kb_cites(answer) if kb_topics().get(d) == topic]
        return Verdict("correct" if cited else "wrong", kind, "" if cited else f"no citation on {topic}", shown)
    reason = _numbers(question, want, gold, text, figs)
    return Verdict("wrong" if reason else "correct", kind, reason, shown)


def _measure(want: dict[str, Any]) -> str:
    if want["measure"] == "intensity":
        return "intensity_" + want.get("of", "emissions")
    return MEASURE_OF[want["measure"]]


def _in_measure(question: str, want: dict[str, Any], figs: list[Figure]) -> tuple[list[Figure], str]:
    """The figures in the measure asked (and in the unit asked when the question names one)."""
    measure = _measure(want)
    mine = [f for f in figs if f.measure == measure]
    unit = want.get("unit")
    if unit in UNIT_WORDS and re.search(UNIT_WORDS[unit], question, re.I):
        named = [f for f in mine if f.unit == unit]
        if mine and not named:
            return [], f"not in the unit asked ({unit}; gave {mine[0].unit})"
        mine = named
    if not mine:
        others = sorted({f.unit for f in figs if f.measure != "pct"})
        return [], (f"wrong measure: asked {measure}, gave {', '.join(others)}" if others else f"no {measure} figure")
    return mine, ""


def _numbers(question: str, want: dict[str, Any], gold: Any, text: str, figs: list[Figure]) -> str:
    """Why the figures of an answer are not the gold ('' when they are)."""
    wanted = want.get("answer", "value")
    if want.get("relative") and not _names_period(text, str(want["period"])):
        return f"a relative period without saying it is {want['period']}"
    mine, why = _in_measure(question, want, figs)
    base = base_scale(want)  # gold (in the unit of the want) x base = the base unit of the figures
    if wanted == "compare":
        return _compare(question, {**gold, "values": [float(v) * base for v in gold["values"]]}, mine, figs, why)
    if why:
        return why
    if want["measure"] == "factor":
        if not any(_close(f, g) for f in mine[:2] for g in gold["values"]):
            return f"factor {mine[0].value:g} is not {', '.join(f'{g:g}' for g in gold['values'])}"
        if not any(n.lower() in text.lower() for n in gold["names"]):
            return f"factor source not named ({gold['source']})"
        return ""
    if wanted == "value":
        g = float(gold) * base
        return "" if any(_close(f, g) for f in mine[:2]) else f"{mine[0].value:g} is not {g:g}"
    if wanted == "rank":
        return _rank(gold, int(want.get("n", 1)), text, mine, base)
    if wanted == "breakdown":
        missing = [k for k, v in gold.items() if v and not any(_close(f, float(v) * base) for f in mine)]
        return f"buckets missing or wrong: {', '.join(map(str, missing[:5]))}" if missing else ""
    raise ValueError(f"no rule for answer {wanted}")


def base_scale(want: dict[str, Any]) -> float:
    """The factor from the unit of the gold (the want's ``unit``: kWh and t by default) to the base unit."""
    default = {"energy": "kWh", "emissions": "t"}.get(want.get("measure", ""))
    return UNIT_SCALE[want.get("unit", default)] if default else 1.0


def _rank(gold: list[tuple[str, float]], n: int, text: str, mine: list[Figure], base: float) -> str:
    """The n sites named, in the gold's order (a site tied with the gold's at a position may stand in for it);
    ``gold`` ranks every site, so ties past the n-th are known."""
    named: list[str] = []
    for s in SITE_RE.findall(text):
        if s not in named:
            named.append(s)
    value = dict(gold)
    order = [s for s, _v in gold[:n]]
    same = len(named) == len(order) and all(
        a == b or (a in value and _close(float(value[a]), float(value[b]), step=0.0)) for a, b in zip(named, order,
                                                                                                     strict=True))
    if not same:
        return f"ranked {named[:12]}, gold {order}"
    values = [v * base for _s, v in gold[:n]]
    if mine and not all(any(_close(f, v) for f in mine) for v in values):
        return "ranked values are not the gold"
    return ""


def _compare(question: str, gold: dict[str, Any], mine: list[Figure], figs: list[Figure], why: str) -> str:
    """Both figures, or the % change (required when the question asks for a percentage); figures in another
    measure make it wrong even when their % change happens to be the same (emissions for energy)."""
    if why.startswith(("wrong measure", "not in the unit")):
        return why
    pcts = [f for f in figs if f.measure == "pct"]
    values_ok = len(mine) >= 2 and all(any(_close(f, float(v)) for f in mine) for v in gold["values"])
    if "change_pct" not in gold:
        return "" if values_ok else (why or "the compared figures are not the gold")
    g = float(gold["change_pct"])
    pct_ok = any(_close(p.value, g, p.step, pct=True) or _close(p.value, -g, p.step, pct=True) for p in pcts)
    if re.search(r"%|per\s*cent|percentage", question, re.I):
        return "" if pct_ok else f"no change of {g:.1f} % (gave {[p.value for p in pcts]})"
    if values_ok or pct_ok:
        return ""
    return why or "neither both figures nor the % change is the gold"


MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]


def _names_period(text: str, period: str) -> bool:
    """Whether the text names the period a relative one was resolved to (``2020-12``: December 2020, Dec 2020
    or 2020-12; a year: the year; a quarter: Q4 2020 or 2020-Q4)."""
    if re.fullmatch(r"\d{4}", period):
        return period in text
    if re.fullmatch(r"\d{4}-Q\d", period):
        year, q = period.split("-")
        first, last = MONTHS[3 * int(q[1]) - 3], MONTHS[3 * int(q[1]) - 1]
        ordinal = ["first", "second", "third", "fourth"][int(q[1]) - 1]
        return bool(re.search(rf"{q}\s*{year}|{year}[\s-]*{q}|{ordinal}\s+quarter\s+of\s+{year}"
                              rf"|(?:3|three)\s+months\s+to\s+{last}\s+{year}"
                              rf"|{first[:3]}\w*\.?(?:\s+{year})?\s*(?:-|–|to)\s*{last[:3]}\w*\.?\s+{year}", text, re.I))
    if re.fullmatch(r"\d{4}-\d{2}", period):
        year, month = period.split("-")
        name = MONTHS[int(month) - 1]
        return bool(re.search(rf"(?:{name}|{name[:3]})\.?\s*{year}|{year}-{month}", text, re.I))
    return period.split("..")[0] in text
