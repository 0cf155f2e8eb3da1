"""One parameter parser for every operation: GET query strings and POST Parameters bodies."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from operator import itemgetter

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


class ParamValue(tuple):
    """One parameter occurrence: its name, value[x] type suffix, value and where it came from.

    A tuple underneath: the parser makes one per parameter of every request (hundreds per
    batch), and building a tuple skips the Python ``__init__`` call a plain class would pay.
    ``path`` (e.g. ``Parameters.parameter[2].valueCode``) is needed only for error messages and
    issue expressions, so the parser hands over where the value sits (a Where tuple) and the
    text is built when asked for.
    """

    __slots__ = ()

    def __new__(cls, name: str, value_type: str, value: object, path: str | tuple) -> ParamValue:
        return _new_tuple(cls, (name, value_type, value, path))

    name = property(itemgetter(0), doc="The parameter name.")
    value_type = property(
        itemgetter(1), doc="The value[x] suffix ('Coding', 'String', ...), or query, part, resource, empty."
    )
    value = property(itemgetter(2), doc="The value: JSON as sent, an OperationParams of parts, or text.")
    where = property(itemgetter(3), doc="Where the value sits: its path, or a Where tuple.")

    @property
    def path(self) -> str:
        """Return the element path of this parameter in the request."""
        return path_text(self[3])

    def __repr__(self) -> str:
        return f"ParamValue({self.name!r}, {self.value_type!r}, {self.value!r}, {self.path!r})"


_new_tuple = tuple.__new__
_new_object = object.__new__


# Where an element sits, without building its path text: (parent, list key, index, element);
# the parent is a path or another such tuple. (("Parameters", "parameter", 2, ""), "part", 0,
# "valueCode") is Parameters.parameter[2].part[0].valueCode.
Where = tuple


def path_text(where: str | Where) -> str:
    """Return the path text of a Where tuple (a path given as text is returned as it is)."""
    if where.__class__ is str:
        return where
    return _spelled(where)


@lru_cache(maxsize=4096)
def _spelled(where: Where) -> str:
    # Every request names the same few positions (parameter[3].part[1].valueCoding ...): each
    # is spelled once per worker, not once per finding.
    parent, key, index, element = where
    text = f"{path_text(parent)}.{key}[{index}]"
    return f"{text}.{element}" if element else text


def _error(message: str, where: str | Where, child: str = "") -> InvalidRequest:
    """Build the 400 for a bad element; ``message`` has ``{path}`` where the path text goes."""
    path = path_text(where) + (f".{child}" if child else "")
    # replace, not format: the message may carry the caller's text, braces and all.
    return InvalidRequest(message.replace("{path}", path, 1), expression=path)


def _check_coding(value: object, where: str | Where) -> dict:
    if value.__class__ is not dict:
        raise _error("{path} must be a JSON object (a Coding)", where)
    for key in _CODING_FIELDS:
        if key in value and value[key].__class__ is not str:
            raise _error("{path} must be a string", where, key)
    return value


def _check_codeable_concept(value: object, where: str | Where) -> dict:
    if value.__class__ is not dict:
        raise _error("{path} must be a JSON object (a CodeableConcept)", where)
    codings = value.get("coding", [])
    if codings.__class__ is not list:
        raise _error("{path} must be an array", where, "coding")
    for i, coding in enumerate(codings):
        _check_coding(coding, (where, "coding", i, ""))
    if "text" in value and value["text"].__class__ is not str:
        raise _error("{path} must be a string", where, "text")
    return value


def _wrong_type(where: Where) -> InvalidRequest:
    return _error(f"{{path}} has the wrong JSON type for {where[3]}", where)


def _check_text(value: object, where: Where) -> None:
    if value.__class__ is not str:
        raise _wrong_type(where)


def _check_boolean(value: object, where: Where) -> None:
    if value.__class__ is not bool:
        raise _wrong_type(where)


def _check_integer(value: object, where: Where) -> None:
    if value.__class__ is not int:  # JSON true/false are bool, not int, here
        raise _wrong_type(where)


def _check_decimal(value: object, where: Where) -> None:
    if value.__class__ is not int and value.__class__ is not float:
        raise _wrong_type(where)


# value[x] key -> (type suffix, check that raises for a value of the wrong shape). One lookup
# decides an entry's type: the parser meets these keys for every parameter of every request.
_VALUE_KEYS: dict[str, tuple[str, Callable[[object, Where], object]]] = {
    **{f"value{kind}": (kind, _check_text) for kind in _STRING_TYPES},
    "valueBoolean": ("Boolean", _check_boolean),
    **{f"value{kind}": (kind, _check_integer) for kind in _NUMBER_TYPES},
    "valueDecimal": ("Decimal", _check_decimal),
    "valueCoding": ("Coding", _check_coding),
    "valueCodeableConcept": ("CodeableConcept", _check_codeable_concept),
}


class OperationParams:
    """The parameters of one operation call, whatever form they arrived in."""

    __slots__ = ("_by_name", "method")

    def __init__(self, values: Iterable[ParamValue], method: str) -> None:
        self.method = method
        self._by_name: dict[str, list[ParamValue]] = {}
        for value in values:
            self._by_name.setdefault(value.name, []).append(value)

    @classmethod
    def _indexed(cls, by_name: dict[str, list[ParamValue]]) -> OperationParams:
        """Wrap the parser's own index of a POST body (name -> values in order) as it is.

        Built without a Python ``__init__`` call: the parser makes one for every item's parts.
        """
        params = _new_object(cls)
        params.method, params._by_name = "POST", by_name
        return params

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
        return cls._indexed(parse_parameter_list(body))

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

    def by_name(self) -> Mapping[str, list[ParamValue]]:
        """Return the parameters by name, each name's occurrences in order (read-only)."""
        return self._by_name

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


