"""``/docs``: Swagger UI and the two machine-readable descriptions of the API (no API key needed).

* ``/docs`` is a small page of our own that starts Swagger UI;
* ``/docs/openapi.json`` is the OpenAPI 3.1 document, ``/docs/swagger.json`` the Swagger 2.0 document py-ipv8 3.x
  clients expect; both are generated on every request from the declarations of the resources registered right
  now (:mod:`ipv8.REST.openapi`, :mod:`ipv8.REST.swagger`);
* ``/docs/static/<name>`` serves the Swagger UI files shipped inside the package (``ipv8/REST/static``), so
  the page needs no network access beyond this server.

Why no API key: none of this reveals anything about the running node (it is the same for every txipv8 of a
version), and a browser cannot add an ``X-Api-Key`` header to the ``<script>``/``<link>`` loads of a page, so
requiring it would force the key into URLs (and from there into histories and logs). The operations the page
tries out do need the key: the documents declare it as an ``apiKey`` security scheme when the server has one,
so Swagger UI's *Authorize* button sends it as ``X-Api-Key`` with every call.
"""
from __future__ import annotations

import html
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from .base_endpoint import APIRequest, BaseEndpoint, NotFound, Response, api_method
from .openapi import API_TITLE, build_openapi
from .schema import ERROR_REF, obj, string
from .swagger import build_swagger

if TYPE_CHECKING:
    from twisted.web.server import Request

OPENAPI_SCHEMA = obj(("openapi", "info", "paths"), openapi=string(), info={"type": "object"},
                     paths={"type": "object"}, description="An OpenAPI 3.1 document.")
SWAGGER_SCHEMA = obj(("swagger", "info", "paths"), swagger=string(), info={"type": "object"},
                     paths={"type": "object"}, description="A Swagger 2.0 document.")

#: The Swagger UI page: a browser may only run scripts and load styles from this server (the start-up script
#: is a file, not inline); styles may be inline because Swagger UI sets some itself; images may be data: URIs
#: (its icons). ``connect-src 'self'`` keeps "Try it out" and document loads on this server.
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "font-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
            "frame-ancestors 'none'")
_JS = "text/javascript; charset=utf-8"
_TEXT = "text/plain; charset=utf-8"
#: Name under ``/docs/static/`` -> (file under ``ipv8/REST/static/``, media type). Nothing else is served.
STATIC_FILES: dict[str, tuple[str, str]] = {
    "swagger-init.js": ("swagger-init.js", _JS),
    "swagger-ui.css": ("swagger-ui/swagger-ui.css", "text/css; charset=utf-8"),
    "swagger-ui-bundle.js": ("swagger-ui/swagger-ui-bundle.js", _JS),
    "swagger-ui-standalone-preset.js": ("swagger-ui/swagger-ui-standalone-preset.js", _JS),
    "favicon-32x32.png": ("swagger-ui/favicon-32x32.png", "image/png"),
    "favicon-16x16.png": ("swagger-ui/favicon-16x16.png", "image/png"),
    "LICENSE": ("swagger-ui/LICENSE", _TEXT),
    "NOTICE": ("swagger-ui/NOTICE", _TEXT),
    "swagger-ui-bundle.js.LICENSE.txt": ("swagger-ui/swagger-ui-bundle.js.LICENSE.txt", _TEXT),
    "swagger-ui-standalone-preset.js.LICENSE.txt": ("swagger-ui/swagger-ui-standalone-preset.js.LICENSE.txt", _TEXT),
}
#: Seconds browsers may reuse a static file (they change only with a txipv8 release).
STATIC_MAX_AGE = 3600


def api_key_required(request: Request) -> bool:
    """Whether the site serving ``request`` asks for an API key."""
    return bool(getattr(getattr(request, "site", None), "api_key", None))


@lru_cache(maxsize=None)
def static_file(name: str) -> bytes:
    """The bytes of the shipped file ``STATIC_FILES[name]`` (read from the installed package, then cached)."""
    relative, _ = STATIC_FILES[name]
    return resources.files(__package__).joinpath("static", *relative.split("/")).read_bytes()


def _page_headers(**extra: str) -> dict[str, str]:
    return {"Content-Security-Policy": DOCS_CSP, "X-Content-Type-Options": "nosniff", **extra}


class OpenAPIEndpoint(BaseEndpoint):
    """``/docs/openapi.json``: the OpenAPI 3.1 document of the whole tree, built on every request."""

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


