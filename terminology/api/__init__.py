"""HTTP layer: thin Flask blueprints that parse the request, call the service layer and render FHIR.

The terminology operations go through ``terminology.service``; the bundling check, orders and CDS
Hooks views call their feature's checker directly.
"""
