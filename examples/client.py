"""Post every example request to a running terminology service and print a one-line summary of each.

Usage: python examples/client.py http://127.0.0.1:8000 [--token TOKEN] [--send-feedback]

The CDS Hooks feedback example is stored for real by the service (durably, like an EHR's), so it
is only sent with --send-feedback; without it that line says it was skipped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
# (example file, path it is posted to, media type)
EXAMPLES = [
    ("bundling-check-claim-62302-62284.json", "/$bundling-check", "application/fhir+json"),
    ("bundling-check-chargeitem-bundle.json", "/$bundling-check", "application/fhir+json"),
    ("order-to-charge-bundle.json", "/$order-to-charge", "application/fhir+json"),
    ("batch-bundle.json", "/", "application/fhir+json"),
    ("batch-validate-code.json", "/ValueSet/$batch-validate-code", "application/fhir+json"),
    ("cds-order-sign-72125-72126.json", "/cds-services/bundling-order-sign", "application/json"),
    ("cds-feedback.json", "/cds-services/bundling-order-sign/feedback", "application/json"),
]
# Examples whose answer is a write the service keeps: sent only when asked (--send-feedback).
STORED = {"cds-feedback.json"}


def summarise(body: dict) -> str:
    """Return a short description of an answer (cards, findings, batch statuses...)."""
    if "cards" in body:
        return "; ".join(f"[{c['indicator']}] {c['summary']}" for c in body["cards"]) or "no cards"
    if "stored" in body:
        stored = body["stored"]
        return f"{stored} feedback {'entry' if stored == 1 else 'entries'} stored"
    kind = body.get("resourceType")
    if kind == "Bundle":
        return "entries: " + ", ".join(e["response"]["status"] for e in body.get("entry", []))
    if kind == "OperationOutcome":
        return "error: " + "; ".join(i.get("details", {}).get("text", i["code"]) for i in body["issue"])
    parameters = body.get("parameter", [])
    findings = [p for p in parameters if p["name"] == "finding"]
    if findings:
        rules = [next(x["valueCode"] for x in f["part"] if x["name"] == "rule") for f in findings]
        return "findings: " + ", ".join(rules)
    validations = [p for p in parameters if p["name"] == "validation"]
    if validations:
        results = [
            next(
                (x["valueBoolean"] for x in v["resource"].get("parameter", []) if x["name"] == "result"), None
            )
            for v in validations
        ]
        return "results: " + ", ".join(str(r).lower() for r in results)
    return "no findings"


def main(argv: list[str] | None = None) -> int:
    """Post each example; exit 1 if any answer is not 200."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="base URL of the service, e.g. http://127.0.0.1:8000")
    parser.add_argument("--token", help="bearer token, when access control is on")
    parser.add_argument(
        "--send-feedback",
        action="store_true",
        help="also post the CDS feedback example (the service stores it in its feedback database)",
    )
    args = parser.parse_args(argv)
    session = requests.Session()
    if args.token:
        session.headers["Authorization"] = f"Bearer {args.token}"
    failures = 0
    for name, path, media_type in EXAMPLES:
        if name in STORED and not args.send_feedback:
            print(f"skipped POST {path} ({name}): it would be stored for real; --send-feedback sends it")
            continue
        body = (HERE / name).read_bytes()
        response = session.post(
            args.base.rstrip("/") + path, data=body, headers={"Content-Type": media_type}, timeout=30
        )
        failures += response.status_code != 200
        print(f"{response.status_code} POST {path} ({name}): {summarise(response.json())}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
