"""OperationOutcome construction (plain dicts, tx-issue-type codings) from engine issues and domain errors."""

from __future__ import annotations

from terminology.engine.issues import Issue


def operation_outcome(issues: list[Issue]) -> dict:
    """Build an OperationOutcome resource from issues."""
    return {"resourceType": "OperationOutcome", "issue": [i.to_fhir() for i in issues]}


def error_outcome(error) -> dict:
    """Render a TerminologyError as an OperationOutcome with one error issue."""
    return operation_outcome(
        [Issue("error", error.issue_code, error.message, error.tx_code, error.expression)]
    )
