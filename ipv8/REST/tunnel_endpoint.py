"""``/tunnel/...``: look at the service's TunnelCommunity and test its circuits, with pyipv8 3.2.1's routes and JSON.

=============================================  ==================================================================
``GET /tunnel/settings``                       the tunnel settings: ``{"settings": {name: value}}``
``GET /tunnel/circuits``                       our circuits: ``{"circuits": [...]}``
``GET /tunnel/circuits/test``                  a speed test through a new circuit (removed afterwards), streamed
``GET /tunnel/circuits/{circuit_id}/test``     a speed test through one of our READY circuits, streamed
``GET /tunnel/relays``                         the relay routes we serve: ``{"relays": [...]}``
``GET /tunnel/exits``                          the circuits we are the last hop of: ``{"exits": [...]}``
``GET /tunnel/swarms``                         hidden-services swarms: ``{"swarms": [...]}``
``GET /tunnel/swarms/{infohash}/size``         an estimate of a hidden swarm's size: ``{"swarm_size": n}``
``GET /tunnel/peers``                          the community's peers and their flags: ``{"peers": [...]}``
``GET /tunnel/peers/dht``                      introduction points in our DHT store, per info hash (a bare list)
``GET /tunnel/peers/pex``                      introduction points learnt by PEX, per info hash (a bare list)
=============================================  ==================================================================

The overlay is the first loaded :class:`~ipv8.messaging.anonymization.community.TunnelCommunity`, looked up on
every request. Without one the routes answer as pyipv8 3.2.1 does: empty settings and lists, and 404
``"TunnelCommunity is not initialized"`` for the speed tests.

**Hidden services.** Swarms, PEX and swarm sizes belong to the
:class:`~ipv8.messaging.anonymization.hidden_services.HiddenTunnelCommunity` (recognised with ``isinstance``).
When a plain TunnelCommunity is loaded, the resources answer what pyipv8 3.2.1 answers in that case:
``{"swarms": []}`` for both swarm routes and ``[]`` for PEX. ``/tunnel/peers/dht`` only needs the tunnel
community's ``dht_provider``.

**Speed tests** (:mod:`ipv8.REST.speed_test`) answer ``text/event-stream``: one line ``speed: {"up": x, "down":
y}`` (MiB/s) every half second and one at the end. Query parameters, all optional: ``request_size`` and
``response_size`` (0-2000 bytes, default 50 and 1024), ``test_time_ms`` (1-60000, default 5000) and, for a new
circuit, ``goal_hops`` (1-3, default 1). At most :data:`~ipv8.REST.speed_test.MAX_SPEED_TESTS` run at once (503 beyond); a client that
hangs up stops its test. pyipv8 3.2.1 runs speed tests only with its Rust endpoint (its Python endpoint answers
400 ``"endpoint does not support speed tests"``); txipv8 runs them on any endpoint.

Differences from pyipv8 3.2.1, all on purpose:

* ``/tunnel/exits`` lists the exits of a plain TunnelCommunity too (pyipv8 lists them only for a
  HiddenTunnelCommunity), with ``is_introduction`` and ``is_rendezvous`` false.
* Malformed input is a 400 where pyipv8 fails with a 500 or ignores it: a circuit id or info hash of the wrong
  form, sizes, times and hop counts out of range or not integers.
* ``/tunnel/settings`` also shows settings that hold fractions (pyipv8 drops them); collections are sorted.
"""
from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, ensureDeferred

from ..dht.provider import PUBLIC_KEY_PREFIX, DHTIntroPointPayload
from ..messaging.anonymization.community import TunnelCommunity
from ..messaging.anonymization.hidden_services import HiddenTunnelCommunity
from ..messaging.anonymization.tunnel import (
    CIRCUIT_STATE_READY,
    CIRCUIT_TYPE_DATA,
    FORWARD,
    PEER_FLAG_SPEED_TEST,
    PEER_SOURCE_DHT,
    PEER_SOURCE_PEX,
    IntroductionPoint,
)
from ..messaging.serialization import PackError, default_serializer
from ..peer import Peer
from ..util import maybe_deferred
from .base_endpoint import (
    APIRequest,
    BadRequest,
    BaseEndpoint,
    NotFound,
    QueryParameter,
    Response,
    RESTError,
    api_method,
)
from .dht_endpoint import stored_data
from .schema import ERROR_REF, array, boolean, integer, mapping, number, obj, string
from .speed_test import EVENT_STREAM, MAX_SPEED_TESTS, SpeedTests, stream_speed_test

