"""Date parsing and formatting for the whole service: FHIR dates, NCCI YYYYMMDD days, file dates, stamps.

The one place that knows how dates are written: FHIR date/dateTime text (dates of service), the
YYYYMMDD days of the NCCI files (kept as numbers, which compare as the days do), the dates of the
files importers read (YYYYMMDD, YYYY-MM-DD, M/D/YYYY, spreadsheet dates), ISO day text, and the UTC
time stamps the index records.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from functools import lru_cache

# The NCCI files write dates as YYYYMMDD; an edit with no deletion date ('*') is stored as this day.
OPEN_ENDED = 99991231
_FHIR_DAY = re.compile(r"^(\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01]))(T.*)?$")


def iso_day(value: object) -> str | None:
    """Return the YYYY-MM-DD day of a FHIR date or dateTime text; None when it is not a real day.

    The pattern checks the shape; the calendar check refuses days such as 2026-02-30.
    """
    match = _FHIR_DAY.match(value) if value.__class__ is str else None
    if match is None:
        return None
    day = match.group(1)
    try:
        date.fromisoformat(day)
    except ValueError:
        return None
    return day


def parse_day(text: str) -> date:
    """Return the date an ISO day text (YYYY-MM-DD) names; ValueError when it names none."""
    return date.fromisoformat(text)


def calendar_day(year: int, month: int, day: int) -> date | None:
    """Return the date of a year, month and day; None when the calendar has no such day."""
    try:
        return date(year, month, day)
    except ValueError:
        return None


def iso_text(day: date) -> str:
    """Return a date as ISO day text (YYYY-MM-DD), as the index and FHIR content store it."""
    return day.isoformat()


def timestamp_now() -> str:
    """Return the current UTC time to the second, as ISO text (when an import ran, a lock was taken)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def ncci_day(text: str) -> int | None:
    """Return an NCCI file's YYYYMMDD date as its day number; None when it is not one.

    Asked for two dates of every PTP row (millions per edition), so it checks digits and ranges
    only, without building a date: the day numbers are compared, never turned into dates.
    """
    if len(text) != 8 or not text.isdigit():
        return None
    value = int(text)
    month, day = value // 100 % 100, value % 100
    if not (1 <= month <= 12 and 1 <= day <= 31 and value >= 19000101):
        return None
    return value


# strptime alone accepts short fields ("2020013"), so each format's shape is checked first.
_FILE_DATE_SHAPES = (
    (re.compile(r"^\d{8}$"), "%Y%m%d"),
    (re.compile(r"^\d{4}-\d{2}-\d{2}$"), "%Y-%m-%d"),
    (re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$"), "%m/%d/%Y"),
)


def file_date_text(value: object) -> str | None:
    """Return a date cell of an imported file as ISO day text; None when blank.

    Cells hold YYYYMMDD, YYYY-MM-DD or M/D/YYYY text, a number (a YYYYMMDD read as one by a
    spreadsheet reader), or a date or datetime (a spreadsheet date cell). Anything else raises
    ValueError whose one argument is the cell as text, for the importer's message.
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    text = str(value).strip()
    if isinstance(value, float) and value.is_integer():
        text = str(int(value))
    if not text:
        return None
    for shape, pattern in _FILE_DATE_SHAPES:
        if shape.match(text):
            try:
                return datetime.strptime(text, pattern).date().isoformat()
            except ValueError:
                break  # the shape of a date, but no such day
    raise ValueError(text)


def day_number(day: str) -> int:
    """Return an ISO day as the YYYYMMDD number the NCCI rows compare with."""
    return int(day.replace("-", ""))


def day_text(number: int) -> str | None:
    """Return a YYYYMMDD day number as ISO text; None for an open-ended (``*``) date."""
    if number >= OPEN_ENDED:
        return None
    text = str(number)
    return f"{text[:4]}-{text[4:6]}-{text[6:]}"


@lru_cache(maxsize=4096)  # findings name the same few edit dates over and over
def ncci_date_text(number: int) -> str:
    """Return a YYYYMMDD day number as a coder reads it in the NCCI files' terms: ISO, or ``*``."""
    return day_text(number) or "*"
