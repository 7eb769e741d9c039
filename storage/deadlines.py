"""When a report is due: the SEC's filing deadlines on its business-day calendar.

Pure functions over dates. Periodic reports (Exchange Act Rules 13a-1 and 13a-13, Forms 10-K and
10-Q) are due a number of calendar days after the period ends, by filer category; an 8-K four
business days after its event; a Rule 12b-25 notice (NT 10-K, NT 10-Q) extends a report by 15 or
5 calendar days. A deadline that falls on a weekend or a federal holiday moves to the next business
day (Rule 0-3). Holidays are computed by rule (5 U.S.C. 6103, the observed days included), so no
list goes stale.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

PERIODIC_FORMS = {"10-K": "10-K", "10-K405": "10-K", "10-KSB": "10-K", "10-Q": "10-Q",
                  "10-QSB": "10-Q"}
"""Original periodic reports (amendments do not count), by the report they are."""

NOTICE_FORMS = {"NT 10-K": "10-K", "NT 10-K/A": "10-K", "NT 10-Q": "10-Q", "NT 10-Q/A": "10-Q"}
"""Rule 12b-25 notices of late filing, by the report they excuse."""

NOTICE_EXTENSION = {"10-K": 15, "10-Q": 5}
"""Calendar days a timely 12b-25 notice adds to the report's deadline."""

DEREGISTRATION_FORMS = frozenset({"15-12B", "15-12G", "15-15D", "15F-12B", "15F-12G", "15F-15D"})
"""After one of these the issuer owes no more periodic reports."""

REPORT_DAYS = {
    "10-K": {"large accelerated": 60, "accelerated": 75, "other": 90},
    "10-Q": {"large accelerated": 40, "accelerated": 40, "other": 45},
}
"""Calendar days after the period end, by filer category."""

CURRENT_REPORT_DAYS = 4
CURRENT_REPORT_SINCE = date(2004, 8, 23)
"""8-K events since the 2004 rules are due in four business days."""
VOLUNTARY_ITEMS = frozenset({"7.01", "8.01", "9.01"})
"""8-K items with no deadline of their own (Regulation FD, other events, exhibits)."""

FISCAL_YEAR_SLACK = timedelta(days=7)
"""A period end this close to the fiscal year end (52/53-week years) ends the fiscal year."""


def filer_class(category: str | None) -> str:
    """`large accelerated`, `accelerated` or `other` from EDGAR's filer category
    (`Large accelerated filer`, `Non-accelerated filer<br>Smaller reporting company`…).
    Unknown is `other`: the longest deadlines, so no report is called late too early."""
    text = (category or "").lower()
    if "large accelerated" in text:
        return "large accelerated"
    if "accelerated" in text and "non-accelerated" not in text:
        return "accelerated"
    return "other"


