"""
The REST API of txipv8 answers like pyipv8 3.2.1's, route by route: same status, same JSON structure.

A pyipv8 3.2.1 node (``reference/ref_rest_node.py``, in the reference interpreter) and a txipv8 node run the
same setup: UDP and REST API on 127.0.0.1, an API key, DiscoveryCommunity, DHTDiscoveryCommunity, one plain
community and a TunnelCommunity, a RandomWalk each, statistics on (or off, in the second test). The nodes walk to
each other so that every list has entries: each DHT routing table holds the other node, each node announces
itself and stores a value on the other before the DHT routes are compared, and each builds a one-hop circuit
that ends in the other (both relay, exit and answer speed tests) before the tunnel routes are compared. Then the same requests go to both APIs and each pair
of answers is compared: the status code and the *structure* of the JSON body (keys and value types,
recursively; never the values).

The routes come from both implementations' own route lists (their ``/docs/swagger.json``): every operation
both serve is requested, with the right key, without a key and with a wrong one, and with broken bodies if
it takes one; a few extra cases cover what the route lists cannot tell (unknown overlay, unknown route, ...).
Differences that are on purpose are listed in one table, :data:`KNOWN_DIFFERENCES`, each with its reason;
anything else fails the test, with a list of every mismatch.

pyipv8 3.2.1's ``IPv8(..., enable_statistics=True)`` breaks packet reception when the endpoint is built from the
``interfaces`` configuration (the overlays never see a packet), so the reference node wraps a plain
UDPEndpoint in the StatisticsEndpoint itself; see reference/ref_rest_node.py.

pyipv8 3.2.1's REST layer does not import with marshmallow 4 (apispec 3 reads ``marshmallow.__version__``), which
``pip install pyipv8==3.2.1`` installs today. The test installs ``marshmallow<4`` once into
``.venv-ref/rest-compat-deps`` (pip's ``--target``; the reference venv itself is left alone) and puts that
directory in front of the node's ``sys.path``. Without the reference interpreter, or when that install fails,
the tests are skipped with the reason.
"""
from __future__ import annotations

import fcntl
import fnmatch
import json
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, NamedTuple

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial import unittest

from ipv8.community import Community
from ipv8.configuration import ConfigBuilder, Strategy, WalkerDefinition
from ipv8.dht.discovery import DHTDiscoveryCommunity
from ipv8.dht.routing import NODE_LIMIT_INTERVAL
from ipv8.messaging.anonymization.community import TunnelCommunity
from ipv8.messaging.anonymization.tunnel import PEER_FLAG_EXIT_BT, PEER_FLAG_RELAY, PEER_FLAG_SPEED_TEST
from ipv8.REST.rest_manager import RESTManager
from ipv8.service import IPv8

from ..REST.support import HTTPClient, HTTPResult
from .harness import PEER_DEADLINE, InteropTestCase, RefPeer
from .refenv import REF_VENV, _clean_env, _error_line, reference_env, reference_interpreter

DRIVER = Path(__file__).resolve().parent / "reference" / "ref_rest_node.py"
API_KEY = "compat-key-7f3a"
WRONG_KEY = "not-the-key"
#: Must equal the default ``community_id`` of reference/ref_rest_node.py.
COMPAT_COMMUNITY_ID = bytes.fromhex("5e57c0de" + "00" * 15 + "77")
#: The DHT key both nodes store a value under, and the data (hex in the requests).
DHT_KEY = bytes.fromhex("c0de" * 10)
DHT_VALUE = b"rest compat"
#: A mid no node has.
UNKNOWN_MID = "07" * 20
#: The peer flags of both tunnel communities: relay, BitTorrent exit (so that a data circuit may end there; no
#: data is ever sent, so no exit socket opens) and speed tests.
TUNNEL_FLAGS = (PEER_FLAG_RELAY, PEER_FLAG_EXIT_BT, PEER_FLAG_SPEED_TEST)
#: An info hash for the swarm-size route.
INFO_HASH_HEX = "ab" * 20

# -- the reference node's extra dependency -----------------------------------------------------------------

DEPS_DIR = REF_VENV / "rest-compat-deps"
DEPS_REQUIREMENT = "marshmallow<4"
DEPS_LOCK = REF_VENV / ".rest-compat-deps.lock"
DEPS_FAILURE = REF_VENV / ".rest-compat-deps-failed"
DEPS_FAILURE_MEMORY = 3600.0
_DEPS_PROBE = "import sys; sys.path.insert(0, sys.argv[1]); import ipv8.REST.rest_manager"


