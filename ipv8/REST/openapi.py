"""Generate the OpenAPI 3.1 document of a REST resource tree from the resources' own declarations.

Nothing here is maintained by hand: :func:`iter_routes` walks the :class:`~ipv8.REST.base_endpoint.BaseEndpoint`
tree and :func:`build_openapi` turns each declared operation into a path item. Adding a resource to the tree
is enough to document it. :mod:`ipv8.REST.swagger` builds the Swagger 2.0 document from the same walk, with
the same operation ids, so both documents always describe the same routes.
"""
from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Any, Iterator

from .. import __version__
from .base_endpoint import JSON_CONTENT_TYPE
from .schema import SHARED_SCHEMAS

if TYPE_CHECKING:
    from .base_endpoint import BaseEndpoint, Operation

OPENAPI_VERSION = "3.1.0"
API_TITLE = "IPv8 REST API"
#: Name of the security scheme that stands for the API key.
API_KEY_SCHEME = "apiKey"
API_KEY_QUERY_SCHEME = "apiKeyQuery"


def iter_routes(root: BaseEndpoint, prefix: str = "") -> Iterator[tuple[str, BaseEndpoint]]:
    """Every resource of the tree under ``root`` with its path (``/a/{b}``), root first, depth first."""
    yield prefix or "/", root
    for segment, child in sorted(root.child_endpoints()):
        yield from iter_routes(child, f"{prefix}/{segment}")


def iter_operations(root: BaseEndpoint) -> Iterator[tuple[str, str, Operation]]:
    """Every declared ``(path, HTTP method, operation)`` of the tree under ``root``."""
    for path, endpoint in iter_routes(root):
        for method in sorted(endpoint.operations):
            yield path, method, endpoint.operations[method]


def path_parameter_names(path: str) -> list[str]:
    """The names of the ``{name}`` segments of ``path``, in order."""
    return [segment[1:-1] for segment in path.split("/") if segment.startswith("{") and segment.endswith("}")]


def operation_id(path: str, method: str) -> str:
    """The ``operationId`` of ``method`` on ``path`` (``GET /overlays/statistics`` -> ``getOverlaysStatistics``)."""
    return method.lower() + "".join(word.title() for word in re.split(r"[^0-9A-Za-z]+", path) if word)


def api_description() -> dict[str, Any]:
    """The ``info`` object both documents share."""
    return {"title": API_TITLE, "version": __version__,
            "description": "Inspect and steer a running IPv8 (txipv8) service."}


def _path_parameters(path: str) -> list[dict[str, Any]]:
    return [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in path_parameter_names(path)]


def _operation_object(path: str, method: str, operation: Operation, api_key_required: bool) -> dict[str, Any]:
    document: dict[str, Any] = {
        "operationId": operation_id(path, method),
        "summary": operation.summary,
        "responses": {
            str(status): {"description": description,
                          "content": {(operation.content_type if status < 300 else JSON_CONTENT_TYPE):
                                      {"schema": copy.deepcopy(schema)}}}
            for status, (description, schema) in sorted(operation.documented_statuses(api_key_required).items())
        },
    }
    if operation.description:
        document["description"] = operation.description
    if operation.tags:
        document["tags"] = list(operation.tags)
    parameters = _path_parameters(path) + [
        {"name": parameter.name, "in": "query", "required": parameter.required,
         "schema": copy.deepcopy(parameter.schema), **({"description": parameter.description}
                                                       if parameter.description else {})}
        for parameter in operation.query]
    if parameters:
        document["parameters"] = parameters
    if operation.body is not None:
        document["requestBody"] = {"required": operation.body_required,
                                   "content": {"application/json": {"schema": copy.deepcopy(operation.body)}}}
    if operation.public and api_key_required:
        document["security"] = []
    return document


def build_openapi(root: BaseEndpoint, api_key_required: bool = False) -> dict[str, Any]:
    """
    The OpenAPI document of every operation under ``root``.

    :param api_key_required: declare the ``X-Api-Key`` header (or ``apikey`` query parameter) as needed
                             by every operation that is not public, and document the 401 answers.
    """
    paths: dict[str, dict[str, Any]] = {}
    for path, method, operation in iter_operations(root):
        paths.setdefault(path, {})[method.lower()] = _operation_object(path, method, operation, api_key_required)
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": api_description(),
        "paths": paths,
        "components": {"schemas": copy.deepcopy(SHARED_SCHEMAS)},
    }
    if api_key_required:
        document["components"]["securitySchemes"] = {
            API_KEY_SCHEME: {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
            API_KEY_QUERY_SCHEME: {"type": "apiKey", "in": "query", "name": "apikey"},
        }
        document["security"] = [{API_KEY_SCHEME: []}, {API_KEY_QUERY_SCHEME: []}]
    return document


__all__ = ["API_KEY_QUERY_SCHEME", "API_KEY_SCHEME", "API_TITLE", "OPENAPI_VERSION", "api_description",
           "build_openapi", "iter_operations", "iter_routes", "operation_id", "path_parameter_names"]
