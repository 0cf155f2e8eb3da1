"""Tests for access control (static bearer tokens, JWTs against a JWKS file) and `terminology auth`."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome

from terminology import create_app
from terminology.cli import main
from terminology.ops.access import hash_token
from tests.support import rsa_key, write_jwks

LOOKUP = "/CodeSystem/$lookup?system=http://www.ama-assn.org/go/cpt&code=72125"
ISSUER = "https://issuer.test.invalid"
AUDIENCE = "https://terminology.test.invalid/fhir"
SCOPE = "system/*.read"


@pytest.fixture(scope="module")
def signing_key():
    return rsa_key()


@pytest.fixture
def jwks_file(tmp_path, signing_key):
    return write_jwks(tmp_path / "jwks.json", signing_key, "test-key", "RS256")


def _token(key, **overrides) -> str:
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "client-1",
        "exp": int(time.time()) + 300,
        "scope": SCOPE,
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "test-key"})


def _jwt_app(jwks_file, **config):
    settings = {
        "TESTING": True,
        "ACCESS_LOG": False,
        "AUTH_MODE": "jwt",
        "AUTH_JWKS": str(jwks_file),
        "AUTH_ISSUER": ISSUER,
        "AUTH_AUDIENCE": AUDIENCE,
    }
    settings.update(config)
    return create_app(settings)


def _static_app(tmp_path, *tokens):
    path = tmp_path / "tokens"
    path.write_text(
        "# service accounts\n" + "".join(f"{hash_token(t)}  # {i}\n" for i, t in enumerate(tokens))
    )
    return create_app(
        {"TESTING": True, "ACCESS_LOG": False, "AUTH_MODE": "static", "AUTH_TOKENS_FILE": str(path)}
    )


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _assert_refused(response, status: int, error: str | None):
    assert response.status_code == status
    outcome = OperationOutcome.model_validate(response.get_json())
    assert outcome.issue[0].code == ("login" if status == 401 else "forbidden")
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith('Bearer realm="terminology"')
    if error:
        assert f'error="{error}"' in challenge
    else:
        assert "error=" not in challenge


def test_access_control_is_off_by_default():
    app = create_app({"TESTING": True, "ACCESS_LOG": False})
    assert app.test_client().get(LOOKUP).status_code == 200
    security = app.test_client().get("/metadata").get_json()["rest"][0]["security"]
    assert "No authentication" in security["description"]


def test_static_token_lets_its_holder_in(tmp_path):
    client = _static_app(tmp_path, "s3cret-one", "s3cret-two").test_client()
    assert client.get(LOOKUP, headers=_bearer("s3cret-two")).status_code == 200
    _assert_refused(client.get(LOOKUP), 401, None)
    _assert_refused(client.get(LOOKUP, headers=_bearer("wrong")), 401, "invalid_token")
    _assert_refused(client.get(LOOKUP, headers={"Authorization": "Basic czNjcmV0"}), 401, "invalid_request")


def test_open_paths_need_no_token(tmp_path):
    client = _static_app(tmp_path, "s3cret").test_client()
    for path in ("/metadata", "/livez", "/readyz"):
        assert client.get(path).status_code == 200, path
    _assert_refused(client.get("/metrics"), 401, None)
    _assert_refused(client.get("/$versions"), 401, None)
    _assert_refused(client.post("/ValueSet/$expand", json={"resourceType": "Parameters"}), 401, None)


def test_metrics_can_stay_open_under_access_control(tmp_path):
    path = tmp_path / "tokens"
    path.write_text(hash_token("s3cret") + "\n")
    app = create_app(
        {
            "TESTING": True,
            "ACCESS_LOG": False,
            "AUTH_MODE": "static",
            "AUTH_TOKENS_FILE": str(path),
            "METRICS_OPEN": True,
        }
    )
    assert app.test_client().get("/metrics").status_code == 200


def test_static_token_file_must_hold_hashes(tmp_path):
    path = tmp_path / "tokens"
    path.write_text("plain-text-token\n")
    with pytest.raises(SystemExit, match="SHA-256"):
        create_app({"TESTING": True, "AUTH_MODE": "static", "AUTH_TOKENS_FILE": str(path)})
    with pytest.raises(SystemExit, match="TOKENS_FILE"):
        create_app({"TESTING": True, "AUTH_MODE": "static", "AUTH_TOKENS_FILE": ""})


def test_valid_jwt_is_accepted_and_logged_by_subject(jwks_file, signing_key, capsys):
    client = _jwt_app(jwks_file, ACCESS_LOG=True).test_client()
    capsys.readouterr()
    assert client.get(LOOKUP, headers=_bearer(_token(signing_key))).status_code == 200
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["subject"] == "client-1"


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": int(time.time()) - 3600},
        {"iss": "https://someone-else.test.invalid"},
        {"aud": "https://other.test.invalid"},
        {"exp": None},
    ],
    ids=["expired", "wrong-issuer", "wrong-audience", "no-expiry"],
)
def test_jwt_with_bad_claims_is_refused(jwks_file, signing_key, claims):
    client = _jwt_app(jwks_file).test_client()
    _assert_refused(client.get(LOOKUP, headers=_bearer(_token(signing_key, **claims))), 401, "invalid_token")


def test_jwt_signed_by_another_key_is_refused(jwks_file):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    client = _jwt_app(jwks_file).test_client()
    _assert_refused(client.get(LOOKUP, headers=_bearer(_token(other))), 401, "invalid_token")
    _assert_refused(client.get(LOOKUP, headers=_bearer("not.a.jwt")), 401, "invalid_token")


def test_jwt_without_the_required_scope_is_forbidden(jwks_file, signing_key):
    client = _jwt_app(jwks_file, AUTH_REQUIRED_SCOPE=SCOPE).test_client()
    assert client.get(LOOKUP, headers=_bearer(_token(signing_key))).status_code == 200
    # Azure AD style: scopes as a list in `scp`.
    assert (
        client.get(LOOKUP, headers=_bearer(_token(signing_key, scope=None, scp=[SCOPE]))).status_code == 200
    )
    response = client.get(LOOKUP, headers=_bearer(_token(signing_key, scope="patient/*.read")))
    _assert_refused(response, 403, "insufficient_scope")
    assert f'scope="{SCOPE}"' in response.headers["WWW-Authenticate"]


def test_capability_statement_describes_the_configured_security(jwks_file):
    client = _jwt_app(jwks_file, AUTH_REQUIRED_SCOPE=SCOPE).test_client()
    statement = CapabilityStatement.model_validate(client.get("/metadata").get_json())
    security = statement.rest[0].security
    assert security.service[0].coding[0].code == "OAuth"
    assert (
        ISSUER in security.description and AUDIENCE in security.description and SCOPE in security.description
    )


def test_jwt_mode_needs_issuer_audience_and_keys(jwks_file):
    with pytest.raises(SystemExit, match="TERMINOLOGY_AUTH_ISSUER"):
        _jwt_app(jwks_file, AUTH_ISSUER="")
    with pytest.raises(SystemExit, match="cannot read"):
        _jwt_app(jwks_file.with_name("missing.json"))


def test_unknown_auth_mode_is_refused():
    with pytest.raises(SystemExit, match="TERMINOLOGY_AUTH_MODE"):
        create_app({"TESTING": True, "AUTH_MODE": "basic"})


def test_hash_token_command_prints_the_sha256(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("s3cret\n"))
    assert main(["auth", "hash-token"]) == 0
    assert capsys.readouterr().out.strip() == hashlib.sha256(b"s3cret").hexdigest()


def test_hash_token_command_generates_a_token(capsys):
    assert main(["auth", "hash-token", "--generate"]) == 0
    token_line, hash_line = capsys.readouterr().out.splitlines()
    token = token_line.split()[-1]
    assert hash_line.split()[-1] == hash_token(token)


@pytest.fixture
def jwks_url(jwks_file):
    """Serve the JWKS file over HTTP on 127.0.0.1, as an identity provider would."""
    body = jwks_file.read_bytes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/.well-known/jwks.json"
    server.shutdown()
    server.server_close()


def test_jwt_keys_can_come_from_a_jwks_url(jwks_url, signing_key):
    client = _jwt_app(jwks_url).test_client()
    assert client.get(LOOKUP, headers=_bearer(_token(signing_key))).status_code == 200
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _assert_refused(client.get(LOOKUP, headers=_bearer(_token(other))), 401, "invalid_token")


def test_unreachable_jwks_url_answers_503_not_401(signing_key):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    client = _jwt_app(f"http://127.0.0.1:{closed_port}/jwks.json").test_client()
    response = client.get(LOOKUP, headers=_bearer(_token(signing_key)))
    assert response.status_code == 503
    assert "WWW-Authenticate" not in response.headers
    OperationOutcome.model_validate(response.get_json())


def _batch(*urls: str) -> dict:
    return {"resourceType": "Bundle", "type": "batch",
            "entry": [{"request": {"method": "GET", "url": url}} for url in urls]}  # fmt: skip


def test_batch_entries_are_judged_by_the_same_rule_as_direct_calls(tmp_path):
    client = _static_app(tmp_path, "s3cret").test_client()
    _assert_refused(client.post("/", json=_batch(LOOKUP)), 401, None)
    response = client.post("/", json=_batch(LOOKUP.lstrip("/"), "metrics", "readyz"), headers=_bearer("s3cret"))
    assert response.status_code == 200
    statuses = [e["response"]["status"] for e in response.get_json()["entry"]]
    # /metrics and the probes are not FHIR interactions: refused in a batch, the rest still answered.
    assert statuses == ["200 OK", "400 Bad Request", "400 Bad Request"]


def test_authenticated_answers_are_no_store_and_every_answer_nosniff(tmp_path):
    client = _static_app(tmp_path, "s3cret").test_client()
    for response in (
        client.get(LOOKUP, headers=_bearer("s3cret")),
        client.get(LOOKUP, headers=_bearer("s3cret")),  # replayed by the response cache
        client.get(LOOKUP),
        client.post("/", json=_batch(LOOKUP), headers=_bearer("s3cret")),
        client.get("/metrics", headers=_bearer("s3cret")),
    ):
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    for path in ("/metadata", "/livez", "/nowhere"):
        response = _static_app(tmp_path, "s3cret").test_client().get(path)
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Cache-Control" not in client.get("/metadata").headers

