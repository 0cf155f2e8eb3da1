"""CDS Hooks feedback over HTTP on both stores: validation, durability, 503 when the store is down, export."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome

from terminology import create_app
from terminology.cli import main
from terminology.storage import open_store

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


def _app(tmp_path, store_settings, **config):
    return create_app({"TESTING": True, "ACCESS_LOG": False, "DATA_DIR": str(tmp_path / "data"),
                       **store_settings, **config})  # fmt: skip


def _stored(store_settings) -> list[dict]:
    store = open_store({"DATA_DIR": "unused", **store_settings})
    try:
        return list(store.feedback())
    finally:
        store.close()


def test_feedback_answered_200_survives_a_restart(tmp_path, store_settings):
    client = _app(tmp_path, store_settings).test_client()
    first = client.post(FEEDBACK, json={"feedback": [ACCEPTED, OVERRIDDEN]})
    assert first.status_code == 200 and first.get_json() == {"stored": 2}
    bare = {"card": "f6b95768-b1c8-40dc-8385-bf3504b82ffb", "outcome": "overridden",
            "outcomeTimestamp": "2026-07-15T11:00:00Z"}  # fmt: skip
    assert (
        client.post("/cds-services/bundling-order-select/feedback", json={"feedback": [bare]}).status_code
        == 200
    )
    # A new app on the same store (a restart, or another replica) finds everything that was answered 200.
    _app(tmp_path, store_settings)
    rows = _stored(store_settings)
    assert [(r["service"], r["card"], r["outcome"]) for r in rows] == [
        ("bundling-order-sign", ACCEPTED["card"], "accepted"),
        ("bundling-order-sign", OVERRIDDEN["card"], "overridden"),
        ("bundling-order-select", bare["card"], "overridden"),
    ]
    assert rows[0]["acceptedSuggestions"] == ACCEPTED["acceptedSuggestions"]
    assert rows[1]["overrideReason"] == OVERRIDDEN["overrideReason"]
    assert rows[1]["outcomeTimestamp"] == OVERRIDDEN["outcomeTimestamp"]


def test_sqlite_store_is_durable_wal(tmp_path):
    import sqlite3

    client = _app(tmp_path, {"DATABASE_URL": "", "FEEDBACK_DB": ""}).test_client()
    assert client.post(FEEDBACK, json={"feedback": [ACCEPTED]}).status_code == 200
    conn = sqlite3.connect(tmp_path / "data" / "feedback.sqlite")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_feedback_export_command_reads_either_store(tmp_path, store_settings, capsys, monkeypatch):
    assert (
        _app(tmp_path, store_settings).test_client().post(FEEDBACK, json={"feedback": [ACCEPTED]}).status_code
        == 200
    )
    source = (
        ["--database-url", store_settings["DATABASE_URL"]]
        if store_settings["DATABASE_URL"]
        else ["--data-dir", str(Path(store_settings["FEEDBACK_DB"]).parent)]
    )
    out = tmp_path / "feedback.jsonl"
    assert main(["feedback", "export", *source, "--out", str(out)]) == 0
    (line,) = out.read_text().splitlines()
    assert json.loads(line)["card"] == ACCEPTED["card"]
    assert out.stat().st_mode & 0o077 == 0  # clinicians' comments: readable by the owner only
    assert main(["feedback", "export", *source]) == 0
    assert json.loads(capsys.readouterr().out)["outcome"] == "accepted"
    # With no option, the command reads the store the service is configured with.
    for name in ("TERMINOLOGY_DATABASE_URL", "TERMINOLOGY_FEEDBACK_DB"):
        monkeypatch.setenv(name, store_settings[name.removeprefix("TERMINOLOGY_")])
    assert main(["feedback", "export"]) == 0
    assert json.loads(capsys.readouterr().out)["card"] == ACCEPTED["card"]


def test_feedback_export_reports_a_missing_or_unreachable_store(tmp_path, capsys):
    from tests.support import free_port

    assert main(["feedback", "export", "--data-dir", str(tmp_path / "empty")]) == 1
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    assert main(["feedback", "export", "--database-url", url]) == 1
    assert "feedback store" in capsys.readouterr().err


@pytest.mark.parametrize("inside", ["repository", "package"])
def test_feedback_export_refuses_to_write_into_the_source_tree(tmp_path, inside, capsys):
    import terminology

    package = Path(terminology.__file__).resolve().parent
    target = (package.parent if inside == "repository" else package) / "feedback-export-test.jsonl"
    data = tmp_path / "data"
    _app(tmp_path, {"DATABASE_URL": "", "FEEDBACK_DB": ""}).test_client().post(
        FEEDBACK, json={"feedback": [ACCEPTED]}
    )
    assert main(["feedback", "export", "--data-dir", str(data), "--out", str(target)]) == 2
    assert not target.exists()
    assert "outside the source tree" in capsys.readouterr().err


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
    settings = {"DATABASE_URL": "", "FEEDBACK_DB": ""}
    client = _app(tmp_path, settings).test_client()
    response = client.post(FEEDBACK, json={"feedback": [OVERRIDDEN, entry]})
    assert response.status_code == 400
    outcome = OperationOutcome.model_validate(response.get_json())
    assert outcome.issue[0].expression == [expression]
    assert _stored({**settings, "FEEDBACK_DB": str(tmp_path / "data" / "feedback.sqlite")}) == []


def test_feedback_body_needs_entries(tmp_path):
    client = _app(tmp_path, {"DATABASE_URL": "", "FEEDBACK_DB": ""}).test_client()
    for body in ({}, {"feedback": []}, {"feedback": "x"}, [ACCEPTED]):
        assert client.post(FEEDBACK, json=body).status_code == 400


def _post_from_child(app, count: int) -> None:
    client = app.test_client()
    for i in range(count):
        entry = {**ACCEPTED, "outcomeTimestamp": f"2026-07-15T10:{i // 60:02d}:{i % 60:02d}Z"}
        assert client.post(FEEDBACK, json={"feedback": [entry]}).status_code == 200


def test_feedback_from_several_forked_workers_is_all_kept(tmp_path, store_settings):
    import multiprocessing
    import os

    app = _app(tmp_path, store_settings)  # built before the fork, as gunicorn's preload does
    _post_from_child(app, 1)  # the parent's connection must not be reused by the children
    context = multiprocessing.get_context("fork")

    def child(worker: int) -> None:
        client = app.test_client()
        for i in range(25):
            entry = {**OVERRIDDEN, "card": f"worker-{worker}-{i}-{os.getpid()}"}
            assert client.post(FEEDBACK, json={"feedback": [entry]}).status_code == 200

    workers = [context.Process(target=child, args=(w,)) for w in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    assert len(_stored(store_settings)) == 76
