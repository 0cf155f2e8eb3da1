"""The two-replica drill: two real gunicorn servers share one PostgreSQL (feedback, jti replay list, SIGKILL)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.cdshooks.conftest import ehr_token
from tests.support import clean_environment, rsa_key, serving_process, wait_for_workers, write_jwks

BASE = "https://tx.test.invalid"
FEEDBACK = "/cds-services/bundling-order-sign/feedback"
ACKED_BEFORE_KILL = 15


def _entry(card: str) -> dict:
    return {"feedback": [{"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-07-15T10:00:00Z"}]}


def _post(base: str, key, card: str, token: str | None = None) -> requests.Response:
    token = token or ehr_token(key, f"{BASE}{FEEDBACK}")
    return requests.post(f"{base}{FEEDBACK}", json=_entry(card), headers={"Authorization": f"Bearer {token}"},
                         timeout=30)  # fmt: skip


def _export(tmp_path, url: str) -> list[str]:
    env = clean_environment(tmp_path, TERMINOLOGY_DATABASE_URL=url)
    run = subprocess.run([sys.executable, "-m", "terminology", "feedback", "export"],
                         capture_output=True, text=True, env=env, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    return [json.loads(line)["card"] for line in run.stdout.splitlines()]


def _kill_replica(master) -> None:
    """SIGKILL a replica's master and workers at once: no graceful shutdown, as when a node dies."""
    workers = wait_for_workers(master.pid, 2)
    for pid in (master.pid, *workers):
        os.kill(pid, signal.SIGKILL)
    master.wait(timeout=60)


@pytest.mark.e2e
def test_two_replicas_share_feedback_and_the_replay_list_and_survive_a_kill(tmp_path, postgres_url):
    key = rsa_key()
    jwks = write_jwks(tmp_path / "ehr-jwks.json", key, "ehr-key", "RS384")
    env = {"TERMINOLOGY_DATABASE_URL": postgres_url, "TERMINOLOGY_BASE_URL": BASE,
           "TERMINOLOGY_CDS_JWKS": str(jwks), "TERMINOLOGY_CDS_ISSUERS": "https://ehr.test.invalid",
           "TERMINOLOGY_ACCESS_LOG": "false"}  # fmt: skip
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
    with (
        serving_process(tmp_path / "a", **env) as (a, master_a),
        serving_process(tmp_path / "b", **env) as (b, _),
    ):
        # Feedback posted to either replica lands in the one store.
        for i in range(10):
            assert _post((a, b)[i % 2], key, f"card-{i}").status_code == 200

        # A jti used on one replica is refused on the other (and on itself).
        token = ehr_token(key, f"{BASE}{FEEDBACK}")
        assert _post(a, key, "card-jti", token).status_code == 200
        replayed = _post(b, key, "card-jti-replay", token)
        assert replayed.status_code == 401 and "already used" in replayed.text
        assert _post(a, key, "card-jti-replay", token).status_code == 401
        # The same fresh token sent to both at once: exactly one of them accepts it.
        raced = ehr_token(key, f"{BASE}{FEEDBACK}")
        with ThreadPoolExecutor(2) as pool:
            codes = sorted(pool.map(lambda base: _post(base, key, "card-race", raced).status_code, (a, b)))
        assert codes == [200, 401]

        # Kill replica A while an EHR posts to it; whatever A acknowledged is kept.
        acked: list[str] = []
        unanswered: list[str] = []
        enough = threading.Event()

        def ehr_posting_to_a() -> None:
            for i in range(10_000):  # bounded; ends at the first request the dead replica cannot answer
                card = f"kill-{i}"
                try:
                    response = _post(a, key, card)
                except requests.RequestException:
                    unanswered.append(card)
                    return
                if response.status_code != 200:
                    unanswered.append(card)
                    return
                acked.append(card)
                if len(acked) >= ACKED_BEFORE_KILL:
                    enough.set()
            enough.set()

        poster = threading.Thread(target=ehr_posting_to_a)
        poster.start()
        assert enough.wait(timeout=120)
        _kill_replica(master_a)
        poster.join(timeout=120)
        assert len(acked) >= ACKED_BEFORE_KILL and unanswered  # the kill landed mid-stream
        # The EHR retries what got no answer on the surviving replica (a retry is stored once).
        for card in unanswered:
            assert _post(b, key, card).status_code == 200

    exported = _export(tmp_path, postgres_url)
    counts = Counter(exported)
    assert all(n == 1 for n in counts.values()), [c for c, n in counts.items() if n > 1]
    expected = {f"card-{i}" for i in range(10)} | {"card-jti", "card-race", *acked, *unanswered}
    assert set(exported) == expected
