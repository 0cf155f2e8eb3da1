"""PC/TC indicator rules: which of modifiers 26 and TC a code's fee-schedule indicator allows."""

from __future__ import annotations

from terminology.engine.codesystem import CodeSystemIndex, Concept
from terminology.engine.registry import Registry
from terminology.engine.systems import CPT, HCPCS

PCTC_MODIFIERS = ("26", "TC")

# Indicator -> (modifiers allowed, meaning), from the PC/TC indicator table of the Physician Fee
# Schedule (domain.md §5.3). Indicators 7 and 8 are left out on purpose: the sources give no rule
# for 26/TC with them that we could verify, so they are not checked.
RULES: dict[str, tuple[frozenset[str], str]] = {
    "0": (frozenset(), "physician service; the PC/TC concept does not apply"),
    "1": (frozenset({"26", "TC"}), "diagnostic test with professional and technical components"),
    "2": (frozenset(), "professional component only"),
    "3": (frozenset(), "technical component only"),
    "4": (frozenset(), "global test only; separate professional-only and technical-only codes exist"),
    "5": (frozenset(), "'incident to' service"),
    "6": (frozenset({"26"}), "laboratory physician interpretation; only the professional component applies"),
    "9": (frozenset(), "PC/TC concept not applicable"),
}


def indicator_of(concept: Concept) -> str | None:
    """Return the concept's PC/TC indicator, or None when no fee-schedule file was imported for it."""
    return concept.pctc_indicator  # read from the properties at load


def concept_problems(concept: Concept, modifiers: list[str]) -> list[str]:
    """Say why each PC/TC modifier (26, TC) is not allowed with this concept; empty when all are."""
    indicator = indicator_of(concept)
    rule = RULES.get(indicator or "")
    if rule is None:
        return []
    allowed, meaning = rule
    return [
        f"Modifier {modifier} is not allowed with {concept.code}: "
        f"its PC/TC indicator is {indicator} ({meaning})"
        for modifier in dict.fromkeys(modifiers)
        if modifier in PCTC_MODIFIERS and modifier not in allowed
    ]


def _find(registry: Registry, code: str, version: str | None) -> Concept | None:
    for url in (CPT, HCPCS):
        code_system: CodeSystemIndex | None = registry.find("CodeSystem", url, version)  # type: ignore[assignment]
        if code_system is None and version is not None:
            code_system = registry.find("CodeSystem", url)  # type: ignore[assignment]
        concept = code_system.find(code) if code_system is not None else None
        if concept is not None:
            return concept
    return None


def pctc_modifier_problems(
    registry: Registry, code: str, modifiers: list[str], version: str | None = None
) -> list[str]:
    """Return why the PC/TC indicator of ``code`` forbids some of ``modifiers`` (for `$bundling-check`).

    The code is looked up in CPT, then HCPCS Level II (``version`` when given, else the latest).
    Unknown codes, codes without an imported indicator, and modifiers other than 26/TC give no problem.
    """
    concept = _find(registry, code, version)
    return concept_problems(concept, modifiers) if concept is not None else []
