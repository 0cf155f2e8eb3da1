"""Compare a server's answer with an expected file of the HL7 terminology test suite.

The rules are the suite's (its readme) as the official Java runner applies them: array order
never matters; strings written ``$...$`` are patterns (``$instant$``, ``$uuid$``, ``$id$``,
``$external:n:fragments$``…); objects may mark themselves ``"$optional$"`` (always, or unless a
mode is on, or with a warning) and list ``"$optional-properties$"`` and ``"$count-arrays$"``;
an unexpected property is a failure except in pattern mode (used for the capability statements).
Before comparing, the answer is scrubbed of what the comparison ignores: ``meta``, ``text``,
OperationOutcome ``diagnostics`` (and issues that carry nothing else), a Parameters parameter
named ``diagnostics``, and extensions with absolute URLs outside the list the runner keeps.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

# Extensions a server may return and that are compared; any other absolute-URL extension is
# dropped before comparison (servers add their own freely).
COMPARED_EXTENSIONS = frozenset(
    {
        "http://hl7.org/fhir/StructureDefinition/codesystem-alternate",
        "http://hl7.org/fhir/StructureDefinition/codesystem-conceptOrder",
        "http://hl7.org/fhir/StructureDefinition/codesystem-label",
        "http://hl7.org/fhir/StructureDefinition/coding-sctdescid",
        "http://hl7.org/fhir/StructureDefinition/itemWeight",
        "http://hl7.org/fhir/StructureDefinition/rendering-style",
        "http://hl7.org/fhir/StructureDefinition/rendering-xhtml",
        "http://hl7.org/fhir/StructureDefinition/translation",
        "http://hl7.org/fhir/StructureDefinition/valueset-concept-definition",
        "http://hl7.org/fhir/StructureDefinition/valueset-conceptOrder",
        "http://hl7.org/fhir/StructureDefinition/valueset-deprecated",
        "http://hl7.org/fhir/StructureDefinition/valueset-label",
        "http://hl7.org/fhir/StructureDefinition/valueset-supplement",
        "http://hl7.org/fhir/StructureDefinition/valueset-unclosed",
        "http://hl7.org/fhir/StructureDefinition/valueset-unclosed-reason",
        "http://hl7.org/fhir/StructureDefinition/operationoutcome-message-id",
        "http://hl7.org/fhir/StructureDefinition/structuredefinition-standards-status",
        "http://hl7.org/fhir/StructureDefinition/alternate-code-use",
        "http://hl7.org/fhir/StructureDefinition/alternate-code-status",
        "http://hl7.org/fhir/uv/application-feature/StructureDefinition/feature",
        "http://hl7.org/fhir/test/CodeSystem/de-multi",
        "http://hl7.org/fhir/test/CodeSystem/en-multi",
        "http://hl7.org/fhir/test/StructureDefinition/unknown-extension-1",
        "http://hl7.org/fhir/test/StructureDefinition/unknown-extension-3",
        "http://hl7.org/fhir/test/StructureDefinition/unknown-extension-4",
        "http://hl7.org/fhir/test/StructureDefinition/unknown-extension-5",
        "http://hl7.org/fhir/test/ValueSet/extensions-bad-supplement",
        "http://hl7.org/fhir/test/ValueSet/extensions-enumerated",
        "http://hl7.org/fhir/test/ValueSet/simple-all",
        "http://hl7.org/fhir/test/ValueSet/simple-enumerated",
        "http://hl7.org/fhir/test/ValueSet/simple-filter-isa",
    }
)

_ABSOLUTE = re.compile(r"^(https?|urn|file|ftp):", re.IGNORECASE)

_PATTERNS = {
    "$instant$": re.compile(
        r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])"
        r"T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]{1,9})?"
        r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))"
    ),
    "$date$": re.compile(
        r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)-(0[1-9]|1[0-2])-(0[1-9]|[1-2][0-9]|3[0-1])"
        r"(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]{1,9})?"
        r"(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?"
    ),
    "$uuid$": re.compile(r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"),
    "$id$": re.compile(r"[A-Za-z0-9\-.]{1,64}"),
    "$url$": re.compile(r"(https?://|www\.)[-a-zA-Z0-9+&@#/%?=~_|!:.;]*[-a-zA-Z0-9+&@#/%=~_|]"),
    "$token$": re.compile(r"[0-9a-zA-Z_][0-9a-zA-Z_.\-]*"),
    "$semver$": re.compile(
        r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
        r"(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?"
    ),
}
# Identity fields used to pair array items quickly: items whose literal values differ never match.
_PAIRING_FIELDS = ("code", "name", "url")


def is_control(value: object) -> bool:
    """Say whether a string is a ``$...$`` pattern of the suite."""
    return isinstance(value, str) and len(value) > 1 and value.startswith("$") and value.endswith("$")


@dataclass
class Comparison:
    """One comparison's settings; ``warnings`` collects ``$optional$: warning:...`` notes."""

    modes: frozenset[str] = frozenset()
    externals: dict | None = None
    pattern_mode: bool = False
    # Strict fragments: `$external:n:frag|frag$` checks every fragment after the second colon.
    # The official runner splits the whole pattern on ':', so a fragment holding a URL is checked
    # only up to its scheme; strict checking is closer to what the suite's authors meant.
    strict_fragments: bool = False
    variables: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # Explain a difference in full (top level); trial pairings of array items stop at the first one.
    explain: bool = True

    # -- strings ---------------------------------------------------------------------------------
    def string_matches(self, expected: str, actual: str) -> bool:
        """Match an actual string against an expected literal or ``$...$`` pattern."""
        if not is_control(expected):
            if "$version$" in expected and "version" in self.variables:
                # A variable inside a text ("http://hl7.org/fhir/administrative-gender|$version$").
                return actual == expected.replace("$version$", self.variables["version"])
            return actual == expected
        if expected.startswith("$choice:"):
            return actual in expected[8:-1].split("|")
        if expected.startswith("$fragments:"):
            return all(f.lower() in actual.lower() for f in expected[11:-1].split("|"))
        if expected.startswith("$external:"):
            return self._external_matches(expected, actual)
        if expected == "$$":
            return True
        if expected == "$string$":
            return actual == actual.strip()
        if expected == "$version$":
            wanted = self.variables.get("version")
            return wanted is None or actual == wanted or actual.startswith(wanted + ".")
        pattern = _PATTERNS.get(expected)
        if pattern is None:
            raise ValueError(f"unknown pattern {expected}")
        return pattern.fullmatch(actual) is not None

    def _external_matches(self, expected: str, actual: str) -> bool:
        body = expected[1:-1]
        parts = body.split(":")
        if self.externals is not None and parts[1] in self.externals:
            wanted = self.externals[parts[1]]
            return actual == wanted or _same_message_parts(actual, wanted)
        if len(parts) <= 2:
            return True
        text = ":".join(parts[2:]) if self.strict_fragments else parts[2]
        return all(f.lower() in actual.lower() for f in text.split("|"))

    # -- optional markers ------------------------------------------------------------------------
    def _passes_filter(self, token: str) -> bool:
        if token.startswith("!"):
            return token[1:] not in self.modes
        if token.startswith("warning:"):
            return True
        return token in self.modes

    def is_optional(self, item: object) -> bool:
        """Say whether an expected array item may be absent (its ``$optional$`` marker)."""
        if not isinstance(item, dict) or "$optional$" not in item:
            return False
        marker = item["$optional$"]
        if isinstance(marker, bool):
            return marker
        return isinstance(marker, str) and self._passes_filter(marker)

    # -- nodes -----------------------------------------------------------------------------------
    def compare(self, expected: object, actual: object, path: str = "") -> str | None:
        """Return None when ``actual`` matches ``expected``, else a message naming the first difference."""
        if isinstance(expected, dict) and isinstance(actual, dict):
            return self._objects(expected, actual, path)
        if isinstance(expected, list) and isinstance(actual, list):
            return self._arrays(expected, actual, path, count_only=False)
        if isinstance(expected, (dict, list)) or isinstance(actual, (dict, list)):
            return f"properties differ at {path}: expected {_kind(expected)}, got {_kind(actual)}"
        if isinstance(expected, bool) or isinstance(actual, bool):
            if expected is actual:
                return None
            return f"values differ at {path}: expected {_show(expected)}, got {_show(actual)}"
        if isinstance(expected, str) and isinstance(actual, str):
            if self.string_matches(expected, actual):
                return None
            return f"string values differ at {path}: expected {_show(expected)}, got {_show(actual)}"
        if expected is None or actual is None or type(expected) is not type(actual):
            if isinstance(expected, (int, float)) and isinstance(actual, (int, float)) and expected == actual:
                return None
            return f"values differ at {path}: expected {_show(expected)}, got {_show(actual)}"
        if expected != actual:
            return f"values differ at {path}: expected {_show(expected)}, got {_show(actual)}"
        return None

    def _objects(self, expected: dict, actual: dict, path: str) -> str | None:
        optional = set(expected.get("$optional-properties$", []))
        count_only = set(expected.get("$count-arrays$", []))
        for name, value in actual.items():
            if name == "fhir_comments":
                continue
            if name in expected:
                if name in count_only and isinstance(value, list) and isinstance(expected[name], list):
                    found = self._arrays(expected[name], value, f"{path}.{name}", count_only=True)
                else:
                    found = self.compare(expected[name], value, f"{path}.{name}")
                if found:
                    return found
            elif not self.pattern_mode:
                return f"properties differ at {path or '(root)'}: unexpected property {name}"
        for name, value in expected.items():
            if is_control(name) or name == "fhir_comments" or name in optional or "*" in optional:
                continue
            if name not in actual and not _all_marked_optional(value):
                return f"properties differ at {path or '(root)'}: missing property {name}"
        return None

    def _arrays(self, expected: list, actual: list, path: str, count_only: bool) -> str | None:
        if count_only:
            if len(expected) != len(actual):
                return f"array item count differs at {path}: expected {len(expected)}, got {len(actual)}"
            return None
        required = [i for i, item in enumerate(expected) if not self.is_optional(item)]
        count_differs = not self.pattern_mode and (len(actual) > len(expected) or len(actual) < len(required))
        if count_differs and not self.explain:
            return f"array item count differs at {path}"
        candidates, pair_warnings = self._candidates(expected, actual, path)
        match_of_actual = _maximum_matching(candidates, len(actual))
        matched_expected = {e for e in match_of_actual if e is not None}
        for j, e in enumerate(match_of_actual):
            if e is not None:
                self.warnings.extend(pair_warnings.get((e, j), []))
        missing = [i for i in required if i not in matched_expected]
        unexpected = [] if self.pattern_mode else [j for j, e in enumerate(match_of_actual) if e is None]
        if len(missing) + len(unexpected) > 1 or (count_differs and (missing or unexpected)):
            parts = []
            if missing:
                parts.append("missing " + ", ".join(_label(expected[i]) for i in missing))
            if unexpected:
                parts.append("unexpected " + ", ".join(_label(actual[j]) for j in unexpected))
            message = (
                f"items differ at {path} (expected {len(expected)}, got {len(actual)}): {'; '.join(parts)}"
            )
            # Say why the first missing item does not match the unexpected one most like it.
            pairs = [(i, j) for i in missing for j in unexpected if _label(expected[i]) == _label(actual[j])]
            if not pairs and len(missing) == 1 and len(unexpected) == 1:
                pairs = [(missing[0], unexpected[0])]
            if pairs:
                i, j = pairs[0]
                message += "; " + (self._scratch().compare(expected[i], actual[j], path) or "")
            return message
        for i in required:
            if i not in matched_expected:
                return self._explain_missing(expected, actual, i, path, match_of_actual)
        if not self.pattern_mode:
            for j, e in enumerate(match_of_actual):
                if e is None:
                    return self._explain_unexpected(expected, actual, j, path, matched_expected)
        for i, item in enumerate(expected):
            if i not in matched_expected and isinstance(item, dict):
                marker = item.get("$optional$")
                if isinstance(marker, str) and marker.startswith("warning:"):
                    self.warnings.append(f"{path}: {marker[len('warning:') :]}")
        return None

    def _candidates(self, expected: list, actual: list, path: str) -> tuple[list[list[int]], dict]:
        """For each expected item, the actual items it matches (pairs pruned by identity fields).

        Also returns the warnings each matching pair raised, to keep those of the pairs chosen.
        """
        by_field: dict[str, dict[object, list[int]]] = {}
        lacking: dict[str, list[int]] = {}
        for name in _PAIRING_FIELDS:
            index: dict[object, list[int]] = {}
            missing: list[int] = []
            for j, item in enumerate(actual):
                if isinstance(item, dict) and isinstance(item.get(name), str):
                    index.setdefault(item[name], []).append(j)
                else:
                    missing.append(j)
            by_field[name], lacking[name] = index, missing
        result: list[list[int]] = []
        pair_warnings: dict[tuple[int, int], list[str]] = {}
        for i, item in enumerate(expected):
            pool: Iterable[int] = range(len(actual))
            if isinstance(item, dict):
                for name in _PAIRING_FIELDS:
                    value = item.get(name)
                    if isinstance(value, str) and not is_control(value):
                        pool = sorted([*by_field[name].get(value, []), *lacking[name]])
                        break
            matches = []
            for j in pool:
                scratch = self._scratch()
                if scratch.compare(item, actual[j], f"{path}[{i}]") is None:
                    matches.append(j)
                    if scratch.warnings:
                        pair_warnings[(i, j)] = scratch.warnings
            result.append(matches)
        return result, pair_warnings

    def _scratch(self) -> Comparison:
        """A comparison with the same settings and its own warnings (for trial pairings)."""
        return Comparison(
            self.modes,
            self.externals,
            self.pattern_mode,
            self.strict_fragments,
            self.variables,
            explain=False,
        )

    def _closest(self, item: object, actual: list, exclude: set[int]) -> int | None:
        if isinstance(item, dict):
            for name in _PAIRING_FIELDS:
                value = item.get(name)
                if isinstance(value, str) and not is_control(value):
                    for j, other in enumerate(actual):
                        if j not in exclude and isinstance(other, dict) and other.get(name) == value:
                            return j
        remaining = [j for j in range(len(actual)) if j not in exclude]
        return remaining[0] if len(remaining) == 1 else None

    def _explain_missing(self, expected, actual, i, path, match_of_actual) -> str:
        item = expected[i]
        if isinstance(item, dict):
            for name in _PAIRING_FIELDS:
                value = item.get(name)
                if isinstance(value, str) and not is_control(value):
                    if not any(isinstance(a, dict) and a.get(name) == value for a in actual):
                        return (
                            f"missing item at {path}: none has {name} {_show(value)} (expected {path}[{i}])"
                        )
                    break
        taken = {j for j, e in enumerate(match_of_actual) if e is not None}
        near = self._closest(expected[i], actual, taken)
        if near is None:
            near = self._closest(expected[i], actual, set())
        message = f"no item at {path} matches expected {path}[{i}] {_show(_without_controls(expected[i]))}"
        if near is not None:
            why = self._scratch().compare(expected[i], actual[near], f"{path}[{i}]")
            message += f"; closest is {path}[{near}]: {why}"
        return message

    def _explain_unexpected(self, expected, actual, j, path, matched_expected) -> str:
        return f"unexpected item at {path}[{j}]: {_show(actual[j])}"