if TYPE_CHECKING:
    from twisted.web.server import Request

    from ..messaging.anonymization.tunnel import Circuit

logger = logging.getLogger(__name__)

#: pyipv8 3.2.1's defaults and limits of the speed-test parameters.
DEFAULT_REQUEST_SIZE, DEFAULT_RESPONSE_SIZE, MAX_TEST_SIZE = 50, 1024, 2000
DEFAULT_TEST_TIME_MS, MAX_TEST_TIME_MS = 5000, 60000
DEFAULT_HOPS, MAX_HOPS = 1, 3
#: The circuit type of the circuits ``/tunnel/circuits/test`` builds (pyipv8's name; not a data circuit).
CIRCUIT_TYPE_SPEED_TEST = "SPEED_TEST"
#: Settings txipv8 adds to pyipv8's: plumbing of the exit sockets, and a switch derived from ``peer_flags``.
TXIPV8_ONLY_SETTINGS = frozenset({"become_exitnode", "clock", "exit_interface", "exit_reactor", "exit_resolver"})
#: A circuit id is a uint32: at most 10 decimal digits.
_MAX_CIRCUIT_ID_DIGITS = 10
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_DECIMAL_DIGITS = frozenset("0123456789")

# pyipv8 3.2.1's error messages, word for word.
NOT_INITIALIZED = "TunnelCommunity is not initialized"
BAD_CIRCUIT_ID = "circuit_id must be an integer"
UNKNOWN_CIRCUIT = "could not find requested circuit"
CIRCUIT_NOT_READY = "the requested circuit is not ready to transfer data"
NO_SPEED_TEST_SUPPORT = "the requested circuit does not support speed testing"
BAD_SIZES = "invalid request or response size specified"
BAD_TEST_TIME = "invalid test time specified"
BAD_HOPS = "invalid number of hops specified"
CIRCUIT_FAILED = "failed to create circuit"


def settings_json(settings: Any) -> dict[str, Any]:  # noqa: ANN401
    """
    The settings as ``/tunnel/settings`` shows them: every public setting whose value is a number, a string or
    a collection of those (sorted), by name. Objects (the endpoint, our peer, the DHT provider...) and the
    settings only txipv8 has are left out, as pyipv8 3.2.1 does.
    """
    result: dict[str, Any] = {}
    for name in dir(settings):
        if name.startswith("_") or name in TXIPV8_ONLY_SETTINGS:
            continue
        try:
            value = getattr(settings, name)
        except Exception as exc:  # noqa: BLE001 - a property that fails is simply not shown
            logger.debug("Tunnel setting %s cannot be read: %s", name, exc)
            continue
        if _is_scalar(value):
            result[name] = _plain(value)
        elif isinstance(value, (set, frozenset, list, tuple)) and all(_is_scalar(item) for item in value):
            items = [_plain(item) for item in value]
            if isinstance(value, (set, frozenset)):
                try:
                    items.sort()
                except TypeError:  # mixed kinds: keep them as they come
                    pass
            result[name] = items
    return result


def _is_scalar(value: Any) -> bool:  # noqa: ANN401
    return isinstance(value, (int, str)) or (isinstance(value, float) and math.isfinite(value))


