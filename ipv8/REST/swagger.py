"""Generate the Swagger 2.0 document of a REST resource tree, for clients written against py-ipv8 3.x.

py-ipv8 3.x publishes a Swagger 2.0 document at ``/docs/swagger.json``; tools and scripts built for it expect
that dialect. This module derives it from the very declarations :mod:`ipv8.REST.openapi` turns into the
OpenAPI 3.1 document (same walk over the tree, same operation ids, same summaries and statuses), so the two
documents cannot describe different APIs.

The declarations are JSON Schema (the dialect of OpenAPI 3.1). Swagger 2.0 only knows a subset of it, so
:func:`swagger_schema` translates: references move from ``#/components/schemas`` to ``#/definitions``, a
``type`` list with ``"null"`` becomes one type plus ``x-nullable``, and keywords 2.0 lacks are kept as
``x-`` vendor extensions rather than dropped (a reader still sees them; validators ignore them).
"""
from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any, Mapping

from .base_endpoint import JSON_CONTENT_TYPE
from .openapi import (API_KEY_QUERY_SCHEME, API_KEY_SCHEME, api_description, iter_operations, operation_id,
                      path_parameter_names)
from .schema import SHARED_SCHEMAS

if TYPE_CHECKING:
    from .base_endpoint import BaseEndpoint, Operation

SWAGGER_VERSION = "2.0"
COMPONENT_PREFIX = "#/components/schemas/"
DEFINITION_PREFIX = "#/definitions/"

#: Keywords a Swagger 2.0 Schema Object may hold as they are (besides ``x-`` extensions).
_SCHEMA_KEYWORDS = frozenset({
    "format", "title", "description", "default", "multipleOf", "maximum", "minimum", "maxLength", "minLength",
    "pattern", "maxItems", "minItems", "uniqueItems", "maxProperties", "minProperties", "required", "enum",
    "readOnly", "example", "discriminator", "xml", "externalDocs",
})
#: The types a query or path parameter may have in Swagger 2.0.
_PARAMETER_TYPES = ("string", "number", "integer", "boolean", "array")
#: Keywords a Swagger 2.0 query parameter may carry next to its ``type``.
_PARAMETER_KEYWORDS = frozenset({
    "format", "default", "maximum", "minimum", "maxLength", "minLength", "pattern", "maxItems", "minItems",
    "uniqueItems", "enum", "multipleOf",
})


def _single_type(kinds: Any) -> tuple[str | None, bool]:  # noqa: ANN401
    """``(the one non-null type or None, whether null is allowed)`` of a JSON Schema ``type`` value."""
    names = [kinds] if isinstance(kinds, str) else list(kinds)
    nullable = "null" in names
    others = [name for name in names if name != "null"]
    return (others[0] if len(others) == 1 else None), nullable


def swagger_schema(schema: Any) -> Any:  # noqa: ANN401
    """Translate one JSON Schema (OpenAPI 3.1 dialect) into a Swagger 2.0 Schema Object; see the module docs."""
    if not isinstance(schema, Mapping):
        return copy.deepcopy(schema)
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "$ref":
            result[key] = DEFINITION_PREFIX + value[len(COMPONENT_PREFIX):] \
                if value.startswith(COMPONENT_PREFIX) else value
        elif key == "type":
            kind, nullable = _single_type(value)
            if kind is not None:
                result["type"] = kind
            elif not isinstance(value, str) and len(value) - nullable > 1:
                # Several types (e.g. boolean or integer): 2.0 cannot say it, so the schema allows anything.
                result["x-types"] = list(value)
            if nullable:
                result["x-nullable"] = True
        elif key == "properties":
            result[key] = {name: swagger_schema(item) for name, item in value.items()}
        elif key in ("items", "additionalProperties"):
            result[key] = swagger_schema(value)
        elif key == "allOf":
            result[key] = [swagger_schema(item) for item in value]
        elif key == "const":
            result["enum"] = [copy.deepcopy(value)]
        elif key in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            result["minimum" if key == "exclusiveMinimum" else "maximum"] = value
            result[key] = True
        elif key == "examples" and isinstance(value, list) and value:
            result["example"] = copy.deepcopy(value[0])
        elif key in _SCHEMA_KEYWORDS or key.startswith("x-"):
            result[key] = copy.deepcopy(value)
        else:
            # oneOf, anyOf, prefixItems...: no 2.0 equivalent; keep them visible as vendor extensions.
            result["x-" + key] = copy.deepcopy(value)
    return result


