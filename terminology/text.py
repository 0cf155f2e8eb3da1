"""Wording shared by messages: a count with its noun in the right number, a list as a sentence says it."""

from __future__ import annotations


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """Return ``1 edition``, ``2 editions``, ``1,125,012 rows``: the count and the noun that fits it."""
    noun = singular if count == 1 else (plural or f"{singular}s")
    return f"{count:,} {noun}"


def listed(items: list[str]) -> str:
    """Return ``a``, ``a and b``, ``a, b and c``: items as a sentence lists them."""
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