def _plain(value: Any) -> Any:  # noqa: ANN401
    """The plain JSON value of a setting (enum members become their int or str)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    return value


def _hex(data: bytes) -> str:
    return data.hex()


def parse_circuit_id(text: str | None) -> int:
    """A circuit id from its decimal digits; 400 ``circuit_id must be an integer`` otherwise."""
    if not text or len(text) > _MAX_CIRCUIT_ID_DIGITS or not _DECIMAL_DIGITS.issuperset(text):
        raise BadRequest(BAD_CIRCUIT_ID, code="BadCircuitId")
    return int(text)


def parse_infohash(text: str | None) -> bytes:
    """A 20-byte info hash from its 40 hexadecimal digits; 400 otherwise."""
    if text is None or len(text) != 40 or not _HEX_DIGITS.issuperset(text):
        raise BadRequest("the infohash must be 40 hexadecimal digits (20 bytes)", code="BadInfohash")
    return bytes.fromhex(text)


# -- schemas ------------------------------------------------------------------------------------------------

MID = string("A peer's mid (hex).")
SETTINGS_SCHEMA = obj(("settings",), settings=mapping(
    {"type": ["integer", "number", "string", "boolean", "array"]},
    "Setting name -> value; empty without a TunnelCommunity."))
CIRCUIT_SCHEMA = obj(
    ("circuit_id", "goal_hops", "actual_hops", "verified_hops", "unverified_hop", "type", "state", "bytes_up",
     "bytes_down", "creation_time", "exit_flags"),
    circuit_id=integer(), goal_hops=integer("Hops the circuit is built to have."),
    actual_hops=integer("Hops it has now."), verified_hops=array(MID, "The mids of its hops, first hop first."),
    unverified_hop=string("The mid of the hop being added, or ''."),
    type=string("DATA, IP_SEEDER, RP_SEEDER, RP_DOWNLOADER or SPEED_TEST."),
    state=string("READY, EXTENDING or CLOSING; a closing circuit adds why in parentheses."),
    bytes_up=integer(), bytes_down=integer(), creation_time=number("Unix time (seconds)."),
    exit_flags=array(integer(), "The peer flags of the exit."),
)
CIRCUITS_SCHEMA = obj(("circuits",), circuits=array(CIRCUIT_SCHEMA))
RELAYS_SCHEMA = obj(("relays",), relays=array(obj(
    ("circuit_from", "circuit_to", "is_rendezvous", "direction", "bytes_up", "bytes_down", "creation_time"),
    circuit_from=integer("The circuit id cells arrive with."), circuit_to=integer("The id they leave with."),
    is_rendezvous=boolean(), direction=string("forward or backward"), bytes_up=integer(), bytes_down=integer(),
    creation_time=number("Unix time (seconds)."))))
EXITS_SCHEMA = obj(("exits",), exits=array(obj(
    ("circuit_from", "enabled", "bytes_up", "bytes_down", "creation_time", "is_introduction", "is_rendezvous"),
    circuit_from=integer(), enabled=boolean("Whether its UDP socket is open (after the first data)."),
    bytes_up=integer(), bytes_down=integer(), creation_time=number("Unix time (seconds)."),
    is_introduction=boolean("It is a hidden-services introduction point."),
    is_rendezvous=boolean("It is a hidden-services rendezvous point."))))
SWARMS_SCHEMA = obj(("swarms",), swarms=array(obj(
    ("info_hash", "num_seeders", "num_connections", "num_connections_incomplete", "num_ips_from_dht",
     "num_ips_from_pex", "seeding", "last_lookup", "bytes_up", "bytes_down"),
    info_hash=string("hex"), num_seeders=integer(), num_connections=integer(), num_connections_incomplete=integer(),
    num_ips_from_dht=integer(), num_ips_from_pex=integer(), seeding=boolean(), last_lookup=number(),
    bytes_up=integer(), bytes_down=integer())))
SWARM_SIZE_SCHEMA = obj(
    (), "{swarm_size} with a HiddenTunnelCommunity; pyipv8's {swarms: []} without one.",
    swarm_size=integer("The estimated number of seeders."), swarms=array({"type": "object"}))
TUNNEL_PEERS_SCHEMA = obj(("peers",), peers=array(obj(
    ("ip", "port", "mid", "is_key_compatible", "flags"),
    ip=string(), port=integer(), mid=MID, is_key_compatible=boolean("Its key can take part in a circuit."),
    flags=array(integer(), "The peer flags it announced."))))
INTRO_POINT_SCHEMA = obj(
    ("address", "seeder_pk", "source"),
    address=obj(("ip", "port", "public_key"), ip=string(), port=integer(), public_key=string("hex")),
    seeder_pk=string("hex"), source=integer("0 unknown, 1 DHT, 2 PEX."))
HIDDEN_PEERS_SCHEMA = array(obj(("info_hash", "peers"), info_hash=string("hex"), peers=array(INTRO_POINT_SCHEMA)))
SPEED_TEST_STREAM = ("Lines 'speed: {\"up\": MiB/s, \"down\": MiB/s}', every 0.5 s and at the end.",
                     string("text/event-stream"))
SIZE_QUERY = (QueryParameter("request_size", integer(), f"Bytes per request (0..{MAX_TEST_SIZE}, default "
                                                        f"{DEFAULT_REQUEST_SIZE})."),
              QueryParameter("response_size", integer(), f"Bytes per response (0..{MAX_TEST_SIZE}, default "
                                                         f"{DEFAULT_RESPONSE_SIZE})."),
              QueryParameter("test_time_ms", integer(), f"How long the test runs (1..{MAX_TEST_TIME_MS} ms, "
                                                        f"default {DEFAULT_TEST_TIME_MS})."))
NO_TUNNELS = ("No TunnelCommunity is loaded.", ERROR_REF)
BUSY = (f"{MAX_SPEED_TESTS} speed tests are running already.", ERROR_REF)


# -- the resources ------------------------------------------------------------------------------------------

class _TunnelResource(BaseEndpoint):
    """A resource that reads the loaded TunnelCommunity."""

    tags = ("Tunnels",)

    def tunnels(self) -> TunnelCommunity | None:
        """The session's first loaded TunnelCommunity, or None."""
        for overlay in list(getattr(self.session, "overlays", ())):
            if isinstance(overlay, TunnelCommunity):
                return overlay
        return None

    def hidden(self) -> HiddenTunnelCommunity | None:
        """The loaded TunnelCommunity if it is a HiddenTunnelCommunity, else None."""
        tunnels = self.tunnels()
        return tunnels if isinstance(tunnels, HiddenTunnelCommunity) else None


