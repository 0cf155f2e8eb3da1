"""Access control for every route but GET /metadata, /livez, /readyz: static bearer tokens or JWTs.

``AccessPolicy.authorize`` is the one rule that decides which credentials a request needs; the
router (a before-request hook), each entry of a batch Bundle and each response-cache replay call
it. Also the ``terminology auth hash-token`` command.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import re
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from flask import Flask, Response, current_app, request

from terminology.config import AUTH_MODES, comma_list
from terminology.errors import AccessDenied
from terminology.ops.telemetry import SUBJECT_KEY

log = logging.getLogger(__name__)

OPEN_PATHS = frozenset({"/metadata", "/livez", "/readyz"})
# WSGI environ key: the request needed credentials, so its answer must not be kept by shared caches.
GUARDED_KEY = "terminology.guarded"
# app.extensions keys: the AccessPolicy, and the per-app CapabilityStatement contributors.
POLICY_KEY = "terminology.access"
CAPABILITY_KEY = "terminology.capability_contributors"
_HASH = re.compile(r"[0-9a-f]{64}")
_SLASHES = re.compile(r"//+")
_SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"
# A guard verifies the callers of one group of routes itself (CDS Hooks: the EHR's JWT):
# (WSGI environ, normalised path) -> the caller's subject, or raise AccessDenied.
Guard = Callable[[dict, str], str]


def hash_token(token: str) -> str:
    """Return the SHA-256 hex digest stored for a static token."""
    return hashlib.sha256(token.encode()).hexdigest()


def read_token_hashes(path: str) -> frozenset[str]:
    """Read a file of SHA-256 token hashes, one per line (``#`` comments and blank lines allowed)."""
    if not path:
        raise SystemExit("TERMINOLOGY_AUTH_MODE=static needs TERMINOLOGY_AUTH_TOKENS_FILE")
    try:
        lines = Path(path).read_text().splitlines()
    except OSError as exc:
        raise SystemExit(f"cannot read TERMINOLOGY_AUTH_TOKENS_FILE {path}: {exc.strerror}") from None
    hashes = set()
    for number, line in enumerate(lines, 1):
        entry = line.split("#", 1)[0].strip().lower()
        if not entry:
            continue
        if not _HASH.fullmatch(entry):
            raise SystemExit(f"{path}:{number}: expected a SHA-256 hex digest (64 hex characters)")
        hashes.add(entry)
    if not hashes:
        raise SystemExit(f"{path}: no token hashes; create one with `terminology auth hash-token`")
    return frozenset(hashes)


@dataclass
class StaticTokens:
    """Bearer tokens compared by their SHA-256 hash (the file holds hashes, never tokens)."""

    hashes: frozenset[str]

    def authenticate(self, token: str) -> str:
        """Return the caller's subject, or raise AccessDenied."""
        digest = hash_token(token)
        # Set membership on the hash: timing can at most reveal a hash prefix, not the token.
        if digest not in self.hashes:
            raise AccessDenied(401, "The bearer token is not valid", "invalid_token")
        return f"token:{digest[:12]}"

    def describe(self) -> str:
        """Describe the configuration for the CapabilityStatement."""
        return "Static bearer tokens issued to service accounts (send Authorization: Bearer <token>)."


@dataclass
class JwtVerifier:
    """JWTs verified against a JWKS (file or URL): signature, expiry, issuer, audience, scope."""

    jwks: str
    issuer: str
    audience: str
    algorithms: list[str]
    required_scopes: list[str]
    leeway: int
    # CDS Hooks reuses this verifier: its own settings names, more required claims, a jti replay check.
    settings_prefix: str = "TERMINOLOGY_AUTH"
    required_claims: tuple[str, ...] = ("exp", "iss", "aud")
    replay_check: Callable[[str, int], bool] | None = field(default=None, repr=False)
    _keys: object = field(default=None, repr=False)

    def __post_init__(self) -> None:
        import jwt

        if not (self.jwks and self.issuer and self.audience):
            prefix = self.settings_prefix
            raise SystemExit(f"JWT verification needs {prefix}_JWKS, {prefix}_ISSUER and {prefix}_AUDIENCE")
        if self.jwks.startswith(("https://", "http://")):
            # Keys are fetched on first use and cached; an unknown kid triggers one refetch.
            self._keys = jwt.PyJWKClient(self.jwks, cache_jwk_set=True, lifespan=300, timeout=5)
        else:
            try:
                self._keys = jwt.PyJWKSet.from_json(Path(self.jwks).read_text())
            except OSError as exc:
                raise SystemExit(
                    f"cannot read {self.settings_prefix}_JWKS {self.jwks}: {exc.strerror}"
                ) from None
            except jwt.PyJWKSetError as exc:
                raise SystemExit(
                    f"{self.settings_prefix}_JWKS {self.jwks} is not a usable JWKS: {exc}"
                ) from None

    def _signing_key(self, token: str):
        import jwt

        if isinstance(self._keys, jwt.PyJWKClient):
            try:
                return self._keys.get_signing_key_from_jwt(token).key
            except jwt.PyJWKClientConnectionError as exc:
                log.error("cannot fetch the JWKS from %s: %s", self.jwks, exc)
                raise AccessDenied(503, "The token signing keys cannot be fetched; try again later") from None
            except (jwt.PyJWKClientError, jwt.DecodeError) as exc:
                raise AccessDenied(
                    401, f"The bearer token cannot be verified: {exc}", "invalid_token"
                ) from None
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.DecodeError as exc:
            raise AccessDenied(401, f"The bearer token is malformed: {exc}", "invalid_token") from None
        keys = self._keys.keys
        if kid is None and len(keys) == 1:
            return keys[0].key
        for key in keys:
            if key.key_id == kid:
                return key.key
        raise AccessDenied(401, "The bearer token is signed by an unknown key", "invalid_token")

    def authenticate(self, token: str, audience: str | list[str] | None = None) -> str:
        """Verify the token and its scope; return the subject, or raise AccessDenied.

        :param audience: the audience(s) this request accepts, when it depends on the URL called.
        """
        import jwt

        key = self._signing_key(token)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=self.algorithms,
                audience=audience or self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": list(self.required_claims)},
            )
        except jwt.ExpiredSignatureError:
            raise AccessDenied(401, "The bearer token has expired", "invalid_token") from None
        except jwt.InvalidTokenError as exc:
            raise AccessDenied(401, f"The bearer token is not valid: {exc}", "invalid_token") from None
        if self.replay_check is not None:
            from terminology.storage import StoreUnavailable

            try:
                # Kept until the token can no longer pass (exp plus the clock-skew leeway).
                first_use = self.replay_check(str(claims.get("jti")), int(claims["exp"]) + self.leeway)
            except StoreUnavailable:
                # Fail closed: a token whose jti cannot be checked is refused, as a retryable 503
                # (not 401: the EHR's credentials are fine, and it may send a new token later).
                raise AccessDenied(
                    503, "The token replay check is unavailable (shared store down); try again later"
                ) from None
            if not first_use:
                raise AccessDenied(401, "The bearer token was already used (jti replay)", "invalid_token")
        if self.required_scopes:
            granted = _granted_scopes(claims)
            if not granted.intersection(self.required_scopes):
                raise AccessDenied(
                    403,
                    f"The token lacks the required scope ({' or '.join(self.required_scopes)})",
                    "insufficient_scope",
                    " ".join(self.required_scopes),
                )
        return str(claims.get("sub") or claims.get("client_id") or "jwt")

    def describe(self) -> str:
        """Describe the configuration for the CapabilityStatement."""
        text = (
            f"OAuth 2.0 bearer JWTs ({', '.join(self.algorithms)}) issued by {self.issuer} "
            f"for audience {self.audience}, verified against the keys at {self.jwks}"
        )
        if self.required_scopes:
            text += f"; scope {' or '.join(self.required_scopes)} is required"
        return text + "."