def _deps_problem(python: Path) -> str | None:
    try:
        done = subprocess.run([str(python), "-c", _DEPS_PROBE, str(DEPS_DIR)], capture_output=True, text=True,
                              timeout=60, env=_clean_env(), cwd=str(REF_VENV), check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return str(exc)
    return None if done.returncode == 0 else _error_line(done.stderr)


_DEPS: tuple[Path | None, str] | None = None


def reference_rest_node() -> tuple[Path | None, str]:
    """``(python, "")`` if the reference interpreter can run pyipv8's REST API, else ``(None, reason)``."""
    global _DEPS  # noqa: PLW0603 - one search per session
    if _DEPS is not None:
        return _DEPS
    found = reference_interpreter()
    if not found.available:
        _DEPS = (None, found.reason)
        return _DEPS
    python = found.python
    with open(DEPS_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            problem = _deps_problem(python)
            if problem is not None:
                try:
                    record = json.loads(DEPS_FAILURE.read_text())
                    remembered = time.time() - float(record["time"]) < DEPS_FAILURE_MEMORY and record["reason"]
                except (OSError, ValueError, KeyError, TypeError):
                    remembered = None
                if remembered:
                    _DEPS = (None, remembered)
                    return _DEPS
                done = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                                       "--upgrade", "--target", str(DEPS_DIR), DEPS_REQUIREMENT],
                                      capture_output=True, text=True, timeout=600, env=_clean_env(), check=False)
                problem = _deps_problem(python) if done.returncode == 0 else _error_line(done.stderr + done.stdout)
                if problem is not None:
                    reason = (f"pyipv8 3.2.1's REST API cannot be imported ({problem}); installing "
                              f"'{DEPS_REQUIREMENT}' into {DEPS_DIR} did not help")
                    DEPS_FAILURE.write_text(json.dumps({"time": time.time(), "reason": reason}))
                    _DEPS = (None, reason)
                    return _DEPS
                DEPS_FAILURE.unlink(missing_ok=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    _DEPS = (python, "")
    return _DEPS


# -- comparing structures ----------------------------------------------------------------------------------

#: Per route, the objects whose keys are data (mids, overlay names, message names), not field names. Their
#: values are merged under ``"*"``. A path is written ``$.name`` for a key, ``[]`` for array elements.
DATA_KEYED: dict[str, tuple[str, ...]] = {
    "/network": ("$.peers",),
    "/dht/values": ("$",),
    "/dht/statistics": ("$.statistics.num_peers_in_store", "$.statistics.num_store_for_me"),
    "/overlays/statistics": ("$.statistics[]", "$.statistics[].*"),
}
#: Per route, the fields (``fnmatch`` patterns of paths) that are JSON numbers written as an integer or a
#: fraction depending on the value: both implementations write the time stamps of a never-measured direction
#: as ``0`` and the others as fractions, so the integer/number distinction there says nothing.
NUMBERS: dict[str, tuple[str, ...]] = {
    "/overlays/statistics": ("$.statistics[].*.*.first_measured_*", "$.statistics[].*.*.last_measured_*"),
    "/overlays": ("$.overlays[].statistics.diff_time",),
    # Seconds: pyipv8 writes a task's interval as given (5 or 0.5), its start time as a fraction.
    "/asyncio/tasks": ("$.tasks[].interval", "$.tasks[].start_time"),
    # Times in seconds, 0 for never.
    "/dht/buckets": ("$.buckets[].last_changed", "$.buckets[].peers[].last_contact"),
    "/dht/values/{}": ("$.debug.time",),
}

_SCALARS = ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"), (type(None), "null"))


def shape(value: Any, route: str = "", path: str = "$") -> Any:  # noqa: ANN401
    """
    The structure of a JSON value: a type name for scalars, ``{key: shape}`` for objects, ``["array", shape]``
    for arrays (``["array", None]`` when empty). Elements of an array, and the values of an object listed in
    :data:`DATA_KEYED` for ``route``, are merged into one shape (see :func:`_merge`).
    """
    if isinstance(value, dict):
        if path in DATA_KEYED.get(route, ()):
            return {"*": _merge(shape(item, route, f"{path}.*") for item in value.values())} if value else {}
        return {key: shape(item, route, f"{path}.{key}") for key, item in value.items()}
    if isinstance(value, list):
        return ["array", _merge(shape(item, route, f"{path}[]") for item in value)]
    for kind, name in _SCALARS:
        if isinstance(value, kind):
            if name == "integer" and any(fnmatch.fnmatchcase(path, pattern) for pattern in NUMBERS.get(route, ())):
                return "number"
            return name
    raise TypeError(f"not a JSON value: {value!r}")


def _merge(shapes: Iterable[Any]) -> Any:  # noqa: ANN401
    """
    One shape for several values: objects are merged key by key (a key only some have is still listed),
    arrays element-wise, and anything else becomes ``{"anyOf": [...]}`` (flat, without repeats).
    """
    distinct: list[Any] = []
    for item in shapes:
        for alternative in (item["anyOf"] if isinstance(item, dict) and "anyOf" in item else [item]):
            if alternative not in distinct:
                distinct.append(alternative)
    if not distinct:
        return None
    if len(distinct) == 1:
        return distinct[0]
    if all(isinstance(item, dict) for item in distinct):
        keys = sorted({key for item in distinct for key in item})
        return {key: _merge(item[key] for item in distinct if key in item) for key in keys}
    if all(isinstance(item, list) for item in distinct):
        return ["array", _merge(item[1] for item in distinct if item[1] is not None)]
    return {"anyOf": sorted(distinct, key=json.dumps)}


#: One difference: ``(kind, path, description)``; kind is ``status``, ``body`` (JSON or not), ``missing``
#: (only pyipv8 has the key), ``extra`` (only txipv8 has it) or ``type``.
Difference = tuple[str, str, str]


def shape_differences(ours: Any, theirs: Any, path: str = "$") -> list[Difference]:  # noqa: ANN401
    """Where two shapes differ. An empty array matches any array."""
    if isinstance(ours, dict) and isinstance(theirs, dict) and "anyOf" not in ours and "anyOf" not in theirs:
        found = []
        for key in sorted(set(ours) | set(theirs)):
            where = f"{path}.{key}"
            if key not in theirs:
                found.append(("extra", where, f"{where}: only txipv8 has it ({_describe(ours[key])})"))
            elif key not in ours:
                found.append(("missing", where, f"{where}: only pyipv8 has it ({_describe(theirs[key])})"))
            else:
                found.extend(shape_differences(ours[key], theirs[key], where))
        return found
    if isinstance(ours, list) and isinstance(theirs, list):
        if ours[1] is None or theirs[1] is None:
            return []
        return shape_differences(ours[1], theirs[1], f"{path}[]")
    if ours != theirs:
        return [("type", path, f"{path}: txipv8 {_describe(ours)} / pyipv8 {_describe(theirs)}")]
    return []


def _describe(item: Any) -> str:  # noqa: ANN401
    return item if isinstance(item, str) else json.dumps(item)


# -- the requests ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    """One request sent to both nodes."""

    name: str
    method: str
    path: str
    #: ``None``: no body; ``bytes``: sent as they are; anything else: JSON-encoded.
    body: Any = None
    key: str | None = API_KEY
    #: The route (normalised path) whose structure rules apply.
    route: str = ""


#: A request that should succeed, per operation that takes a body. Nothing listens at 127.0.0.1:1; a bootstrap
#: server there only costs an unanswered introduction request now and then.
VALID_BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/overlays/statistics"): {"enable": True, "all": True},
    ("POST", "/isolation"): {"ip": "127.0.0.1", "port": 1, "bootstrapnode": True},
    ("PUT", "/asyncio/drift"): {"enable": True},
    ("PUT", "/asyncio/debug"): {"enable": False},
    ("PUT", "/dht/values/{}"): {"value": DHT_VALUE.hex()},
}
#: A concrete path for every route with a parameter. ``{other}`` stands for the other node's mid: each node
#: connects to the other, which announced itself on it, so the connect needs no DHT request (each DHT node
#: ignores a node that sends it 10 requests within 5 seconds, and the replay is fast). The empty prefix names
#: the root bucket. ``{circuit}`` stands for the id of the node's own circuit. Speed tests run for 0.3 s.
PATH_SAMPLES: dict[str, str] = {
    "/dht/values/{}": f"/dht/values/{DHT_KEY.hex()}",
    "/dht/peers/{}": "/dht/peers/{other}",
    "/dht/buckets/{}/refresh": "/dht/buckets//refresh",
    "/noblockdht/{}": "/noblockdht/{other}",
    "/tunnel/circuits/test": "/tunnel/circuits/test?test_time_ms=300",
    "/tunnel/circuits/{}/test": "/tunnel/circuits/{circuit}/test?test_time_ms=300",
    "/tunnel/swarms/{}/size": f"/tunnel/swarms/{INFO_HASH_HEX}/size",
}
#: Broken bodies every operation that takes one is tried with.
BROKEN_BODIES: dict[str, Any] = {
    "invalid JSON": b"{not json",
    "JSON array instead of an object": [],
    "empty object": {},
}
#: Cases the route lists cannot tell about.
EXTRA_CASES = (
    Case("unknown overlay", "POST", "/overlays/statistics", {"enable": True, "overlay_name": "NoSuchOverlay"}),
    Case("neither all nor overlay_name", "POST", "/overlays/statistics", {"enable": False}),
    Case("exit node", "POST", "/isolation", {"ip": "127.0.0.1", "port": 1, "exitnode": True}),
    Case("drift measurements once switched on", "GET", "/asyncio/drift"),
    Case("unknown route", "GET", "/no/such/route"),
    Case("unknown route below a known one", "GET", "/overlays/no-such-child"),
    Case("unknown route without a key", "GET", "/no/such/route", key=None),
    Case("method not allowed", "DELETE", "/network"),
    Case("DHT key that is not hexadecimal", "GET", "/dht/values/" + "zz" * 20),
    Case("DHT value that is not hexadecimal", "PUT", f"/dht/values/{DHT_KEY.hex()}", {"value": "xyz"}),
    Case("DHT refresh of a bucket that does not exist", "GET", "/dht/buckets/0101/refresh"),
    Case("DHT connect to a peer nobody knows", "GET", f"/dht/peers/{UNKNOWN_MID}"),
    Case("tunnel circuit id that is not a number", "GET", "/tunnel/circuits/abc/test"),
    Case("tunnel speed test of a circuit nobody has", "GET", "/tunnel/circuits/1/test"),
    Case("tunnel speed test with too many hops", "GET", "/tunnel/circuits/test?goal_hops=4"),
    Case("tunnel info hash that is not hexadecimal", "GET", f"/tunnel/swarms/{'zz' * 20}/size"),
)

