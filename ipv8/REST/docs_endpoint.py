"""``/docs``: the API's own documentation, generated from the resource tree (no API key needed)."""
from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from .base_endpoint import APIRequest, BaseEndpoint, Response, api_method
from .openapi import API_TITLE, build_openapi, iter_operations
from .schema import obj, string

if TYPE_CHECKING:
    from twisted.web.server import Request

OPENAPI_SCHEMA = obj(("openapi", "info", "paths"), openapi=string(), info={"type": "object"},
                     paths={"type": "object"}, description="An OpenAPI 3.1 document.")


def api_key_required(request: Request) -> bool:
    """Whether the site serving ``request`` asks for an API key."""
    return bool(getattr(getattr(request, "site", None), "api_key", None))


class OpenAPIEndpoint(BaseEndpoint):
    """The OpenAPI document of the whole tree, built on every request (so late additions show up)."""

    tags = ("Documentation",)

    def __init__(self, root: BaseEndpoint) -> None:
        """Document the tree under ``root``."""
        super().__init__()
        self.root = root

    @api_method("GET", "The OpenAPI 3.1 document of this API.", {200: OPENAPI_SCHEMA}, public=True)
    def get_document(self, request: APIRequest) -> dict[str, Any]:
        """
        Generated from the declarations of the resources that are registered right now.
        """
        return build_openapi(self.root, api_key_required(request.raw))


class DocsEndpoint(BaseEndpoint):
    """A plain HTML list of the operations, with links to the machine-readable document."""

    tags = ("Documentation",)

    def __init__(self, root: BaseEndpoint) -> None:
        """Document the tree under ``root``; adds ``openapi.json`` and its alias ``swagger.json``."""
        super().__init__()
        self.root = root
        self.add_endpoint("openapi.json", OpenAPIEndpoint(root))
        # py-ipv8 3.x serves its document under this name; keep old links working.
        self.add_endpoint("swagger.json", OpenAPIEndpoint(root))

    @api_method("GET", "A human-readable overview of the operations.", {200: string("An HTML page.")},
                public=True, content_type="text/html")
    def get_overview(self, request: APIRequest) -> Response:
        """
        One line per operation; the full details are in ``/docs/openapi.json``.
        """
        rows = "\n".join(
            f"<tr><td>{method}</td><td><code>{html.escape(path)}</code></td>"
            f"<td>{html.escape(operation.summary)}</td></tr>"
            for path, method, operation in iter_operations(self.root))
        page = (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{API_TITLE}</title></head><body>\n"
                f"<h1>{API_TITLE}</h1>\n<p>Machine-readable: <a href=\"/docs/openapi.json\">openapi.json</a>. "
                f"Send the API key (if set) in the <code>X-Api-Key</code> header.</p>\n"
                f"<table>\n<tr><th>Method</th><th>Path</th><th>Summary</th></tr>\n{rows}\n</table>\n</body></html>\n")
        return Response(page, content_type="text/html; charset=utf-8")


__all__ = ["DocsEndpoint", "OpenAPIEndpoint", "api_key_required"]
