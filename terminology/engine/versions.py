"""Canonical url|version helpers and version ordering."""

from __future__ import annotations

import re
from datetime import date

_PART = re.compile(r"(\d+)|(\D+)")


def canonical(url: str, version: str | None) -> str:
    """Return ``url|version``, or ``url`` when there is no version."""
    return f"{url}|{version}" if version else url


def split_canonical(value: str) -> tuple[str, str | None]:
    """Split ``url|version`` into its parts."""
    url, sep, version = value.partition("|")
    return url, (version or None) if sep else None


def version_key(version: str | None) -> tuple:
    """Order versions naturally: numeric runs compare as numbers ("2026" > "2025", "1.10" > "1.9")."""
    if version is None:
        return ((-1, ""),)
    return tuple((int(num), "") if num else (0, text) for num, text in _PART.findall(version))


_DATE_VERSION = re.compile(r"^(\d{4})(?:-(\d{2}))?$")


def version_period(version: str | None) -> tuple[date, date | None] | None:
    """Return the dates a dated version covers: ``YYYY`` is that year, ``YYYY-MM`` starts that month.

    A ``YYYY-MM`` version (HCPCS quarterly releases) has no end of its own: it is in force until a
    later version starts. Versions that are not dates (``2.77``) return None.
    """
    match = _DATE_VERSION.match(version or "")
    if match is None:
        return None
    year, month = int(match.group(1)), match.group(2)
    if month is None:
        return date(year, 1, 1), date(year, 12, 31)
    if not 1 <= int(month) <= 12:
        return None
    return date(year, int(month), 1), None


def version_for_date(versions: list[str], on: date) -> str | None:
    """Pick the dated version in force on ``on``: the latest-starting one whose period holds it."""
    best: tuple[date, tuple] | None = None
    chosen = None
    for version in versions:
        period = version_period(version)
        if period is None:
            continue
        start, end = period
        if start <= on and (end is None or on <= end):
            key = (start, version_key(version))
            if best is None or key > best:
                best, chosen = key, version
    return chosen
