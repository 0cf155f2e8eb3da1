"""`$bundling-check` items read straight from JSON: the usual Parameters shape, decoded by msgspec.

Charge capture sends the same shape again and again: ``item`` parameters whose parts are a
``sequence``, a ``code`` Coding, ``modifier`` Codings, a ``quantity``, a ``servicedDate`` and a
``provider``, plus an optional top-level ``date``, ``setting``, ``edition`` and ``provider``. msgspec decodes
that shape into the typed structs below in C, checking every JSON type on the way, which costs a
fraction of general JSON parsing plus the general Parameters parser (fhir.params).

This is a shortcut, not a second set of rules. ``read_item_parameters`` returns None for anything
it was not written for (other parameters or value types, extensions, a Claim or Bundle) and for
any input with an error; the caller then runs the general path, which reads everything and words
every error. Where both read an input, they give the same lines: the element checks are the
general path's own (fhir.bundling_mapping), and tests/fhir/test_bundling_items.py compares the two.
"""

from __future__ import annotations

import msgspec
from msgspec import UNSET, Struct, UnsetType

from terminology.bundling.model import CheckOptions, Line, Modifier
from terminology.errors import InvalidRequest
from terminology.fhir.bundling_mapping import SETTINGS, BundlingInput, read_date, read_units, split_expression

# Decoded objects never form reference cycles, so the cyclic garbage collector need not track them.
_ENTRY = {"tag_field": "name", "forbid_unknown_fields": True, "gc": False}


class _Coding(Struct, gc=False):
    # Other Coding elements (userSelected, extension) are skipped, as the general parser skips them.
    system: str | UnsetType = UNSET
    version: str | UnsetType = UNSET
    code: str | UnsetType = UNSET
    display: str | UnsetType = UNSET


class _Sequence(Struct, tag="sequence", **_ENTRY):
    valuePositiveInt: int | UnsetType = UNSET
    valueInteger: int | UnsetType = UNSET


class _Code(Struct, tag="code", **_ENTRY):
    valueCoding: _Coding


class _Modifier(Struct, tag="modifier", **_ENTRY):
    valueCoding: _Coding | UnsetType = UNSET
    valueCode: str | UnsetType = UNSET


class _Quantity(Struct, tag="quantity", **_ENTRY):
    valueDecimal: float | UnsetType = UNSET
    valueInteger: int | UnsetType = UNSET


class _ServicedDate(Struct, tag="servicedDate", **_ENTRY):
    valueDate: str


class _Provider(Struct, tag="provider", **_ENTRY):  # an item's provider, or the claim's (top level)
    valueString: str


class _Date(Struct, tag="date", **_ENTRY):  # the top-level date; in an item, servicedDate's alias
    valueDate: str


class _Item(Struct, tag="item", **_ENTRY):
    part: list[_Sequence | _Code | _Modifier | _Quantity | _ServicedDate | _Date | _Provider]


class _Setting(Struct, tag="setting", **_ENTRY):
    valueCode: str | UnsetType = UNSET
    valueString: str | UnsetType = UNSET


class _Edition(Struct, tag="edition", **_ENTRY):
    valueString: str


class _Parameters(Struct, gc=False):
    # Other top-level elements (id, meta) are skipped, as the general parser skips them.
    resourceType: str
    parameter: list[_Item | _Date | _Setting | _Edition | _Provider] = []


_decoder = msgspec.json.Decoder(_Parameters)


class _NotThisShape(Exception):
    """The input needs the general path: a value this reader does not take, or an error."""


def read_item_parameters(body: bytes) -> BundlingInput | None:
    """Read item Parameters of the usual shape; None sends the body to the general path."""
    try:
        decoded = _decoder.decode(body)
        if decoded.resourceType != "Parameters":
            return None
        return _bundling_input(decoded)
    except (msgspec.MsgspecError, ValueError, RecursionError, InvalidRequest, _NotThisShape):
        # ValueError covers bytes that are not UTF-8, RecursionError deeply nested skipped fields;
        # every error is worded by the general path.
        return None


def _one(first: object, second: object) -> object:
    """Return the one value given of a part with two value[x] choices (else: general path)."""
    if first is UNSET:
        if second is UNSET:
            raise _NotThisShape
        return second
    if second is not UNSET:
        raise _NotThisShape
    return first


