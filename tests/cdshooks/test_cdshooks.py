"""CDS Hooks: discovery, order-sign/order-select cards, suggestions, override reasons, request errors."""

from __future__ import annotations

import uuid

import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.servicerequest import ServiceRequest

from terminology.cdshooks.services import SERVICES, read_request
from tests.cdshooks.conftest import CPT, DAY, LOINC, hook_call, order

SIGN = "/cds-services/bundling-order-sign"
SELECT = "/cds-services/bundling-order-select"
OVERRIDE = "https://terminology.example.org/fhir/CodeSystem/cds-override-reason"


def post(client, path, body, status=200):
    response = client.post(path, json=body)
    assert response.status_code == status, response.get_json()
    return response.get_json()


def check_card_shape(card: dict) -> None:
    """Check the CDS Hooks 2.0 card rules this service promises."""
    uuid.UUID(card["uuid"])
    assert 0 < len(card["summary"]) < 140
    assert card["indicator"] in ("info", "warning", "critical")
    assert card["source"]["label"]
    assert card["detail"].startswith("**Rule:**")
    if "suggestions" in card:  # cds-resp-6
        assert card["selectionBehavior"] in ("at-most-one", "any")
        for suggestion in card["suggestions"]:
            assert suggestion["label"] and uuid.UUID(suggestion["uuid"])
            for action in suggestion["actions"]:
                assert action["type"] in ("create", "update", "delete") and action["description"]
                if action["type"] == "delete":
                    assert action["resourceId"].startswith("ServiceRequest/")
                else:
                    ServiceRequest.model_validate(action["resource"])
    for reason in card.get("overrideReasons", []):
        assert reason["system"] and reason["code"] and reason["display"]


def cards_of(body: dict, indicator: str | None = None) -> list[dict]:
    assert set(body) == {"cards"}
    for card in body["cards"]:
        check_card_shape(card)
    return [c for c in body["cards"] if indicator is None or c["indicator"] == indicator]


def test_discovery_lists_one_service_per_hook(client):
    response = client.get("/cds-services")
    assert response.status_code == 200 and response.mimetype == "application/json"
    services = response.get_json()["services"]
    assert sorted(s["hook"] for s in services) == ["order-select", "order-sign"]
    for entry in services:
        assert set(entry) >= {"id", "hook", "title", "description"}
        assert entry["id"] in SERVICES


def test_order_sign_combined_code_card_replaces_both_orders(client):
    body = post(client, SIGN, hook_call("order-sign", order("a", "72125"), order("b", "72126")))
    (card,) = cards_of(body)
    assert card["summary"] == "72125 and 72126 ordered together: order 72127 instead"
    # An error is a critical card; a separate encounter (XE) is the one reason that fits a CT session.
    assert card["indicator"] == "critical"
    assert [r["code"] for r in card["overrideReasons"]] == ["separate-encounter"]
    assert "one code describes the whole service" in card["detail"] and "cpt-combined-codes" in card["detail"]
    assert "**Appeal:** documentation or an appeal cannot overturn" in card["detail"]
    assert card["source"]["url"].endswith("/CodeSystem/cpt-bundling-instructions")
    (suggestion,) = card["suggestions"]
    assert suggestion["isRecommended"] is True and card["selectionBehavior"] == "at-most-one"
    deletes = [a["resourceId"] for a in suggestion["actions"] if a["type"] == "delete"]
    assert deletes == ["ServiceRequest/a", "ServiceRequest/b"]
    (create,) = [a["resource"] for a in suggestion["actions"] if a["type"] == "create"]
    assert create["code"]["coding"][0]["system"] == CPT and create["code"]["coding"][0]["code"] == "72127"
    assert create["subject"] == {"reference": "Patient/p1"}
    assert (create["status"], create["intent"], create["occurrenceDateTime"]) == ("draft", "order", DAY)


