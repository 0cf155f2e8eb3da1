"""One parameter parser for every operation: GET query strings and POST Parameters bodies."""

from __future__ import annotations

from collections.abc import Iterable

from terminology.errors import InvalidRequest

PRIMITIVE_TYPES = frozenset(
    {
        "String", "Code", "Uri", "Url", "Canonical", "Id", "Oid", "Uuid", "Markdown",
        "Boolean", "Integer", "UnsignedInt", "PositiveInt", "Decimal", "Date", "DateTime",
        "Instant", "Time", "Base64Binary", "Integer64",
    }
)  # fmt: skip
_NUMBER_TYPES = frozenset({"Integer", "UnsignedInt", "PositiveInt", "Integer64"})
_NON_STRING_TYPES = _NUMBER_TYPES | {"Boolean", "Decimal"}
_STRING_TYPES = PRIMITIVE_TYPES - _NON_STRING_TYPES
_CODING_FIELDS = ("system", "version", "code", "display")


class ParamValue:
    """One parameter occurrence: its value[x] type suffix, value and where it came from.

    ``path`` (e.g. ``Parameters.parameter[2].valueCode``) is needed only for error messages and
    issue expressions, so the parser hands over its parts and the text is built on first use.
    """

    __slots__ = ("_where", "name", "value", "value_type")

    def __init__(self, name: str, value_type: str, value: object, path: str | tuple) -> None:
        self.name = name
        self.value_type = value_type
        self.value = value
        self._where = path  # the path, or (parent, key, index, suffix) to build it from

    @property
    def path(self) -> str:
        """Return the element path of this parameter in the request."""
        where = self._where
        if where.__class__ is tuple:
            parent, key, index, suffix = where
            where = self._where = f"{parent}.{key}[{index}]{suffix}"
        return where

    def __repr__(self) -> str:
        return f"ParamValue({self.name!r}, {self.value_type!r}, {self.value!r}, {self.path!r})"


def _check_coding(value: object, path: str) -> dict:
    if not isinstance(value, dict):
        raise InvalidRequest(f"{path} must be a JSON object (a Coding)", expression=path)
    for key in _CODING_FIELDS:
        if key in value and not isinstance(value[key], str):
            raise InvalidRequest(f"{path}.{key} must be a string", expression=f"{path}.{key}")
    return value


def _check_codeable_concept(value: object, path: str) -> dict:
    if not isinstance(value, dict):
        raise InvalidRequest(f"{path} must be a JSON object (a CodeableConcept)", expression=path)
    codings = value.get("coding", [])
    if not isinstance(codings, list):
        raise InvalidRequest(f"{path}.coding must be an array", expression=f"{path}.coding")
    for i, coding in enumerate(codings):
        _check_coding(coding, f"{path}.coding[{i}]")
    if "text" in value and not isinstance(value["text"], str):
        raise InvalidRequest(f"{path}.text must be a string", expression=f"{path}.text")
    return value


def _check_primitive(value_type: str, value: object, path: str) -> None:
    if value.__class__ is str and value_type not in _NON_STRING_TYPES:
        return  # the common case, decided without the chain below
    if value_type == "Boolean":
        ok = isinstance(value, bool)
    elif value_type in _NUMBER_TYPES:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif value_type == "Decimal":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    else:
        ok = isinstance(value, str)
    if not ok:
        raise InvalidRequest(f"{path} has the wrong JSON type for value{value_type}", expression=path)