def _maximum_matching(candidates: list[list[int]], actual_count: int) -> list[int | None]:
    """Pair expected items with actual items (Kuhn's augmenting paths); return actual -> expected."""
    owner: list[int | None] = [None] * actual_count

    def augment(i: int, seen: set[int]) -> bool:
        for j in candidates[i]:
            if j in seen:
                continue
            seen.add(j)
            if owner[j] is None or augment(owner[j], seen):
                owner[j] = i
                return True
        return False

    # Greedy first (items usually pair one to one), then augmenting paths for the rest.
    pending = []
    for i, options in enumerate(candidates):
        free = next((j for j in options if owner[j] is None), None)
        if free is None:
            pending.append(i)
        else:
            owner[free] = i
    for i in pending:
        augment(i, set())
    return owner


def _all_marked_optional(value: object) -> bool:
    """An expected array whose object items all carry ``$optional$`` may be absent altogether.

    As in the official runner, items that are not objects do not count: an expected array of
    primitives (an issue's ``location``, say) may be absent from the answer. Present, it must match.
    """
    if not isinstance(value, list):
        return False
    return all("$optional$" in item for item in value if isinstance(item, dict))


def _same_message_parts(actual: str, wanted: str) -> bool:
    """A ``message`` joins issue texts with '; ' in any order."""
    return sorted(actual.split("; ")) == sorted(wanted.split("; "))