class TunnelSettingsEndpoint(_TunnelResource):
    """``/tunnel/settings``."""

    @api_method("GET", "The settings of the TunnelCommunity.", {200: SETTINGS_SCHEMA})
    def get_settings(self, request: APIRequest) -> dict[str, Any]:
        """Every setting that is a number, a string or a list of those (peer_flags...), by name."""
        tunnels = self.tunnels()
        return {"settings": settings_json(tunnels.settings) if tunnels is not None else {}}


def circuit_json(circuit: Circuit) -> dict[str, Any]:
    """One circuit as ``/tunnel/circuits`` shows it."""
    unverified = circuit.unverified_hop
    return {"circuit_id": circuit.circuit_id, "goal_hops": circuit.goal_hops, "actual_hops": len(circuit.hops),
            "verified_hops": [_hex(hop.mid) for hop in circuit.hops],
            "unverified_hop": _hex(unverified.mid) if unverified is not None else "",
            "type": str(circuit.ctype),
            "state": f"{circuit.state} ({circuit.closing_info})" if circuit.closing_info else str(circuit.state),
            "bytes_up": circuit.bytes_up, "bytes_down": circuit.bytes_down,
            "creation_time": circuit.creation_time, "exit_flags": [int(flag) for flag in circuit.exit_flags]}