class Known(NamedTuple):
    """
    One difference from pyipv8 3.2.1 that is on purpose.

    ``kind`` says what may differ and ``where`` where (``fnmatch`` patterns):

    * ``status``: the status codes (and so the bodies) of the cases named ``where``;
    * ``body``: the bodies, but not the status codes, of the cases named ``where``;
    * ``extra key`` / ``missing key``: the key at JSON path ``path`` may be sent only by txipv8 / only by pyipv8
      in the answers to the cases named ``where`` (an extra key does not break a pyipv8 client; it is still
      listed so that none slips in unnoticed);
    * ``pyipv8 route`` / ``txipv8 route``: only that implementation serves the routes ``where``
      (``"METHOD /path"``, parameters written ``{}``).

    A case name pattern starting with ``statistics off:`` applies only to the run without statistics.
    """

    kind: str
    where: str
    reason: str
    path: str = ""


#: Every known-intentional difference, with its reason. Anything else that differs fails the tests.
KNOWN_DIFFERENCES: tuple[Known, ...] = (
    Known("status", "*: invalid JSON",
          "pyipv8 has no body check: json.loads fails inside the handler and its error middleware answers 500; "
          "txipv8 checks the body against the declared schema and answers 400."),
    Known("status", "statistics off: POST /overlays/statistics: *",
          "pyipv8's handler looks for the StatisticsEndpoint before it reads the body, so a broken body gets 412 "
          "there; txipv8 checks the body first (400), then answers 412 for a good one."),
    Known("status", "unknown overlay",
          "pyipv8 switches nothing and still answers 200 {success: true}; txipv8 answers 404 so that a typo in "
          "overlay_name does not go unnoticed."),
    Known("status", "neither all nor overlay_name",
          "pyipv8 answers 412 (Precondition Failed) for this missing parameter; txipv8 answers 400 like for every "
          "other malformed body."),
    Known("status", "GET /tunnel/circuits*/test",
          "pyipv8 3.2.1 runs speed tests only with its Rust endpoint: with its Python endpoint (the one this "
          "reference node has) it answers 400 'endpoint does not support speed tests'. txipv8 runs them on any "
          "endpoint: 200 and a text/event-stream of 'speed: {up, down}' lines, pyipv8's format."),
    Known("status", "tunnel info hash that is not hexadecimal",
          "Without a HiddenTunnelCommunity pyipv8 answers {swarms: []} whatever the info hash (with one, its "
          "unhexlify fails: 500); txipv8 checks the info hash first and answers 400."),
    Known("status", "unknown route*",
          "pyipv8's error middleware catches aiohttp's HTTPNotFound and answers 500 "
          "{success, error: {code: 'HTTPNotFound', message}}; txipv8 answers 404."),
    Known("status", "method not allowed",
          "pyipv8's error middleware turns aiohttp's HTTPMethodNotAllowed into a 500; txipv8 answers 405 with an "
          "Allow header."),
    Known("status", "DHT * that is not hexadecimal",
          "pyipv8 unhexlifies path and body without a check: binascii.Error reaches its error middleware (500); "
          "txipv8 answers 400."),
    Known("status", "DHT connect to a peer nobody knows",
          "txipv8 fails the connect with its DHTError (500, pyipv8's shape for that error). pyipv8 3.2.1 keeps an "
          "empty entry for every mid someone asked it about (its peer store is a defaultdict, read when answering "
          "txipv8's connect-peer-request a moment before), so its own connect then finds that entry: 200 "
          "{peers: []}."),
    Known("body", "GET /docs/swagger.json",
          "each document describes its own implementation's routes; both must be Swagger 2.0 (checked in "
          "test_route_lists)."),
    Known("extra key", "*",
          "txipv8 error bodies carry a machine-readable code next to pyipv8's human-readable 'error' message.",
          "$.error_code"),
    Known("extra key", "PUT /asyncio/drift: *",
          "pyipv8's drift handler leaves 'success' out of its 400 body (its other errors have it); txipv8 always "
          "sends it.", "$.success"),
    Known("extra key", "tunnel *",
          "pyipv8's tunnel handlers leave 'success' out of their error bodies ({error} only); txipv8's error bodies "
          "always have it.", "$.success"),
    Known("extra key", "GET /asyncio/tasks",
          "txipv8's tasks include the reactor's DelayedCalls; it adds the seconds until each one runs.",
          "$.tasks[].due_in"),
    Known("txipv8 route", "GET /debug/reactor",
          "Reactor health: lag, pending delayed calls and tasks; the Twisted counterpart of pyipv8's asyncio "
          "debugging."),
    Known("txipv8 route", "GET /trustchain*", "TrustChain follows IPv8 1.x; pyipv8 3.x dropped it."),
    Known("txipv8 route", "GET /debug/drops",
          "Packets dropped per reason by every community and by the endpoint (read by the /ui/ dashboard)."),
    Known("txipv8 route", "GET /debug/peers",
          "Verified peers with every address, scope, last answer and shared overlays (read by the /ui/ dashboard)."),
    Known("txipv8 route", "GET /ui*", "The live dashboard page and its script and style sheet."),
    Known("txipv8 route", "GET /docs/openapi.json", "The OpenAPI 3.1 document (pyipv8 only has Swagger 2.0)."),
    Known("txipv8 route", "GET /docs/static/{}",
          "Swagger UI's files; pyipv8 (aiohttp-apispec) serves them under /static/swagger."),
)