def test_loinc_orders_are_translated_before_the_rules_run(client):
    orders = [order("a", "30592-0", LOINC), order("b", "24933-4", LOINC, intent="original-order")]
    (card,) = cards_of(post(client, SIGN, hook_call("order-sign", *orders)))
    assert card["summary"] == "72125 and 72126 ordered together: order 72127 instead"
    assert "LOINC 30592-0" in card["detail"]
    create = card["suggestions"][0]["actions"][-1]["resource"]
    assert create["intent"] == "order" and create["code"]["coding"][0]["code"] == "72127"


def test_orders_without_problems_get_no_cards(client):
    assert post(client, SIGN, hook_call("order-sign", order("a", "72125"))) == {"cards": []}
    # Other request types in draftOrders are not ours to check.
    medication = {"resourceType": "MedicationRequest", "id": "m1", "status": "draft", "intent": "order",
                  "subject": {"reference": "Patient/p1"}, "medicationCodeableConcept": {"text": "x"}}  # fmt: skip
    assert post(client, SIGN, hook_call("order-sign", order("a", "72125"), medication)) == {"cards": []}


def test_non_bypassable_ptp_edit_is_critical_and_removes_column_two(client):
    body = post(client, SIGN, hook_call("order-sign", order("c1", "Z0001"), order("c2", "Z0004")))
    (card,) = cards_of(body, "critical")
    assert card["summary"].startswith("Z0004 is not payable with Z0001")
    assert "modifier indicator:** 0" in card["detail"] and "NCCI PTP practitioner v322r0" in card["detail"]
    assert "overrideReasons" not in card
    (suggestion,) = card["suggestions"]
    assert suggestion["actions"] == [
        {"type": "delete", "description": "Remove the Z0004 order", "resourceId": "ServiceRequest/c2"}
    ]
    # The synthetic codes are not in the CPT fragment: that is only an info card.
    assert {c["indicator"] for c in body["cards"]} == {"critical", "info"}


def test_indicator_1_ptp_edit_is_critical_with_the_reasons_that_fit(client):
    body = post(client, SIGN, hook_call("order-sign", order("c1", "Z0001"), order("c2", "Z0005")))
    (card,) = cards_of(body, "critical")
    codes = {r["code"] for r in card["overrideReasons"]}
    # No performer is named: a different practitioner may be why both are ordered.
    assert codes == {"separate-encounter", "separate-structure", "different-practitioner",
                     "distinct-service-documented"}  # fmt: skip
    assert {r["system"] for r in card["overrideReasons"]} == {OVERRIDE}
    assert card["suggestions"][0]["isRecommended"] is True
    named = {"performer": [{"reference": "Practitioner/r"}]}
    body = post(
        client, SIGN, hook_call("order-sign", order("c1", "Z0001", **named), order("c2", "Z0005", **named))
    )
    (card,) = cards_of(body, "critical")
    assert "different-practitioner" not in {r["code"] for r in card["overrideReasons"]}


def test_a_bypassed_ptp_edit_is_a_warning_whose_reason_is_the_modifiers(client):
    body = post(client, SIGN, hook_call("order-sign", order("c1", "Z0001"), order("c2", "Z0005:XE")))
    (card,) = cards_of(body, "warning")
    assert [r["code"] for r in card["overrideReasons"]] == ["separate-encounter"]
    assert "suggestions" not in card  # nothing to change: the record must document the encounter


def test_a_code_already_describing_the_service_keeps_its_order(client):
    (card,) = cards_of(post(client, SIGN, hook_call("order-sign", order("a", "62302"), order("b", "62284"))))
    assert card["indicator"] == "critical"
    assert [r["code"] for r in card["overrideReasons"]] == ["different-practitioner"]
    assert card["summary"] == "62302 already includes 62284: remove the 62284 order"
    (suggestion,) = card["suggestions"]
    assert suggestion["actions"] == [
        {"type": "delete", "description": "Remove the 62284 order", "resourceId": "ServiceRequest/b"}
    ]