class _SpeedTestResource(_TunnelResource):
    """What both speed-test resources share: parameter checks and the streamed answer."""

    def __init__(self, speed_tests: SpeedTests) -> None:
        """Share ``speed_tests`` (the cap) with the other speed-test resource."""
        super().__init__()
        self.speed_tests = speed_tests

    @staticmethod
    def test_parameters(query: dict[str, Any]) -> tuple[int, int, int]:
        """``(request_size, response_size, test_time_ms)`` from the query; 400 with pyipv8's messages."""
        request_size = query.get("request_size", DEFAULT_REQUEST_SIZE)
        response_size = query.get("response_size", DEFAULT_RESPONSE_SIZE)
        if not 0 <= request_size <= MAX_TEST_SIZE or not 0 <= response_size <= MAX_TEST_SIZE:
            raise BadRequest(BAD_SIZES, code="BadSpeedTestSize")
        test_time_ms = query.get("test_time_ms", DEFAULT_TEST_TIME_MS)
        if not 0 < test_time_ms <= MAX_TEST_TIME_MS:
            raise BadRequest(BAD_TEST_TIME, code="BadSpeedTestTime")
        return request_size, response_size, test_time_ms

    async def run_test(self, request: APIRequest, tunnels: TunnelCommunity, circuit: Circuit,
                       parameters: tuple[int, int, int]) -> Response:
        """
        :func:`~ipv8.REST.speed_test.stream_speed_test` under the cap (already claimed); the slot is given back
        however the test ends.
        """
        try:
            return await stream_speed_test(request.raw, tunnels, circuit, parameters)
        finally:
            self.speed_tests.release()


class CircuitTestEndpoint(_SpeedTestResource):
    """``/tunnel/circuits/{circuit_id}/test``."""

    @api_method("GET", "Measure the speed of one of our circuits.",
                {200: SPEED_TEST_STREAM,
                 400: ("The circuit id or a parameter is malformed, or the circuit cannot be tested.", ERROR_REF),
                 404: ("No TunnelCommunity is loaded, or no such circuit.", ERROR_REF), 503: BUSY},
                query=SIZE_QUERY, content_type=EVENT_STREAM)
    def speed_test_existing_circuit(self, request: APIRequest) -> Deferred:
        """
        The circuit must be READY; a data circuit must end in an exit that answers speed tests (peer flag 8).
        The answer is streamed (see the module documentation).
        """
        circuit_id = parse_circuit_id(request.path.get("circuit_id"))
        tunnels = self.tunnels()
        if tunnels is None:
            raise NotFound(NOT_INITIALIZED, code="NoTunnelCommunity")
        circuit = tunnels.circuits.get(circuit_id)
        if circuit is None:
            raise NotFound(UNKNOWN_CIRCUIT, code="UnknownCircuit")
        if circuit.state != CIRCUIT_STATE_READY:
            raise BadRequest(CIRCUIT_NOT_READY, code="CircuitNotReady")
        if circuit.ctype == CIRCUIT_TYPE_DATA and PEER_FLAG_SPEED_TEST not in circuit.exit_flags:
            raise BadRequest(NO_SPEED_TEST_SUPPORT, code="NoSpeedTestSupport")
        parameters = self.test_parameters(request.query)
        self.speed_tests.claim()
        return ensureDeferred(self.run_test(request, tunnels, circuit, parameters))


class _CircuitIdEndpoint(_TunnelResource):
    """``/tunnel/circuits/{circuit_id}``: only groups ``test``."""

    def __init__(self, speed_tests: SpeedTests) -> None:
        """Create the resource with its ``test`` child."""
        super().__init__()
        self.add_endpoint("test", CircuitTestEndpoint(speed_tests))


class NewCircuitTestEndpoint(_SpeedTestResource):
    """``/tunnel/circuits/test``."""

    @api_method("GET", "Build a circuit, measure its speed, and remove it.",
                {200: SPEED_TEST_STREAM, 400: ("A parameter is malformed or out of range.", ERROR_REF),
                 404: NO_TUNNELS, 500: ("No circuit could be built.", ERROR_REF), 503: BUSY},
                query=(QueryParameter("goal_hops", integer(), f"Hops of the circuit (1..{MAX_HOPS}, default "
                                                              f"{DEFAULT_HOPS})."), *SIZE_QUERY),
                content_type=EVENT_STREAM)
    def speed_test_new_circuit(self, request: APIRequest) -> Deferred:
        """
        The circuit ends in a peer that answers speed tests (peer flag 8). Building it may take up to the
        ``circuit_timeout`` setting; the test then streams as for an existing circuit.
        """
        tunnels = self.tunnels()
        if tunnels is None:
            raise NotFound(NOT_INITIALIZED, code="NoTunnelCommunity")
        goal_hops = request.query.get("goal_hops", DEFAULT_HOPS)
        if not 1 <= goal_hops <= MAX_HOPS:
            raise BadRequest(BAD_HOPS, code="BadHops")
        parameters = self.test_parameters(request.query)
        self.speed_tests.claim()
        return ensureDeferred(self._build_and_test(request, tunnels, goal_hops, parameters))

    async def _build_and_test(self, request: APIRequest, tunnels: TunnelCommunity, goal_hops: int,
                              parameters: tuple[int, int, int]) -> Response:
        circuit = None
        try:
            circuit = tunnels.create_circuit(goal_hops, ctype=CIRCUIT_TYPE_SPEED_TEST,
                                             exit_flags=(PEER_FLAG_SPEED_TEST,))
            if circuit is None or await circuit.ready is None:
                raise RESTError(CIRCUIT_FAILED, code="CircuitFailed")
            return await stream_speed_test(request.raw, tunnels, circuit, parameters)
        finally:
            self.speed_tests.release()
            if circuit is not None:
                tunnels.remove_circuit(circuit.circuit_id, "speed test finished", destroy=True) \
                    .addErrback(lambda failure: logger.warning("Removing a speed-test circuit failed: %s",
                                                               failure.getErrorMessage()))