def parse_parameter_list(body: object) -> dict[str, list[ParamValue]]:
    """Check a Parameters resource; return its ParamValues by name (parts stay nested)."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a FHIR Parameters resource", expression="Parameters")
    if body.get("resourceType") != "Parameters":
        raise InvalidRequest(
            f"The request body must be a Parameters resource, not '{body.get('resourceType')}'",
            expression="resourceType",
        )
    return _parse_list(body.get("parameter", []), "Parameters", "parameter")


_STRUCTURE_KEYS = frozenset({"name", "id", "extension", "modifierExtension"})


def _parse_list(entries: object, parent: str | Where, list_key: str) -> dict[str, list[ParamValue]]:
    """Check a parameter (or part) array; return its values by name, in order."""
    if entries.__class__ is not list:
        raise _error("{path} must be an array", parent, list_key)
    by_name: dict[str, list[ParamValue]] = {}
    for i, entry in enumerate(entries):
        if entry.__class__ is not dict or (name := entry.get("name")).__class__ is not str:
            raise _error("{path} must be an object with a string name", (parent, list_key, i, ""))
        value = _parse_entry(entry, name, parent, list_key, i)
        same = by_name.get(name)
        if same is None:
            by_name[name] = [value]
        else:
            same.append(value)
    return by_name


def _parse_entry(entry: dict, name: str, parent: str | Where, list_key: str, index: int) -> ParamValue:
    """Check one parameter (or part) entry, the ``index``-th of ``parent``'s ``list_key`` array."""
    # This runs for every parameter of every request (hundreds per batch): the common shape,
    # a name and one value, is decided without building lists, and no path text is built
    # unless there is an error to report.
    if len(entry) == 2:
        for key in entry:
            if key != "name":
                break
        if key in _STRUCTURE_KEYS:
            key = ""
    else:
        payload = [k for k in entry if k not in _STRUCTURE_KEYS]
        if len(payload) > 1:
            raise _error(
                "{path} must have only one of value[x], resource or part", (parent, list_key, index, "")
            )
        key = payload[0] if payload else ""
    known = _VALUE_KEYS.get(key)
    if known is not None:
        value = entry[key]
        where = (parent, list_key, index, key)
        known[1](value, where)
        return _new_tuple(ParamValue, (name, known[0], value, where))
    if key[:5] == "value":  # any other value[x] type is a JSON object (or an array)
        value = entry[key]
        where = (parent, list_key, index, key)
        if value.__class__ is not dict and value.__class__ is not list:
            raise _error("{path} must be a JSON object", where)
        return _new_tuple(ParamValue, (name, key[5:], value, where))
    if key == "resource":
        resource = entry["resource"]
        where = (parent, list_key, index, "resource")
        if resource.__class__ is not dict or resource.get("resourceType").__class__ is not str:
            raise _error("{path} must be a FHIR resource", where)
        return _new_tuple(ParamValue, (name, "resource", resource, where))
    here = (parent, list_key, index, "")
    if key == "part":
        parts = OperationParams._indexed(_parse_list(entry["part"], here, "part"))
        return _new_tuple(ParamValue, (name, "part", parts, (parent, list_key, index, "part")))
    if key:
        raise _error("{path} is not an element of Parameters.parameter", here, key)
    return _new_tuple(ParamValue, (name, "empty", None, here))