def known(kind: str, name: str, path: str = "") -> bool:
    """Whether :data:`KNOWN_DIFFERENCES` has an entry of ``kind`` for the case (or route) ``name`` and ``path``."""
    return any(entry.kind == kind and fnmatch.fnmatchcase(name, entry.where)
               and (not entry.path or fnmatch.fnmatchcase(path, entry.path)) for entry in KNOWN_DIFFERENCES)


#: Routes both serve although pyipv8's swagger.json does not list them (aiohttp-apispec adds them itself).
UNLISTED_SHARED = {("GET", "/docs"), ("GET", "/docs/swagger.json")}
#: Shared routes whose answers are not replayed here, with the reason. Every route below a pseudonym creates the
#: pseudonym (a key file in the node's working directory, which the reference node keeps in memory only) and its
#: own overlays; tests/REST/test_identity_endpoint.py runs them through the documented flows instead.
NOT_REPLAYED = re.compile(r"/identity/\{\}(/.*)?")


def normalise(path: str) -> str:
    """``/dht/values/{key}`` -> ``/dht/values/{}``: parameter names differ between implementations."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def routes(swagger: dict[str, Any]) -> set[tuple[str, str]]:
    """``(METHOD, normalised path)`` of every operation of a Swagger 2.0 document."""
    return {(method.upper(), normalise(path)) for path, item in swagger["paths"].items()
            for method in item if method.lower() in ("get", "put", "post", "patch", "delete")}


def cases_for(shared: Iterable[tuple[str, str]]) -> list[Case]:
    """The requests for the operations both serve, then the extra cases."""
    cases = []
    for method, route in sorted(shared):
        path = PATH_SAMPLES.get(route, route)
        assert "{" not in path.replace("{other}", "").replace("{circuit}", ""), \
            f"no sample value for the parameter of {method} {route}: add one to PATH_SAMPLES"
        label = f"{method} {route}"
        body = VALID_BODIES.get((method, route))
        if method in ("POST", "PUT", "PATCH") and body is None:
            raise AssertionError(f"{label} takes a body: add a request that succeeds to VALID_BODIES")
        cases.append(Case(label, method, path, body, route=route))
        if not route.startswith("/docs"):
            cases.append(Case(f"{label}: without a key", method, path, body, key=None, route=route))
            cases.append(Case(f"{label}: wrong key", method, path, body, key=WRONG_KEY, route=route))
        if body is not None:
            cases.extend(Case(f"{label}: {what}", method, path, broken, route=route)
                         for what, broken in BROKEN_BODIES.items())
    return cases + [Case(case.name, case.method, case.path, case.body, case.key, normalise(case.path))
                    for case in EXTRA_CASES]


@dataclass
class Answer:
    """Status and body (JSON, or ``("text", content type)``) of one response."""

    status: int
    body: Any

    @classmethod
    def of(cls, result: HTTPResult) -> Answer:
        content_type = result.header("Content-Type") or ""
        if content_type.split(";")[0].strip() == "application/json":
            return cls(result.status, json.loads(result.body))
        return cls(result.status, ("text", content_type))


async def send(client: HTTPClient, case: Case, other: str = "", circuit: str = "") -> Answer:
    """
    Send ``case``; ``other`` (the other node's mid, hex) replaces ``{other}`` in its path, ``circuit`` (the id of
    the node's own circuit) ``{circuit}``.
    """
    headers = {} if case.key is None else {"X-Api-Key": case.key}
    raw = case.body if isinstance(case.body, bytes) else None
    body = None if raw is not None else case.body
    if raw is not None:
        headers["Content-Type"] = "application/json"
    path = case.path.replace("{other}", other).replace("{circuit}", circuit)
    return Answer.of(await client.request(case.method, path, body, headers=headers, raw_body=raw))


def compare(case: Case, ours: Answer, theirs: Answer) -> list[Difference]:
    """The differences between the two answers to ``case`` (empty when they match)."""
    found: list[Difference] = []
    if ours.status != theirs.status:
        found.append(("status", "", f"status: txipv8 {ours.status} / pyipv8 {theirs.status}"))
    ours_text, theirs_text = isinstance(ours.body, tuple), isinstance(theirs.body, tuple)
    if ours_text or theirs_text:
        if ours_text != theirs_text or ours.body[1].split(";")[0] != theirs.body[1].split(";")[0]:
            found.append(("body", "", f"body: txipv8 {_body_kind(ours)} / pyipv8 {_body_kind(theirs)}"))
        return found
    found.extend(shape_differences(shape(ours.body, case.route), shape(theirs.body, case.route)))
    return found


def _body_kind(answer: Answer) -> str:
    return f"non-JSON ({answer.body[1]})" if isinstance(answer.body, tuple) else "JSON"


def unexcused(case: Case, differences: list[Difference], statistics: bool = True) -> list[Difference]:
    """The ``differences`` for ``case`` that :data:`KNOWN_DIFFERENCES` does not excuse."""
    left = [difference for difference in differences
            if not (difference[0] in ("extra", "missing") and known(f"{difference[0]} key", case.name, difference[1]))]
    if not left:
        return []
    qualified = f"statistics {'on' if statistics else 'off'}: {case.name}"
    if known("status", case.name) or known("status", qualified):
        return []
    if (known("body", case.name) or known("body", qualified)) and all(kind != "status" for kind, _, _ in left):
        return []
    return left


# -- the nodes ---------------------------------------------------------------------------------------------

class RESTCompatCommunity(Community):
    """The txipv8 side of the second overlay (reference/ref_rest_node.py declares the same id and task)."""

    community_id = COMPAT_COMMUNITY_ID

    def __init__(self, settings: Any) -> None:  # noqa: ANN401
        super().__init__(settings)
        self.register_task("compat tick", self.tick, interval=5.0)

    def tick(self) -> None:
        """Nothing to do: the task only has to exist (so that /asyncio/tasks lists a task manager's task)."""


def tx_configuration() -> dict[str, Any]:
    """The txipv8 node's configuration; the same overlays and walkers as reference/ref_rest_node.py."""
    builder = (ConfigBuilder().clear_keys().clear_overlays()
               .add_ephemeral_key("rest node")
               .add_interface("UDPIPv4", "127.0.0.1", 0)
               .set_log_level("ERROR")
               .set_walker_interval(0.5))
    for name in ("DiscoveryCommunity", "DHTDiscoveryCommunity", "RESTCompatCommunity", "TunnelCommunity"):
        builder.add_overlay(name, "rest node", [WalkerDefinition(Strategy.RandomWalk, 20, {"timeout": 3.0})],
                            [], {}, [])
    return builder.finalize()


class RESTCompatibility(InteropTestCase):
    """Replays the same requests against a pyipv8 3.2.1 node and a txipv8 node and compares the answers."""

    timeout = 60
    statistics = True

    def setUp(self) -> None:
        super().setUp()
        python, reason = reference_rest_node()
        if python is None:
            raise unittest.SkipTest(reason)
        self.reference_python = python

    async def start_reference(self) -> RefPeer:
        config = {"deadline": PEER_DEADLINE + 20, "api_key": API_KEY, "statistics": self.statistics,
                  "community_id": COMPAT_COMMUNITY_ID.hex(), "extra_path": str(DEPS_DIR),
                  "tunnel_flags": [int(flag) for flag in TUNNEL_FLAGS]}
        node = RefPeer("pyipv8 REST node")
        python = str(self.reference_python)
        reactor.spawnProcess(node, python, [python, "-u", str(DRIVER), json.dumps(config)],
                             env=reference_env(), path=str(DRIVER.parent))
        self.addCleanup(self.check_exit, node)
        self.addCleanup(node.stop)
        await node.wait_for(lambda p: p.ready is not None, 20.0, "the ready event")
        return node

    async def start_txipv8(self) -> tuple[IPv8, RESTManager]:
        ipv8 = IPv8(tx_configuration(), enable_statistics=self.statistics,
                    extra_communities={"RESTCompatCommunity": RESTCompatCommunity})
        tunnels = ipv8.get_overlay(TunnelCommunity)
        tunnels.settings.peer_flags = set(TUNNEL_FLAGS)
        tunnels.settings.exit_interface = "127.0.0.1"
        await ipv8.start()
        self.addCleanup(ipv8.stop)
        manager = RESTManager(ipv8)
        await manager.start(0, "127.0.0.1", api_key=API_KEY)
        self.addCleanup(manager.stop)
        return ipv8, manager

    async def introduce(self, ipv8: IPv8, reference: RefPeer) -> None:
        """Both nodes walk to each other until each has the other in both overlays."""
        address = reference.address
        ours = ipv8.endpoint.get_address()
        await reference.command("walk_to", address=[ours[0], ours[1]])
        for overlay in ipv8.overlays:
            overlay.walk_to(address)
        end = reactor.seconds() + 10
        while True:
            theirs = await reference.command("peers")
            if all(count >= 1 for count in theirs.values()) and all(overlay.get_peers() for overlay in ipv8.overlays) \
                    and ipv8.get_overlay(TunnelCommunity).candidates and await reference.command("tunnel_candidates"):
                return
            if reactor.seconds() > end:
                self.fail(f"the nodes did not find each other: pyipv8 {theirs}, txipv8 "
                          f"{[len(overlay.get_peers()) for overlay in ipv8.overlays]}{reference.stderr_tail()}")
            await deferLater(reactor, 0.05, lambda: None)

    async def wait_for_dht_tables(self, ours: HTTPClient, theirs: HTTPClient, reference: RefPeer) -> None:
        """Until each node's DHT routing table holds the other (as its own /dht/statistics says)."""
        end = reactor.seconds() + 10
        statistics = Case("DHT statistics", "GET", "/dht/statistics")
        while True:
            sizes = []
            for client in (ours, theirs):
                answer = await send(client, statistics)
                sizes.append(sum(entry["routing_table_size"] for entry in answer.body["statistics"]["endpoints"])
                             if answer.status == 200 else answer.body)
            if all(isinstance(size, int) and size >= 1 for size in sizes):
                return
            if reactor.seconds() > end:
                self.fail(f"the DHT routing tables stay empty (txipv8, pyipv8): {sizes}{reference.stderr_tail()}")
            await deferLater(reactor, 0.05, lambda: None)

    async def build_circuits(self, ipv8: IPv8, reference: RefPeer) -> tuple[int, int]:
        """Each node builds a one-hop circuit that ends in the other; ``(ours, theirs)`` circuit ids."""
        circuit = ipv8.get_overlay(TunnelCommunity).create_circuit(1)
        self.assertIsNotNone(circuit, "txipv8 found no exit for a circuit")
        theirs = await reference.command("build_circuit", hops=1)
        self.assertIsNotNone(theirs, f"pyipv8 could not build a circuit through txipv8{reference.stderr_tail()}")
        self.assertIs(await circuit.ready, circuit, "txipv8 could not build a circuit through pyipv8")
        return circuit.circuit_id, theirs

    async def replay(self) -> tuple[list[tuple[Case, Answer, Answer, list[Difference]]], dict[str, Any]]:
        """Start both nodes, send every case to both, return ``(case, ours, theirs, differences)`` per case."""
        reference = await self.start_reference()
        ipv8, manager = await self.start_txipv8()
        ours_client = HTTPClient(manager.url)
        theirs_client = HTTPClient(f"http://127.0.0.1:{reference.ready['rest_port']}")
        swagger = {"txipv8": (await ours_client.get("/docs/swagger.json")).json,
                   "pyipv8": json.loads((await theirs_client.get("/docs/swagger.json")).body)}
        shared = {(method, route) for method, route in routes(swagger["txipv8"]) & routes(swagger["pyipv8"])
                  if not NOT_REPLAYED.fullmatch(route)} | UNLISTED_SHARED
        # Statistics first (where they are kept), so the message tables fill while the nodes find each other.
        switch_on = Case("switch statistics on", "POST", "/overlays/statistics", {"enable": True, "all": True},
                         route="/overlays/statistics")
        results = [(switch_on, await send(ours_client, switch_on), await send(theirs_client, switch_on))]
        await self.introduce(ipv8, reference)
        ours_circuit, theirs_circuit = await self.build_circuits(ipv8, reference)
        dht_setup_started = reactor.seconds()
        await self.wait_for_dht_tables(ours_client, theirs_client, reference)
        # Each node announces itself on the other (so that each can connect to the other by mid)...
        dht = ipv8.get_overlay(DHTDiscoveryCommunity)
        self.assertEqual(len(await dht.store_peer()), 1)
        self.assertEqual(await reference.command("dht_store_peer"), 1)
        ours_mid, theirs_mid = dht.my_peer.mid.hex(), reference.mid.hex()
        # ...and stores a value on the other, so that the value routes have something to show.
        store = Case("store a value first", "PUT", f"/dht/values/{DHT_KEY.hex()}", {"value": DHT_VALUE.hex()},
                     route="/dht/values/{}")
        results.append((store, await send(ours_client, store), await send(theirs_client, store)))
        # A DHT node ignores a node that sent it NODE_LIMIT_QUERIES requests within NODE_LIMIT_INTERVAL seconds
        # (both implementations). The setup above sends each node 5 or 6, the cases below 4 or 5 more: let the
        # setup's requests leave the window first, or the last cases would hit the limit.
        await deferLater(reactor, max(0.0, dht_setup_started + NODE_LIMIT_INTERVAL + 0.1 - reactor.seconds()),
                         lambda: None)
        for case in cases_for(shared):
            results.append((case, await send(ours_client, case, theirs_mid, str(ours_circuit)),
                            await send(theirs_client, case, ours_mid, str(theirs_circuit))))
        return [(case, ours, theirs, compare(case, ours, theirs)) for case, ours, theirs in results], swagger

    def assert_compatible(self, results: list[tuple[Case, Answer, Answer, list[Difference]]]) -> None:
        unexpected = [(case, ours, theirs, left) for case, ours, theirs, found in results
                      if (left := unexcused(case, found, self.statistics))]
        if unexpected:
            lines = [f"{len(unexpected)} of {len(results)} requests answer differently than pyipv8 3.2.1 "
                     f"(statistics {'on' if self.statistics else 'off'}):"]
            for case, ours, theirs, found in unexpected:
                lines.append(f"* {case.name} ({case.method} {case.path}, key={case.key!r}, body={case.body!r})")
                lines.extend(f"    {text}" for _, _, text in found)
                lines.append(f"    txipv8: {ours.status} {json.dumps(ours.body)[:300]}")
                lines.append(f"    pyipv8: {theirs.status} {json.dumps(theirs.body)[:300]}")
            self.fail("\n".join(lines))

    async def test_same_answers_as_pyipv8(self) -> None:
        results, _ = await self.replay()
        names = {case.name for case, *_ in results}
        # The comparison really covered the interesting cases (and the nodes really had data to show).
        for expected in ("GET /network", "GET /overlays", "GET /overlays/statistics: wrong key",
                         "POST /overlays/statistics: empty object", "POST /isolation: without a key",
                         "unknown overlay", "GET /dht/statistics", "GET /dht/values", "GET /dht/values/{}",
                         "PUT /dht/values/{}: empty object", "GET /dht/buckets", "GET /dht/buckets/{}/refresh",
                         "GET /dht/peers/{}", "GET /noblockdht/{}", "GET /tunnel/settings", "GET /tunnel/circuits",
                         "GET /tunnel/circuits/test", "GET /tunnel/circuits/{}/test", "GET /tunnel/relays",
                         "GET /tunnel/exits", "GET /tunnel/swarms", "GET /tunnel/swarms/{}/size", "GET /tunnel/peers",
                         "GET /tunnel/peers/dht", "GET /tunnel/peers/pex", "exit node", "GET /identity",
                         "GET /identity: wrong key"):
            self.assertIn(expected, names)
        answers = {case.name: (ours, theirs) for case, ours, theirs, _ in results}
        for side in (0, 1):
            # The DHT routes had data to show: each node stored its value on the other, and finds values.
            self.assertEqual(answers["store a value first"][side].body, {"success": True})
            self.assertEqual(list(answers["GET /dht/values"][side].body), [DHT_KEY.hex()])
            self.assertTrue(answers["GET /dht/values/{}"][side].body["values"])
            self.assertTrue(any(bucket["peers"] for bucket in answers["GET /dht/buckets"][side].body["buckets"]))
            self.assertEqual(answers["GET /dht/buckets/{}/refresh"][side].body, {"success": True})
            self.assertEqual(answers["GET /noblockdht/{}"][side].body, {"success": True})
            self.assertEqual(len(answers["GET /dht/peers/{}"][side].body["peers"]), 1)
            self.assertTrue(answers["GET /network"][side].body["peers"])
            self.assertTrue(all(overlay["peers"] for overlay in answers["GET /overlays"][side].body["overlays"]))
            # The tunnel routes had data to show: a circuit each, and the other node with its flags.
            self.assertEqual(len(answers["GET /tunnel/circuits"][side].body["circuits"]), 1)
            self.assertEqual([sorted(peer["flags"]) for peer in answers["GET /tunnel/peers"][side].body["peers"]],
                             [sorted(int(flag) for flag in TUNNEL_FLAGS)])
            self.assertEqual(sorted(answers["GET /tunnel/settings"][side].body["settings"]["peer_flags"]),
                             sorted(int(flag) for flag in TUNNEL_FLAGS))
            self.assertEqual(answers["exit node"][side].body, {"success": True})
            if self.statistics:
                tables = answers["GET /overlays/statistics"][side].body["statistics"]
                self.assertTrue(any(table for entry in tables for table in entry.values()), tables)
        self.assertEqual(answers["DHT connect to a peer nobody knows"][0].body["error"]["code"], "DHTError")
        # The speed tests: txipv8 measured, pyipv8's Python endpoint cannot.
        for name in ("GET /tunnel/circuits/test", "GET /tunnel/circuits/{}/test"):
            ours, theirs = answers[name]
            self.assertEqual((ours.status, ours.body), (200, ("text", "text/event-stream")), name)
            self.assertEqual((theirs.status, theirs.body["error"]), (400, "endpoint does not support speed tests"))
        self.assert_compatible(results)

    async def test_route_lists(self) -> None:
        """Every pyipv8 route is served by txipv8 too, or listed with a reason; and the other way round."""
        from openapi_spec_validator import OpenAPIV2SpecValidator, validate

        reference = await self.start_reference()
        _, manager = await self.start_txipv8()
        ours = (await HTTPClient(manager.url).get("/docs/swagger.json")).json
        theirs = json.loads((await HTTPClient(f"http://127.0.0.1:{reference.ready['rest_port']}")
                             .get("/docs/swagger.json")).body)
        self.assertEqual((ours["swagger"], theirs["swagger"]), ("2.0", "2.0"))
        validate(ours, cls=OpenAPIV2SpecValidator)
        missing = sorted(f"{method} {path}" for method, path in routes(theirs) - routes(ours)
                         if not known("pyipv8 route", f"{method} {path}"))
        self.assertEqual(missing, [], "pyipv8 serves these routes, txipv8 does not (and KNOWN_DIFFERENCES does "
                                      "not say why)")
        extra = sorted(f"{method} {path}" for method, path in routes(ours) - routes(theirs) - UNLISTED_SHARED
                       if not known("txipv8 route", f"{method} {path}"))
        self.assertEqual(extra, [], "txipv8 serves these routes, pyipv8 does not (and KNOWN_DIFFERENCES does "
                                    "not say why)")
        # Both put the API key in the same header.
        self.assertEqual(ours["securityDefinitions"]["apiKey"]["name"], "X-Api-Key")
        self.assertEqual(theirs["security"], [{"apiKey": []}])


class RESTCompatibilityWithoutStatistics(RESTCompatibility):
    """The same with plain endpoints: the statistics routes have nothing to show (or switch)."""

    statistics = False

    async def test_route_lists(self) -> None:
        raise unittest.SkipTest("the route lists do not depend on statistics (checked in RESTCompatibility)")


class StructureComparison(unittest.TestCase):
    """The comparison itself (no processes): what counts as the same structure."""

    @staticmethod
    def texts(ours: Any, theirs: Any, route: str = "") -> list[str]:  # noqa: ANN401
        return [text for _, _, text in shape_differences(shape(ours, route), shape(theirs, route))]

    def test_values_do_not_matter_types_do(self) -> None:
        self.assertEqual(self.texts({"a": 1, "b": ["x"]}, {"a": 2, "b": ["y", "z"]}), [])
        self.assertEqual(self.texts({"a": 1}, {"a": 1.5}), ["$.a: txipv8 integer / pyipv8 number"])
        self.assertEqual(self.texts({"a": 1, "c": True}, {"a": 1, "b": None}),
                         ["$.b: only pyipv8 has it (null)", "$.c: only txipv8 has it (boolean)"])
        self.assertEqual(self.texts({"error": "text"}, {"error": {"code": "x"}}),
                         ['$.error: txipv8 string / pyipv8 {"code": "string"}'])

    def test_data_keys_numbers_and_merging(self) -> None:
        ours = {"peers": {"bWlk": {"ip": "127.0.0.1", "port": 1}}}
        theirs = {"peers": {"b3RoZXI=": {"ip": "127.0.0.1", "port": 2}, "eA==": {"ip": "::1", "port": 3}}}
        self.assertEqual(self.texts(ours, theirs, "/network"), [])
        self.assertNotEqual(self.texts(ours, theirs), [])
        self.assertEqual(self.texts({"a": []}, {"a": [{"b": 1}]}), [])
        self.assertEqual(shape([1, "x", 2]), ["array", {"anyOf": ["integer", "string"]}])
        self.assertEqual(shape([{"a": 1}, {"a": 2, "b": "x"}, {"a": None}]),
                         ["array", {"a": {"anyOf": ["integer", "null"]}, "b": "string"}])
        self.assertEqual(shape([[1], [1.5], ["x"]]), ["array", ["array", {"anyOf": ["integer", "number", "string"]}]])
        table = {"statistics": [{"Overlay": {"1:on_x": {"num_up": 1, "first_measured_up": 0}}}]}
        self.assertEqual(shape(table, "/overlays/statistics"),
                         {"statistics": ["array", {"*": {"*": {"num_up": "integer", "first_measured_up": "number"}}}]})

    def test_only_listed_differences_are_excused(self) -> None:
        status = ("status", "", "status: txipv8 400 / pyipv8 500")
        self.assertEqual(unexcused(Case("PUT /x: invalid JSON", "PUT", "/x"), [status]), [])
        method = Case("method not allowed", "DELETE", "/network")
        self.assertEqual(unexcused(method, [status]), [])
        swagger = Case("GET /docs/swagger.json", "GET", "/docs/swagger.json")
        self.assertEqual(unexcused(swagger, [("missing", "$.paths./x", "...")]), [])
        self.assertEqual(unexcused(swagger, [status]), [status])
        network = Case("GET /network", "GET", "/network")
        missing = ("missing", "$.peers", "...")
        self.assertEqual(unexcused(network, [missing]), [missing])
        tasks = Case("GET /asyncio/tasks", "GET", "/asyncio/tasks")
        self.assertEqual(len(unexcused(tasks, [("missing", "$.tasks[].start_time", "...")])), 1)
        self.assertEqual(len(unexcused(tasks, [("missing", "$.tasks[].interval", "...")])), 1)
        code = ("extra", "$.error_code", "...")
        other = ("extra", "$.peers.*.flag", "...")
        self.assertEqual(unexcused(network, [code, other]), [other])
        self.assertFalse(known("pyipv8 route", "GET /dht/values/{}"))
        self.assertFalse(known("pyipv8 route", "GET /noblockdht/{}"))
        self.assertFalse(known("pyipv8 route", "PUT /identity/{}/attest/{}"))
        self.assertFalse(known("pyipv8 route", "GET /asyncio/tasks"))
        self.assertFalse(known("txipv8 route", "GET /overlays"))
        self.assertTrue(all(entry.reason for entry in KNOWN_DIFFERENCES))
        broken = Case("POST /overlays/statistics: empty object", "POST", "/overlays/statistics")
        self.assertEqual(unexcused(broken, [status], statistics=False), [])
        self.assertEqual(unexcused(broken, [status], statistics=True), [status])
