"""The one parameter parser: query strings and Parameters bodies give the same typed values."""

from __future__ import annotations

import pytest

from terminology.errors import InvalidRequest
from terminology.fhir.params import OperationParams


def both(query: list[tuple[str, str]], parameters: list[dict]) -> list[OperationParams]:
    return [
        OperationParams.from_query(query),
        OperationParams.from_parameters({"resourceType": "Parameters", "parameter": parameters}),
    ]


def test_primitives_read_the_same_from_get_and_post():
    for params in both(
        [("code", "72125"), ("count", "5"), ("activeOnly", "true"), ("property", "a,b")],
        [{"name": "code", "valueCode": "72125"}, {"name": "count", "valueInteger": 5},
         {"name": "activeOnly", "valueBoolean": True}, {"name": "property", "valueCode": "a"},
         {"name": "property", "valueCode": "b"}],
    ):  # fmt: skip
        assert params.string("code") == "72125"
        assert params.integer("count") == 5
        assert params.boolean("activeOnly") is True
        assert params.strings("property") == ["a", "b"]


def test_any_primitive_type_is_accepted_as_text():
    params = OperationParams.from_parameters(
        {"resourceType": "Parameters", "parameter": [{"name": "url", "valueCanonical": "http://x"}]}
    )
    assert params.string("url") == "http://x"


def test_coding_from_query_is_system_bar_code():
    params = OperationParams.from_query([("coding", "http://loinc.org|30592-0")])
    assert params.coding("coding") == ({"system": "http://loinc.org", "code": "30592-0"}, "Coding")


def test_nested_parts_become_nested_params():
    params = OperationParams.from_parameters(
        {
            "resourceType": "Parameters",
            "parameter": [{"name": "item", "part": [{"name": "sequence", "valueInteger": 1}]}],
        }
    )
    (item,) = params.all("item")
    assert item.value.integer("sequence") == 1
    assert item.path == "Parameters.parameter[0].part"


@pytest.mark.parametrize(
    ("query", "method", "name"),
    [([("count", "-1")], "integer", "count"), ([("count", "x")], "integer", "count"),
     ([("activeOnly", "yes")], "boolean", "activeOnly")],
)  # fmt: skip
def test_bad_values_raise_invalid_request_naming_the_parameter(query, method, name):
    with pytest.raises(InvalidRequest) as caught:
        getattr(OperationParams.from_query(query), method)(name)
    assert caught.value.expression == [name]


def test_complex_value_where_primitive_expected_is_refused():
    params = OperationParams.from_parameters(
        {"resourceType": "Parameters", "parameter": [{"name": "code", "valueCoding": {"code": "1"}}]}
    )
    with pytest.raises(InvalidRequest):
        params.string("code")
