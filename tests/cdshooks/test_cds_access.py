"""CORS for browser callers, and the EHR's signed JWT on the CDS routes (with service-wide access control)."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from terminology import create_app
from tests.cdshooks.conftest import ehr_token, hook_call, order

ORIGIN = "https://sandbox.ehr.test.invalid"
BASE = "https://tx.test.invalid"
SIGN = "/cds-services/bundling-order-sign"


def _app(data_dir, **config):
    return create_app({"TESTING": True, "ACCESS_LOG": False, "DATA_DIR": str(data_dir), **config})


def test_cors_preflight_and_responses_echo_only_allowed_origins(data_dir):
    client = _app(data_dir, CORS_ORIGINS=f"{ORIGIN}, https://other.test.invalid").test_client()
    preflight = client.options(
        SIGN,
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization, content-type"},
    )  # fmt: skip
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    allowed = {h.strip().lower() for h in preflight.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type"} <= allowed
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    response = client.get("/cds-services", headers={"Origin": ORIGIN})
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN and "Origin" in response.headers["Vary"]
    stranger = client.get("/cds-services", headers={"Origin": "https://evil.test.invalid"})
    assert "Access-Control-Allow-Origin" not in stranger.headers
    denied = client.options(SIGN, headers={"Origin": "https://evil.test.invalid",
                                           "Access-Control-Request-Method": "POST"})  # fmt: skip
    assert "Access-Control-Allow-Origin" not in denied.headers


def test_cors_is_off_unless_configured(data_dir):
    response = _app(data_dir, CORS_ORIGINS="").test_client().get("/cds-services", headers={"Origin": ORIGIN})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_bad_cors_origin_stops_start_up(data_dir):
    with pytest.raises(SystemExit):
        _app(data_dir, CORS_ORIGINS="ehr.example.org")


def test_preflight_passes_service_wide_access_control(data_dir, tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text(hashlib.sha256(b"secret-token").hexdigest() + "\n")
    client = _app(
        data_dir, CORS_ORIGINS=ORIGIN, AUTH_MODE="static", AUTH_TOKENS_FILE=str(tokens)
    ).test_client()
    preflight = client.options(SIGN, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 204 and preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    refused = client.get("/cds-services", headers={"Origin": ORIGIN})
    assert refused.status_code == 401  # without CDS JWT settings, CDS routes use the service-wide tokens
    assert refused.headers["Access-Control-Allow-Origin"] == ORIGIN  # so the browser can read the 401
    ok = client.get("/cds-services", headers={"Authorization": "Bearer secret-token"})
    assert ok.status_code == 200


@pytest.fixture
def jwt_app(data_dir, jwks_file):
    return _app(
        data_dir,
        BASE_URL=BASE,
        CDS_JWKS=str(jwks_file),
        CDS_ISSUERS="https://ehr.test.invalid, https://ehr2.test.invalid",
    )


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_cds_jwt_is_required_and_verified(jwt_app, signing_key):
    client = jwt_app.test_client()
    body = hook_call("order-sign", order("a", "72125"))
    assert client.get("/cds-services").status_code == 401
    assert client.post(SIGN, json=body).status_code == 401
    discovery = client.get("/cds-services", headers=_auth(ehr_token(signing_key, f"{BASE}/cds-services")))
    assert discovery.status_code == 200
    signed = _auth(ehr_token(signing_key, f"{BASE}{SIGN}"))
    assert client.post(SIGN, json=body, headers=signed).get_json() == {"cards": []}
    response = client.post(SIGN, json=body, headers=signed)  # the same jti again
    assert (
        response.status_code == 401 and "already used" in response.get_json()["issue"][0]["details"]["text"]
    )
    list_aud = ehr_token(signing_key, [f"{BASE}{SIGN}"], iss="https://ehr2.test.invalid")
    assert client.post(SIGN, json=body, headers=_auth(list_aud)).status_code == 200


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": f"{BASE}/cds-services"},  # the discovery URL, not this service
        {"aud": f"{BASE}/cds-services/bundling-order-select"},
        {"iss": "https://intruder.test.invalid"},
        {"exp": 1_000_000_000},
        {"jti": None},
        {"iat": None},
    ],
)
def test_bad_cds_jwt_claims_are_401(jwt_app, signing_key, overrides):
    overrides = {"aud": f"{BASE}{SIGN}", **overrides}
    token = ehr_token(signing_key, overrides.pop("aud"), **overrides)
    response = jwt_app.test_client().post(SIGN, json=hook_call("order-sign", order("a", "72125")),
                                          headers=_auth(token))  # fmt: skip
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_cds_jwt_signed_by_another_key_or_unsigned_is_401(jwt_app):
    import jwt

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    client = jwt_app.test_client()
    forged = ehr_token(other, f"{BASE}{SIGN}")
    body = hook_call("order-sign", order("a", "72125"))
    assert client.post(SIGN, json=body, headers=_auth(forged)).status_code == 401
    unsigned = jwt.encode({"iss": "https://ehr.test.invalid", "aud": f"{BASE}{SIGN}", "exp": 9_999_999_999,
                           "iat": 1, "jti": "x"}, None, algorithm="none")  # fmt: skip
    assert client.post(SIGN, json=body, headers=_auth(unsigned)).status_code == 401
    assert client.post(SIGN, json=body, headers={"Authorization": "Basic abc"}).status_code == 401


def test_feedback_accepts_the_service_or_feedback_url_as_audience(jwt_app, signing_key):
    client = jwt_app.test_client()
    body = {"feedback": [{"card": "c1", "outcome": "overridden", "outcomeTimestamp": "2026-07-15T10:00:00Z"}]}
    for aud in (f"{BASE}{SIGN}/feedback", f"{BASE}{SIGN}"):
        response = client.post(f"{SIGN}/feedback", json=body, headers=_auth(ehr_token(signing_key, aud)))
        assert response.status_code == 200


def test_cds_jwt_replaces_service_wide_tokens_on_cds_routes_only(data_dir, jwks_file, signing_key, tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text(hashlib.sha256(b"secret-token").hexdigest() + "\n")
    client = _app(data_dir, BASE_URL=BASE, CDS_JWKS=str(jwks_file), CDS_ISSUERS="https://ehr.test.invalid",
                  AUTH_MODE="static", AUTH_TOKENS_FILE=str(tokens)).test_client()  # fmt: skip
    service_token = _auth("secret-token")
    assert client.get("/cds-services", headers=service_token).status_code == 401  # not an EHR JWT
    ehr = _auth(ehr_token(signing_key, f"{BASE}/cds-services"))
    assert client.get("/cds-services", headers=ehr).status_code == 200
    assert client.get("/CodeSystem/cpt-2026", headers=ehr).status_code == 401  # the EHR JWT opens CDS only
    assert client.get("/CodeSystem/cpt-2026", headers=service_token).status_code == 200


def test_symmetric_cds_algorithms_are_refused(data_dir, jwks_file):
    with pytest.raises(SystemExit):
        _app(
            data_dir, CDS_JWKS=str(jwks_file), CDS_ISSUERS="https://ehr.test.invalid", CDS_ALGORITHMS="HS256"
        )