def _granted_scopes(claims: dict) -> set[str]:
    granted: set[str] = set()
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            granted.update(value.split())
        elif isinstance(value, list):
            granted.update(str(v) for v in value)
    return granted


def build_authenticator(config) -> StaticTokens | JwtVerifier | None:
    """Build the authenticator the configuration asks for (None when access control is off)."""
    mode = config["AUTH_MODE"]
    if mode not in AUTH_MODES:
        raise SystemExit(f"TERMINOLOGY_AUTH_MODE must be one of {', '.join(AUTH_MODES)}, not {mode!r}")
    if mode == "static":
        return StaticTokens(read_token_hashes(config["AUTH_TOKENS_FILE"]))
    if mode == "jwt":
        return JwtVerifier(
            jwks=config["AUTH_JWKS"],
            issuer=config["AUTH_ISSUER"],
            audience=config["AUTH_AUDIENCE"],
            algorithms=comma_list(config["AUTH_ALGORITHMS"]),
            required_scopes=config["AUTH_REQUIRED_SCOPE"].replace(",", " ").split(),
            leeway=config["AUTH_LEEWAY_SECONDS"],
        )
    return None


def normal_path(path: str) -> str:
    """Return a path as the access rule compares it: repeated and trailing slashes removed."""
    if "//" in path:
        path = _SLASHES.sub("/", path)
    return path.rstrip("/") or "/"