def _query_parameter(name: str, required: bool, schema: Mapping[str, Any], description: str) -> dict[str, Any]:
    kind, _ = _single_type(schema.get("type", "string"))
    parameter: dict[str, Any] = {"name": name, "in": "query", "required": required,
                                 "type": kind if kind in _PARAMETER_TYPES else "string"}
    if parameter["type"] == "array":
        item_kind, _ = _single_type(schema.get("items", {}).get("type", "string"))
        parameter["items"] = {"type": item_kind if item_kind in _PARAMETER_TYPES[:-1] else "string"}
    for key, value in schema.items():
        if key in _PARAMETER_KEYWORDS:
            parameter[key] = copy.deepcopy(value)
    if description or schema.get("description"):
        parameter["description"] = description or schema["description"]
    return parameter


def _operation_object(path: str, method: str, operation: Operation, api_key_required: bool) -> dict[str, Any]:
    produces = {JSON_CONTENT_TYPE, operation.content_type}
    document: dict[str, Any] = {
        "operationId": operation_id(path, method),
        "summary": operation.summary,
        "produces": sorted(produces),
        "responses": {
            str(status): {"description": description, "schema": swagger_schema(schema)}
            for status, (description, schema) in sorted(operation.documented_statuses(api_key_required).items())
        },
    }
    if operation.description:
        document["description"] = operation.description
    if operation.tags:
        document["tags"] = list(operation.tags)
    parameters = [{"name": name, "in": "path", "required": True, "type": "string"}
                  for name in path_parameter_names(path)]
    parameters += [_query_parameter(parameter.name, parameter.required, parameter.schema, parameter.description)
                   for parameter in operation.query]
    if operation.body is not None:
        document["consumes"] = [JSON_CONTENT_TYPE]
        parameters.append({"name": "body", "in": "body", "required": operation.body_required,
                           "schema": swagger_schema(operation.body)})
    if parameters:
        document["parameters"] = parameters
    if operation.public and api_key_required:
        document["security"] = []
    return document


def build_swagger(root: BaseEndpoint, api_key_required: bool = False) -> dict[str, Any]:
    """
    The Swagger 2.0 document of every operation under ``root``.

    No ``host`` or ``schemes`` are given: readers use the address they fetched the document from, which is
    right behind a reverse proxy and for HTTPS alike.

    :param api_key_required: declare the ``X-Api-Key`` header (or ``apikey`` query parameter) as needed
                             by every operation that is not public, and document the 401 answers.
    """
    paths: dict[str, dict[str, Any]] = {}
    for path, method, operation in iter_operations(root):
        paths.setdefault(path, {})[method.lower()] = _operation_object(path, method, operation, api_key_required)
    document: dict[str, Any] = {
        "swagger": SWAGGER_VERSION,
        "info": api_description(),
        "basePath": "/",
        "consumes": [JSON_CONTENT_TYPE],
        "produces": [JSON_CONTENT_TYPE],
        "paths": paths,
        "definitions": {name: swagger_schema(schema) for name, schema in SHARED_SCHEMAS.items()},
    }
    if api_key_required:
        document["securityDefinitions"] = {
            API_KEY_SCHEME: {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
            API_KEY_QUERY_SCHEME: {"type": "apiKey", "in": "query", "name": "apikey"},
        }
        document["security"] = [{API_KEY_SCHEME: []}, {API_KEY_QUERY_SCHEME: []}]
    return document


__all__ = ["SWAGGER_VERSION", "build_swagger", "swagger_schema"]
