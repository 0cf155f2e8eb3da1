"""OperationOutcome construction (plain dicts, tx-issue-type codings)."""

from __future__ import annotations

from msgspec import Struct

TX_ISSUE_TYPE = "http://hl7.org/fhir/tools/CodeSystem/tx-issue-type"


class Issue(Struct):
    """One OperationOutcome issue as the engine reports it."""

    severity: str
    code: str
    text: str
    tx_code: str | None = None
    expression: list[str] | None = None

    def to_fhir(self) -> dict:
        """Render as an ``OperationOutcome.issue`` element."""
        details: dict = {"text": self.text}
        if self.tx_code:
            details = {"coding": [{"system": TX_ISSUE_TYPE, "code": self.tx_code}], "text": self.text}
        issue = {"severity": self.severity, "code": self.code, "details": details}
        if self.expression:
            issue["location"] = list(self.expression)
            issue["expression"] = list(self.expression)
        return issue


def operation_outcome(issues: list[Issue]) -> dict:
    """Build an OperationOutcome resource from issues."""
    return {"resourceType": "OperationOutcome", "issue": [i.to_fhir() for i in issues]}


def error_outcome(error) -> dict:
    """Render a TerminologyError as an OperationOutcome with one error issue."""
    return operation_outcome(
        [Issue("error", error.issue_code, error.message, error.tx_code, error.expression)]
    )