def _bundling_input(decoded: _Parameters) -> BundlingInput:
    setting = edition = default_date = claim_provider = None
    provider_seen = False
    items: list[tuple[int, _Item]] = []
    for i, entry in enumerate(decoded.parameter):
        kind = entry.__class__
        if kind is _Item:
            items.append((i, entry))
        # Only the first of a repeated parameter counts, as in OperationParams.first().
        elif kind is _Date:
            if default_date is None:
                default_date = read_date(entry.valueDate, ("Parameters", "parameter", i, "valueDate"))
        elif kind is _Setting:
            if setting is None:
                setting = _one(entry.valueCode, entry.valueString)
        elif kind is _Provider:
            if not provider_seen:
                provider_seen, claim_provider = True, entry.valueString or None
        elif edition is None:
            edition = entry.valueString
    if not items:
        raise _NotThisShape
    setting = setting or "practitioner"  # an empty value counts as absent, as FHIR has no ""
    if setting not in SETTINGS:
        raise _NotThisShape
    lines = [
        _line(i, item, position, default_date, claim_provider) for position, (i, item) in enumerate(items, 1)
    ]
    if len({line.number for line in lines}) != len(lines):
        raise _NotThisShape
    return BundlingInput(lines, CheckOptions(setting=setting, edition=edition or None), [], [])


def _line(i: int, item: _Item, position: int, default_date: str | None, claim_provider: str | None) -> Line:
    """Read one item as the general path's _item_line does (first part of each name; modifiers all)."""
    here = ("Parameters", "parameter", i, "")
    parts = item.part
    # Where the first part of each name sits (-1: none), in the order items usually list them.
    sequence_at = code_at = quantity_at = provider_at = serviced_at = date_at = -1
    modifiers_at: list[int] = []
    for j, part in enumerate(parts):
        kind = part.__class__
        if kind is _Sequence:
            sequence_at = j if sequence_at < 0 else sequence_at
        elif kind is _Code:
            code_at = j if code_at < 0 else code_at
        elif kind is _Quantity:
            quantity_at = j if quantity_at < 0 else quantity_at
        elif kind is _Provider:
            provider_at = j if provider_at < 0 else provider_at
        elif kind is _Modifier:
            modifiers_at.append(j)
        elif kind is _ServicedDate:
            serviced_at = j if serviced_at < 0 else serviced_at
        else:
            date_at = j if date_at < 0 else date_at
    if code_at < 0:
        raise _NotThisShape
    coding = parts[code_at].valueCoding
    code, system = coding.code, coding.system
    if code is UNSET or not code:
        raise _NotThisShape
    system = None if system is UNSET else system
    code_where = (here, "part", code_at, "valueCoding")
    code, line_modifiers = split_expression(code, system, code_where)
    for j in modifiers_at:
        modifier = parts[j]
        if modifier.valueCoding is not UNSET and modifier.valueCode is UNSET:
            mod, mod_system = modifier.valueCoding.code, modifier.valueCoding.system
            if mod is UNSET or not mod:
                raise _NotThisShape
            where = (here, "part", j, "valueCoding")
            mod_system = None if mod_system is UNSET else mod_system
        else:
            mod, mod_system = _one(modifier.valueCoding, modifier.valueCode), None
            where = (here, "part", j, "valueCode")
        line_modifiers.append(Modifier(mod, mod_system or system, where))
    units, quantity_where = 1.0, None
    if quantity_at >= 0:
        part = parts[quantity_at]
        key = "valueInteger" if part.valueDecimal is UNSET else "valueDecimal"
        quantity_where = (here, "part", quantity_at, key)
        units = read_units(_one(part.valueDecimal, part.valueInteger), quantity_where)
    dated_at = serviced_at if serviced_at >= 0 else date_at
    if dated_at >= 0:
        day = read_date(parts[dated_at].valueDate, (here, "part", dated_at, "valueDate"))
    elif default_date is not None:
        day = default_date
    else:
        raise _NotThisShape
    number = position
    if sequence_at >= 0:
        part = parts[sequence_at]
        number = _one(part.valuePositiveInt, part.valueInteger)
        if not 1 <= number <= 2**31 - 1:
            raise _NotThisShape
    provider_key = (parts[provider_at].valueString or None) if provider_at >= 0 else None
    return Line(
        number,
        code,
        system,
        line_modifiers,
        units,
        day,
        provider_key,
        code_where,
        quantity_where,
        claim_provider=claim_provider,
    )