def test_one_card_for_a_group_of_orders(client):
    orders = [order("a", "62284"), order("b", "72240"), order("c", "72255")]
    (card,) = cards_of(post(client, SIGN, hook_call("order-sign", *orders)))
    (suggestion,) = card["suggestions"]
    deletes = [a["resourceId"] for a in suggestion["actions"] if a["type"] == "delete"]
    (create,) = [a["resource"] for a in suggestion["actions"] if a["type"] == "create"]
    assert deletes == ["ServiceRequest/a", "ServiceRequest/b", "ServiceRequest/c"]
    assert create["code"]["coding"][0]["code"] == "62305"


def test_the_combined_order_keeps_the_performer_of_the_orders_it_replaces(client):
    # 62284 without a performer, 72240 by Dr R in the same encounter: one 62302 order, by Dr R.
    radiologist = {"performer": [{"reference": "Practitioner/r"}], "encounter": {"reference": "Encounter/e1"}}
    orders = [
        order("a", "62284", encounter={"reference": "Encounter/e1"}),
        order("b", "72240", **radiologist),
    ]
    (card,) = cards_of(post(client, SIGN, hook_call("order-sign", *orders)), "critical")
    (create,) = [a["resource"] for a in card["suggestions"][0]["actions"] if a["type"] == "create"]
    assert create["code"]["coding"][0]["code"] == "62302"
    assert create["performer"] == [{"reference": "Practitioner/r"}]
    assert create["encounter"] == {"reference": "Encounter/e1"} and create["status"] == "draft"


def test_component_orders_without_a_performer_name_their_modifiers_and_may_be_split_billing(client):
    # 72125-26 + 72125-TC, no performer: one provider's components are the global 72125, unless the
    # radiologist and the facility perform them (different practitioners), the reason a clinician gives.
    orders = [order("a", "72125:26"), order("b", "72125:TC")]
    (card,) = cards_of(post(client, SIGN, hook_call("order-sign", *orders)), "critical")
    assert (
        card["summary"] == "72125-26 and 72125-TC ordered together: order the global 72125 (no 26/TC) instead"
    )
    assert [r["code"] for r in card["overrideReasons"]] == ["different-practitioner"]
    (suggestion,) = card["suggestions"]
    assert suggestion["label"] == "Order 72125 instead of 72125-26 and 72125-TC"
    assert [a["description"] for a in suggestion["actions"]] == [
        "Remove the 72125-26 order",
        "Remove the 72125-TC order",
        "Order 72125 (CPT) instead",
    ]
    assert "- line 1: 72125-26, ServiceRequest/a" in card["detail"]


def test_component_orders_of_one_named_performer_offer_no_reason(client):
    performer = {"performer": [{"reference": "Practitioner/r"}]}
    orders = [order("a", "72125:26", **performer), order("b", "72125:TC", **performer)]
    (card,) = cards_of(post(client, SIGN, hook_call("order-sign", *orders)), "critical")
    assert "overrideReasons" not in card
    assert card["suggestions"][0]["label"] == "Order 72125 instead of 72125-26 and 72125-TC"


def test_a_combined_order_keeps_the_component_modifier_of_the_orders_it_replaces(client):
    (card,) = cards_of(
        post(client, SIGN, hook_call("order-sign", order("a", "72240:26"), order("b", "72255:26")))
    )
    (suggestion,) = card["suggestions"]
    assert suggestion["label"] == "Order 72270-26 instead of 72240-26 and 72255-26"
    (create,) = [a["resource"] for a in suggestion["actions"] if a["type"] == "create"]
    assert create["code"]["coding"] == [{"system": CPT, "code": "72270:26"}]


def test_62284_ordered_twice_for_one_encounter_is_critical(client):
    (card,) = cards_of(post(client, SIGN, hook_call("order-sign", order("a", "62284"), order("b", "62284"))))
    assert card["indicator"] == "critical"
    assert (
        card["summary"]
        == "62284 is ordered 2 times for one encounter: remove the extra order (ServiceRequest/b)"
    )
    assert [r["code"] for r in card["overrideReasons"]] == ["separate-encounter"]
    assert [a["resourceId"] for a in card["suggestions"][0]["actions"]] == ["ServiceRequest/b"]
    assert "ACR Radiology Coding Source, March-April 2006" in card["detail"]
    assert "(secondary source)" in card["detail"]