# -- the business-day calendar ---------------------------------------------------------------------


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th `weekday` (0 = Monday) of a month; n = -1 for the last."""
    if n < 0:
        last = date(year, month, calendar.monthrange(year, month)[1])
        return last - timedelta(days=(last.weekday() - weekday) % 7)
    first = date(year, month, 1)
    return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _observed(day: date) -> date:
    """A holiday on Saturday is observed on Friday, one on Sunday on Monday."""
    return day - timedelta(days=1) if day.weekday() == 5 else (
        day + timedelta(days=1) if day.weekday() == 6 else day)


@lru_cache(maxsize=256)
def federal_holidays(year: int) -> frozenset[date]:
    """The days federal offices (the SEC among them) are closed for holidays in `year`."""
    fixed = [(1, 1), (7, 4), (11, 11), (12, 25)] + ([(6, 19)] if year >= 2021 else [])
    days = {_observed(date(year, m, d)) for m, d in fixed}
    days |= {_nth_weekday(year, 1, 0, 3), _nth_weekday(year, 2, 0, 3), _nth_weekday(year, 5, 0, -1),
             _nth_weekday(year, 9, 0, 1), _nth_weekday(year, 10, 0, 2),
             _nth_weekday(year, 11, 3, 4)}
    if _observed(date(year + 1, 1, 1)).year == year:  # next New Year's Day, seen on Dec 31
        days.add(date(year, 12, 31))
    return frozenset(days)


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in federal_holidays(day.year)


def next_business_day(day: date) -> date:
    """`day` itself if the SEC is open, else the next day it is."""
    while not is_business_day(day):
        day += timedelta(days=1)
    return day


def add_business_days(day: date, n: int) -> date:
    for _ in range(n):
        day = next_business_day(day + timedelta(days=1))
    return day


# -- deadlines -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deadline:
    """When a report is due: `due` (a business day), from `days` after `start`; `rolled` says
    the plain count fell on a weekend or holiday."""

    report: str
    start: date
    days: int
    due: date
    rolled: bool
    basis: str

    def as_dict(self) -> dict:
        return {"report": self.report, "from": self.start.isoformat(), "days": self.days,
                "due": self.due.isoformat(), "rolled_to_business_day": self.rolled,
                "basis": self.basis}


def report_deadline(report: str, period_end: date, category: str | None) -> Deadline:
    """The deadline of a 10-K or 10-Q for the period ending `period_end`."""
    klass = filer_class(category)
    days = REPORT_DAYS[report][klass]
    plain = period_end + timedelta(days=days)
    due = next_business_day(plain)
    return Deadline(report, period_end, days, due, due != plain,
                    f"{report}: {days} days after the period end ({klass} filer)")


def notice_deadline(deadline: Deadline) -> Deadline:
    """The deadline a timely 12b-25 notice gives (15 or 5 more calendar days)."""
    extra = NOTICE_EXTENSION[deadline.report]
    plain = deadline.due + timedelta(days=extra)
    due = next_business_day(plain)
    return Deadline(deadline.report, deadline.due, extra, due, due != plain,
                    f"Rule 12b-25: {extra} days after the {deadline.report}'s deadline")


def current_report_deadline(event: date, items: list[str] | None) -> Deadline | None:
    """An 8-K's deadline: four business days after its event; None when it has none (events
    before the 2004 rules, or only voluntary items such as 7.01 and 8.01)."""
    if event < CURRENT_REPORT_SINCE:
        return None
    if items and all(item.strip() in VOLUNTARY_ITEMS for item in items):
        return None
    due = add_business_days(event, CURRENT_REPORT_DAYS)
    return Deadline("8-K", event, CURRENT_REPORT_DAYS, due, False,
                    "8-K: 4 business days after the event")


def next_period_end(last: date) -> date:
    """The end of the quarter after the one ending `last`: three months on for calendar quarters
    (month ends stay month ends), 13 weeks on for 52/53-week fiscal years."""
    if last.day == calendar.monthrange(last.year, last.month)[1]:
        month = last.month + 3
        year, month = last.year + (month - 1) // 12, (month - 1) % 12 + 1
        return date(year, month, calendar.monthrange(year, month)[1])
    return last + timedelta(weeks=13)


def ends_fiscal_year(period_end: date, fiscal_year_end: str | None) -> bool | None:
    """Whether a period ending `period_end` ends the fiscal year (`fiscal_year_end` as EDGAR
    writes it, `MMDD`), within a week; None when the fiscal year end is unknown."""
    if not fiscal_year_end or len(fiscal_year_end) != 4 or not fiscal_year_end.isdigit():
        return None
    month, day = int(fiscal_year_end[:2]), int(fiscal_year_end[2:])
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    for year in (period_end.year - 1, period_end.year, period_end.year + 1):
        end = date(year, month, min(day, calendar.monthrange(year, month)[1]))
        if abs(end - period_end) <= FISCAL_YEAR_SLACK:
            return True
    return False


# -- what an issuer's history says -----------------------------------------------------------------


@dataclass(frozen=True)
class Lateness:
    """One report late: `overdue` (not filed, past its deadline), `notice` (an NT 10-K/10-Q was
    filed for it) or `filed-late` (an 8-K filed after its deadline). `filing` is the notice or
    the late 8-K; `last` the periodic report the overdue one follows."""

    kind: str
    report: str
    period_end: date
    deadline: Deadline
    filing: dict | None = None
    last: dict | None = None
    extended: Deadline | None = None


def lateness(history: list[dict], category: str | None, fiscal_year_end: str | None,
             today: date) -> list[Lateness]:
    """Every lateness an issuer's filings show as of `today` (an Eastern date).

    `history`: one dict per accession with `accession`, `form_type`, `report_date`,
    `date_filed`, `items`. The next periodic report follows the latest one filed: its period ends
    a quarter later, and it is a 10-K when that end is the fiscal year's (else the fourth report
    after a 10-K is), a 10-Q otherwise.
    """
    found: list[Lateness] = []
    notices = [f for f in history if _form(f) in NOTICE_FORMS]
    for f in notices:
        report = NOTICE_FORMS[_form(f)]
        period = f.get("report_date")
        if period is None:
            continue
        deadline = report_deadline(report, period, category)
        found.append(Lateness("notice", report, period, deadline, filing=f,
                              extended=notice_deadline(deadline)))
    overdue = _overdue(history, category, fiscal_year_end, today)
    if overdue and not any(_same_period(n, overdue) for n in found):
        found.append(overdue)
    for f in history:
        if _form(f) == "8-K" and f.get("report_date") and f.get("date_filed"):
            deadline = current_report_deadline(f["report_date"], f.get("items"))
            if deadline and f["date_filed"] > deadline.due:
                found.append(Lateness("filed-late", "8-K", f["report_date"], deadline, filing=f))
    return found


def _overdue(history: list[dict], category: str | None, fiscal_year_end: str | None,
             today: date) -> Lateness | None:
    periodic = sorted((f for f in history if _form(f) in PERIODIC_FORMS and f.get("report_date")),
                      key=lambda f: (f["report_date"], f.get("date_filed") or date.min))
    if not periodic:
        return None  # no periodic report yet: nothing says one is owed
    last = periodic[-1]
    if any(_form(f) in DEREGISTRATION_FORMS and (f.get("date_filed") or date.min)
           >= last["report_date"] for f in history):
        return None
    period = next_period_end(last["report_date"])
    annual = ends_fiscal_year(period, fiscal_year_end)
    if annual is None:  # count the 10-Qs since the last 10-K
        since = 0
        for f in reversed(periodic):
            if PERIODIC_FORMS[_form(f)] == "10-K":
                break
            since += 1
        annual = since >= 3 and len(periodic) > since
    report = "10-K" if annual else "10-Q"
    deadline = report_deadline(report, period, category)
    if today <= deadline.due:
        return None
    return Lateness("overdue", report, period, deadline, last=last)


def _same_period(notice: Lateness, overdue: Lateness) -> bool:
    return notice.report == overdue.report and abs(
        notice.period_end - overdue.period_end) <= FISCAL_YEAR_SLACK


def _form(filing: dict) -> str:
    return " ".join((filing.get("form_type") or "").split()).upper()
