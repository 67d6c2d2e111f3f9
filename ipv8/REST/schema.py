"""JSON Schema fragments for describing REST requests and responses, and a small validator for them.

Resources describe their bodies with plain JSON Schema dicts (the dialect OpenAPI 3.1 uses). The helpers
below only save typing; a handwritten dict works just as well. The same dicts serve two purposes: they are
copied into the generated OpenAPI document, and :func:`validate` checks incoming JSON bodies and query
parameters against them, so the documentation and the checks cannot drift apart.

:func:`validate` understands the keywords the helpers produce: ``type`` (a name or a list of names),
``properties``, ``required``, ``additionalProperties``, ``items``, ``enum``, ``minimum``, ``maximum``,
``minLength`` and ``maxLength``, and ``$ref`` to ``#/components/schemas/<name>`` when given the components.
"""
from __future__ import annotations

from typing import Any, Mapping

Schema = dict[str, Any]

#: Reference to the error body every failing request returns (defined in the generated document).
ERROR_REF: Schema = {"$ref": "#/components/schemas/Error"}
#: Reference to the ``{"success": true}`` body of operations that only acknowledge.
SUCCESS_REF: Schema = {"$ref": "#/components/schemas/Success"}

#: Schemas every generated document contains under ``components/schemas``.
SHARED_SCHEMAS: dict[str, Schema] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "description": "py-ipv8's error shapes: {\"success\": false, \"error\": \"<message>\", \"error_code\": ...} "
                       "for a refused request, {\"error\": \"Unauthorized access\"} for a missing or wrong API key, "
                       "and {\"success\": false, \"error\": {\"code\": ..., \"message\": ...}} for a 500.",
        "properties": {
            "success": {"type": "boolean", "enum": [False]},
            "error": {
                "type": ["string", "object"],
                "description": "What went wrong, for humans (an object with code and message for a 500).",
                "properties": {
                    "code": {"type": "string", "description": "Class name of the exception."},
                    "message": {"type": "string", "description": "The exception's message."},
                },
            },
            "error_code": {"type": "string", "description": "Machine-readable kind of error (txipv8 only)."},
        },
    },
    "Success": {
        "type": "object",
        "required": ["success"],
        "properties": {"success": {"type": "boolean"}},
    },
}


def _described(schema: Schema, description: str | None) -> Schema:
    if description:
        schema["description"] = description
    return schema


def string(description: str | None = None, **keywords: Any) -> Schema:  # noqa: ANN401
    """A JSON string."""
    return _described({"type": "string", **keywords}, description)


def integer(description: str | None = None, **keywords: Any) -> Schema:  # noqa: ANN401
    """A JSON integer (``true``/``false`` are not accepted as integers)."""
    return _described({"type": "integer", **keywords}, description)


def number(description: str | None = None, **keywords: Any) -> Schema:  # noqa: ANN401
    """A JSON number (integer or fraction)."""
    return _described({"type": "number", **keywords}, description)


def boolean(description: str | None = None) -> Schema:
    """A JSON boolean."""
    return _described({"type": "boolean"}, description)


def array(items: Schema, description: str | None = None) -> Schema:
    """A JSON array whose elements all match ``items``."""
    return _described({"type": "array", "items": items}, description)


def mapping(values: Schema, description: str | None = None) -> Schema:
    """A JSON object with arbitrary keys whose values all match ``values``."""
    return _described({"type": "object", "additionalProperties": values}, description)


def obj(required: tuple[str, ...] | list[str] = (), description: str | None = None,
        **properties: Schema) -> Schema:
    """
    A JSON object with the given ``properties``; names listed in ``required`` must be present.

    Unknown extra properties are allowed (clients may send more than we read).
    """
    missing = [name for name in required if name not in properties]
    if missing:
        raise ValueError(f"required properties {missing} are not declared")
    schema: Schema = {"type": "object", "properties": dict(properties)}
    if required:
        schema["required"] = list(required)
    return _described(schema, description)


class SchemaError(ValueError):
    """A value does not match its schema; ``path`` says where (for example ``body.port``)."""

    def __init__(self, path: str, problem: str) -> None:
        """Describe a mismatch at ``path``."""
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


_TYPE_CHECKS = {
    "string": lambda value: isinstance(value, str),
    "integer": lambda value: isinstance(value, int) and not isinstance(value, bool),
    "number": lambda value: isinstance(value, (int, float)) and not isinstance(value, bool),
    "boolean": lambda value: isinstance(value, bool),
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "null": lambda value: value is None,
}


def validate(value: Any, schema: Mapping[str, Any], path: str = "value",  # noqa: ANN401
             components: Mapping[str, Schema] | None = None) -> None:
    """
    Check ``value`` (already decoded from JSON) against ``schema``.

    :param components: the schemas ``#/components/schemas/<name>`` references point to; without them a
                       ``$ref`` accepts anything.
    :raises SchemaError: at the first mismatch, naming where it is.
    """
    reference = schema.get("$ref")
    if reference is not None:
        if components is None:
            return
        name = reference.rsplit("/", 1)[-1]
        if name not in components:
            raise SchemaError(path, f"unknown schema reference {reference!r}")
        schema = components[name]
    expected = schema.get("type")
    if expected is not None:
        names = [expected] if isinstance(expected, str) else list(expected)
        if not any(_TYPE_CHECKS[name](value) for name in names):
            raise SchemaError(path, f"expected {' or '.join(names)}, got {_json_type(value)}")
    if "enum" in schema and value not in schema["enum"]:
        raise SchemaError(path, f"must be one of {schema['enum']!r}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            raise SchemaError(path, f"must be at least {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise SchemaError(path, f"must be at most {schema['maximum']}")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            raise SchemaError(path, f"must have at least {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise SchemaError(path, f"must have at most {schema['maxLength']} characters")
    if isinstance(value, dict):
        _validate_object(value, schema, path, components)
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            validate(item, schema["items"], f"{path}[{index}]", components)


def _validate_object(value: dict, schema: Mapping[str, Any], path: str,
                     components: Mapping[str, Schema] | None) -> None:
    for name in schema.get("required", ()):
        if name not in value:
            raise SchemaError(f"{path}.{name}", "is required")
    properties = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        if name in properties:
            validate(item, properties[name], f"{path}.{name}", components)
        elif extra is False:
            raise SchemaError(f"{path}.{name}", "is not an accepted property")
        elif isinstance(extra, Mapping):
            validate(item, extra, f"{path}.{name}", components)


def _json_type(value: Any) -> str:  # noqa: ANN401
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _TYPE_CHECKS[name](value):
            return name
    return type(value).__name__


__all__ = ["ERROR_REF", "SHARED_SCHEMAS", "SUCCESS_REF", "Schema", "SchemaError", "array", "boolean", "integer",
           "mapping", "number", "obj", "string", "validate"]
