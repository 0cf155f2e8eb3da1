"""Language preferences ($expand, $validate-code, $lookup): Accept-Language, displayLanguage, BCP 47."""

from __future__ import annotations

from dataclasses import dataclass

# How much of a tag must agree: the language alone, language and region, or the whole tag.
LANGUAGE, REGION, FULL = 1, 2, 3


def _subtags(tag: str) -> tuple[str, str]:
    """Return (language, region) of a BCP 47 tag, lower case; the region is '' when absent."""
    parts = tag.lower().replace("_", "-").split("-")
    region = next((p for p in parts[1:] if len(p) == 2 or (len(p) == 3 and p.isdigit())), "")
    return parts[0], region


def tags_match(wanted: str, actual: str, depth: int) -> bool:
    """Say whether an asked-for tag covers a designation's tag to the given depth.

    ``*`` covers everything. At LANGUAGE depth ``de`` covers ``de-CH``; at REGION depth the
    regions must agree where the request names one; FULL compares whole tags.
    """
    if wanted == "*":
        return True
    if depth == FULL:
        return wanted.lower() == actual.lower()
    wanted_lang, wanted_region = _subtags(wanted)
    actual_lang, actual_region = _subtags(actual)
    if wanted_lang != actual_lang:
        return False
    return depth == LANGUAGE or not wanted_region or wanted_region == actual_region


@dataclass(frozen=True, slots=True)
class LanguageRange:
    """One entry of a language list: a tag (or ``*``) and its quality."""

    tag: str
    quality: float = 1.0


class LanguagePreferences:
    """An ordered list of wanted languages, from ``displayLanguage`` or an ``Accept-Language`` header.

    Entries keep the order the caller gave, best quality first; entries with q=0 are refused
    languages and never match.
    """

    def __init__(self, ranges: list[LanguageRange], summary: str) -> None:
        self.ranges = ranges
        self.summary = summary
        self.text = summary

    __slots__ = ("ranges", "summary", "text")

    @classmethod
    def parse(cls, text: str | None, any_last: bool = False) -> LanguagePreferences | None:
        """Parse ``de``, ``de,*`` or ``en, en-AU; q=0.4``; None for an empty or missing text.

        ``any_last`` adds ``*`` as the last choice when the list does not mention it (an
        expansion then still shows a display where no designation is in a wanted language;
        ``*; q=0`` forbids that).

        :raise ValueError: when an entry is not a language tag or its quality is not a number.
        """
        if not text or not text.strip():
            return None
        ranges: list[LanguageRange] = []
        shown: list[str] = []
        weighted = False
        for entry in text.split(","):
            tag, _, params = entry.strip().partition(";")
            tag = tag.strip()
            if not tag:
                continue
            if tag != "*" and not all(part.isalnum() for part in tag.replace("_", "-").split("-")):
                raise ValueError(f"'{tag}' is not a language tag")
            quality = 1.0
            for param in params.split(";"):
                name, _, value = param.strip().partition("=")
                if name.strip().lower() == "q":
                    quality, weighted = float(value), True
            ranges.append(LanguageRange(tag, quality))
            shown.append(tag if quality == 1.0 else f"{tag}; q={value.strip()}")
        if not ranges:
            return None
        ranges.sort(key=lambda r: -r.quality)  # stable: equal qualities keep the caller's order
        if any_last and all(r.tag != "*" for r in ranges):
            ranges.append(LanguageRange("*", 0.001))
        prefs = cls(ranges, ", ".join(shown))
        # Echoed as given, unless qualities were stated (then in the normal form).
        prefs.text = prefs.summary if weighted else text.strip()
        return prefs

    @property
    def wanted(self) -> list[LanguageRange]:
        """Return the entries that may match (quality above zero)."""
        return [r for r in self.ranges if r.quality > 0]

    def covers(self, language: str | None, depth: int = LANGUAGE) -> bool:
        """Say whether any wanted entry covers ``language`` (a designation with no language is covered)."""
        if language is None:
            return True
        return any(tags_match(r.tag, language, depth) for r in self.wanted)

    def is_english_or_nothing(self) -> bool:
        """Say whether the list asks for nothing but English (or anything at all)."""
        return all(r.tag == "*" or _subtags(r.tag)[0] == "en" for r in self.wanted)

    def first_tag(self) -> str:
        """Return the best entry's tag (what an expansion echoes as its ``displayLanguage``)."""
        return self.ranges[0].tag

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LanguagePreferences) and self.ranges == other.ranges

    def __hash__(self) -> int:
        return hash(tuple(self.ranges))
