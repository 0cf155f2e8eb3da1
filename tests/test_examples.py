"""The request bodies in examples/ stay true: each is posted and its answer checked; client.py runs too."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from terminology import create_app
from tests.helpers import fhir_valid, param
from tests.support import clean_environment, serving

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _client_module():
    spec = importlib.util.spec_from_file_location("examples_client", EXAMPLES / "client.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CLIENT = _client_module()


@pytest.fixture(scope="module")
def answers(tmp_path_factory):
    """Post every example the client knows, once, through the Flask test client."""
    data = tmp_path_factory.mktemp("data")
    client = create_app({"TESTING": True, "ACCESS_LOG": False, "DATA_DIR": str(data)}).test_client()
    found = {}
    for name, path, media_type in CLIENT.EXAMPLES:
        response = client.post(path, data=(EXAMPLES / name).read_bytes(), content_type=media_type)
        assert response.status_code == 200, (name, response.get_json())
        found[name] = response.get_json()
    return found


def _rules(body: dict) -> list[str]:
    return [f["part"][0]["valueCode"] for f in body["parameter"] if f["name"] == "finding"]


def test_every_example_file_is_posted_by_the_client():
    assert sorted(name for name, _, _ in CLIENT.EXAMPLES) == sorted(p.name for p in EXAMPLES.glob("*.json"))


def test_claim_with_62302_and_62284(answers):
    body = fhir_valid(answers["bundling-check-claim-62302-62284.json"])
    assert "not-reported-together" in _rules(body) and param(body, "result") is False


def test_charge_item_bundle(answers):
    body = fhir_valid(answers["bundling-check-chargeitem-bundle.json"])
    assert "combined-code" in _rules(body)


def test_order_to_charge_bundle(answers):
    body = fhir_valid(answers["order-to-charge-bundle.json"])
    orders = [p for p in body["parameter"] if p["name"] == "order"]
    assert len(orders) == 2 and "combined-code" in _rules(body)


def test_batch_bundle(answers):
    body = fhir_valid(answers["batch-bundle.json"])
    assert [e["response"]["status"] for e in body["entry"]] == ["200 OK"] * 4
    assert param(body["entry"][1]["resource"], "result") is True
    assert "not-reported-together" in _rules(body["entry"][3]["resource"])


def test_batch_validate_code(answers):
    body = fhir_valid(answers["batch-validate-code.json"])
    assert [param(p["resource"], "result") for p in body["parameter"]] == [True, True, False]


def test_cds_order_sign(answers):
    cards = answers["cds-order-sign-72125-72126.json"]["cards"]
    assert cards[0]["summary"] == "72125 and 72126 ordered together: order 72127 instead"
    assert cards[0]["indicator"] == "critical"
    actions = cards[0]["suggestions"][0]["actions"]
    assert [a["type"] for a in actions] == ["delete", "delete", "create"]


def test_cds_feedback(answers):
    assert answers["cds-feedback.json"] == {"stored": 1}


@pytest.mark.e2e
def test_client_script_against_real_gunicorn(tmp_path):
    env = clean_environment(tmp_path, TERMINOLOGY_DATA_DIR=str(tmp_path / "data"))
    export = [sys.executable, "-m", "terminology", "feedback", "export"]
    with serving(tmp_path, TERMINOLOGY_ACCESS_LOG="false") as base:
        # By default the client stores nothing: the feedback example is skipped, and says so.
        dry = subprocess.run(
            [sys.executable, str(EXAMPLES / "client.py"), base], capture_output=True, text=True, timeout=120
        )
        assert dry.returncode == 0, dry.stdout + dry.stderr
        assert "skipped POST /cds-services/bundling-order-sign/feedback" in dry.stdout
        assert subprocess.run(export, capture_output=True, text=True, env=env).stdout == ""
        run = subprocess.run(
            [sys.executable, str(EXAMPLES / "client.py"), base, "--send-feedback"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == len(CLIENT.EXAMPLES) and all(line.startswith("200 POST") for line in lines)
    assert "[critical] 72125 and 72126 ordered together: order 72127 instead" in run.stdout
    assert "1 feedback entry stored" in run.stdout
    exported = subprocess.run(export, capture_output=True, text=True, env=env)
    assert json.loads(exported.stdout)["outcome"] == "overridden"
