"""The issue type the engine reports (severity, FHIR issue code, text, tx-issue-type code, expression)."""

from __future__ import annotations

from msgspec import Struct

TX_ISSUE_TYPE = "http://hl7.org/fhir/tools/CodeSystem/tx-issue-type"
MESSAGE_ID = "http://hl7.org/fhir/StructureDefinition/operationoutcome-message-id"


class Issue(Struct):
    """One OperationOutcome issue as the engine reports it."""

    severity: str
    code: str
    text: str
    tx_code: str | None = None
    expression: list[str] | None = None
    # tx.fhir.org's message id (``operationoutcome-message-id``): clients key on it, so only its own ids.
    message_id: str | None = None

    def to_fhir(self) -> dict:
        """Render as an ``OperationOutcome.issue`` element (a plain dict, cheap on the hot path)."""
        details: dict = {"text": self.text}
        if self.tx_code:
            details = {"coding": [{"system": TX_ISSUE_TYPE, "code": self.tx_code}], "text": self.text}
        issue: dict = {"severity": self.severity, "code": self.code, "details": details}
        if self.message_id:
            issue = {"extension": [{"url": MESSAGE_ID, "valueString": self.message_id}], **issue}
        if self.expression:
            # FHIRPath in expression only: location (XPath in R4, deprecated in R5) is not sent; the HL7
            # terminology tests' newer expected files refuse it, and none of them requires it.
            issue["expression"] = list(self.expression)
        return issue
