"""Domain errors: each carries its FHIR issue code, tx-issue-type code and HTTP status."""

from __future__ import annotations

from terminology.text import counted


class TerminologyError(Exception):
    """Base of every error the service reports as an OperationOutcome.

    Subclasses fix the HTTP status and FHIR ``issue.code``; ``tx_code`` is the
    ``http://hl7.org/fhir/tools/CodeSystem/tx-issue-type`` code clients compare.
    """

    status = 400
    issue_code = "invalid"
    tx_code: str | None = "invalid-data"

    def __init__(
        self,
        message: str,
        *,
        expression: str | list[str] | None = None,
        tx_code: str | None = None,
        status: int | None = None,
        issue_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if isinstance(expression, str):
            expression = [expression]
        self.expression = expression
        if tx_code is not None:
            self.tx_code = tx_code
        if status is not None:
            self.status = status
        if issue_code is not None:
            self.issue_code = issue_code

    def headers(self) -> dict[str, str]:
        """Return the HTTP headers the answer must carry besides the OperationOutcome (none by default)."""
        return {}


class InvalidRequest(TerminologyError):
    """The request is malformed: bad JSON, wrong parameter types, missing parameters."""

    status = 400
    issue_code = "invalid"
    tx_code = "invalid-data"


class UnprocessableRequest(TerminologyError):
    """The request is well-formed but its content breaks a FHIR or business rule."""

    status = 422
    issue_code = "processing"
    tx_code = "invalid-data"


class InvalidPattern(UnprocessableRequest):
    """A regex filter's pattern is invalid, or uses a feature the linear-time engine (RE2) lacks."""

    status = 422
    issue_code = "invalid"
    tx_code = "vs-invalid"


class NotFound(TerminologyError):
    """A resource, code system, version or code does not exist here."""

    status = 404
    issue_code = "not-found"
    tx_code = "not-found"


class TooCostly(TerminologyError):
    """An expansion or search would exceed the configured limit."""

    status = 422
    issue_code = "too-costly"
    tx_code = None


class NotSupported(TerminologyError):
    """The request asks for something the server deliberately does not do."""

    status = 422
    issue_code = "not-supported"
    tx_code = None


class MethodNotAllowed(TerminologyError):
    """The HTTP method is not allowed on this route (we are read-only)."""

    status = 405
    issue_code = "not-supported"
    tx_code = None


class UnsupportedMediaType(TerminologyError):
    """The request body is not JSON (FHIR JSON, plain JSON or a form)."""

    status = 415
    issue_code = "not-supported"
    tx_code = None


class NotAcceptable(TerminologyError):
    """The client asked for a representation we do not produce (for example XML)."""

    status = 406
    issue_code = "not-supported"
    tx_code = None


class PayloadTooLarge(TerminologyError):
    """The request body exceeds the configured maximum size."""

    status = 413
    issue_code = "too-long"
    tx_code = None


class AccessDenied(TerminologyError):
    """The caller is not let in: 401 (no or bad credentials), 403 (missing scope) or 503 (keys unavailable).

    A 401 or 403 carries an RFC 6750 ``WWW-Authenticate: Bearer`` challenge; ``error`` and ``scope``
    are its ``error`` and ``scope`` attributes.
    """

    status = 401
    issue_code = "login"
    tx_code = None
    realm = "terminology"

    def __init__(self, status: int, message: str, error: str | None = None, scope: str | None = None):
        super().__init__(
            message, status=status, issue_code={401: "login", 403: "forbidden"}.get(status, "transient")
        )
        self.error = error
        self.scope = scope

    def challenge(self) -> str:
        """Return the RFC 6750 ``WWW-Authenticate`` value for this refusal."""
        parts = [f'Bearer realm="{self.realm}"']
        if self.error:
            description = self.message.replace('"', "'")
            parts.append(f'error="{self.error}", error_description="{description}"')
        if self.scope:
            parts.append(f'scope="{self.scope}"')
        return ", ".join(parts)

    def headers(self) -> dict[str, str]:
        """Return the Bearer challenge (for a 503, only Retry-After: the credentials were not judged)."""
        return {"Retry-After": "5"} if self.status == 503 else {"WWW-Authenticate": self.challenge()}


class ServiceUnavailable(TerminologyError):
    """A backing store (the feedback and replay database) cannot be reached: the caller may retry."""

    status = 503
    issue_code = "transient"
    tx_code = None
    # Seconds a client should wait before retrying (sent as Retry-After).
    retry_after = 5

    def headers(self) -> dict[str, str]:
        """Return ``Retry-After``: the store is usually back within seconds."""
        return {"Retry-After": str(self.retry_after)}


class UnusableResource(TerminologyError):
    """A request needs a resource that could not be loaded (lenient policy) or was sent broken."""

    status = 422
    issue_code = "invalid"
    tx_code = "invalid-data"


class ContentError(Exception):
    """A content file is invalid; start-up stops with the file and element named.

    ``error`` is the domain error behind it, when there is one: a request that carries the
    resource answers with that error's status and issue code.
    """

    def __init__(self, path: str, element: str, message: str, error: TerminologyError | None = None) -> None:
        super().__init__(f"{path}: {element}: {message}")
        self.path = path
        self.element = element
        self.message = message
        self.error = error
        self.problems: list = [self]

    def report(self) -> str:
        """Return every problem on its own line (``error: file: element: what``), then how many.

        What `terminology check` prints, and what a start-up refused by the strict policy prints.
        """
        lines = [f"error: {problem}" for problem in self.problems]
        return "\n".join([*lines, f"{counted(len(self.problems), 'problem')} found"])

    @classmethod
    def of(cls, path: str, error: TerminologyError, element: str = "(resource)") -> ContentError:
        """Report a domain error met while checking a file, at the element it names (if any)."""
        return cls(path, error.expression[0] if error.expression else element, error.message, error)


class ContentErrors(ContentError):
    """Content failed the strict policy: every problem found (the first one also as path/element/message)."""

    def __init__(self, problems: list) -> None:
        first = problems[0]
        super().__init__(first.source, first.element, first.message)
        self.problems = list(problems)
        self.args = ("\n".join(str(p) for p in problems),)


class ImportFailure(Exception):
    """A source file cannot be imported (CPT, HCPCS, PC/TC, NCCI); names the file and, when known, the line.

    Every importer raises this one error and the one CLI runner (importers.common.run_import) reports
    it; nothing is written (content) or the previous index stays as it was (NCCI).
    """

    def __init__(self, path: object, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line
        self.message = message