def test_a_card_removing_one_of_two_identical_orders_says_which(client):
    # Two 62284 orders read the same: "Remove the 62284 order" would not say which to delete.
    (card,) = cards_of(post(client, SIGN, hook_call("order-sign", order("a", "62284"), order("b", "62284"))))
    (suggestion,) = card["suggestions"]
    assert suggestion["label"] == "Remove the 62284 order (ServiceRequest/b)"
    assert suggestion["actions"] == [
        {
            "type": "delete",
            "description": "Remove the 62284 order (ServiceRequest/b)",
            "resourceId": "ServiceRequest/b",
        }
    ]
    assert card["summary"].endswith("remove the extra order (ServiceRequest/b)")
    # Three of them: both extra orders are named, the code once.
    orders = [order("a", "62284"), order("b", "62284"), order("c", "62284")]
    (card,) = cards_of(post(client, SIGN, hook_call("order-sign", *orders)))
    assert card["suggestions"][0]["label"] == "Remove the 62284 orders (ServiceRequest/b, ServiceRequest/c)"
    # A code ordered once is named by its code alone (62302 + 62284: remove the 62284 order).
    (card,) = cards_of(post(client, SIGN, hook_call("order-sign", order("a", "62302"), order("b", "62284"))))
    assert card["suggestions"][0]["label"] == "Remove the 62284 order"


def test_a_combined_code_card_says_which_of_two_identical_orders_it_replaces(client):
    orders = [order("a", "62284"), order("b", "62284"), order("c", "72240")]
    body = post(client, SIGN, hook_call("order-sign", *orders))
    (combined,) = [c for c in cards_of(body, "critical") if "62302" in c["summary"]]
    assert (
        combined["suggestions"][0]["label"]
        == "Order 62302 instead of 62284 and 72240 (ServiceRequest/a, ServiceRequest/c)"
    )


def test_date_of_service_mue_cards_offer_no_encounter_reason(client):
    body = post(client, SIGN, hook_call("order-sign", order("a", "Z0013", quantityQuantity={"value": 3})))
    (card,) = cards_of(body, "critical")
    assert [r["code"] for r in card["overrideReasons"]] == ["medical-necessity-documented"]
    assert "**Appeal:** documentation or an appeal can overturn" in card["detail"]


def test_a_line_edit_mue_card_cites_its_table(tmp_path):
    # 72020 ordered with 3 units over a (synthetic) MAI 1 MUE of 2: a critical card, never a 500.
    from terminology import create_app
    from tests.ncci_fixtures import mue_row, ncci_data_dir, ptp_row

    data = ncci_data_dir(tmp_path, [ptp_row("Z0001", "Z0004")], [mue_row("72020", 2, 1)])
    client = create_app({"TESTING": True, "ACCESS_LOG": False, "DATA_DIR": str(data)}).test_client()
    body = post(client, SIGN, hook_call("order-sign", order("a", "72020", quantityQuantity={"value": 3})))
    (card,) = cards_of(body, "critical")
    assert card["summary"] == "3 units of 72020 exceed the NCCI MUE of 2"
    assert {r["code"] for r in card["overrideReasons"]} == {
        "repeat-procedure",
        "medical-necessity-documented",
    }
    assert "NCCI MUE practitioner table effective 2026-07-01" in card["detail"] and "suggestions" not in card


def test_order_without_id_gets_a_card_without_suggestions(client):
    (card,) = cards_of(post(client, SIGN, hook_call("order-sign", order(None, "72125"), order("b", "72126"))))
    assert card["indicator"] == "critical" and "suggestions" not in card and "selectionBehavior" not in card


def test_unmapped_loinc_order_is_reported(client):
    (card,) = cards_of(post(client, SIGN, hook_call("order-sign", order("x", "Z9001-0", LOINC))))
    assert card["indicator"] == "warning" and "Z9001-0" in card["summary"]  # could not be checked