class AccessPolicy:
    """Which credentials each request needs: open probes, feature guards, else the service-wide check."""

    def __init__(self, authenticator: StaticTokens | JwtVerifier | None, metrics_open: bool) -> None:
        self.authenticator = authenticator
        self.metrics_open = metrics_open
        self.guards: list[tuple[str, Guard]] = []
        # Whether any request needs credentials (when not, nothing has to be checked): a plain
        # attribute, since the response cache asks on every replay.
        self.active = authenticator is not None

    def guard(self, prefix: str, check: Guard) -> None:
        """Let ``check`` verify the callers of ``prefix`` and the routes under it (not the global check)."""
        self.guards.append((prefix.rstrip("/"), check))
        self.active = True

    def add_headers(self, response: Response) -> Response:
        """After every request: mark the answer ``nosniff``, and ``no-store`` if it needed credentials.

        ``no-store`` keeps shared caches (proxies, browsers) from keeping answers meant for one caller.
        """
        headers = response.headers
        headers.add("X-Content-Type-Options", "nosniff")  # add, not set: nothing else sets it
        if self.active and request._get_current_object().environ.get(GUARDED_KEY):
            headers["Cache-Control"] = "no-store"
        return response

    def authorize(self, environ: dict) -> None:
        """Let a request in, noting its caller in the environ, or raise AccessDenied.

        The decision uses only the WSGI environ (method, PATH_INFO, headers) that routing sees, so a
        direct call, a batch entry and a cache replay of the same request are judged alike.
        """
        path = normal_path(environ.get("PATH_INFO", ""))
        if path in OPEN_PATHS or (path == "/metrics" and self.metrics_open):
            return
        # A CORS preflight never carries credentials (Fetch standard); the CORS hook answers it.
        if environ.get("REQUEST_METHOD") == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ:
            return
        for prefix, check in self.guards:
            if path == prefix or path.startswith(prefix + "/"):
                environ[GUARDED_KEY] = True
                environ[SUBJECT_KEY] = check(environ, path)
                return
        if self.authenticator is not None:
            environ[GUARDED_KEY] = True
            environ[SUBJECT_KEY] = bearer_subject(self.authenticator, environ.get("HTTP_AUTHORIZATION", ""))


def access_policy(app: Flask) -> AccessPolicy:
    """Return the app's access policy (made by init_app)."""
    return app.extensions[POLICY_KEY]


def add_guard(app: Flask, prefix: str, check: Guard) -> None:
    """Let a feature verify its own routes' callers (see AccessPolicy.guard); turns the check on."""
    access_policy(app).guard(prefix, check)
    _install_check(app)


def _authorize_request() -> None:
    """Before every request: apply the access rule (a refusal is raised and rendered by the error handler)."""
    environ = request._get_current_object().environ
    current_app.extensions[POLICY_KEY].authorize(environ)


def _install_check(app: Flask) -> None:
    if not app.extensions.get("terminology.access_hook"):
        app.extensions["terminology.access_hook"] = True
        app.before_request(_authorize_request)


def bearer_subject(authenticator: StaticTokens | JwtVerifier, header: str) -> str:
    """Return the caller named by an ``Authorization: Bearer`` header, or raise AccessDenied."""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if not header:
        raise AccessDenied(401, "This server requires a bearer token (Authorization: Bearer <token>)")
    if scheme.lower() != "bearer" or not token:
        raise AccessDenied(401, "The Authorization header must be 'Bearer <token>'", "invalid_request")
    return authenticator.authenticate(token)


def describe_security(statement: dict) -> None:
    """Describe the configured access control in CapabilityStatement.rest.security."""
    authenticator = access_policy(current_app).authenticator
    if authenticator is None:
        return
    security = {"cors": "terminology.cors" in current_app.extensions}
    if isinstance(authenticator, JwtVerifier):
        security["service"] = [{"coding": [{"system": _SECURITY_SERVICE, "code": "OAuth"}], "text": "OAuth"}]
    security["description"] = (
        f"{authenticator.describe()} GET /metadata, /livez and /readyz are open; every other request "
        "without valid credentials gets 401 with a WWW-Authenticate: Bearer challenge."
    )
    for rest in statement.get("rest", []):
        # Keep what the statement already says (CORS origins, the CDS Hooks JWT) after this.
        earlier = rest.get("security", {})
        if earlier.get("description"):
            security["description"] = f"{security['description']} {earlier['description']}"
        rest["security"] = {**earlier, **security}


def init_app(app: Flask) -> None:
    """Check the access settings, make the access policy and, unless the mode is none, guard requests."""
    authenticator = build_authenticator(app.config)
    policy = app.extensions[POLICY_KEY] = AccessPolicy(authenticator, bool(app.config["METRICS_OPEN"]))
    contributors = app.extensions.setdefault(CAPABILITY_KEY, [])
    if describe_security not in contributors:
        contributors.append(describe_security)
    app.after_request(policy.add_headers)
    if authenticator is not None:
        _install_check(app)


def _hash_token_command(args: argparse.Namespace) -> int:
    """Print the SHA-256 hash of a token read from stdin (or of a newly generated token)."""
    if args.generate:
        token = secrets.token_urlsafe(32)
        print(f"token:  {token}")
        print(f"sha256: {hash_token(token)}")
        return 0
    token = sys.stdin.readline().strip()
    if not token:
        print("error: give the token on standard input", file=sys.stderr)
        return 1
    print(hash_token(token))
    return 0


def register(subparsers) -> None:
    """Add ``terminology auth hash-token``."""
    auth = subparsers.add_parser("auth", help="access-control helpers")
    commands = auth.add_subparsers(dest="auth_command", required=True)
    hashing = commands.add_parser(
        "hash-token",
        help="print the SHA-256 hash of a token read from stdin (a line for TERMINOLOGY_AUTH_TOKENS_FILE)",
    )
    hashing.add_argument("--generate", action="store_true", help="generate a new random token and print both")
    hashing.set_defaults(handler=_hash_token_command)