class SwaggerEndpoint(BaseEndpoint):
    """``/docs/swagger.json``: the same API as a Swagger 2.0 document (what py-ipv8 3.x serves there)."""

    tags = ("Documentation",)

    def __init__(self, root: BaseEndpoint) -> None:
        """Document the tree under ``root``."""
        super().__init__()
        self.root = root

    @api_method("GET", "The Swagger 2.0 document of this API.", {200: SWAGGER_SCHEMA}, public=True)
    def get_document(self, request: APIRequest) -> dict[str, Any]:
        """
        Generated from the same declarations as ``/docs/openapi.json``.
        """
        return build_swagger(self.root, api_key_required(request.raw))


class StaticFileEndpoint(BaseEndpoint):
    """``/docs/static/{name}``: one of the files Swagger UI needs, from the installed package."""

    tags = ("Documentation",)

    @api_method("GET", "A file of the Swagger UI page (script, style sheet, icon or license).",
                {200: ("The file.", string(format="binary")),
                 404: ("No such file is shipped.", ERROR_REF)},
                public=True, content_type="*/*")  # each file has its own media type
    def get_file(self, request: APIRequest) -> Response:
        """
        Only the files Swagger UI needs (and their licenses) are served; each with its own media type.
        """
        name = request.path["name"]
        if name not in STATIC_FILES:
            raise NotFound(f"no documentation file is called {name!r}")
        return Response(static_file(name), content_type=STATIC_FILES[name][1],
                        headers=_page_headers(**{"Cache-Control": f"public, max-age={STATIC_MAX_AGE}"}))


def swagger_ui_page() -> str:
    """The HTML of ``/docs``: Swagger UI, started by ``/docs/static/swagger-init.js``."""
    title = html.escape(API_TITLE)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{title}</title>\n"
        "<link rel=\"stylesheet\" href=\"/docs/static/swagger-ui.css\">\n"
        "<link rel=\"icon\" type=\"image/png\" href=\"/docs/static/favicon-32x32.png\" sizes=\"32x32\">\n"
        "<link rel=\"icon\" type=\"image/png\" href=\"/docs/static/favicon-16x16.png\" sizes=\"16x16\">\n"
        "</head>\n<body>\n"
        "<div id=\"swagger-ui\"></div>\n"
        f"<noscript><h1>{title}</h1><p>This page needs JavaScript. The API is described in "
        "<a href=\"/docs/openapi.json\">/docs/openapi.json</a> (OpenAPI 3.1) and "
        "<a href=\"/docs/swagger.json\">/docs/swagger.json</a> (Swagger 2.0). Send the API key, if the "
        "server has one, in the <code>X-Api-Key</code> header.</p></noscript>\n"
        "<script src=\"/docs/static/swagger-ui-bundle.js\" charset=\"utf-8\"></script>\n"
        "<script src=\"/docs/static/swagger-ui-standalone-preset.js\" charset=\"utf-8\"></script>\n"
        "<script src=\"/docs/static/swagger-init.js\" charset=\"utf-8\"></script>\n"
        "</body>\n</html>\n")


class DocsEndpoint(BaseEndpoint):
    """``/docs``: Swagger UI, with ``openapi.json``, ``swagger.json`` and ``static/{name}`` below it."""

    tags = ("Documentation",)

    def __init__(self, root: BaseEndpoint) -> None:
        """Document the tree under ``root``."""
        super().__init__()
        self.root = root
        self.add_endpoint("openapi.json", OpenAPIEndpoint(root))
        self.add_endpoint("swagger.json", SwaggerEndpoint(root))
        # A bare BaseEndpoint only groups its child (and answers 404 itself).
        self.add_endpoint("static", BaseEndpoint()).add_endpoint("{name}", StaticFileEndpoint())

    @api_method("GET", "Swagger UI: browse the operations and try them out.", {200: string("An HTML page.")},
                public=True, content_type="text/html")
    def get_page(self, request: APIRequest) -> Response:
        """
        The page loads its scripts and style sheet from ``/docs/static`` and shows ``/docs/openapi.json``
        (``/docs/swagger.json`` can be picked in its top bar). With an API key set on the server, enter it
        under *Authorize* to try operations out.
        """
        return Response(swagger_ui_page(), content_type="text/html; charset=utf-8", headers=_page_headers())


__all__ = ["DOCS_CSP", "DocsEndpoint", "OpenAPIEndpoint", "STATIC_FILES", "StaticFileEndpoint", "SwaggerEndpoint",
           "api_key_required", "static_file", "swagger_ui_page"]
