"""Server metadata: CapabilityStatement, TerminologyCapabilities, $versions, and what GET / answers.

GET /metadata (CapabilityStatement), GET /metadata?mode=terminology (TerminologyCapabilities)
GET /$versions
GET / (a short JSON pointer to /metadata for a person who opens the base URL)
"""

from __future__ import annotations

import orjson
from flask import Blueprint, Response, current_app, request

from terminology.api.http import base_url, fhir_response, registry
from terminology.config import Settings, settings_of
from terminology.engine.systems import OWN_BASE
from terminology.version import __version__

bp = Blueprint("metadata", __name__)

RELEASE_DATE = "2026-11-21"
_OPERATION_DEFINITIONS = {
    "lookup": "http://hl7.org/fhir/OperationDefinition/CodeSystem-lookup",
    "validate-code": "http://hl7.org/fhir/OperationDefinition/CodeSystem-validate-code",
    "vs-validate-code": "http://hl7.org/fhir/OperationDefinition/ValueSet-validate-code",
    "expand": "http://hl7.org/fhir/OperationDefinition/ValueSet-expand",
    "translate": "http://hl7.org/fhir/OperationDefinition/ConceptMap-translate",
    "versions": "http://hl7.org/fhir/OperationDefinition/CapabilityStatement-versions",
    # No HL7 definition exists for $batch-validate-code; we publish ours.
    "batch-validate-code": f"{OWN_BASE}/OperationDefinition/batch-validate-code",
}
EXPANSION_PARAMETERS = [
    "activeOnly", "count", "designation", "displayLanguage", "excludeNested", "filter", "includeDefinition",
    "includeDesignations", "offset", "property", "system-version", "check-system-version",
    "force-system-version", "tx-resource",
]  # fmt: skip
# http://terminology.hl7.org/CodeSystem/restful-security-service
_SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"
_SEARCH_PARAMS = (
    ("url", "uri"),
    ("version", "token"),
    ("name", "string"),
    ("title", "string"),
    ("status", "token"),
)
# app.extensions key of the app's extra capability builders (bundling check, orders, security...).
CAPABILITY_KEY = "terminology.capability_contributors"


def add_capability(app, contribute) -> None:
    """Have ``contribute(statement)`` add a feature to this app's CapabilityStatement."""
    contributors = app.extensions.setdefault(CAPABILITY_KEY, [])
    if contribute not in contributors:
        contributors.append(contribute)


def _describe(url: str) -> dict:
    """Return the identity elements both capability resources share."""
    return {
        "id": "terminology",
        "url": url,
        "version": __version__,
        "name": "TerminologyService",
        "title": "Terminology service for US procedure codes (CPT spine imaging)",
        "status": "active",
        "experimental": False,
        "date": RELEASE_DATE,
        "kind": "instance",
    }


def _operation(name: str, key: str | None = None) -> dict:
    return {"name": name, "definition": _OPERATION_DEFINITIONS[key or name]}


def _resource(resource_type: str, operations: list[dict]) -> dict:
    return {
        "type": resource_type,
        "interaction": [{"code": "read"}, {"code": "search-type"}],
        "searchParam": [{"name": name, "type": kind} for name, kind in _SEARCH_PARAMS],
        "operation": operations,
    }


def _security(settings: Settings) -> dict:
    """Describe how callers get in: CORS, the kind of access control, and the CDS Hooks JWT.

    When access control is on, ops.access adds its own description of the credentials.
    """
    notes = []
    if settings.auth_mode == "jwt":
        service = {"coding": [{"system": _SECURITY_SERVICE, "code": "OAuth"}], "text": "OAuth"}
    elif settings.auth_mode == "static":
        service = {"text": "Bearer tokens issued by the operator"}
    else:
        service = {"text": "No authentication"}
        notes.append(
            "No authentication is configured for the FHIR operations; run behind a gateway in production."
        )
    if settings.cds_jwks:
        issuers = f" from the issuers {settings.cds_issuers}" if settings.cds_issuers else ""
        notes.append(
            "The CDS Hooks services (/cds-services) require the EHR's signed JWT (CDS Hooks 2.0): one of "
            f"{settings.cds_algorithms}{issuers}, its audience the service URL."
        )
    if settings.cors_origins.strip():
        notes.append(f"Browsers may call from: {settings.cors_origins}.")
    security = {"cors": bool(settings.cors_origins.strip()), "service": [service]}
    if notes:
        security["description"] = " ".join(notes)
    return security