def _without_controls(value: object) -> object:
    if isinstance(value, dict):
        return {k: _without_controls(v) for k, v in value.items() if not is_control(k)}
    if isinstance(value, list):
        return [_without_controls(v) for v in value]
    return value


def _label(item: object) -> str:
    """Name an array item briefly: by its identity field, else by its JSON."""
    if isinstance(item, dict):
        for name in (*_PAIRING_FIELDS, "severity"):
            if isinstance(item.get(name), str):
                return f"{name}={item[name]}"
    return _show(_without_controls(item), 80)


def _kind(value: object) -> str:
    return {dict: "an object", list: "an array"}.get(type(value), "a primitive")


def _show(value: object, limit: int = 300) -> str:
    import json

    text = json.dumps(value, ensure_ascii=False, sort_keys=False)
    return text if len(text) <= limit else text[:limit] + "…"


# -- scrubbing -------------------------------------------------------------------------------------


def scrub(resource: dict, keep_extensions: bool = False) -> dict:
    """Remove what the comparison ignores (see the module docstring); returns a new dict."""
    return _scrub(resource, keep_extensions, in_compose=False)


def _scrub(node: object, keep_extensions: bool, in_compose: bool) -> object:
    if isinstance(node, list):
        return [_scrub(item, keep_extensions, in_compose) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    is_resource = "resourceType" in node
    for name, value in node.items():
        if is_resource and name in ("meta", "text"):
            continue
        if name in ("extension", "modifierExtension") and not keep_extensions and not in_compose:
            kept = [ext for ext in value if _compared_extension(ext)]
            if kept:
                out[name] = [_scrub(ext, keep_extensions, in_compose) for ext in kept]
            continue
        out[name] = _scrub(value, keep_extensions, in_compose or name == "compose")
    if out.get("resourceType") == "OperationOutcome":
        issues = []
        for issue in out.get("issue", []):
            if "diagnostics" in issue and "details" not in issue:
                continue
            issues.append({k: v for k, v in issue.items() if k != "diagnostics"})
        out["issue"] = issues
    if out.get("resourceType") == "Parameters" and "parameter" in out:
        out["parameter"] = [p for p in out["parameter"] if p.get("name") != "diagnostics"]
    return out


def _compared_extension(extension: object) -> bool:
    if not isinstance(extension, dict):
        return True
    url = extension.get("url", "")
    return not _ABSOLUTE.match(url) or url in COMPARED_EXTENSIONS
