"""Bundling findings as CDS Hooks cards: summary, indicator from severity, one fix, override reasons."""

from __future__ import annotations

import uuid

from terminology.bundling.model import CheckResult, Finding, Line
from terminology.cdshooks.services import DraftOrder, HookRequest
from terminology.engine.registry import Registry
from terminology.engine.systems import CPT, OWN_BASE
from terminology.text import listed

OVERRIDE_REASONS = f"{OWN_BASE}/CodeSystem/cds-override-reason"
SOURCE_LABEL = "Terminology service: CPT and NCCI bundling rules"
_RULE_NAMES = {
    "combined-code": "CPT instruction: one code describes the whole service",
    "ncci-ptp": "NCCI procedure-to-procedure (PTP) edit",
    "not-reported-together": "CPT instruction: codes not reported together",
    "duplicate-line": "Duplicate order",
    "mue": "NCCI medically unlikely edit (MUE)",
    "units": "Units of service",
    "once-per-encounter": "CPT instruction: reported once per encounter",
    "pc-tc": "Professional and technical components",
    "unmapped-order": "Order with no charge code",
    "unknown-code": "Code validation",
    "unknown-modifier": "Modifier validation",
    "no-edition": "NCCI edition coverage",
}
_SUMMARY_LIMIT = 139
_URGENCY = {"critical": 0, "warning": 1, "info": 2}
# What the payer will do decides how loud the card is (bundling.model.Finding.severity).
_INDICATORS = {"error": "critical", "warning": "warning", "information": "info"}


def indicator(finding: Finding) -> str:
    """Return the card indicator of a finding: critical for an error, warning for a warning, else info."""
    return _INDICATORS.get(finding.severity, "info")


def _short(text: str) -> str:
    return text if len(text) <= _SUMMARY_LIMIT else text[: _SUMMARY_LIMIT - 1].rstrip() + "…"


def _summary(finding: Finding, orders: dict[int, DraftOrder]) -> str:
    codes = finding.codes
    suggestion = finding.suggestion
    which = _which(finding, orders)
    line_codes = [line.code for line in finding.lines]
    if finding.rule in ("combined-code", "not-reported-together") and finding.severity == "warning":
        return (
            f"{listed(line_codes)} ordered apart (modifier {finding.bypass_modifier}): "
            "documentation must support it"
        )
    if finding.rule == "combined-code" and suggestion is not None:
        return f"{listed(line_codes)} ordered together: order {' + '.join(suggestion.codes)} instead"
    if finding.rule == "not-reported-together" and suggestion is not None:
        removed = [line.code for line in finding.lines if line.number in suggestion.lines]
        kept = [code for code in line_codes if code not in removed]
        return (
            f"{listed(kept)} already {'includes' if len(kept) == 1 else 'include'} {listed(removed)}: "
            f"remove the {listed(removed)} order{'s' if len(removed) > 1 else ''}"
        )
    if finding.rule == "ncci-ptp":
        col1, col2 = finding.column1, finding.column2
        if finding.severity == "warning":
            return (
                f"{col2.code} with {col1.code}: NCCI edit bypassed by modifier {finding.bypass_modifier}; "
                "documentation must support it"
            )
        if finding.modifier_indicator == "0":
            return f"{col2.code} is not payable with {col1.code} on the same date (NCCI): remove {col2.code}"
        return (
            f"{col2.code} is bundled into {col1.code} (NCCI): remove {col2.code} "
            "unless the services are distinct"
        )
    if finding.rule == "pc-tc":
        shown = listed([_line_label(line) for line in finding.lines])
        if suggestion is not None and suggestion.action == "remove":
            return f"{shown}: the global {codes[0]} already includes the component; remove the 26/TC order"
        return f"{shown} ordered together: order the global {codes[0]} (no 26/TC) instead"
    if finding.rule == "once-per-encounter":
        if finding.severity == "warning":
            return (
                f"{codes[0]} ordered again (modifier {finding.bypass_modifier}): "
                "documentation must support a separate encounter"
            )
        if suggestion is not None and suggestion.action == "reduce-units" and suggestion.units:
            allowed = int(suggestion.units)
            times = "once" if allowed == 1 else f"{allowed} times"
            units = f"{allowed} unit{'' if allowed == 1 else 's'}"
            return f"{codes[0]} is reported {times} per encounter: order {units}"
        count = int(finding.units) if finding.units and float(finding.units).is_integer() else finding.units
        return f"{codes[0]} is ordered {count} times for one encounter: remove the extra order{which}"
    if finding.rule == "units":
        return f"{codes[0]}: the units ordered cannot be billed as they are"
    if finding.rule == "duplicate-line":
        return f"{codes[0]} is ordered twice for {finding.date}: remove the duplicate order{which}"
    if finding.rule == "mue":
        units = int(finding.units) if finding.units and float(finding.units).is_integer() else finding.units
        text = f"{units} units of {codes[0]} exceed the NCCI MUE of {finding.mue_value}"
        # An MUE finding that stands for the 62284 instruction too carries its fix: remove the extra order.
        return text + (
            f": remove the extra order{which}" if suggestion and suggestion.action == "remove" else ""
        )
    if finding.rule == "unmapped-order":
        return f"LOINC order {codes[0]} has no CPT charge code: its bundling was not checked"
    if finding.rule == "no-edition":
        return f"NCCI edits for {finding.date} are incomplete: no imported edition covers that date"
    return finding.message