class OperationParams:
    """The parameters of one operation call, whatever form they arrived in."""

    __slots__ = ("_by_name", "method")

    def __init__(self, values: Iterable[ParamValue], method: str) -> None:
        self.method = method
        self._by_name: dict[str, list[ParamValue]] = {}
        for value in values:
            self._by_name.setdefault(value.name, []).append(value)

    @classmethod
    def from_query(cls, items: Iterable[tuple[str, str]]) -> OperationParams:
        """Build from query-string pairs (GET, or a form-encoded POST)."""
        return cls((ParamValue(name, "query", value, name) for name, value in items), "GET")

    @classmethod
    def from_body(cls, body: object, bare_types: tuple[str, ...]) -> OperationParams:
        """Build from a POST body that is either Parameters or a bare resource of ``bare_types``.

        A bare resource is taken as if it were sent in the ``resource`` parameter.
        """
        if isinstance(body, dict) and body.get("resourceType") in bare_types:
            return cls([ParamValue("resource", "resource", body, body["resourceType"])], "POST")
        return cls.from_parameters(body)

    @classmethod
    def from_parameters(cls, body: object) -> OperationParams:
        """Build from a FHIR Parameters resource, checking its structure as it goes."""
        return cls(parse_parameter_list(body), "POST")

    def without(self, name: str) -> OperationParams:
        """Return a copy without the parameters called ``name``."""
        return OperationParams(
            (v for values in self._by_name.values() for v in values if v.name != name), self.method
        )

    def with_defaults(self, defaults: OperationParams) -> OperationParams:
        """Return these parameters plus those of ``defaults`` whose names are not present here."""
        merged = OperationParams((), self.method)
        merged._by_name = {**defaults._by_name, **self._by_name}
        return merged

    def names(self) -> set[str]:
        """Return the names of the parameters present."""
        return set(self._by_name)

    def all(self, name: str) -> list[ParamValue]:
        """Return every occurrence of a parameter."""
        return self._by_name.get(name, [])

    def first(self, *names: str) -> ParamValue | None:
        """Return the first occurrence of the first of ``names`` that is present."""
        for name in names:
            values = self._by_name.get(name)
            if values:
                return values[0]
        return None

    def string(self, *names: str) -> str | None:
        """Return a parameter as text; any primitive value[x] type is accepted.

        An empty value counts as absent: FHIR has no empty strings.
        """
        found = self.first(*names)
        if found is None or found.value == "":
            return None
        if found.value_type == "query" or found.value_type in PRIMITIVE_TYPES:
            value = found.value
            if isinstance(value, bool):
                return "true" if value else "false"
            return str(value)
        raise InvalidRequest(f"Parameter '{found.name}' must have a primitive value", expression=found.path)

    def strings(self, name: str) -> list[str]:
        """Return every occurrence of a repeating primitive parameter (comma lists split on GET)."""
        result: list[str] = []
        for found in self.all(name):
            if found.value_type == "query":
                result.extend(v for v in str(found.value).split(",") if v)
            elif found.value_type in PRIMITIVE_TYPES:
                result.append(str(found.value))
            else:
                raise InvalidRequest(f"Parameter '{name}' must have a primitive value", expression=found.path)
        return result

    def boolean(self, name: str, default: bool = False) -> bool:
        """Return a boolean parameter (``true``/``false``)."""
        found = self.first(name)
        if found is None:
            return default
        if isinstance(found.value, bool):
            return found.value
        text = str(found.value).strip().lower()
        if text in ("true", "false"):
            return text == "true"
        raise InvalidRequest(
            f"Parameter '{name}' must be true or false, not '{found.value}'", expression=found.path
        )

    def integer(
        self, name: str, default: int | None = None, minimum: int = 0, maximum: int = 2**31 - 1
    ) -> int | None:
        """Return an integer parameter within FHIR's 32-bit ``integer`` range."""
        found = self.first(name)
        if found is None:
            return default
        value = found.value
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                value = None
        if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
            raise InvalidRequest(
                f"Parameter '{name}' must be an integer from {minimum} to {maximum}, not '{found.value}'",
                expression=found.path,
            )
        return value

    def coding(self, name: str) -> tuple[dict, str] | None:
        """Return a Coding parameter and its path; on GET it is written ``system|code``."""
        found = self.first(name)
        if found is None:
            return None
        if found.value_type == "query":
            system, sep, code = str(found.value).rpartition("|")
            return ({"system": system, "code": code} if sep else {"code": code}), "Coding"
        if found.value_type != "Coding":
            raise InvalidRequest(f"Parameter '{name}' must be a valueCoding", expression=found.path)
        return found.value, "Coding"  # type: ignore[return-value]

    def codeable_concept(self, name: str) -> dict | None:
        """Return a CodeableConcept parameter (POST only)."""
        found = self.first(name)
        if found is None:
            return None
        if found.value_type != "CodeableConcept":
            raise InvalidRequest(f"Parameter '{name}' must be a valueCodeableConcept", expression=found.path)
        return found.value  # type: ignore[return-value]

    def resource(self, name: str) -> ParamValue | None:
        """Return a parameter carrying a resource (POST only)."""
        found = self.first(name)
        if found is not None and found.value_type != "resource":
            raise InvalidRequest(f"Parameter '{name}' must carry a resource", expression=found.path)
        return found


