"""HTTP layer: thin Flask blueprints that parse parameters, call the engine and render FHIR."""