def capability_statement() -> dict:
    """Build the CapabilityStatement (instantiates the HL7 terminology-server statement)."""
    base = base_url()
    statement = {
        "resourceType": "CapabilityStatement",
        **_describe(f"{base}/metadata"),
        "publisher": "terminology project",
        "instantiates": ["http://hl7.org/fhir/CapabilityStatement/terminology-server"],
        "software": {"name": "terminology", "version": __version__, "releaseDate": RELEASE_DATE},
        "implementation": {"description": "FHIR R4 terminology service", "url": base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "extension": [
            {
                "url": "http://hl7.org/fhir/uv/application-feature/StructureDefinition/feature",
                "extension": [
                    {
                        "url": "definition",
                        "valueCanonical": "http://hl7.org/fhir/uv/tx-tests/FeatureDefinition/test-version",
                    },
                    {"url": "value", "valueCode": "1.6.0"},
                ],
            },
            {
                "url": "http://hl7.org/fhir/uv/application-feature/StructureDefinition/feature",
                "extension": [
                    {
                        "url": "definition",
                        "valueCanonical": "http://hl7.org/fhir/uv/tx-ecosystem/FeatureDefinition/CodeSystemAsParameter",
                    },
                    # CodeSystems (and value sets, supplements, concept maps) are taken as tx-resource.
                    {"url": "value", "valueBoolean": True},
                ],
            },
        ],
        "rest": [
            {
                "mode": "server",
                "security": _security(settings_of(current_app)),
                "resource": [
                    _resource(
                        "CodeSystem",
                        [
                            _operation("lookup"),
                            _operation("validate-code"),
                            _operation("batch-validate-code"),
                        ],
                    ),
                    _resource(
                        "ValueSet",
                        [
                            _operation("expand"),
                            _operation("validate-code", "vs-validate-code"),
                            _operation("batch-validate-code"),
                        ],
                    ),
                    _resource("ConceptMap", [_operation("translate")]),
                ],
                # POST / takes batch Bundles of operation requests (transactions are refused).
                "interaction": [{"code": "batch"}],
                "operation": [_operation("versions")],
            }
        ],
    }
    for contribute in current_app.extensions.get(CAPABILITY_KEY, ()):
        contribute(statement)
    return statement


def terminology_capabilities() -> dict:
    """Build the TerminologyCapabilities listing every code system and version."""
    reg = registry()
    systems: dict[str, list[str]] = {}
    for cs in reg.resources("CodeSystem"):
        systems.setdefault(cs.url, [])
        if cs.version:
            systems[cs.url].append(cs.version)
    code_systems = []
    for url in sorted(systems):
        entry: dict = {"uri": url}
        versions = reg.versions_of("CodeSystem", url)
        if versions:
            latest = versions[-1]
            entry["version"] = [{"code": v, "isDefault": v == latest} for v in versions]
        code_systems.append(entry)
    return {
        "resourceType": "TerminologyCapabilities",
        **_describe(f"{base_url()}/metadata?mode=terminology"),
        "software": {"name": "terminology", "version": __version__},
        "codeSystem": code_systems,
        "expansion": {
            "hierarchical": True,
            "paging": True,
            "parameter": [{"name": name} for name in EXPANSION_PARAMETERS],
            "textFilter": "Matches a prefix of the code, or every word as a prefix of a word of "
            "the display or a designation (case-insensitive).",
        },
        "validateCode": {"translations": False},
        "translation": {"needsMap": False},
    }


@bp.route("/", methods=["GET"])
def root_view():
    """Point a person (or a client) who opens the base URL at the capability statement."""
    base = base_url()
    pointer = {
        "service": "terminology",
        "version": __version__,
        "description": "FHIR R4 terminology service: POST a batch Bundle here, or start from the metadata",
        "fhirVersion": "4.0.1",
        "metadata": f"{base}/metadata",
        "terminologyCapabilities": f"{base}/metadata?mode=terminology",
    }
    return Response(orjson.dumps(pointer, option=orjson.OPT_INDENT_2), mimetype="application/json")


@bp.route("/metadata", methods=["GET"])
def metadata_view():
    """Serve the CapabilityStatement, or TerminologyCapabilities with mode=terminology."""
    if request.args.get("mode") == "terminology":
        return fhir_response(terminology_capabilities())
    return fhir_response(capability_statement())


@bp.route("/$versions", methods=["GET", "POST"])
def versions_view():
    """Say which FHIR versions this endpoint speaks (the HL7 test runner asks first)."""
    return fhir_response(
        {
            "resourceType": "Parameters",
            "parameter": [{"name": "version", "valueCode": "4.0"}, {"name": "default", "valueCode": "4.0"}],
        }
    )