def _line_label(line: Line) -> str:
    """Return a line's code with its modifiers as coders write it: 72125-26."""
    return line.code + "".join(f"-{modifier.code}" for modifier in line.modifiers)


def _order_label(order: DraftOrder) -> str:
    """Return how a card names an order: its CPT code with its modifiers (72125-26), as coders write it."""
    line = order.order.line
    code = _line_label(line) if line is not None else order.order.order_code
    if order.order.order_system != CPT and line is not None:
        return f"{code} (ordered as LOINC {order.order.order_code})"
    return code


def _ambiguous(order: DraftOrder, orders: dict[int, DraftOrder]) -> bool:
    """Say whether another draft order reads the same as this one (two 62284 orders): cards then name it."""
    label = _order_label(order)
    return any(other is not order and _order_label(other) == label for other in orders.values())


def _ids(chosen: list[DraftOrder], orders: dict[int, DraftOrder]) -> str:
    """Return `` (ServiceRequest/b)``: the ids of the orders a fix acts on, when codes do not say which."""
    if not any(_ambiguous(order, orders) for order in chosen) or any(o.reference is None for o in chosen):
        return ""
    return f" ({', '.join(order.reference for order in chosen)})"  # type: ignore[misc]


def _which(finding: Finding, orders: dict[int, DraftOrder]) -> str:
    """Return the ids of the orders a removal fix deletes, when their codes alone do not say which."""
    suggestion = finding.suggestion
    if suggestion is None or suggestion.action != "remove":
        return ""
    chosen = [orders[n] for n in suggestion.lines if n in orders]
    return _ids(chosen, orders) if len(chosen) == len(suggestion.lines) else ""


def _detail(finding: Finding, orders: dict[int, DraftOrder]) -> str:
    rows = [f"**Rule:** {_RULE_NAMES.get(finding.rule, finding.rule)}", "", finding.message]
    if finding.modifier_indicator is not None:
        rows += ["", f"**NCCI modifier indicator:** {finding.modifier_indicator}"]
    if finding.appealable is not None:
        can = "can" if finding.appealable else "cannot"
        rows += ["", f"**Appeal:** documentation or an appeal {can} overturn this denial"]
    named = [orders[line.number] for line in finding.lines if line.number in orders]
    if named:
        rows += ["", "**Orders:**"]
        for order in named:
            where = order.reference or "(order without id)"
            rows.append(f"- line {order.number}: {_order_label(order)}, {where}")
    if finding.rationale:
        rows += ["", f"**Rationale:** {finding.rationale}"]
    if finding.sources:
        rows += ["", "**Source:**"]
        rows += [f"- {source}" for source in finding.sources]
    return "\n".join(rows)


def _combined_order(code: str, modifiers: list[str], registry: Registry, replaced: list[dict]) -> dict:
    # Modifiers the replaced orders all carried (26, TC) stay, as a CPT expression (72270:26).
    coding = {"system": CPT, "code": ":".join([code, *modifiers])}
    cpt = registry.find("CodeSystem", CPT)
    concept = cpt.find(code) if cpt is not None and not modifiers else None
    if concept is not None and concept.display:
        coding["display"] = concept.display
    resource = {
        "resourceType": "ServiceRequest",
        "status": "draft",
        "intent": next((r["intent"] for r in replaced if r.get("intent")), "order"),
        "code": {"coding": [coding]},
    }
    # Copy what the component orders say about the patient, visit, time, requester and performer
    # (the first order that says it: an order without a performer was judged as its encounter's).
    for key in (
        "subject",
        "encounter",
        "category",
        "priority",
        "occurrenceDateTime",
        "occurrencePeriod",
        "authoredOn",
        "requester",
        "performer",
    ):
        found = next((r[key] for r in replaced if key in r), None)
        if found is not None:
            resource[key] = found
    return resource


