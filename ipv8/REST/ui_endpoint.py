"""``/ui/``: the live dashboard, a static page that draws the node's state from the REST API in the browser.

The page, its script and its style sheet ship inside the package (``ipv8/REST/ui``); nothing is fetched from
elsewhere. Like ``/docs``, the files need no API key: they are the same for every txipv8 of a version and tell
nothing about the node. The page asks for the key in a login form, keeps it in ``sessionStorage`` and sends it
as ``X-Api-Key`` with every data request (never in a URL). The charts are SVG drawn by the script itself, so
there is no charting library and no build step.

Every answer carries a Content-Security-Policy that only allows scripts, styles and requests from this server
(no inline script or style), and only the listed file names are served: anything else under ``/ui/`` is 404.
"""
from __future__ import annotations

from functools import cache
from importlib import resources

from .base_endpoint import APIRequest, BaseEndpoint, NotFound, Response, api_method
from .schema import ERROR_REF, string

#: Scripts, styles and fetches only from this server; SVG charts are drawn as DOM nodes, so no inline styles.
UI_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
          "form-action 'none'; base-uri 'none'; frame-ancestors 'none'")
#: Name under ``/ui/`` -> media type of the shipped file ``ipv8/REST/ui/<name>``. Nothing else is served.
UI_FILES: dict[str, str] = {
    "index.html": "text/html; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}
#: Browsers must check again for a newer file on every load (the files are small; the page must match the API).
UI_CACHE_CONTROL = "no-cache"


@cache
def ui_file(name: str) -> bytes:
    """The bytes of the shipped dashboard file ``name`` (one of :data:`UI_FILES`), read once."""
    if name not in UI_FILES:
        raise KeyError(name)
    return resources.files(__package__).joinpath("ui", name).read_bytes()


def _file_response(name: str) -> Response:
    return Response(ui_file(name), content_type=UI_FILES[name],
                    headers={"Content-Security-Policy": UI_CSP, "X-Content-Type-Options": "nosniff",
                             "Cache-Control": UI_CACHE_CONTROL, "Referrer-Policy": "no-referrer"})


class UIFileEndpoint(BaseEndpoint):
    """``/ui/{file}``: one of the dashboard's files."""

    tags = ("Dashboard",)

    @api_method("GET", "A file of the dashboard (page, script or style sheet).",
                {200: ("The file.", string(format="binary")), 404: ("No such file is shipped.", ERROR_REF)},
                public=True, content_type="*/*")  # each file has its own media type
    def get_file(self, request: APIRequest) -> Response:
        """
        Only ``index.html``, ``dashboard.js`` and ``dashboard.css`` exist.
        """
        name = request.path["file"]
        if name not in UI_FILES:
            raise NotFound(f"no dashboard file is called {name!r}")
        return _file_response(name)


class UIEndpoint(BaseEndpoint):
    """``/ui/``: the dashboard page, with its files under ``/ui/{file}``."""

    tags = ("Dashboard",)

    def __init__(self) -> None:
        """Create the resource with its ``{name}`` child."""
        super().__init__()
        self.add_endpoint("{file}", UIFileEndpoint())

    @api_method("GET", "The live dashboard of this node (an HTML page).", {200: string("An HTML page.")},
                public=True, content_type="text/html")
    def get_page(self, request: APIRequest) -> Response:
        """
        Open it in a browser; with an API key set on the server, the page asks for it before showing anything.
        """
        return _file_response("index.html")


__all__ = ["UI_CSP", "UI_FILES", "UIEndpoint", "UIFileEndpoint", "ui_file"]
