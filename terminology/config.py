"""Settings: every TERMINOLOGY_* environment variable as one typed object, read and validated once.

``Settings`` is a pydantic-settings model: each field is one variable (``TERMINOLOGY_`` + its name
in capitals), with its type, default and meaning in one place. Adding a setting is adding a field
here and a row to the README's environment table (a test checks the two agree). A bad value stops
start-up with a message naming the variable, never a traceback (``SettingsError`` is a SystemExit).
The app keeps the object in ``app.extensions["terminology.settings"]`` and mirrors every field into
``app.config`` under its capitalised name (``MAX_BODY_BYTES`` also as Flask's ``MAX_CONTENT_LENGTH``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import Field, NonNegativeInt, PositiveInt, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "TERMINOLOGY_"
PACKAGE = Path(__file__).resolve().parent
# The source checkout this package runs from, when it does (an editable install or the repository);
# None for a wheel installed in site-packages.
REPOSITORY: Path | None = PACKAGE.parent if (PACKAGE.parent / "pyproject.toml").is_file() else None
CONTENT_DIR_NAMES = ("codesystems", "valuesets", "conceptmaps")
# Where a wheel carries the bundled content (pyproject.toml maps the repository's folders here).
PACKAGED_CONTENT = PACKAGE / "bundled_content"
# Flask's own name for the request-body limit, mirrored from MAX_BODY_BYTES.
FLASK_ALIASES = {"MAX_CONTENT_LENGTH": "max_body_bytes"}


def bundled_content_dirs() -> list[str]:
    """Return the bundled content folders: inside the installed package, else in the source checkout."""
    base = PACKAGED_CONTENT if PACKAGED_CONTENT.is_dir() or REPOSITORY is None else REPOSITORY
    return [str(base / name) for name in CONTENT_DIR_NAMES]


def default_data_dir() -> str:
    """Return the data directory used when TERMINOLOGY_DATA_DIR is unset.

    In a source checkout it is its git-ignored ``data/``; an installed package uses the XDG data
    directory (``~/.local/share/terminology``), since site-packages is no place for an index.
    """
    if REPOSITORY is not None:
        return str(REPOSITORY / "data")
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(xdg) / "terminology")


def _colon_list(value: object) -> object:
    if isinstance(value, str):
        return [item for item in value.split(":") if item]
    return value


def comma_list(text: str) -> list[str]:
    """Split a comma-separated setting (algorithms, issuers, origins) into its non-empty items."""
    return [item.strip() for item in text.split(",") if item.strip()]


# JWT signature algorithms with a public key: 'none' and HMAC (a shared secret) have no place beside a
# JWKS, and CDS Hooks forbids them for the EHR's JWT.
ASYMMETRIC_JWT_ALGORITHMS = (
    "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA",
)  # fmt: skip

ColonList = Annotated[list[str], NoDecode]
DEFAULT_TIMEOUT = 30
DEFAULT_DATABASE_TIMEOUT = 5
AuthMode = Literal["none", "static", "jwt"]
AUTH_MODES: tuple[str, ...] = get_args(AuthMode)


class Settings(BaseSettings):
    """The service's settings; field ``x_y`` is read from ``TERMINOLOGY_X_Y``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        # An empty variable means "use the default", as `FOO= terminology serve` reads to a person.
        env_ignore_empty=True,
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    # gunicorn (read by terminology/gunicorn_conf.py)
    bind: str = Field("0.0.0.0:8000", description="address gunicorn listens on")
    workers: PositiveInt = Field(2, description="gunicorn sync worker processes")
    timeout: PositiveInt = Field(DEFAULT_TIMEOUT, description="seconds before a silent worker is replaced")
    graceful_timeout: NonNegativeInt = Field(25, description="seconds in-flight requests get after SIGTERM")
    log_level: Literal["debug", "info", "warning", "error", "critical"] = "info"
    control_socket: str = Field("", description="gunicorn control socket path (empty: no control socket)")

    # content and data
    content_dirs: ColonList = Field(default_factory=bundled_content_dirs)
    content_policy: Literal["strict", "lenient"] = Field(
        "strict", description="bad content stops start-up (strict) or is set aside and reported (lenient)"
    )
    data_dir: str = Field(default_factory=default_data_dir)
    feedback_db: str = Field("", description="CDS Hooks feedback database (default DATA_DIR/feedback.sqlite)")
    # The state replicas share (CDS feedback, the JWT replay list); unset: the SQLite file above.
    database_url: str = Field("", description="postgresql:// URL of the shared store")
    database_pool_size: PositiveInt = Field(4, description="connections each worker may hold")
    database_timeout: PositiveInt = Field(
        DEFAULT_DATABASE_TIMEOUT,
        description="seconds a request waits for the store (connection, statements, lock) before 503",
    )

    # NCCI imports (terminology import ncci-ptp / mue)
    import_max_row_loss: float = Field(
        2.0, ge=0, le=100, description="percent of rows an import may lose against the edition it replaces"
    )
    import_lock_timeout: float = Field(600.0, ge=0, description="seconds an import waits for another one")

    # requests and answers
    max_body_bytes: PositiveInt = Field(5 * 1024 * 1024, description="largest request body (413 above)")
    expansion_limit: NonNegativeInt = Field(1000, description="most codes one $expand returns unpaged")
    batch_limit: PositiveInt = Field(10_000, description="most entries of one batch request")
    batch_work_limit: PositiveInt = Field(
        10_000, description="most units of work (entries, claim lines, validations) of one batch"
    )
    max_claim_lines: PositiveInt = Field(300, description="most claim lines one request may ask to check")
    max_json_depth: PositiveInt = Field(100, description="deepest nesting of JSON objects and arrays read")
    result_cache_size: NonNegativeInt = Field(20_000, description="answers each worker memoizes (0: off)")
    result_cache_mb: NonNegativeInt = Field(32, description="MB per worker for memoized answers (0: off)")
    response_cache_mb: NonNegativeInt = Field(16, description="MB per worker for replayed GETs (0: off)")
    base_url: str = Field("", description="public base URL; derived from the request when empty")
    regex_max_length: PositiveInt = Field(1000, description="longest regex filter pattern (characters)")
    regex_max_codes: PositiveInt = Field(100_000, description="codes regex filters test per evaluation")

    # operations
    access_log: bool = True
    metrics: bool = True
    metrics_open: bool = False

    # access control
    auth_mode: AuthMode = "none"
    auth_tokens_file: str = ""
    auth_jwks: str = ""
    auth_issuer: str = ""
    auth_audience: str = ""
    auth_algorithms: str = "RS256,ES256"
    auth_required_scope: str = ""
    auth_leeway_seconds: NonNegativeInt = 30

    # EHR callers: CORS and the CDS Hooks JWT
    cors_origins: str = ""
    cds_jwks: str = ""
    cds_issuers: str = ""
    cds_algorithms: str = "RS384,ES384,RS256,ES256"
    cds_service_url: str = ""
    cds_leeway_seconds: NonNegativeInt = 30

    _split_dirs = field_validator("content_dirs", mode="before")(_colon_list)

    @field_validator("bind")
    @classmethod
    def _gunicorn_address(cls, value: str) -> str:
        # Read as gunicorn reads it, so that a bad address stops start-up here, not in a traceback.
        from gunicorn.util import parse_address

        value = value.strip()
        try:
            address = parse_address(value)
        except RuntimeError:
            address = None
        if address is None or (isinstance(address, tuple) and not 1 <= address[1] <= 65535):
            raise ValueError("must be HOST:PORT with a port from 1 to 65535, unix:PATH or fd://N")
        return value

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        for origin in comma_list(value):
            if origin != "*" and not origin.startswith(("https://", "http://")):
                raise ValueError(f"'{origin}' is not an origin like https://ehr.example.org")
        return value

    @field_validator("auth_algorithms", "cds_algorithms")
    @classmethod
    def _asymmetric_algorithms(cls, value: str) -> str:
        names = comma_list(value)
        weak = [name for name in names if name not in ASYMMETRIC_JWT_ALGORITHMS]
        if weak or not names:
            raise ValueError(
                f"{', '.join(weak) or 'none given'}: asymmetric algorithms only "
                f"({', '.join(ASYMMETRIC_JWT_ALGORITHMS)})"
            )
        return ",".join(names)

    @field_validator("base_url", "cds_service_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _postgresql_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL (or empty for the embedded SQLite store)")
        return value

    @model_validator(mode="before")
    @classmethod
    def _database_timeout_fits_the_worker_timeout(cls, data: object) -> object:
        # Unset, the store's deadline defaults to 5 s, lowered to half of a shorter worker timeout.
        if isinstance(data, dict) and data.get("database_timeout") in (None, ""):
            try:
                worker_timeout = int(data.get("timeout", DEFAULT_TIMEOUT))
            except (TypeError, ValueError):
                return data  # the timeout's own validation names the problem
            data = {**data, "database_timeout": min(DEFAULT_DATABASE_TIMEOUT, max(1, worker_timeout // 2))}
        return data

    @model_validator(mode="after")
    def _database_answers_before_the_worker_is_replaced(self) -> Settings:
        # A request that waits out the database must answer 503 long before gunicorn kills its worker.
        if self.database_timeout * 2 > self.timeout:
            raise PydanticCustomError(
                "database_timeout",
                "TERMINOLOGY_DATABASE_TIMEOUT ({database}) must be at most half of TERMINOLOGY_TIMEOUT "
                "({timeout}): a request waiting for the database must answer 503 well before gunicorn "
                "replaces its worker",
                {"database": self.database_timeout, "timeout": self.timeout},
            )
        return self

    @field_validator("auth_mode", "log_level", "content_policy", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return (value.strip().lower() or None) if isinstance(value, str) else value

    @classmethod
    def variable(cls, field: str) -> str:
        """Return a field's environment variable: ``expansion_limit`` → ``TERMINOLOGY_EXPANSION_LIMIT``."""
        return ENV_PREFIX + field.upper()

    def pattern_limits(self):
        """Return the regex filter limits (``engine.patterns.PatternLimits``) these settings set."""
        from terminology.engine.patterns import PatternLimits  # RE2 is only loaded with content

        return PatternLimits(max_length=self.regex_max_length, max_codes=self.regex_max_codes)

    def flask_config(self) -> dict:
        """Return every setting under its capitalised name, plus Flask's ``MAX_CONTENT_LENGTH``."""
        config = {name.upper(): getattr(self, name) for name in type(self).model_fields}
        for flask_name, field in FLASK_ALIASES.items():
            config[flask_name] = getattr(self, field)
        return config


class SettingsError(SystemExit):
    """A setting has a bad value: exits with a message naming each variable, without a traceback."""


def _explain(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        field = str(problem["loc"][0]) if problem["loc"] else "?"
        name = Settings.variable(field) if field in Settings.model_fields else field
        given = problem.get("input")
        shown = f" (got {given!r})" if isinstance(given, str | int | float | bool) else ""
        if not problem["loc"]:
            lines.append(problem["msg"])  # a rule between settings: its message names them
        elif problem["type"] == "extra_forbidden":
            lines.append(f"{name}: not a setting of this service")
        else:
            lines.append(f"{name}: {problem['msg']}{shown}")
    return "invalid settings:\n  " + "\n  ".join(lines)


def setting_field(key: str) -> str | None:
    """Return the field an ``app.config`` name stands for (``EXPANSION_LIMIT``: ``expansion_limit``)."""
    field = FLASK_ALIASES.get(key, key.lower())
    return field if field in Settings.model_fields else None


def load_settings(overrides: Mapping[str, object] | None = None) -> Settings:
    """Read the environment once, apply ``overrides`` (capitalised names, as in ``app.config``), validate.

    :raise SettingsError: naming every variable whose value is not valid.
    """
    given = {}
    for key, value in (overrides or {}).items():
        field = setting_field(key)
        if field is not None:
            given[field] = value
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise SettingsError(_explain(exc)) from None


def settings_of(app) -> Settings:
    """Return the settings an app was created with."""
    return app.extensions["terminology.settings"]
