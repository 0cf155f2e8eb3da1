"""CDS Hooks feedback: validation of the entries an EHR posts (stored by ``terminology.storage``)."""

from __future__ import annotations

from datetime import datetime

from terminology.errors import InvalidRequest

OUTCOMES = ("accepted", "overridden")


def _string(value: object, path: str, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"{path} must be a non-empty string", expression=path)
    return value


def _timestamp(value: object, path: str) -> str:
    text = _string(value, path)
    try:
        moment = datetime.fromisoformat(text)  # type: ignore[arg-type]
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or "T" not in text:  # type: ignore[operator]
        raise InvalidRequest(
            f"{path} must be an RFC 3339 date-time with a time zone (e.g. 2026-07-15T10:05:31Z)",
            expression=path,
        )
    return text  # type: ignore[return-value]


def read_feedback(body: object) -> list[dict]:
    """Validate a feedback request; return its entries normalised (400 naming the first bad field)."""
    if not isinstance(body, dict) or not isinstance(body.get("feedback"), list) or not body["feedback"]:
        raise InvalidRequest(
            "The body must be an object with a non-empty 'feedback' array", expression="feedback"
        )
    entries = []
    for i, raw in enumerate(body["feedback"]):
        here = f"feedback[{i}]"
        if not isinstance(raw, dict):
            raise InvalidRequest(f"{here} must be an object", expression=here)
        entry: dict = {"card": _string(raw.get("card"), f"{here}.card")}
        outcome = raw.get("outcome")
        if outcome not in OUTCOMES:
            raise InvalidRequest(
                f"{here}.outcome must be accepted or overridden", expression=f"{here}.outcome"
            )
        entry["outcome"] = outcome
        accepted = raw.get("acceptedSuggestions")
        if outcome == "accepted" or accepted is not None:
            if not isinstance(accepted, list) or not accepted:
                raise InvalidRequest(
                    f"{here}.acceptedSuggestions is required for an accepted outcome (a non-empty array)",
                    expression=f"{here}.acceptedSuggestions",
                )
            ids = []
            for k, item in enumerate(accepted):
                path = f"{here}.acceptedSuggestions[{k}]"
                if not isinstance(item, dict):
                    raise InvalidRequest(f"{path} must be an object with an id", expression=path)
                ids.append({"id": _string(item.get("id"), f"{path}.id")})
            entry["acceptedSuggestions"] = ids
        reason = raw.get("overrideReason")
        if reason is not None:
            path = f"{here}.overrideReason"
            if not isinstance(reason, dict) or not (reason.get("reason") or reason.get("userComment")):
                raise InvalidRequest(f"{path} must hold a reason Coding or a userComment", expression=path)
            kept: dict = {}
            coding = reason.get("reason")
            if coding is not None:
                if not isinstance(coding, dict):
                    raise InvalidRequest(f"{path}.reason must be a Coding", expression=f"{path}.reason")
                kept["reason"] = {
                    "system": _string(coding.get("system"), f"{path}.reason.system"),
                    "code": _string(coding.get("code"), f"{path}.reason.code"),
                }
                display = _string(coding.get("display"), f"{path}.reason.display", required=False)
                if display:
                    kept["reason"]["display"] = display
            comment = _string(reason.get("userComment"), f"{path}.userComment", required=False)
            if comment:
                kept["userComment"] = comment
            entry["overrideReason"] = kept
        entry["outcomeTimestamp"] = _timestamp(raw.get("outcomeTimestamp"), f"{here}.outcomeTimestamp")
        entries.append(entry)
    return entries
