"""CDS Hooks feedback: validation, durable storage across restarts, `terminology feedback export`."""

from __future__ import annotations

import json
import sqlite3

import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome

from terminology import create_app
from terminology.cdshooks.feedback import export, feedback_path
from terminology.cli import main

FEEDBACK = "/cds-services/bundling-order-sign/feedback"
ACCEPTED = {
    "card": "4e0a3a1e-3283-4575-ab82-028d55fe2719",
    "outcome": "accepted",
    "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
    "outcomeTimestamp": "2026-07-15T10:05:31Z",
}
OVERRIDDEN = {
    "card": "9368d37b-283f-44a0-93ea-547cebab93ed",
    "outcome": "overridden",
    "overrideReason": {
        "reason": {
            "system": "https://terminology.example.org/fhir/CodeSystem/cds-override-reason",
            "code": "separate-encounter",
            "display": "Separate encounter",
        },
        "userComment": "Second scan in the afternoon visit.",
    },
    "outcomeTimestamp": "2026-07-15T10:06:00.52+00:00",
}


def _app(data_dir):
    return create_app({"TESTING": True, "ACCESS_LOG": False, "DATA_DIR": str(data_dir)})


def test_feedback_answered_200_survives_a_restart(tmp_path):
    data = tmp_path / "data"
    client = _app(data).test_client()
    first = client.post(FEEDBACK, json={"feedback": [ACCEPTED, OVERRIDDEN]})
    assert first.status_code == 200 and first.get_json() == {"stored": 2}
    bare = {"card": "f6b95768-b1c8-40dc-8385-bf3504b82ffb", "outcome": "overridden",
            "outcomeTimestamp": "2026-07-15T11:00:00Z"}  # fmt: skip
    assert (
        client.post("/cds-services/bundling-order-select/feedback", json={"feedback": [bare]}).status_code
        == 200
    )
    # A new app on the same data directory (a restart) finds everything that was answered 200.
    restarted = _app(data)
    assert restarted.extensions["terminology.cds_feedback"] is not None
    rows = list(export(feedback_path(data)))
    assert [(r["service"], r["card"], r["outcome"]) for r in rows] == [
        ("bundling-order-sign", ACCEPTED["card"], "accepted"),
        ("bundling-order-sign", OVERRIDDEN["card"], "overridden"),
        ("bundling-order-select", bare["card"], "overridden"),
    ]
    assert rows[0]["acceptedSuggestions"] == ACCEPTED["acceptedSuggestions"]
    assert rows[1]["overrideReason"] == OVERRIDDEN["overrideReason"]
    assert rows[1]["outcomeTimestamp"] == OVERRIDDEN["outcomeTimestamp"]
    conn = sqlite3.connect(feedback_path(data))
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_feedback_export_command_writes_json_lines(tmp_path, capsys):
    data = tmp_path / "data"
    assert _app(data).test_client().post(FEEDBACK, json={"feedback": [ACCEPTED]}).status_code == 200
    out = tmp_path / "feedback.jsonl"
    assert main(["feedback", "export", "--data-dir", str(data), "--out", str(out)]) == 0
    (line,) = out.read_text().splitlines()
    assert json.loads(line)["card"] == ACCEPTED["card"]
    assert main(["feedback", "export", "--data-dir", str(data)]) == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "accepted"
    assert main(["feedback", "export", "--data-dir", str(tmp_path / "empty")]) == 1


@pytest.mark.parametrize(
    ("entry", "expression"),
    [
        ({**ACCEPTED, "card": ""}, "feedback[1].card"),
        ({**ACCEPTED, "outcome": "ignored"}, "feedback[1].outcome"),
        (
            {k: v for k, v in ACCEPTED.items() if k != "acceptedSuggestions"},
            "feedback[1].acceptedSuggestions",
        ),
        ({**ACCEPTED, "acceptedSuggestions": [{}]}, "feedback[1].acceptedSuggestions[0].id"),
        (
            {**OVERRIDDEN, "overrideReason": {"reason": {"code": "x"}}},
            "feedback[1].overrideReason.reason.system",
        ),
        ({**OVERRIDDEN, "overrideReason": {}}, "feedback[1].overrideReason"),
        ({**ACCEPTED, "outcomeTimestamp": "2026-07-15"}, "feedback[1].outcomeTimestamp"),
        ({**ACCEPTED, "outcomeTimestamp": "2026-07-15T10:05:31"}, "feedback[1].outcomeTimestamp"),
        ({k: v for k, v in ACCEPTED.items() if k != "outcomeTimestamp"}, "feedback[1].outcomeTimestamp"),
    ],
)
def test_bad_feedback_is_400_and_nothing_is_stored(tmp_path, entry, expression):
    data = tmp_path / "data"
    client = _app(data).test_client()
    response = client.post(FEEDBACK, json={"feedback": [OVERRIDDEN, entry]})
    assert response.status_code == 400
    outcome = OperationOutcome.model_validate(response.get_json())
    assert outcome.issue[0].expression == [expression]
    assert not feedback_path(data).exists() or list(export(feedback_path(data))) == []


def test_feedback_body_needs_entries(tmp_path):
    client = _app(tmp_path / "data").test_client()
    for body in ({}, {"feedback": []}, {"feedback": "x"}, [ACCEPTED]):
        assert client.post(FEEDBACK, json=body).status_code == 400


def _post_from_child(app, count: int) -> None:
    client = app.test_client()
    for _ in range(count):
        assert client.post(FEEDBACK, json={"feedback": [ACCEPTED]}).status_code == 200


def test_feedback_from_several_forked_workers_is_all_kept(tmp_path):
    import multiprocessing

    data = tmp_path / "data"
    app = _app(data)  # built before the fork, as gunicorn's preload does
    _post_from_child(app, 1)  # the parent's connection must not be reused by the children
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_post_from_child, args=(app, 25)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    assert len(list(export(feedback_path(data)))) == 76
