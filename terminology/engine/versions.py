"""Canonical url|version helpers and version ordering."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

_PART = re.compile(r"(\d+)|(\D+)")


def canonical(url: str, version: str | None) -> str:
    """Return ``url|version``, or ``url`` when there is no version."""
    return f"{url}|{version}" if version else url


def split_canonical(value: str) -> tuple[str, str | None]:
    """Split ``url|version`` into its parts."""
    url, sep, version = value.partition("|")
    return url, (version or None) if sep else None


@lru_cache(maxsize=4096)
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


_WILDCARDS = frozenset({"x", "X", "*"})


def has_wildcard(version: str | None) -> bool:
    """Say whether a version names a range (``1.x``, ``1.0.*``) rather than one version."""
    return bool(version) and any(part in _WILDCARDS for part in version.split("."))  # type: ignore[union-attr]


def version_matches(criteria: str | None, candidate: str | None) -> bool:
    """Say whether ``candidate`` is ``criteria`` or falls in its range (``1.0.x`` covers ``1.0.3``)."""
    if not criteria or not candidate:
        return False
    if criteria == candidate:
        return True
    wanted, actual = criteria.split("."), candidate.split(".")
    if len(wanted) != len(actual) or not has_wildcard(criteria):
        return False
    return all(w in _WILDCARDS or w == a for w, a in zip(wanted, actual, strict=True))


def present_versions(versions: list[str]) -> str:
    """List known versions the way tx.fhir.org does: ``0.1.0``, ``1.0.0 or 1.2.0``, ``a, b and c``."""
    if len(versions) <= 1:
        return "".join(versions)
    if len(versions) == 2:
        return f"{versions[0]} or {versions[1]}"
    return ", ".join(versions[:-1]) + " and " + versions[-1]


_RULE_PARAMETERS = {
    ("default", False): "system-version",
    ("check", False): "check-system-version",
    ("override", False): "force-system-version",
    ("default", True): "default-valueset-version",
    ("check", True): "check-valueset-version",
    ("override", True): "force-valueset-version",
}


@dataclass(frozen=True, slots=True)
class VersionRule:
    """A request's say on a code system version: ``system-version`` (default), ``check-system-version``
    (check) or ``force-system-version`` (override); with ``value_set``, the same for the versions of
    value sets a compose imports (``default-valueset-version``…)."""

    system: str
    version: str
    mode: str
    value_set: bool = False

    @property
    def parameter(self) -> tuple[str, str]:
        """Return the parameter name and ``url|version`` value that stated this rule."""
        return _RULE_PARAMETERS[(self.mode, self.value_set)], f"{self.system}|{self.version}"


def rule_version(
    rules: tuple[VersionRule, ...], system: str, stated: str | None, used: list[VersionRule] | None = None
) -> str | None:
    """Apply the version rules to the version a value set (or coding) states for ``system``.

    ``force-system-version`` wins over anything stated; ``system-version`` fills in a missing
    version, and so does ``check-system-version`` when nothing else gave one. Rules that decided
    the version are appended to ``used`` (an expansion echoes them).
    """
    if not rules:
        return stated
    version = stated
    for rule in rules:
        if rule.system == system and rule.mode == "override":
            version = rule.version
            if used is not None:
                used.append(rule)
            return version
    if not version:
        for mode in ("default", "check"):
            rule = next((r for r in rules if r.system == system and r.mode == mode), None)
            if rule is not None:
                if used is not None:
                    used.append(rule)
                return rule.version
    return version


def failed_checks(rules: tuple[VersionRule, ...], system: str, actual: str | None) -> list[VersionRule]:
    """Return the ``check-system-version`` rules that the version actually used does not satisfy."""
    if not rules:
        return []
    return [
        r
        for r in rules
        if r.system == system and r.mode == "check" and not version_matches(r.version, actual)
    ]
