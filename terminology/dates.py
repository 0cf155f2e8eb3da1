"""Dates of service: FHIR date/dateTime text to ISO days, and NCCI YYYYMMDD day numbers to text."""

from __future__ import annotations

import re
from datetime import date
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