class CircuitsEndpoint(_TunnelResource):
    """``/tunnel/circuits``: our circuits, and the speed tests below."""

    def __init__(self, speed_tests: SpeedTests) -> None:
        """Create the resource with its ``test`` and ``{circuit_id}`` children."""
        super().__init__()
        self.add_endpoint("test", NewCircuitTestEndpoint(speed_tests))
        self.circuit_child = self.add_endpoint("{circuit_id}", _CircuitIdEndpoint(speed_tests))

    def getChild(self, path: bytes, request: Request) -> Any:  # noqa: N802, ANN401 - twisted.web's name
        """``/tunnel/circuits//test`` names an empty circuit id (a 400), not the new-circuit test."""
        if path == b"" and request.postpath:
            return self.circuit_child
        return super().getChild(path, request)

    @api_method("GET", "List our circuits.", {200: CIRCUITS_SCHEMA})
    def get_circuits(self, request: APIRequest) -> dict[str, Any]:
        """Closing circuits show why in their state, for example ``CLOSING (no activity)``."""
        tunnels = self.tunnels()
        if tunnels is None:
            return {"circuits": []}
        return {"circuits": [circuit_json(circuit) for circuit in list(tunnels.circuits.values())]}


class RelaysEndpoint(_TunnelResource):
    """``/tunnel/relays``."""

    @api_method("GET", "List the relay routes we serve for others.", {200: RELAYS_SCHEMA})
    def get_relays(self, request: APIRequest) -> dict[str, Any]:
        """Two entries per relayed circuit, one per direction, each under the circuit id its cells arrive with."""
        tunnels = self.tunnels()
        if tunnels is None:
            return {"relays": []}
        return {"relays": [{"circuit_from": circuit_from, "circuit_to": route.circuit_id,
                            "is_rendezvous": bool(route.rendezvous_relay),
                            "direction": "forward" if route.direction == FORWARD else "backward",
                            "bytes_up": route.bytes_up, "bytes_down": route.bytes_down,
                            "creation_time": route.creation_time}
                           for circuit_from, route in list(tunnels.relay_from_to.items())]}


class ExitsEndpoint(_TunnelResource):
    """``/tunnel/exits``."""

    @api_method("GET", "List the circuits of others that end with us.", {200: EXITS_SCHEMA})
    def get_exits(self, request: APIRequest) -> dict[str, Any]:
        """
        Every circuit we joined and were not asked to extend. With hidden services, introduction and rendezvous
        points are marked (pyipv8 3.2.1 lists exits only then; txipv8 always does).
        """
        tunnels = self.tunnels()
        if tunnels is None:
            return {"exits": []}
        hidden = self.hidden()
        introductions: set[int] = set()
        rendezvous: set[int] = set()
        if hidden is not None:
            introductions = {exit_socket.circuit_id for exit_socket, _ in list(hidden.intro_point_for.values())}
            rendezvous = {exit_socket.circuit_id for exit_socket in list(hidden.rendezvous_point_for.values())}
        return {"exits": [{"circuit_from": circuit_from, "enabled": bool(exit_socket.enabled),
                           "bytes_up": exit_socket.bytes_up, "bytes_down": exit_socket.bytes_down,
                           "creation_time": exit_socket.creation_time,
                           "is_introduction": exit_socket.circuit_id in introductions,
                           "is_rendezvous": exit_socket.circuit_id in rendezvous}
                          for circuit_from, exit_socket in list(tunnels.exit_sockets.items())]}


