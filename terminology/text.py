"""Wording shared by the commands' messages: a count with its noun in the right number."""

from __future__ import annotations


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """Return ``1 edition``, ``2 editions``, ``1,125,012 rows``: the count and the noun that fits it."""
    noun = singular if count == 1 else (plural or f"{singular}s")
    return f"{count:,} {noun}"
