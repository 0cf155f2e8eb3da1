"""Typed reading of `$bundling-check` items (fhir.bundling_items) against the general parser."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from terminology.bundling.model import CheckOptions
from terminology.errors import TerminologyError
from terminology.fhir.bundling_items import read_item_parameters
from terminology.fhir.bundling_mapping import BundlingInput, bundling_input
from terminology.fhir.params import OperationParams
from tests.ncci_fixtures import CPT, check_body, item

SYNTHETIC = "urn:test:synthetic-codes"


def general(body: object) -> BundlingInput:
    """Read a body the general way: JSON, the Parameters parser, then the item reader."""
    return bundling_input(OperationParams.from_body(body, ("Claim", "Bundle")), registry=None)


def both(body: object) -> tuple[BundlingInput | None, BundlingInput | Exception]:
    fast = read_item_parameters(orjson.dumps(body))
    try:
        return fast, general(body)
    except TerminologyError as exc:
        return fast, exc


USUAL = [
    check_body(item(1, "Z0011"), item(2, "Z0012", quantity=3)),
    check_body(item(1, "Z0011", "59", "LT"), item(2, "Z0012", "XU", provider="Practitioner/a")),
    check_body(item(2, "Z0011", date="2026-07-16"), item(1, "Z0011", date="2026-07-17T10:00:00Z")),
    check_body(item(1, "72126:26"), item(2, "72125", "TC"), setting="outpatient", edition="v322r0"),
    check_body(item(1, "Z0011", system=SYNTHETIC), setting="", edition=""),
    # Zero or negative units are valid FHIR: read, then reported by the units rule.
    check_body(item(1, "Z0011", quantity=-1), item(2, "Z0012", quantity=0)),
    # The claim's rendering provider (top level) renders the items that name none.
    {"resourceType": "Parameters", "parameter": [
        {"name": "provider", "valueString": "Practitioner/claim"}, {"name": "provider", "valueString": "second"},
        *check_body(item(1, "Z0011"), item(2, "Z0012", provider="Practitioner/a"))["parameter"]]},
    {"resourceType": "Parameters", "parameter": [
        {"name": "provider", "valueString": ""}, {"name": "provider", "valueString": "not read: the first counts"},
        *check_body(item(1, "Z0011", provider=""))["parameter"]]},
    {
        "resourceType": "Parameters",
        "id": "top-level elements other than parameter are skipped",
        "parameter": [
            {"name": "setting", "valueCode": "outpatient"},
            {"name": "setting", "valueCode": "not read: the first one counts"},
            {"name": "item", "part": [
                {"name": "code", "valueCoding": {"code": "Z0011", "userSelected": True}},
                {"name": "quantity", "valueDecimal": 1.5},
                {"name": "date", "valueDate": "2026-07-15"},
                {"name": "modifier", "valueCode": "RT"},
                {"name": "sequence", "valuePositiveInt": 7},
                {"name": "code", "valueCoding": {"code": "not read: the first code counts"}},
            ]},
        ],
    },
]  # fmt: skip


@pytest.mark.parametrize("body", USUAL, ids=range(len(USUAL)))
def test_the_usual_shapes_are_read_as_the_general_path_reads_them(body):
    fast, slow = both(body)
    assert fast is not None
    assert fast == slow


def test_a_read_line_keeps_where_each_element_sits():
    body = check_body(item(1, "Z0011", "59", quantity=2), item(2, "Z0012"))
    fast = read_item_parameters(orjson.dumps(body))
    first = fast.lines[0]
    assert (first.number, first.code, first.system, first.quantity, first.date) == (
        1, "Z0011", CPT, 2.0, "2026-07-15",
    )  # fmt: skip
    here = ("Parameters", "parameter", 1, "")
    assert first.code_path == (here, "part", 1, "valueCoding")
    assert first.quantity_path == (here, "part", 2, "valueInteger")
    assert first.modifiers[0].path == (here, "part", 3, "valueCoding")
    assert fast.options == CheckOptions("practitioner", None)


OTHER = [
    # Shapes the typed reader leaves to the general path, which reads them.
    check_body(item(1, "Z0011"), payer="not a parameter of the operation"),
    check_body({"name": "item", "part": [
        {"name": "code", "valueCodeableConcept": {"coding": [{"system": CPT, "code": "72125"}]}},
    ]}),
    check_body({"name": "item", "part": [
        {"name": "code", "valueCoding": {"system": CPT, "code": "72125"}},
        {"name": "provider", "valueReference": {"reference": "Practitioner/a"}},
        {"name": "quantity", "valueQuantity": {"value": 2}},
    ]}),
    check_body({"name": "item", "id": "i1", "part": [{"name": "code", "valueCoding": {"code": "72125"}}]}),
    check_body({"name": "item", "part": [{"name": "code", "valueCoding": {"code": "72125"}},
                                         {"name": "note", "valueString": "ignored by the general path"}]}),
    {"resourceType": "Parameters", "parameter": [{"name": "date", "valueDateTime": "2026-07-15T08:00:00Z"},
                                                 item(1, "72125")]},
    {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": {
        "resourceType": "Claim", "status": "active", "use": "claim", "created": "2026-07-15",
        "type": {"coding": [{"code": "professional"}]}, "patient": {"reference": "Patient/p"},
        "provider": {"reference": "Practitioner/a"}, "priority": {"coding": [{"code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/c"}}],
        "item": [{"sequence": 1, "productOrService": {"coding": [{"system": CPT, "code": "72125"}]},
                  "servicedDate": "2026-07-15"}],
    }}]},
]  # fmt: skip


@pytest.mark.parametrize("body", OTHER, ids=range(len(OTHER)))
def test_other_shapes_go_to_the_general_path(body):
    fast, slow = both(body)
    assert fast is None
    assert isinstance(slow, BundlingInput)


ERRORS = [
    check_body(item(1, "Z0011"), item(1, "Z0012")),  # sequence numbers repeat
    check_body(item(1, "Z0011"), date="2026-02-30"),
    check_body(item(1, "Z0011"), setting="hospital"),
    check_body(item(0, "Z0011")),
    check_body(item(2**31, "Z0011")),
    check_body(item(1, "72126:")),
    check_body({"name": "item", "part": [{"name": "code", "valueCoding": {"system": CPT}}]}),
    check_body({"name": "item", "part": [{"name": "code", "valueCoding": {"code": ""}}]}),
    check_body({"name": "item", "part": [{"name": "code", "valueCoding": {"code": "Z0011", "system": None}}]}),
    check_body({"name": "item", "part": [{"name": "sequence", "valueInteger": 1}]}),
    check_body({"name": "item", "part": [{"name": "code", "valueCoding": {"code": "Z0011"}},
                                         {"name": "quantity", "valueInteger": 1, "valueDecimal": 1.0}]}),
    check_body({"name": "item", "part": [{"name": "code", "valueCoding": {"code": "Z0011"}},
                                         {"name": "modifier"}]}),
    check_body({"name": "item", "part": [{"name": "code", "valueCoding": {"code": "Z0011"}},
                                         {"name": "sequence", "valueInteger": True}]}),
    check_body({"name": "item", "part": [{"name": "code", "valueCoding": {"code": "Z0011"}},
                                         {"name": "quantity", "valueDecimal": "2"}]}),
    check_body({"name": "item"}),
    check_body({"name": "item", "part": {"name": "code"}}),
    {"resourceType": "Parameters", "parameter": [item(1, "Z0011")]},  # no date anywhere
    {"resourceType": "Parameters", "parameter": []},
    {"resourceType": "Parameters", "parameter": [{"name": 7, "valueDate": "2026-07-15"}, item(1, "Z0011")]},
    {"resourceType": "Parameters", "parameter": [{"valueDate": "2026-07-15"}, item(1, "Z0011")]},
    {"resourceType": "Basic"},
    {"parameter": []},
    [],
]  # fmt: skip


@pytest.mark.parametrize("body", ERRORS, ids=range(len(ERRORS)))
def test_every_error_is_left_to_the_general_path_to_word(body):
    fast, slow = both(body)
    assert fast is None
    assert isinstance(slow, TerminologyError)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b'{"resourceType": "Parameters", "parameter": []} trailing',
        b"\xff\xfe",
        b'"\\ud800"',
        b"null",
    ],
)
def test_bytes_that_are_not_json_are_left_to_the_general_path(raw):
    assert read_item_parameters(raw) is None


# Parts and values drawn from the shapes both paths meet, good and bad alike.
VALUES = {
    "sequence": [("valueInteger", 1), ("valueInteger", 2), ("valuePositiveInt", 3), ("valueInteger", 0),
                 ("valueString", "4"), ("valueInteger", True)],
    "code": [("valueCoding", {"system": CPT, "code": "72125"}), ("valueCoding", {"code": "Z0011"}),
             ("valueCoding", {"system": CPT, "code": "72126:26:LT"}), ("valueCoding", {"system": CPT}),
             ("valueCoding", {"system": CPT, "code": "72126:"}), ("valueCode", "72125")],
    "modifier": [("valueCoding", {"system": CPT, "code": "26"}), ("valueCode", "59"),
                 ("valueCoding", {"code": ""}), ("valueString", "XU"), ("valueCoding", {"code": 26})],
    "quantity": [("valueInteger", 2), ("valueDecimal", 1.5), ("valueDecimal", -1.0), ("valueInteger", 0),
                 ("valueString", "2")],
    "servicedDate": [("valueDate", "2026-07-15"), ("valueDate", "2026-13-01"), ("valueDateTime", "2026-07-15")],
    "date": [("valueDate", "2026-07-16")],
    "provider": [("valueString", "Practitioner/a"), ("valueString", ""),
                 ("valueReference", {"reference": "Practitioner/b"})],
}  # fmt: skip
PART = st.sampled_from(sorted(VALUES)).flatmap(
    lambda name: st.sampled_from(VALUES[name]).map(lambda value: {"name": name, value[0]: value[1]})
)
# Most items have a good code, so that most inputs get past the first error and both paths read on.
GOOD_CODE = {"name": "code", "valueCoding": {"system": CPT, "code": "72125"}}
ITEM = (
    st.lists(PART, max_size=5)
    .flatmap(lambda parts: st.permutations([GOOD_CODE, *parts]) | st.just(parts))
    .map(lambda parts: {"name": "item", "part": parts})
)
TOP = st.sampled_from(
    [{"name": "date", "valueDate": "2026-07-15"}, {"name": "date", "valueDate": "15/07/2026"},
     {"name": "setting", "valueCode": "outpatient"}, {"name": "setting", "valueString": "dme"},
     {"name": "edition", "valueString": "v322r0"}, {"name": "edition", "valueString": ""},
     {"name": "provider", "valueString": "Practitioner/c"}, {"name": "provider", "valueString": ""}]
)  # fmt: skip
GOOD_DATE = {"name": "date", "valueDate": "2026-07-15"}


@settings(max_examples=400, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dated=st.booleans(), entries=st.lists(st.one_of(ITEM, ITEM, TOP), max_size=5))
def test_where_both_read_an_input_they_read_it_the_same(dated, entries):
    fast, slow = both({"resourceType": "Parameters", "parameter": [GOOD_DATE] * dated + entries})
    assert fast is None or fast == slow
    if isinstance(slow, BundlingInput) and _usual(entries):
        # The general path read nothing but the usual shapes: the typed reader must read them too.
        assert fast is not None


USUAL_TOP = {
    ("date", "valueDate"),
    ("setting", "valueCode"),
    ("setting", "valueString"),
    ("edition", "valueString"),
    ("provider", "valueString"),
}
USUAL_PARTS = {
    ("sequence", "valueInteger"), ("sequence", "valuePositiveInt"), ("code", "valueCoding"),
    ("modifier", "valueCoding"), ("modifier", "valueCode"), ("quantity", "valueInteger"),
    ("quantity", "valueDecimal"), ("servicedDate", "valueDate"), ("date", "valueDate"), ("provider", "valueString"),
}  # fmt: skip


def _usual(entries: list[dict]) -> bool:
    def shape(entry: dict) -> tuple[str, str]:
        return entry["name"], next(key for key in entry if key != "name")

    return all(
        all(shape(part) in USUAL_PARTS for part in entry["part"]) if entry["name"] == "item"
        else shape(entry) in USUAL_TOP
        for entry in entries
    )  # fmt: skip
