"""The JSON Schema helpers and the validator behind request checking."""
from __future__ import annotations

import pytest

from ipv8.REST.schema import (SHARED_SCHEMAS, SchemaError, array, boolean, integer, mapping, number, obj, string,
                              validate)

BODY = obj(("enable",), enable=boolean(), port=integer(minimum=1, maximum=65535), name=string(minLength=1),
           ratio=number(), tags=array(string()), extra=mapping(integer()))


def test_accepts_a_matching_value() -> None:
    validate({"enable": True, "port": 80, "name": "x", "ratio": 0.5, "tags": ["a"], "extra": {"k": 1}}, BODY)
    validate({"enable": False, "unknown": [1, 2]}, BODY)  # extra properties are allowed


@pytest.mark.parametrize(("value", "path", "problem"), [
    ({}, "body.enable", "is required"),
    ({"enable": 1}, "body.enable", "expected boolean, got integer"),
    ({"enable": True, "port": True}, "body.port", "expected integer, got boolean"),
    ({"enable": True, "port": 1.5}, "body.port", "expected integer, got number"),
    ({"enable": True, "port": 0}, "body.port", "must be at least 1"),
    ({"enable": True, "port": 70000}, "body.port", "must be at most 65535"),
    ({"enable": True, "name": ""}, "body.name", "must have at least 1 characters"),
    ({"enable": True, "tags": ["a", 3]}, "body.tags[1]", "expected string, got integer"),
    ({"enable": True, "extra": {"k": "v"}}, "body.extra.k", "expected integer, got string"),
    ([], "body", "expected object, got array"),
])
def test_reports_where_a_value_is_wrong(value: object, path: str, problem: str) -> None:
    with pytest.raises(SchemaError) as caught:
        validate(value, BODY, "body")
    assert caught.value.path == path
    assert caught.value.problem == problem
    assert str(caught.value) == f"{path}: {problem}"


def test_type_lists_enum_and_closed_objects() -> None:
    flag = {"type": ["boolean", "integer"]}
    validate(True, flag)
    validate(1, flag)
    with pytest.raises(SchemaError):
        validate("1", flag)
    with pytest.raises(SchemaError, match="must be one of"):
        validate("c", {"enum": ["a", "b"]})
    closed = {"type": "object", "properties": {"a": {}}, "additionalProperties": False}
    validate({"a": 1}, closed)
    with pytest.raises(SchemaError, match="not an accepted property"):
        validate({"b": 1}, closed)


def test_references_are_followed_when_components_are_given() -> None:
    ref = {"$ref": "#/components/schemas/Error"}
    good = {"success": False, "error": "went wrong", "error_code": "X"}
    validate(good, ref, components=SHARED_SCHEMAS)
    validate({"error": "Unauthorized access"}, ref, components=SHARED_SCHEMAS)
    validate({"success": False, "error": {"code": "KeyError", "message": "'x'"}}, ref, components=SHARED_SCHEMAS)
    with pytest.raises(SchemaError, match="value.error: is required"):
        validate({"success": False}, ref, components=SHARED_SCHEMAS)
    with pytest.raises(SchemaError, match="value.error: expected string or object"):
        validate({"success": False, "error": 3}, ref, components=SHARED_SCHEMAS)
    with pytest.raises(SchemaError, match="unknown schema reference"):
        validate(good, {"$ref": "#/components/schemas/Nope"}, components=SHARED_SCHEMAS)
    validate("anything", ref)  # without components a reference is not checked


def test_obj_refuses_undeclared_required_names() -> None:
    with pytest.raises(ValueError, match="not declared"):
        obj(("missing",), present=string())
