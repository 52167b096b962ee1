"""Reading the periods a question names: months, ranges of months, quarters, halves, years, ISO dates,
days and spans relative to the newest data ("last month", "last year", "since March 2020"), as
:class:`Period` (start inclusive, end exclusive, and the label an answer names). Impossible dates
("2019-02-29") are reported, never read as "no period". Every pattern reads in linear time
(``tests/security/test_parse_linear.py``).
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
MONTHS["sept"] = 9
MONTH_RE = r"(?:" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")"
YEAR_RE = r"(?:19[89]\d|20\d\d)"
COUNTS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "nine": 9, "twelve": 12, "eighteen": 18,
          "twenty-four": 24}
COUNT_RE = r"(?:\d{1,2}|" + "|".join(COUNTS) + r")"


@dataclass
class Period:
    start: datetime
    end: datetime  # exclusive
    label: str
    implicit_year: bool = False  # "in April": the year was chosen, not said (a follow-up keeps the previous one)
    relative: bool = False  # "last month": resolved against the newest data, and the answer says so
    note: str | None = None  # how a relative period was resolved, when not the newest ("the quarter before the last")

    def with_year(self, year: int) -> Period:
        delta = year - self.start.year
        return Period(self.start.replace(year=self.start.year + delta), self.end.replace(year=self.end.year + delta),
                      shift_label(self.label, delta))

    def params(self) -> dict[str, str]:
        return {"start": self.start.strftime("%Y-%m-%dT%H:%M:%S"), "end": self.end.strftime("%Y-%m-%dT%H:%M:%S")}

    def previous(self) -> Period:
        """The same span one year earlier (months and quarters) or just before it."""
        try:
            start = self.start.replace(year=self.start.year - 1)
            end = self.end.replace(year=self.end.year - 1)
        except ValueError:  # 29 February
            length = self.end - self.start
            start, end = self.start - length, self.start
        return Period(start, end, shift_label(self.label, -1))


def shift_label(label: str, years: int) -> str:
    return re.sub(YEAR_RE, lambda m: str(int(m.group(0)) + years), label)


def month_period(year: int, month: int) -> Period:
    end = datetime(year + (month == 12), month % 12 + 1, 1)
    return Period(datetime(year, month, 1), end, f"{calendar.month_name[month]} {year}")


def _latest_year_with(month: int, year_months: list[tuple[int, int]]) -> int | None:
    years = [y for y, m in year_months if m == month]
    return max(years) if years else None


def parse_periods(text: str, year_months: list[tuple[int, int]]) -> list[Period]:
    """Periods named in the text, in order: ranges of months, months, quarters, halves, years, ISO dates,
    and "last year"/"this year" (relative to the newest data, which is what the ledger can answer)."""
    t = _relative_words(text.lower())
    found: list[tuple[int, Period]] = []
    years_with_data = sorted({y for y, _ in year_months})
    latest = years_with_data[-1] if years_with_data else None
    taken = bytearray(len(t) + 1)  # characters already read as a period (a mask: linear, not pairwise)

    def take(a: int, b: int) -> None:
        taken[a:b] = b"\x01" * (b - a)

    def free(a: int, b: int) -> bool:
        return taken.find(1, a, b) < 0

    def add(m: re.Match[str], p: Period) -> None:
        take(m.start(), m.end())
        found.append((m.start(), p))

    # day to day across months: "from 1 March to 15 April 2020", "March 1 to March 15, 2020" (both days included)
    for m in re.finditer(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({MONTH_RE})(?:\s*(?:,\s*)?({YEAR_RE}))?\s*"
                         rf"(?:-|–|to|until|through|and)\s*(?:the\s+)?(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({MONTH_RE})"
                         rf"\s*(?:,\s*)?({YEAR_RE})\b|\b({MONTH_RE})\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:\s*(?:,\s*)?({YEAR_RE}))?\s*"
                         rf"(?:-|–|to|until|through|and)\s*({MONTH_RE})\s+(\d{{1,2}})(?:st|nd|rd|th)?\s*(?:,\s*)?({YEAR_RE})\b", t):
        g = m.groups()
        day1, mon1, yr1, day2, mon2, yr2 = g[:6] if g[0] else (g[7], g[6], g[8], g[10], g[9], g[11])
        try:
            to_year = int(yr2)
            from_year = int(yr1) if yr1 else (to_year if MONTHS[mon1] <= MONTHS[mon2] else to_year - 1)
            d1, d2 = datetime(from_year, MONTHS[mon1], int(day1)), datetime(to_year, MONTHS[mon2], int(day2))
        except ValueError:
            continue
        if d2 >= d1:
            add(m, Period(d1, d2 + _one_day(), f"{d1:%-d %B %Y} to {d2:%-d %B %Y}"))
    # month range: "january to march 2020", "from jan 2020 to mar 2020", "between january and march"
    for m in re.finditer(rf"\b(?:from |between )?({MONTH_RE})(?:\s+({YEAR_RE}))?\s*(?:to|until|through|-|–|and)\s*"
                         rf"({MONTH_RE})\s*({YEAR_RE})?\b", t):
        m1, y1, m2, y2 = MONTHS[m.group(1)], m.group(2), MONTHS[m.group(3)], m.group(4)
        if m1 == m2 and y1 and y2 and y1 != y2 and CHANGE_WORDS.search(t):
            continue  # "the change from December 2019 to December 2020": two months compared, not a 13-month span
        year2 = int(y2) if y2 else (int(y1) if y1 else _latest_year_with(m2, year_months) or latest)
        if year2 is None:
            continue
        year1 = int(y1) if y1 else (year2 if m1 <= m2 else year2 - 1)
        end = month_period(year2, m2).end
        add(m, Period(datetime(year1, m1, 1), end,
                      f"{calendar.month_name[m1]} {year1} to {calendar.month_name[m2]} {year2}"))
    # day range: "6-12 january 2020", "from 6 to 12 jan 2020", "2020-01-06 to 2020-01-12" (both days included)
    for m in re.finditer(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s*(?:-|–|to|until|through|and)\s*(?:the\s+)?(\d{{1,2}})(?:st|nd|rd|th)?"
                         rf"\s+(?:of\s+)?({MONTH_RE})\s*(?:,\s*)?({YEAR_RE})\b|\b({YEAR_RE}-\d\d-\d\d)\s*(?:to|until|through|-|–|\.\.)\s*"
                         rf"({YEAR_RE}-\d\d-\d\d)\b", t):
        try:
            if m.group(5):
                d1, d2 = datetime.fromisoformat(m.group(5)), datetime.fromisoformat(m.group(6))
            else:
                in_month, in_year = MONTHS[m.group(3)], int(m.group(4))
                d1, d2 = datetime(in_year, in_month, int(m.group(1))), datetime(in_year, in_month, int(m.group(2)))
        except ValueError:
            continue
        if d2 < d1:
            continue
        add(m, Period(d1, d2 + _one_day(), f"{d1:%-d %B %Y} to {d2:%-d %B %Y}"))
    # ISO month / date
    for m in re.finditer(rf"\b({YEAR_RE})-(0[1-9]|1[0-2])(?:-(0[1-9]|[12]\d|3[01]))?\b", t):
        if not free(m.start(), m.end()):
            continue
        y, mo = int(m.group(1)), int(m.group(2))
        if m.group(3):
            try:
                d = datetime(y, mo, int(m.group(3)))
            except ValueError:  # 2019-02-29: not a date
                take(m.start(), m.end())
                continue
            add(m, Period(d, d + _one_day(), d.strftime("%-d %B %Y")))
        else:
            add(m, month_period(y, mo))
    # seasons (meteorological): "winter 2020" = December 2019 to February 2020, "summer 2019" = June-August
    seasons = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}
    for m in re.finditer(rf"\b(spring|summer|autumn|fall|winter)(?:\s+(?:of\s+)?({YEAR_RE})(?:\s*/\s*(\d\d)\b)?)?\b", t):
        if not free(m.start(), m.end()):
            continue
        if m.group(1) == "fall" and not m.group(2) and not re.search(
                r"\b(?:in|the|last|this|during|of|over|past)\s+$", t[max(0, m.start() - 8):m.start()]):
            continue  # "did emissions fall from 2019": a verb, not the season
        first_month = seasons[m.group(1)]
        season_year = int(m.group(2)) if m.group(2) else latest
        if season_year is None:
            continue
        if m.group(3) and first_month == 12 and int(m.group(3)) == (season_year + 1) % 100:
            season_year += 1  # "winter 2019/20": the winter that ends in 2020
        start = datetime(season_year - 1, 12, 1) if first_month == 12 else datetime(season_year, first_month, 1)
        end = month_period(start.year + (start.month + 2 > 12), (start.month + 1) % 12 + 1).end
        label = f"{m.group(1)} {season_year} ({start:%B %Y} to {month_period(end.year if end.month > 1 else end.year - 1, (end.month - 2) % 12 + 1).label})"
        relative = not m.group(2) and bool(re.search(r"\b(?:last|this|past|previous|latest|most recent)\s+$",
                                                          t[max(0, m.start() - 13):m.start()]))
        add(m, Period(start, end, label, implicit_year=not m.group(2) and not relative, relative=relative))
    # day: "5 march 2020", "march 5, 2020"
    for m in re.finditer(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({MONTH_RE})\s+({YEAR_RE})\b|\b({MONTH_RE})\s+(\d{{1,2}})"
                         rf"(?:st|nd|rd|th)?,?\s+({YEAR_RE})\b", t):
        if not free(m.start(), m.end()):
            continue
        day, mon, yr = (m.group(1), m.group(2), m.group(3)) if m.group(1) else (m.group(5), m.group(4), m.group(6))
        try:
            d = datetime(int(yr), MONTHS[mon], int(day))
        except ValueError:
            continue
        add(m, Period(d, d + _one_day(), d.strftime("%-d %B %Y")))
    # a span of years written "2019-2020" or "2019/20": both years together
    for m in re.finditer(rf"\b({YEAR_RE})\s*[-–/]\s*(\d{{2}}|{YEAR_RE})\b", t):
        if not free(m.start(), m.end()):
            continue
        y1 = int(m.group(1))
        y2 = int(m.group(2)) if len(m.group(2)) == 4 else (y1 // 100) * 100 + int(m.group(2))
        if y2 < y1:
            continue
        add(m, Period(datetime(y1, 1, 1), datetime(y2 + 1, 1, 1), f"{y1}-{y2}"))
    # a week of a month: "the first week of June 2019" (days 1-7; the last week: its last seven days)
    for m in re.finditer(rf"\b(first|second|third|fourth|last|final) week (?:of|in) ({MONTH_RE})\s*(?:,\s*)?({YEAR_RE})"
                         rf"(?:\s*\(\s*\d{{1,2}}(?:st|nd|rd|th)?\s*(?:-|–|to|until)\s*\d{{1,2}}(?:st|nd|rd|th)?\s*\))?", t):
        if not free(m.start(), m.end()):
            continue
        whole = month_period(int(m.group(3)), MONTHS[m.group(2)])
        if m.group(1) in ("last", "final"):
            first_day = whole.end - timedelta(days=7)
        else:
            first_day = whole.start + timedelta(days=7 * ["first", "second", "third", "fourth"].index(m.group(1)))
        last_day = first_day + timedelta(days=6)
        add(m, Period(first_day, first_day + timedelta(days=7),
                      f"{first_day.day} {calendar.month_name[first_day.month]} {first_day.year} to "
                      f"{last_day.day} {calendar.month_name[last_day.month]} {last_day.year}"))
    # relative to the newest month with data: "last month", "last 12 months", "last quarter"
    if year_months:
        ny, nm = year_months[-1]
        newest = month_period(ny, nm)
        for m in re.finditer(rf"\b(?:(?:last|past|previous|latest|most recent|newest) (?:({COUNT_RE}) months|(month)|"
                             rf"(quarter)|({COUNT_RE}) quarters)|(?:this|the current) (?:(month)|(quarter)))\b", t):
            if not free(m.start(), m.end()):
                continue
            quarters = _count(m.group(4)) if m.group(4) else 1 if m.group(3) or m.group(6) else 0
            n = _count(m.group(1)) if m.group(1) else 3 * quarters if quarters else 1
            end_y, end_m = (ny, (nm - 1) // 3 * 3 + 3) if quarters else (ny, nm)  # quarters: calendar ones
            last = month_period(end_y, end_m)
            y, mo = end_y, end_m - n + 1
            while mo < 1:
                y, mo = y - 1, mo + 12
            label = (last.label if n == 1 else f"Q{end_m // 3} {end_y}" if quarters == 1
                     else f"the {n} months to {last.label}")
            add(m, Period(datetime(y, mo, 1), last.end, label, relative=True))
    # quarters: "q1 2020", "2020 q1", "first quarter of 2020", "q3"
    ordinal = {"first": 1, "second": 2, "third": 3, "fourth": 4, "1st": 1, "2nd": 2, "3rd": 3, "4th": 4}
    for m in re.finditer(rf"\bq([1-4])(?:\s*(?:of\s*)?({YEAR_RE}))?\b|\b({YEAR_RE})\s*q([1-4])\b|"
                         rf"\b(first|second|third|fourth|1st|2nd|3rd|4th) quarter(?: of)?(?:\s+({YEAR_RE}))?\b|"
                         rf"\bquarter\s*([1-4])(?:\s*(?:of\s*)?({YEAR_RE}))?\b", t):
        if not free(m.start(), m.end()):
            continue
        q = int(m.group(1) or m.group(4) or m.group(7) or ordinal.get(m.group(5) or "", 0))
        y_s = m.group(2) or m.group(3) or m.group(6) or m.group(8)
        year = int(y_s) if y_s else _latest_year_with(3 * q, year_months) or latest
        if year is None:
            continue
        start = datetime(year, 3 * q - 2, 1)
        add(m, Period(start, month_period(year, 3 * q).end, f"Q{q} {year}", implicit_year=not y_s))
    # halves: "h1 2020", "first half of 2020"
    for m in re.finditer(rf"\bh([12])\s*({YEAR_RE})?\b|\b(first|second) half(?: of)?(?:\s+({YEAR_RE}))?\b", t):
        if not free(m.start(), m.end()):
            continue
        h = int(m.group(1) or (1 if m.group(3) == "first" else 2))
        y_s = m.group(2) or m.group(4)
        year = int(y_s) if y_s else latest
        if year is None:
            continue
        start = datetime(year, 1 if h == 1 else 7, 1)
        end = datetime(year, 7, 1) if h == 1 else datetime(year + 1, 1, 1)
        add(m, Period(start, end, f"H{h} {year}"))
    # months: "march 2020", "in march", "mar"
    for m in re.finditer(rf"\b({MONTH_RE})\b(?:\s*+,?\s*+(?:of\s++)?({YEAR_RE}))?", t):
        if not free(m.start(), m.end()):
            continue
        name = m.group(1)
        if name in ("may", "mar", "jan", "jun", "jul", "aug", "sep", "oct", "nov", "dec", "feb", "apr") and not m.group(2):
            # short forms and "may" only count as months next to a period word
            before = t[max(0, m.start() - 6):m.start()]
            if name == "may" and not re.search(r"\b(?:in|of|during|for)\s*$", before):
                continue
        month = MONTHS[name]
        year = int(m.group(2)) if m.group(2) else _latest_year_with(month, year_months) or latest
        if year is None:
            continue
        period = month_period(year, month)
        period.implicit_year = not m.group(2)
        add(m, period)
    # one before the last: "the month before last", "the quarter before last", "the year before last"
    if year_months:
        ny, nm = year_months[-1]
        for m in re.finditer(r"\b(month|quarter|year) before (?:the )?last\b", t):
            if not free(m.start(), m.end()):
                continue
            if m.group(1) == "year":
                add(m, Period(datetime(ny - 1, 1, 1), datetime(ny, 1, 1), str(ny - 1), relative=True,
                              note="the year before the latest year with data"))
                continue
            n = 1 if m.group(1) == "month" else 3
            end_y, end_m = (ny, nm) if n == 1 else (ny, (nm - 1) // 3 * 3 + 3)
            end_m -= n
            while end_m < 1:
                end_y, end_m = end_y - 1, end_m + 12
            last = month_period(end_y, end_m)
            start_y, start_m = end_y, end_m - n + 1
            label = last.label if n == 1 else f"Q{end_m // 3} {end_y}"
            add(m, Period(datetime(start_y, start_m, 1), last.end, label, relative=True,
                          note=f"the {m.group(1)} before the last {m.group(1)} with data"))
    # relative spans of years: "the last two years", "past 3 years" (whole calendar years up to the newest)
    for m in re.finditer(rf"\b(?:last|past|previous|latest) ({COUNT_RE}) (?:calendar |full )?years\b", t):
        if latest is None or not free(m.start(), m.end()):
            continue
        first_year = latest - _count(m.group(1)) + 1
        add(m, Period(datetime(first_year, 1, 1), datetime(latest + 1, 1, 1), f"{first_year}-{latest}", relative=True))
    # relative years
    for m in re.finditer(r"\b(last|this|current|latest|most recent|past) (?:calendar |financial |reporting )?year\b", t):
        if latest is None or not free(m.start(), m.end()):
            continue
        # relative to the newest data (what the ledger can answer), not to today's date: the answer names the year
        year = latest
        add(m, Period(datetime(year, 1, 1), datetime(year + 1, 1, 1), str(year), relative=True))
    # bare years
    for m in re.finditer(rf"\b({YEAR_RE})\b", t):
        if not free(m.start(), m.end()):
            continue
        y = int(m.group(1))
        add(m, Period(datetime(y, 1, 1), datetime(y + 1, 1, 1), str(y)))
    found.sort(key=lambda x: x[0])
    periods = [p for _, p in found]
    explicit = [p for p in periods if not p.implicit_year and not p.relative]
    if explicit and len(explicit) < len(periods):  # "between Q1 and Q2 2020": the year said once, for both
        year = explicit[-1].start.year if explicit[-1].start.month != 12 else explicit[-1].end.year
        periods = [p.with_year(year) if p.implicit_year else p for p in periods]
    if len(periods) == 1 and year_months:
        first, newest = month_period(*year_months[0]), month_period(*year_months[-1])
        p = periods[0]
        if re.search(r"\b(?:since|from)\s++\S*\s*+" + re.escape(p.label.split()[0].lower()), t) and not re.search(
                r"\b(?:to|until|through)\b", t):
            return [Period(p.start, newest.end, f"{p.label} to {newest.label}")]
        if re.search(r"\byear[- ]to[- ](?:date|the end of)?\s*", t) and p.end - p.start <= timedelta(days=31):
            return [Period(datetime(p.start.year, 1, 1), p.end, f"January {p.start.year} to {p.label}")]
        if re.search(r"\b(?:(?<!add )(?<!adds )(?<!added )(?<!adding )(?<!sum )(?<!sums )(?<!summed )up to|until|(?<!get )(?<!got )(?<!gets )(?<!getting )(?<!go )(?<!went )through|"
                     r"before the end of)\b", t):
            return [Period(first.start, p.end, f"{first.label} to {p.label}")]
    return periods


CHANGE_WORDS = re.compile(r"\b(?:chang\w*|percent\w*|%|increas\w*|decreas\w*|grow\w*|gr[eo]w|fall|fell|ris[ei]\w*|rose|"
                          r"drop\w*|compar\w*|vs\.?|versus)(?!\w)")
RELATIVE = re.compile(r"\b(?:the )?(?:final|last|latest|most recent|newest)\s+(?:full |complete |whole |calendar )?"
                      r"(month|quarter|year)(?:\s+(?:on record|(?:that |which )?we have(?: data)?(?: for| on record)?|"
                      r"with(?: any)? data|of data|in the data|available))?\b(?!\s+(?:of|in)\s+(?:19|20)\d\d)")


def _relative_words(t: str) -> str:
    """The ways of saying the newest month, quarter or year with data ("the final quarter on record", "the most
    recent full month", "the last year we have data for") written as the one the period reader knows ("last
    quarter"); "the last quarter of 2019" keeps its year."""
    t = re.sub(r"\b(?:the )?(?:final|last) (month|quarter) (?:of|in) ((?:19|20)\d\d)\b",
               lambda m: ("december " if m.group(1) == "month" else "q4 ") + m.group(2), t)
    return RELATIVE.sub(lambda m: "last " + m.group(1), t)


def _count(word: str) -> int:
    return int(word) if word.isdigit() else COUNTS[word]


def _one_day() -> timedelta:
    return timedelta(days=1)


def invalid_dates(text: str) -> list[str]:
    """Dates written in the text that do not exist ("2019-02-29", "31 april 2020"), in order."""
    out: list[str] = []
    for m in re.finditer(rf"\b({YEAR_RE})-(\d\d)-(\d\d)\b|\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({MONTH_RE})\s+({YEAR_RE})\b",
                         text.lower()):
        try:
            if m.group(1):
                datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            else:
                datetime(int(m.group(6)), MONTHS[m.group(5)], int(m.group(4)))
        except (ValueError, KeyError):
            out.append(m.group(0))
    return out
