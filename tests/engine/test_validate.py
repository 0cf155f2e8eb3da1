"""`$validate-code` in the engine: code systems, value sets, displays, status, CodeableConcepts."""

from __future__ import annotations

from datetime import date

from terminology.engine.validate import (
    CodingInput,
    ValidationOptions,
    validate_codings_in_code_system,
    validate_in_code_system,
    validate_in_value_set,
)
from terminology.engine.versions import VersionRule
from tests.engine.conftest import SYSTEM, VS


def _tx(result) -> list[tuple[str, str | None]]:
    return [(issue.severity, issue.tx_code) for issue in result.issues]


def test_a_valid_code_names_its_version_and_display(registry):
    result = validate_in_code_system(registry, CodingInput(SYSTEM, "two"), ValidationOptions())
    assert (result.result, result.version, result.display, result.issues) == (True, "2", "Synthetic two", [])


def test_an_unknown_code_and_an_unknown_system(registry):
    unknown = validate_in_code_system(registry, CodingInput(SYSTEM, "nope"), ValidationOptions())
    assert not unknown.result and _tx(unknown) == [("error", "invalid-code")]
    absent = "http://example.org/fhir/CodeSystem/absent"
    missing = validate_in_code_system(registry, CodingInput(absent, "one"), ValidationOptions())
    assert not missing.result and missing.unknown_systems == [absent]


def test_a_wrong_display_is_an_error_unless_lenient(registry):
    coding = CodingInput(SYSTEM, "two", display="Not the display")
    strict = validate_in_code_system(registry, coding, ValidationOptions())
    assert not strict.result and _tx(strict) == [("error", "invalid-display")]
    assert "Valid display is 'Synthetic two'" in strict.message
    lenient = validate_in_code_system(registry, coding, ValidationOptions(lenient_display=True))
    assert lenient.result and _tx(lenient) == [("warning", "invalid-display")]
    case = validate_in_code_system(
        registry, CodingInput(SYSTEM, "two", display="SYNTHETIC two"), ValidationOptions()
    )
    assert case.result
    spacing = validate_in_code_system(
        registry, CodingInput(SYSTEM, "two", display="Synthetic  two"), ValidationOptions()
    )
    assert not spacing.result and spacing.message.startswith("Wrong whitespace in Display Name")


def test_a_code_in_the_wrong_case_is_normalized(registry):
    result = validate_in_code_system(registry, CodingInput(SYSTEM, "TWO"), ValidationOptions())
    assert result.result and result.normalized_code == "two" and _tx(result) == [("information", "code-rule")]


def test_inactive_codes_warn_and_fail_with_active_only(registry):
    retired = validate_in_code_system(registry, CodingInput(SYSTEM, "retired"), ValidationOptions())
    assert retired.result and retired.inactive and _tx(retired) == [("warning", "code-comment")]
    active_only = validate_in_code_system(
        registry, CodingInput(SYSTEM, "retired"), ValidationOptions(active_only=True)
    )
    assert not active_only.result and _tx(active_only) == [
        ("error", "code-rule"),
        ("warning", "code-comment"),
    ]


def test_a_termination_date_ends_a_code_on_the_date_of_service(registry):
    before = validate_in_code_system(
        registry, CodingInput(SYSTEM, "ended"), ValidationOptions(date=date(2019, 6, 1))
    )
    after = validate_in_code_system(
        registry, CodingInput(SYSTEM, "ended"), ValidationOptions(date=date(2021, 6, 1))
    )
    assert not before.inactive and after.inactive and after.status == "retired"


def test_a_codeable_concept_is_judged_on_all_its_codings(registry):
    codings = [CodingInput(SYSTEM, "one", prefix="CodeableConcept.coding[0]."),
               CodingInput(SYSTEM, "two", prefix="CodeableConcept.coding[1].")]  # fmt: skip
    concept = {"coding": [{"system": SYSTEM, "code": "one"}, {"system": SYSTEM, "code": "two"}]}
    result = validate_codings_in_code_system(registry, codings, ValidationOptions(), concept)
    assert result.result and result.code == "one" and result.codeable_concept is concept
    # An unknown code in one coding is an error of the concept (tx.fhir.org), whatever the others say.
    codings[0].code = "nope"
    result = validate_codings_in_code_system(registry, codings, ValidationOptions(), concept)
    assert not result.result and result.code == "two" and _tx(result) == [("error", "invalid-code")]


def test_value_set_membership(registry):
    value_set = registry.value_set(f"{VS}is-a")
    inside = validate_in_value_set(registry, value_set, [CodingInput(SYSTEM, "one-a")], ValidationOptions())
    outside = validate_in_value_set(registry, value_set, [CodingInput(SYSTEM, "two")], ValidationOptions())
    assert inside.result and not outside.result
    assert _tx(outside) == [("error", "not-in-vs")]
    assert f"'{SYSTEM}#two' was not found in the value set '{VS}is-a'" in outside.message


def test_the_system_is_inferred_from_the_value_set_with_infer_system(registry):
    value_set = registry.value_set(f"{VS}listed")
    infer = ValidationOptions(infer_system=True)
    result = validate_in_value_set(registry, value_set, [CodingInput(None, "two")], infer)
    assert result.result and result.system == SYSTEM
    unknown = validate_in_value_set(registry, value_set, [CodingInput(None, "elsewhere")], infer)
    assert not unknown.result and _tx(unknown) == [("error", "cannot-infer"), ("error", "not-in-vs")]
    # Without inferSystem a code with no system has no meaning: false, with tx.fhir.org's warning.
    bare = validate_in_value_set(registry, value_set, [CodingInput(None, "two")], ValidationOptions())
    assert not bare.result and _tx(bare) == [("warning", "invalid-data"), ("error", "not-in-vs")]


def test_a_version_pin_decides_membership(registry):
    value_set = registry.value_set(f"{VS}unpinned")
    latest = validate_in_value_set(registry, value_set, [CodingInput(SYSTEM, "late")], ValidationOptions())
    pinned = validate_in_value_set(
        registry, value_set, [CodingInput(SYSTEM, "late", version="2")], ValidationOptions(),
        pins=(VersionRule(SYSTEM, "1", "default"),),
    )  # fmt: skip
    assert latest.result and not pinned.result


def test_calls_sharing_a_checker_memo_answer_as_separate_calls(registry):
    # $batch-validate-code's items share one value set and options object, and one prepared checker.
    value_set = registry.value_set(f"{VS}is-a")
    options = ValidationOptions()
    checkers: dict = {}
    codings = [CodingInput(SYSTEM, "one-a"), CodingInput(SYSTEM, "two"), CodingInput(SYSTEM, "nope")]
    shared = [validate_in_value_set(registry, value_set, [c], options, checkers=checkers) for c in codings]
    alone = [validate_in_value_set(registry, value_set, [c], ValidationOptions()) for c in codings]
    assert len(checkers) == 1
    assert [(r.result, r.message, _tx(r)) for r in shared] == [(r.result, r.message, _tx(r)) for r in alone]
