"""CORS for browser callers, and the EHR's signed JWT on the CDS routes (with service-wide access control)."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from terminology import create_app
from terminology.api.cdshooks import STORE
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


FEEDBACK = f"{SIGN}/feedback"
FEEDBACK_BODY = {"feedback": [{"card": "c1", "outcome": "overridden", "outcomeTimestamp": "2026-07-15T10:00:00Z"}]}


def _batch(*entries: dict) -> dict:
    return {"resourceType": "Bundle", "type": "batch", "entry": list(entries)}


def _entry(method: str, url: str, resource: dict | None = None) -> dict:
    entry: dict = {"request": {"method": method, "url": url}}
    if resource is not None:
        entry["resource"] = resource
    return entry


def _stored(app) -> list[dict]:
    return list(app.extensions[STORE].feedback())


def test_batch_entries_pass_the_cds_jwt_check_exactly_as_direct_calls(jwt_app, signing_key):
    client = jwt_app.test_client()
    # One legitimate feedback first, so the store exists and its content can be compared.
    signed = _auth(ehr_token(signing_key, f"{BASE}{FEEDBACK}"))
    assert client.post(FEEDBACK, json=FEEDBACK_BODY, headers=signed).status_code == 200
    direct = {
        "feedback": client.post(FEEDBACK, json=FEEDBACK_BODY),
        "discovery": client.get("/cds-services"),
        "service": client.post(SIGN, json=hook_call("order-sign", order("a", "72125"))),
    }
    assert {name: r.status_code for name, r in direct.items()} == dict.fromkeys(direct, 401)
    entries = [
        _entry("POST", FEEDBACK.lstrip("/"), FEEDBACK_BODY),
        _entry("GET", "cds-services"),
        _entry("POST", SIGN, hook_call("order-sign", order("a", "72125"))),
        # The same routes spelled differently reach the same guard.
        _entry("POST", "cds%2Dservices/bundling-order-sign/feedback", FEEDBACK_BODY),
        _entry("POST", f"{BASE}//cds-services//bundling-order-sign/feedback/", FEEDBACK_BODY),
    ]
    response = client.post("/", json=_batch(*entries))
    assert response.status_code == 200
    replies = response.get_json()["entry"]
    assert [r["response"]["status"] for r in replies] == ["401 Unauthorized"] * len(entries)
    expected = [direct["feedback"], direct["discovery"], direct["service"], direct["feedback"], direct["feedback"]]
    for reply, refused in zip(replies, expected, strict=True):
        assert reply["response"]["outcome"] == refused.get_json()
    assert len(_stored(jwt_app)) == 1  # the refused entries stored nothing


def test_batch_entries_carry_the_batch_jwt_and_its_replay_check(jwt_app, signing_key):
    client = jwt_app.test_client()
    # The batch's own Authorization header is what each entry presents, as a direct call would.
    token = ehr_token(signing_key, f"{BASE}{FEEDBACK}")
    replies = client.post(
        "/", json=_batch(_entry("POST", FEEDBACK, FEEDBACK_BODY), _entry("POST", FEEDBACK, FEEDBACK_BODY)),
        headers=_auth(token),
    ).get_json()["entry"]  # fmt: skip
    assert replies[0]["response"]["status"] == "200 OK" and replies[0]["resource"] == {"stored": 1}
    assert replies[1]["response"]["status"] == "401 Unauthorized"  # the same jti twice: a replay
    assert "already used" in replies[1]["response"]["outcome"]["issue"][0]["details"]["text"]
    assert len(_stored(jwt_app)) == 1
    # A JWT for another endpoint (discovery) opens neither the feedback route directly nor in a batch.
    other = _auth(ehr_token(signing_key, f"{BASE}/cds-services"))
    reply = client.post("/", json=_batch(_entry("POST", FEEDBACK, FEEDBACK_BODY)), headers=other).get_json()
    assert reply["entry"][0]["response"]["status"] == "401 Unauthorized"


def test_cds_answers_are_not_stored_by_shared_caches(jwt_app, signing_key):
    client = jwt_app.test_client()
    refused = client.get("/cds-services")
    assert refused.headers["Cache-Control"] == "no-store"
    assert refused.headers["X-Content-Type-Options"] == "nosniff"
    ok = client.get("/cds-services", headers=_auth(ehr_token(signing_key, f"{BASE}/cds-services")))
    assert ok.status_code == 200 and ok.headers["Cache-Control"] == "no-store"
    # Without service-wide access control the FHIR routes stay public (no no-store), but nosniff.
    public = client.get("/metadata")
    assert "Cache-Control" not in public.headers and public.headers["X-Content-Type-Options"] == "nosniff"


def test_a_service_token_opens_a_batch_but_not_its_cds_entries(data_dir, jwks_file, signing_key, tmp_path):
    tokens = tmp_path / "tokens"
    tokens.write_text(hashlib.sha256(b"secret-token").hexdigest() + "\n")
    client = _app(data_dir, BASE_URL=BASE, CDS_JWKS=str(jwks_file), CDS_ISSUERS="https://ehr.test.invalid",
                  AUTH_MODE="static", AUTH_TOKENS_FILE=str(tokens)).test_client()  # fmt: skip
    bundle = _batch(_entry("GET", "cds-services"), _entry("POST", FEEDBACK, FEEDBACK_BODY),
                    _entry("GET", "CodeSystem/cpt-2026"))  # fmt: skip
    replies = client.post("/", json=bundle, headers=_auth("secret-token")).get_json()["entry"]
    assert [r["response"]["status"] for r in replies] == ["401 Unauthorized", "401 Unauthorized", "200 OK"]
