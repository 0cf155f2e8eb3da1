"""Canonical URLs: the code systems the service knows by name, and the base of our own resources."""

# The canonical base of every resource this project publishes (CodeSystems, ValueSets, ConceptMaps,
# OperationDefinitions): the one place it is written in the code (content files carry it too).
OWN_BASE = "https://terminology.example.org/fhir"

CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
LOINC = "http://loinc.org"

# CPT expressions (``72126:26``) may carry CPT modifiers or HCPCS Level II modifiers (HL7 "kind
# = hcpcs"), so modifiers missing from CPT are looked up in these systems too.
EXPRESSION_MODIFIER_SYSTEMS: dict[str, tuple[str, ...]] = {CPT: (HCPCS,)}
