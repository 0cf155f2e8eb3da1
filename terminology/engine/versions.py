"""Canonical url|version helpers and version ordering."""

from __future__ import annotations

import re

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
