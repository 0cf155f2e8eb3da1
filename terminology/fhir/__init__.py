"""FHIR mapping layer: Parameters and OperationOutcome in and out, as plain dicts."""