def test_cards_list_the_most_urgent_first(tmp_path):
    from terminology import create_app

    client = create_app(
        {"TESTING": True, "ACCESS_LOG": False, "DATA_DIR": str(tmp_path / "none")}
    ).test_client()
    body = post(client, SIGN, hook_call("order-sign", order("a", "72125"), order("b", "72126")))
    # The NCCI edits could not be applied: a warning, never a silent "clean".
    assert [c["indicator"] for c in cards_of(body)] == ["critical", "warning"]
    assert "no imported edition covers" in body["cards"][1]["summary"]


def test_order_select_focuses_on_selections_but_sees_all_orders(client):
    orders = [order("a", "72125"), order("b", "72126"), order("c", "Z0001"), order("d", "Z0004")]
    body = post(client, SELECT, hook_call("order-select", *orders, selections=["ServiceRequest/a"]))
    (card,) = cards_of(body)  # b is not selected, but the pair a+b is judged
    assert card["summary"] == "72125 and 72126 ordered together: order 72127 instead"
    body = post(client, SELECT, hook_call("order-select", *orders, selections=["ServiceRequest/d"]))
    assert [c["indicator"] for c in cards_of(body)] == ["critical", "info"]
    assert all("72127" not in c["summary"] for c in body["cards"])


def test_order_date_falls_back_to_authored_on_then_today(app):
    registry = app.extensions["terminology.registry"]
    authored = order("a", "72125", authoredOn="2026-08-01T10:00:00Z")
    del authored["occurrenceDateTime"]
    undated = order("b", "72126")
    del undated["occurrenceDateTime"]
    parsed = read_request(SERVICES["bundling-order-sign"], hook_call("order-sign", authored, undated), registry,
                          today="2026-09-30")  # fmt: skip
    assert [line.date for line in parsed.lines] == ["2026-08-01", "2026-09-30"]


def test_unknown_service_is_404(client):
    response = client.post("/cds-services/nope", json=hook_call("order-sign", order("a", "72125")))
    assert response.status_code == 404
    OperationOutcome.model_validate(response.get_json())
    assert client.post("/cds-services/nope/feedback", json={"feedback": []}).status_code == 404


def _without(body: dict, *path: str) -> dict:
    target = body
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return body


def _bad_bundle() -> dict:
    body = hook_call("order-sign", order("a", "72125"))
    body["context"]["draftOrders"]["entry"][0]["resource"]["subject"] = "Patient/p1"  # not a Reference
    return body


@pytest.mark.parametrize(
    ("path", "body", "expression"),
    [
        (SIGN, hook_call("order-select", order("a", "72125"), selections=["ServiceRequest/a"]), "hook"),
        (SIGN, hook_call("patient-view"), "hook"),
        (SIGN, _without(hook_call("order-sign", order("a", "72125")), "hook"), "hook"),
        (SIGN, _without(hook_call("order-sign", order("a", "72125")), "hookInstance"), "hookInstance"),
        (SIGN, _without(hook_call("order-sign", order("a", "72125")), "context"), "context"),
        (SIGN, _without(hook_call("order-sign", order("a", "72125")), "context", "patientId"), "context.patientId"),
        (SIGN, _without(hook_call("order-sign", order("a", "72125")), "context", "draftOrders"),
         "context.draftOrders"),
        (SIGN, _bad_bundle(), "context.draftOrders.entry[0].resource.subject"),
        (SELECT, hook_call("order-select", order("a", "72125")), "context.selections"),
        (SELECT, hook_call("order-select", order("a", "72125"), selections=["ServiceRequest/zz"]),
         "context.selections[0]"),
        (SIGN, [1, 2], "$"),
    ],
)  # fmt: skip
def test_bad_hook_requests_are_400_with_an_operation_outcome(client, path, body, expression):
    response = client.post(path, json=body)
    assert response.status_code == 400, response.get_json()
    outcome = OperationOutcome.model_validate(response.get_json())
    assert outcome.issue[0].expression[0].startswith(expression), outcome.issue[0].expression


def test_non_json_body_is_refused(client):
    assert client.post(SIGN, data="hook=order-sign", content_type="text/plain").status_code == 415
    assert client.post(SIGN, data="{", content_type="application/json").status_code == 400