def _delete(order: DraftOrder, orders: dict[int, DraftOrder]) -> dict:
    return {
        "type": "delete",
        "description": f"Remove the {_order_label(order)} order{_ids([order], orders)}",
        "resourceId": order.reference,
    }


def _suggestions(finding: Finding, orders: dict[int, DraftOrder], registry: Registry) -> list[dict]:
    """Return the one suggestion of the finding's fix, as actions on the orders it covers."""
    suggestion = finding.suggestion
    if suggestion is None or suggestion.action not in ("replace", "remove"):
        return []
    targets = [orders.get(n) for n in suggestion.lines]
    if not targets or any(t is None or t.reference is None for t in targets):
        return []  # without resource ids the EHR could not apply the actions
    chosen: list[DraftOrder] = targets  # type: ignore[assignment]
    actions = [_delete(t, orders) for t in chosen]
    removed = listed(list(dict.fromkeys(_order_label(t) for t in chosen)))  # 62284 twice: once
    ids = _ids(chosen, orders)  # two orders of one code: say which the fix acts on
    if suggestion.action == "replace" and suggestion.codes:
        replaced = [t.resource for t in chosen]
        shown = ["".join([code, *(f"-{m}" for m in suggestion.modifiers)]) for code in suggestion.codes]
        for code, text in zip(suggestion.codes, shown, strict=True):
            actions.append(
                {
                    "type": "create",
                    "description": f"Order {text} (CPT) instead",
                    "resource": _combined_order(code, suggestion.modifiers, registry, replaced),
                }
            )
        label = f"Order {' + '.join(shown)} instead of {removed}{ids}"
    else:
        label = f"Remove the {removed} order" + ("s" if len(chosen) > 1 else "") + ids
    return [
        {
            "label": label,
            "uuid": str(uuid.uuid4()),
            "isRecommended": finding.severity == "error",
            "actions": actions,
        }
    ]


def override_reasons(registry: Registry, codes: list[str] | None = None) -> list[dict]:
    """Return override reasons (Codings with display) from the published CodeSystem, in its order.

    :param codes: the reasons to return (all when None).
    """
    code_system = registry.find("CodeSystem", OVERRIDE_REASONS)
    if code_system is None:
        return []
    wanted = None if codes is None else set(codes)
    return [
        {"system": OVERRIDE_REASONS, "code": c.code, "display": c.display}
        for c in code_system.concepts.values()
        if c.display and (wanted is None or c.code in wanted)
    ]


def _source(finding: Finding, registry: Registry, base: str) -> dict:
    source: dict = {"label": SOURCE_LABEL}
    for canonical in finding.sources:
        url, _, version = canonical.partition(" ")[0].partition("|")
        for resource_type in ("ConceptMap", "CodeSystem"):
            found = registry.find(resource_type, url, version or None)
            if found is not None:
                # A link the clinician's browser can open: the rule's resource on this server.
                source["url"] = f"{base}/{resource_type}/{found.id}"
                return source
    return source


def _merge_editions(findings: list[Finding]) -> list[Finding]:
    """Keep one no-edition finding per date (the PTP and MUE ones say the same thing to a clinician)."""
    kept: list[Finding] = []
    seen: dict[str | None, Finding] = {}
    for finding in findings:
        if finding.rule != "no-edition":
            kept.append(finding)
            continue
        first = seen.get(finding.date)
        if first is None:
            seen[finding.date] = finding
            kept.append(finding)
        else:
            first.message += f"; {finding.message}"
            first.sources += [s for s in finding.sources if s not in first.sources]
    return kept


def cards(request: HookRequest, result: CheckResult, registry: Registry, base: str) -> list[dict]:
    """Turn the findings into cards, keeping (for order-select) those that involve a selected order."""
    orders = request.by_number()
    findings = sorted([*result.findings, *request.unmapped], key=Finding.sort_key)
    out = []
    for finding in _merge_editions(findings):
        numbers = {line.number for line in finding.lines}
        if request.selected is not None and not numbers & request.selected:
            continue
        card: dict = {
            "uuid": str(uuid.uuid4()),
            "summary": _short(_summary(finding, orders)),
            "indicator": indicator(finding),
            "detail": _detail(finding, orders),
            "source": _source(finding, registry, base),
        }
        suggestions = _suggestions(finding, orders, registry)
        if suggestions:
            card["suggestions"] = suggestions
            card["selectionBehavior"] = "at-most-one"
        if finding.override_reasons:
            # The rules chose the reasons that can change what the payer does for this finding.
            reasons = override_reasons(registry, finding.override_reasons)
            if reasons:
                card["overrideReasons"] = reasons
        out.append(card)
    # Most urgent first; the findings' own order breaks ties (sorted is stable).
    return sorted(out, key=lambda card: _URGENCY[card["indicator"]])
