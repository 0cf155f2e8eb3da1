"""`$expand`: filtered, paged expansions of value sets (including implicit ones)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from terminology.engine.clock import today
from terminology.engine.codesystem import words_of
from terminology.engine.registry import Registry
from terminology.engine.valueset import Member, ValueSetIndex
from terminology.errors import TooCostly


@dataclass(slots=True)
class ExpandOptions:
    """What the caller asked of the expansion."""

    filter: str | None = None
    count: int | None = None
    offset: int = 0
    active_only: bool = False
    # The day activity is judged on (codes past a termination date are inactive); default today.
    date: date | None = None
    include_designations: bool = False
    properties: list[str] = field(default_factory=list)
    system_versions: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(slots=True)
class Expansion:
    """The members of one page of an expansion, plus what was used to make it."""

    value_set: ValueSetIndex
    total: int
    contains: list[Member]
    used_code_systems: list[str]
    options: ExpandOptions
    on: str  # the day activity was judged on, YYYY-MM-DD


def expand(registry: Registry, value_set: ValueSetIndex, options: ExpandOptions, limit: int) -> Expansion:
    """Expand a value set; refuse (too-costly) when more than ``limit`` codes would be returned."""
    members, _ = value_set.members(registry, options.system_versions)
    if options.filter:
        text = options.filter.strip().lower()
        filter_words = words_of(text)
        members = [m for m in members if m.concept.matches_filter(filter_words, text)]
    on = (options.date or today()).isoformat()
    if options.active_only:
        members = [m for m in members if not m.concept.inactive_on(on)]
    total = len(members)
    returned = max(0, min(total - options.offset, options.count if options.count is not None else total))
    if returned > limit:
        raise TooCostly(
            f"The value set '{value_set.canonical}' expansion has too many codes to display "
            f"({total} > {limit}); use count and offset, or a filter",
        )
    page = members[options.offset : options.offset + returned]
    used = sorted({m.code_system.canonical for m in members}) or sorted(
        {f"{s}|{v}" if v else s for s, v in value_set.included_systems()}
    )
    return Expansion(value_set, total, page, used, options, on)