class SwarmSizeEndpoint(_TunnelResource):
    """``/tunnel/swarms/{infohash}/size``."""

    @api_method("GET", "Estimate the number of seeders of a hidden swarm.",
                {200: SWARM_SIZE_SCHEMA, 400: ("The info hash or hop count is malformed.", ERROR_REF)},
                query=(QueryParameter("hops", integer(), f"Hops of the circuits used (1..{MAX_HOPS}, default "
                                                         f"{DEFAULT_HOPS})."),))
    def get_swarm_size(self, request: APIRequest) -> Deferred | dict[str, Any]:
        """Without a HiddenTunnelCommunity the answer is pyipv8 3.2.1's ``{"swarms": []}``."""
        info_hash = parse_infohash(request.path.get("infohash"))
        hops = request.query.get("hops", DEFAULT_HOPS)
        if not 1 <= hops <= MAX_HOPS:
            raise BadRequest(BAD_HOPS, code="BadHops")
        hidden = self.hidden()
        if hidden is None:
            return {"swarms": []}
        return maybe_deferred(hidden.estimate_swarm_size, info_hash, hops=hops) \
            .addCallback(lambda size: {"swarm_size": int(size)})


class _SwarmEndpoint(_TunnelResource):
    """``/tunnel/swarms/{infohash}``: only groups ``size``."""

    def __init__(self) -> None:
        """Create the resource with its ``size`` child."""
        super().__init__()
        self.add_endpoint("size", SwarmSizeEndpoint())


class SwarmsEndpoint(_TunnelResource):
    """``/tunnel/swarms``."""

    def __init__(self) -> None:
        """Create the resource with its ``{infohash}`` child."""
        super().__init__()
        self.infohash_child = self.add_endpoint("{infohash}", _SwarmEndpoint())

    def getChild(self, path: bytes, request: Request) -> Any:  # noqa: N802, ANN401 - twisted.web's name
        """``/tunnel/swarms//size`` names an empty info hash (a 400)."""
        if path == b"" and request.postpath:
            return self.infohash_child
        return super().getChild(path, request)

    @api_method("GET", "List the hidden-services swarms we take part in.", {200: SWARMS_SCHEMA})
    def get_swarms(self, request: APIRequest) -> dict[str, Any]:
        """Empty without a HiddenTunnelCommunity."""
        hidden = self.hidden()
        if hidden is None:
            return {"swarms": []}
        return {"swarms": [{
            "info_hash": _hex(swarm.info_hash), "num_seeders": swarm.get_num_seeders(),
            "num_connections": swarm.get_num_connections(),
            "num_connections_incomplete": swarm.get_num_connections_incomplete(),
            "num_ips_from_dht": sum(1 for ip in swarm.intro_points if ip.source == PEER_SOURCE_DHT),
            "num_ips_from_pex": sum(1 for ip in swarm.intro_points if ip.source == PEER_SOURCE_PEX),
            "seeding": bool(swarm.seeding), "last_lookup": swarm.last_lookup,
            "bytes_up": swarm.get_total_up(), "bytes_down": swarm.get_total_down(),
        } for swarm in list(hidden.swarms.values())]}


