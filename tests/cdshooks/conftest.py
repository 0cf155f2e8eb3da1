"""Fixtures: an app over a synthetic NCCI edition (2026 Q3), CDS Hooks request builders, JWKS keys."""

from __future__ import annotations

import time
import uuid

import jwt
import pytest

from terminology import create_app
from tests.helpers import service_request
from tests.ncci_fixtures import mue_row, ncci_data_dir, ptp_row
from tests.support import rsa_key, write_jwks

CPT = "http://www.ama-assn.org/go/cpt"
LOINC = "http://loinc.org"
DAY = "2026-07-15"
# Synthetic edits (codes Z....): indicator 0 (never bypassed) and 1 (bypassable).
PTP_ROWS = [ptp_row("Z0001", "Z0004", "20200101", "*", 0), ptp_row("Z0001", "Z0005", "20200101", "*", 1)]
MUE_ROWS = [mue_row("Z0013", 2, 3)]


@pytest.fixture
def data_dir(tmp_path):
    return ncci_data_dir(tmp_path, PTP_ROWS, MUE_ROWS)


@pytest.fixture
def app(data_dir):
    return create_app({"TESTING": True, "ACCESS_LOG": False, "DATA_DIR": str(data_dir)})


@pytest.fixture
def client(app):
    return app.test_client()


def order(order_id: str | None, code: str, system: str = CPT, **extra) -> dict:
    """Return a draft ServiceRequest for one code."""
    return service_request(code, order_id, system, **extra)


def hook_call(hook: str, *orders: dict, selections: list[str] | None = None) -> dict:
    """Return a CDS Hooks request body for order-select or order-sign."""
    context = {
        "userId": "Practitioner/pr1",
        "patientId": "p1",
        "draftOrders": {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [{"resource": o} for o in orders],
        },
    }
    if selections is not None:
        context["selections"] = selections
    return {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}


@pytest.fixture(scope="session")
def signing_key():
    return rsa_key()


@pytest.fixture
def jwks_file(tmp_path, signing_key):
    return write_jwks(tmp_path / "ehr-jwks.json", signing_key, "ehr-key", "RS384")


def ehr_token(key, aud: str, **overrides) -> str:
    """Sign a CDS Hooks client JWT (iss, aud, exp, iat, jti) the way an EHR does."""
    now = int(time.time())
    claims = {
        "iss": "https://ehr.test.invalid",
        "aud": aud,
        "exp": now + 300,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="RS384", headers={"kid": "ehr-key", "typ": "JWT"})
