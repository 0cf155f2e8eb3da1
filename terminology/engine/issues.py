"""The issue type the engine reports (severity, FHIR issue code, text, tx-issue-type code, expression)."""

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
        """Render as an ``OperationOutcome.issue`` element (a plain dict, cheap on the hot path)."""
        details: dict = {"text": self.text}
        if self.tx_code:
            details = {"coding": [{"system": TX_ISSUE_TYPE, "code": self.tx_code}], "text": self.text}
        issue = {"severity": self.severity, "code": self.code, "details": details}
        if self.expression:
            issue["location"] = list(self.expression)
            issue["expression"] = list(self.expression)
        return issue