def dht_intro_points(dht: Any) -> list[dict[str, Any]]:  # noqa: ANN401
    """
    Per key of ``dht``'s store, the introduction points stored under it (as pyipv8 3.2.1 lists them: every key,
    with an empty list when none of its values is an introduction point). Values that do not decode, or whose
    keys do not load, are skipped.
    """
    result = []
    for key, values in list(dht.storage.items.items()):
        points = []
        for value in values:
            decoded = stored_data(value.data)
            if decoded is None:
                continue
            try:
                payload, _ = default_serializer.unpack_serializable(DHTIntroPointPayload, decoded[0])
                peer = Peer(PUBLIC_KEY_PREFIX + payload.intro_pk, payload.address)
            except (PackError, ValueError, TypeError) as exc:
                logger.debug("Not an introduction point under %s: %s", key.hex(), exc)
                continue
            except Exception as exc:  # noqa: BLE001 - a key that does not load, whatever the key code raises
                logger.debug("An introduction point under %s has an unusable key: %s", key.hex(), exc)
                continue
            points.append(IntroductionPoint(peer, PUBLIC_KEY_PREFIX + payload.seeder_pk, PEER_SOURCE_DHT,
                                            payload.last_seen).to_dict())
        result.append({"info_hash": _hex(key), "peers": points})
    return result


class DHTPeersEndpoint(_TunnelResource):
    """``/tunnel/peers/dht``."""

    @api_method("GET", "List the hidden-services introduction points in our DHT store.", {200: HIDDEN_PEERS_SCHEMA})
    def get_dht_peers(self, request: APIRequest) -> list[dict[str, Any]]:
        """Read from the DHT of the TunnelCommunity's ``dht_provider``; empty without one."""
        tunnels = self.tunnels()
        provider = tunnels.dht_provider if tunnels is not None else None
        dht = getattr(provider, "dht_community", None) if provider is not None else None
        if dht is None:
            return []
        return dht_intro_points(dht)


class PEXPeersEndpoint(_TunnelResource):
    """``/tunnel/peers/pex``."""

    @api_method("GET", "List the hidden-services introduction points learnt through PEX.", {200: HIDDEN_PEERS_SCHEMA})
    def get_pex_peers(self, request: APIRequest) -> list[dict[str, Any]]:
        """Empty without a HiddenTunnelCommunity."""
        hidden = self.hidden()
        if hidden is None:
            return []
        return [{"info_hash": _hex(info_hash), "peers": [ip.to_dict() for ip in pex.get_intro_points()]}
                for info_hash, pex in list(hidden.pex.items())]


class TunnelPeersEndpoint(_TunnelResource):
    """``/tunnel/peers``."""

    def __init__(self) -> None:
        """Create the resource with its ``dht`` and ``pex`` children."""
        super().__init__()
        self.add_endpoint("dht", DHTPeersEndpoint())
        self.add_endpoint("pex", PEXPeersEndpoint())

    @api_method("GET", "List the peers of the TunnelCommunity with the flags they announced.",
                {200: TUNNEL_PEERS_SCHEMA})
    def get_peers(self, request: APIRequest) -> dict[str, Any]:
        """Flags: 1 relay, 2 BitTorrent exit, 4 IPv8 exit, 8 speed tests."""
        tunnels = self.tunnels()
        if tunnels is None:
            return {"peers": []}
        return {"peers": [{"ip": peer.address[0], "port": peer.address[1], "mid": _hex(peer.mid),
                           "is_key_compatible": bool(tunnels.crypto.is_key_compatible(peer.public_key)),
                           "flags": [int(flag) for flag in flags]}
                          for peer, flags in list(tunnels.candidates.items())]}


class TunnelEndpoint(_TunnelResource):
    """``/tunnel``: groups the tunnel routes (it answers nothing itself, as in pyipv8 3.2.1)."""

    def __init__(self, speed_tests: SpeedTests | None = None) -> None:
        """Create the tree below ``/tunnel``."""
        super().__init__()
        self.speed_tests = speed_tests if speed_tests is not None else SpeedTests()
        self.add_endpoint("settings", TunnelSettingsEndpoint())
        self.add_endpoint("circuits", CircuitsEndpoint(self.speed_tests))
        self.add_endpoint("relays", RelaysEndpoint())
        self.add_endpoint("exits", ExitsEndpoint())
        self.add_endpoint("swarms", SwarmsEndpoint())
        self.add_endpoint("peers", TunnelPeersEndpoint())


__all__ = ["TunnelEndpoint", "circuit_json", "dht_intro_points", "parse_circuit_id", "parse_infohash",
           "settings_json"]