def parse_parameter_list(body: object, path: str = "Parameters", key: str = "parameter") -> list[ParamValue]:
    """Check and flatten a Parameters resource into ParamValues (parts stay nested)."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a FHIR Parameters resource", expression=path)
    if path == "Parameters" and body.get("resourceType") != "Parameters":
        raise InvalidRequest(
            f"The request body must be a Parameters resource, not '{body.get('resourceType')}'",
            expression="resourceType",
        )
    entries = body.get("parameter", [])
    if not isinstance(entries, list):
        raise InvalidRequest(f"{path}.{key} must be an array", expression=f"{path}.{key}")
    values: list[ParamValue] = []
    append = values.append
    for i, entry in enumerate(entries):
        if entry.__class__ is not dict or entry.get("name").__class__ is not str:
            here = f"{path}.{key}[{i}]"
            raise InvalidRequest(f"{here} must be an object with a string name", expression=here)
        append(_parse_entry(entry, (path, key, i)))
    return values


_STRUCTURE_KEYS = frozenset({"name", "id", "extension", "modifierExtension"})


def _parse_entry(entry: dict, where: tuple[str, str, int]) -> ParamValue:
    """Check one Parameters.parameter entry; ``where`` is (parent path, key, index)."""
    name = entry["name"]
    # This runs for every parameter of every request (hundreds per batch): the common shape,
    # a name and one value, is decided without building lists or path strings.
    if len(entry) == 2:
        for key in entry:
            if key != "name":
                break
        if key in _STRUCTURE_KEYS:
            key = ""
    else:
        payload = [k for k in entry if k not in _STRUCTURE_KEYS]
        if len(payload) > 1:
            here = _here(where)
            raise InvalidRequest(f"{here} must have only one of value[x], resource or part", expression=here)
        key = payload[0] if payload else ""
    if key.startswith("value"):
        value_type, value = key[5:], entry[key]
        if value.__class__ is str and value_type in _STRING_TYPES:
            return ParamValue(name, value_type, value, (*where, f".{key}"))
        vpath = f"{_here(where)}.{key}"
        if value_type in PRIMITIVE_TYPES:
            _check_primitive(value_type, value, vpath)
        elif value_type == "Coding":
            _check_coding(value, vpath)
        elif value_type == "CodeableConcept":
            _check_codeable_concept(value, vpath)
        elif not isinstance(value, dict | list):
            raise InvalidRequest(f"{vpath} must be a JSON object", expression=vpath)
        return ParamValue(name, value_type, value, vpath)
    if key == "resource":
        resource = entry["resource"]
        if resource.__class__ is not dict or resource.get("resourceType").__class__ is not str:
            path = f"{_here(where)}.resource"
            raise InvalidRequest(f"{path} must be a FHIR resource", expression=path)
        return ParamValue(name, "resource", resource, (*where, ".resource"))
    here = _here(where)
    if key == "part":
        parts = parse_parameter_list({"parameter": entry["part"]}, here, key="part")
        return ParamValue(name, "part", OperationParams(parts, "POST"), f"{here}.part")
    if key:
        raise InvalidRequest(
            f"{here}.{key} is not an element of Parameters.parameter", expression=f"{here}.{key}"
        )
    return ParamValue(name, "empty", None, here)


def _here(where: tuple[str, str, int]) -> str:
    parent, key, index = where
    return f"{parent}.{key}[{index}]"
