"""Content loading: read FHIR JSON files, validate them, build the registry."""
