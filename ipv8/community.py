"""The Community: an overlay with message dispatch and the IPv8 peer-discovery protocol.

Message dispatch, drop counting, replay protection and walking live here; the introduction protocol itself
(introductions, punctures, and the defences around them) is the mixin
:class:`~ipv8.peerdiscovery.introduction_protocol.IntroductionProtocol`.
"""
from __future__ import annotations

import collections
import logging
import random
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from twisted.internet.defer import Deferred, ensureDeferred
from zope.interface import implementer

from .bounded import AgedMap
from .lazy_community import (EZPackOverlay, InvalidSignatureError, PacketDecodingError, ReplayedMessageError)
from .messaging.address_hygiene import AddressHygiene
from .messaging.addresses import UDPv4Address, UDPv6Address
from .messaging.drop_reasons import (DROP_BAD_ADDRESS, DROP_BAD_SIGNATURE, DROP_DEPRECATED_MESSAGE, DROP_HANDLER_ERROR,
                                     DROP_MALFORMED, DROP_PEER_LIMIT, DROP_RATE_LIMITED, DROP_REPLAY, DROP_TOO_SHORT,
                                     DROP_UNKNOWN_MESSAGE, DROP_UNSOLICITED, DROP_WRONG_PREFIX)
from .messaging.interfaces.endpoint import IAnonymizingEndpoint, IMultiInterfaceEndpoint
from .messaging.payload import (IntroductionRequestPayload, IntroductionResponsePayload, NewIntroductionRequestPayload,
                                NewIntroductionResponsePayload, NewPuncturePayload, NewPunctureRequestPayload,
                                PuncturePayload, PunctureRequestPayload)
from .messaging.rate_limit import PerSourceRateLimiter
from .messaging.replay import ReplayGuard
from .messaging.serialization import PackError
from .overlay import IPeerDiscovery, Settings
from .peerdiscovery.introduction_protocol import (INTERFACE_FOR_ADDRESS, NO_ADDRESS, SIXTEEN_BIT_TIME_MESSAGES,
                                                  IntroductionProtocol)
from .peerdiscovery.peer_origin import BOOTSTRAP, WALKED
from .peerdiscovery.wan_vote import WanAddressVote

if TYPE_CHECKING:
    from .peer import Peer
    from .types import Address

DEFAULT_MAX_PEERS = 30
#: Message ids the framework keeps for itself (introductions, punctures and old Dispersy messages).
RESERVED_MESSAGE_IDS = range(231, 256)

#: Old Dispersy message ids that may still arrive from ancient peers; they are logged and dropped.
DEPRECATED_MESSAGES = {
    255: "reserved-255", 254: "on-missing-sequence", 253: "missing-proof", 252: "signature-request",
    251: "signature-response", 248: "on-identity", 247: "on-missing-identity", 244: "destroy-community",
    243: "authorize", 242: "revoke", 241: "subjective-set", 240: "missing-subjective-set",
    239: "on-missing-message", 238: "undo-own", 237: "undo-other", 236: "dynamic-settings",
    235: "missing-last-message",
}

logger = logging.getLogger(__name__)


class CommunitySettings(Settings):
    """Settings every Community understands; subclass it to add your own (see ``settings_class``)."""

    #: Stop accepting new peers once we have this many (-1: no limit); see ``Community._make_room_for``.
    max_peers: int = DEFAULT_MAX_PEERS
    #: Ask for our traffic to go through a TunnelEndpoint (when the endpoint is one).
    anonymize: bool = False


@implementer(IPeerDiscovery)
class Community(IntroductionProtocol, EZPackOverlay):
    """
    An overlay that dispatches messages by id and runs the IPv8 peer-discovery protocol.

    Subclasses set the class attribute ``community_id`` (20 bytes) and register their messages with
    :meth:`add_message_handler` in ``__init__``.
    """

    version: ClassVar[bytes] = b"\x02"
    community_id: bytes
    settings_class: ClassVar[type[Settings]] = CommunitySettings

    #: Names of the old Dispersy messages that are logged and dropped, by message id.
    deprecated_message_names: ClassVar[dict[int, str]] = DEPRECATED_MESSAGES

    #: When true (the test framework's "fragile" mode) handler exceptions propagate instead of being logged.
    raise_handler_errors: bool = False

    #: Punctures we send per second on behalf of one source IP (puncture requests beyond it are dropped).
    puncture_rate_limit: float = 10.0
    #: Punctures one source IP may trigger at once.
    puncture_burst: int = 20
    #: Punctures per second for all sources together.
    puncture_total_rate: float = 200.0
    #: Our introduction requests that wait for an answer at most (the oldest is forgotten first).
    max_outstanding_introductions: int = 1024
    #: Seconds an introduction request waits for its answer; a later answer counts as unsolicited.
    introduction_answer_timeout: float = 30.0

    def __init__(self, settings: CommunitySettings) -> None:
        community_id = getattr(self, "community_id", None)
        if not isinstance(community_id, bytes) or len(community_id) != 20:
            raise ValueError(f"{type(self).__name__}.community_id must be 20 bytes, got {community_id!r}")
        settings.community_id = community_id
        self._prefix = b"\x00" + self.version + community_id
        super().__init__(settings)

        self.max_peers: int = getattr(settings, "max_peers", DEFAULT_MAX_PEERS)
        self.anonymize: bool = getattr(settings, "anonymize", False)
        if self.anonymize:
            if IAnonymizingEndpoint.providedBy(self.endpoint):
                self.endpoint.set_anonymity(self._prefix, True)
            else:
                self.logger.warning("%s asked for anonymity but its endpoint cannot provide it",
                                    type(self).__name__)

        self.network.register_service_provider(community_id, self)
        self.network.blacklist_mids.append(self.my_peer.mid)
        self.bootstrappers: list[Any] = []
        #: Number of packets dropped, per reason (the ``DROP_*`` constants of this module).
        self.drop_counts: collections.Counter[str] = collections.Counter()
        self._asked_at: dict[bytes, float] = {}  # mid -> when we last asked that peer for an introduction
        if getattr(self.network, "_clock", None) is None and hasattr(self.network, "clock"):
            self.network.clock = self._clock()
        #: The address rules (never walk to, introduce or send to junk or to ourselves).
        self._bound: tuple | None = None
        self.address_hygiene = AddressHygiene(self._own_addresses)
        #: (identifier, address we asked) of our introduction requests that still wait for an answer.
        self._outstanding: AgedMap = AgedMap(self.max_outstanding_introductions, self.introduction_answer_timeout)
        #: Peers (binary keys) that answered an introduction request of ours: they cannot be evicted by newcomers.
        self._established: AgedMap = AgedMap(4 * max(self.max_peers, 0) + 64, 24 * 3600.0)
        self.replay_guard = ReplayGuard()
        self._puncture_limiter = PerSourceRateLimiter(self.puncture_rate_limit, self.puncture_burst,
                                                      self.puncture_total_rate, 2 * self.puncture_total_rate)
        self._wan_vote = WanAddressVote()

        self.decode_map: list[Callable[[Address, bytes], Any] | None] = [None] * 256
        self._install_handler(PunctureRequestPayload.msg_id, self.on_old_puncture_request)
        self._install_handler(PuncturePayload.msg_id, self.on_puncture)
        self._install_handler(NewPunctureRequestPayload.msg_id, self.on_new_puncture_request)
        self._install_handler(NewPuncturePayload.msg_id, self.on_new_puncture)
        self._install_handler(IntroductionRequestPayload.msg_id, self.on_old_introduction_request)
        self._install_handler(IntroductionResponsePayload.msg_id, self.on_old_introduction_response)
        self._install_handler(NewIntroductionRequestPayload.msg_id, self.on_new_introduction_request)
        self._install_handler(NewIntroductionResponsePayload.msg_id, self.on_new_introduction_response)
        deprecated = self.on_deprecated_message  # one bound method for all 17 slots
        for msg_id in DEPRECATED_MESSAGES:
            self._install_handler(msg_id, deprecated)

    # Endpoint wiring -------------------------------------------------------------------------------

    def _register_with_endpoint(self) -> None:
        self.endpoint.add_prefix_listener(self, self._prefix)

    def get_prefix(self) -> bytes:
        """``0x00``, the community version and the community id: the 22 bytes that route to us."""
        return self._prefix

    def unload(self) -> Deferred:
        """Stop the bootstrappers, leave the endpoint and cancel every task; returns a Deferred."""
        while self.bootstrappers:
            self.bootstrappers.pop().unload()
        return super().unload()

    # Message dispatch --------------------------------------------------------------------------------

    def add_message_handler(self, msg_num: int | type, callback: Callable[[Address, bytes], Any]) -> None:
        """
        Deliver messages with id ``msg_num`` (or the ``msg_id`` of a payload class) to ``callback``.

        The callback receives ``(source_address, data)``; decorate it with ``lazy_wrapper`` and friends to
        receive decoded payloads instead. Ids 231-255 belong to the framework and each id takes one handler.
        """
        msg_id = msg_num if isinstance(msg_num, int) else getattr(msg_num, "msg_id", None)
        if not isinstance(msg_id, int) or isinstance(msg_id, bool):
            raise TypeError(f"{msg_num!r} is neither a message id nor a payload class with a msg_id")
        if msg_id in RESERVED_MESSAGE_IDS:
            raise ValueError(f"message id {msg_id} is reserved by the IPv8 framework (231-255 are taken)")
        self._install_handler(msg_id, callback)

    def _install_handler(self, msg_id: int, callback: Callable[[Address, bytes], Any]) -> None:
        if not 0 <= msg_id <= 255:
            raise ValueError(f"message id {msg_id} does not fit in one byte")
        if self.decode_map[msg_id] is not None:
            raise ValueError(f"message id {msg_id} already has a handler: {self.decode_map[msg_id]!r}")
        self.decode_map[msg_id] = callback

    def on_deprecated_message(self, source_address: Address, data: bytes) -> None:
        """Log and drop an old Dispersy message."""
        self.drop_counts[DROP_DEPRECATED_MESSAGE] += 1
        self.logger.debug("Dropping deprecated %s message from %s", DEPRECATED_MESSAGES[data[22]], source_address)

    def on_packet(self, packet: tuple[Address, bytes], warn_unknown: bool = True) -> None:
        """
        Route a packet from the endpoint to the handler registered for its message id.

        A packet that cannot be decoded, fails its signature check or makes its handler fail is dropped
        and counted in :attr:`drop_counts`; nothing a remote peer sends can raise out of here (unless the
        test framework switched on ``raise_handler_errors``).
        """
        source_address, data = packet
        if len(data) < 23:
            self.drop_counts[DROP_TOO_SHORT] += 1
            return
        if data[:22] != self._prefix:
            self.drop_counts[DROP_WRONG_PREFIX] += 1
            return
        known_peer = self.network.get_verified_by_address(source_address)
        if known_peer is not None:
            # The overlay's clock (the reactor in production) so that churn can be tested on a Clock.
            known_peer.last_response = self._clock().seconds()
        handler = self.decode_map[data[22]]
        if handler is None:
            self.drop_counts[DROP_UNKNOWN_MESSAGE] += 1
            if warn_unknown:
                self.logger.debug("Dropping unknown message %d from %s", data[22], source_address)
            return
        try:
            result = handler(source_address, data)
        except Exception as exc:  # noqa: BLE001 - the network must not be able to crash us
            self._count_failure(exc, data[22], source_address)
            if self.raise_handler_errors:
                raise
            return
        if result is not None and hasattr(result, "__await__"):
            deferred = ensureDeferred(result) if not isinstance(result, Deferred) else result
            deferred.addErrback(self._async_handler_failed, data[22], source_address)

    def _count_failure(self, exc: BaseException, msg_id: int, source_address: Address) -> None:
        if isinstance(exc, ReplayedMessageError):
            reason = DROP_REPLAY
        elif isinstance(exc, InvalidSignatureError):
            reason = DROP_BAD_SIGNATURE
        elif isinstance(exc, (PackError, PacketDecodingError)):
            reason = DROP_MALFORMED
        else:
            reason = DROP_HANDLER_ERROR
        self.drop_counts[reason] += 1
        if reason == DROP_HANDLER_ERROR:
            self.logger.error("Handler for message %d from %s failed", msg_id, source_address,
                              exc_info=(type(exc), exc, exc.__traceback__))
        else:
            self.logger.debug("Dropping message %d from %s (%s): %s", msg_id, source_address, reason, exc)

    def _async_handler_failed(self, failure: Any, msg_id: int, source_address: Address) -> None:
        self._count_failure(failure.value, msg_id, source_address)
        if self.raise_handler_errors:
            return failure
        return None

    def accept_global_time(self, key_bin: bytes, msg_id: int, global_time: int, source_address: Address) -> bool:
        """Refuse a signed, timed message whose global time its sender already used (a replay).

        Every message decoded by a ``lazy_wrapper`` that includes a :class:`GlobalTimeDistributionPayload`
        passes here; see :mod:`ipv8.messaging.replay` for the rules.
        """
        modulus = 65536 if msg_id in SIXTEEN_BIT_TIME_MESSAGES else None
        verified = self.network.get_verified_by_public_key_bin(key_bin) is not None
        return self.replay_guard.accept(key_bin, global_time, tuple(source_address), self._clock().seconds(),
                                        modulus, protected=verified)

    # Addresses ----------------------------------------------------------------------------------------

    def _own_addresses(self) -> tuple:
        return (self.my_estimated_lan, self.my_estimated_wan, *self.my_peer.addresses.values(),
                *self._bound_addresses())

    def _bound_addresses(self) -> tuple:
        # Asking the socket costs a system call, and the address rules ask for every address they check:
        # the answer is kept once the endpoint is open.
        if self._bound is None:
            try:
                bound = self.endpoint.get_address() if self.endpoint.is_open() else None
            except Exception:  # noqa: BLE001 - an endpoint that is not open has no address yet
                bound = None
            if not bound:
                return ()
            extra = (("127.0.0.1" if bound[0] == "0.0.0.0" else "::1", bound[1]),) if bound[0] in ("0.0.0.0", "::") \
                else ()
            self._bound = (tuple(bound), *extra)
        return self._bound

    def ensure_blacklisted(self, address: Address) -> None:
        """Never treat ``address`` (for example a tracker) as a peer."""
        if address not in self.network.blacklist:
            self.network.blacklist.append(address)

    def guess_address(self, interface: str) -> Address | None:
        """Our best guess of our own address on ``interface`` ("UDPIPv4" or "UDPIPv6"), or None."""
        if interface == "UDPIPv4":
            lan = self.my_estimated_lan
            if lan and ":" not in lan[0] and lan[0] != "0.0.0.0":
                return UDPv4Address(*lan)
        elif interface == "UDPIPv6":
            address = self.get_ipv6_address()
            if address and ":" in address[0] and address[0] != "::":
                return UDPv6Address(*address)
        return None

    def my_preferred_address(self) -> Address:
        """The address we advertise as our WAN address in new-style messages."""
        if not IMultiInterfaceEndpoint.providedBy(self.endpoint) or not self.endpoint.interfaces:
            return self.my_estimated_wan
        for interface in self.endpoint.interfaces:
            address_class = UDPv4Address if interface == "UDPIPv4" else UDPv6Address
            if address_class not in self.my_peer.addresses:
                guess = self.guess_address(interface)
                if guess is not None:
                    self.my_peer.address = guess
        return self.my_peer.address

    def address_is_lan(self, ip: str) -> bool:
        """Whether ``ip`` is one of this machine's LAN addresses (override to teach the community its LAN).

        The default knows none, so every peer counts as remote.
        """
        return False

    def address_in_lan_subnets(self, ip: str) -> bool:
        """Whether ``ip`` lies in one of our LAN subnets; by default the same as :meth:`address_is_lan`."""
        return self.address_is_lan(ip)

    def _is_lan_address(self, ip: str) -> bool:
        return bool(self.address_is_lan(ip))

    def _in_lan_subnets(self, ip: str) -> bool:
        return bool(self.address_in_lan_subnets(ip))

    # Walking ------------------------------------------------------------------------------------------------

    def walk_to(self, address: Address) -> None:
        """Send an introduction request to ``address`` (never to an unusable address or one of ours)."""
        if not self.address_hygiene.may_send_to(address):
            self.logger.debug("Not walking to %s: not an address to send to", address)
            return
        self.network.origins.note(address, WALKED)  # unless it was introduced (or bootstrapped) before
        self.endpoint.send(address, self.create_introduction_request(
            address, new_style=self.network.is_new_style(address)))

    def send_introduction_request(self, peer: Peer) -> None:
        """Send an introduction request to a known ``peer``."""
        self.endpoint.send(peer.address, self.create_introduction_request(
            peer.address, new_style=peer.new_style_intro))

    def get_new_introduction(self, from_peer: Peer | None = None) -> None:
        """Ask ``from_peer`` (or a random peer) for an introduction; bootstrap when we know nobody."""
        if from_peer is None:
            peers = self.get_peers()
            if not peers:
                self.bootstrap()
                return
            # Once in a while, talk to the bootstrap servers again so that separate groups of peers
            # that never met can still merge.
            if random.random() < 0.05 and any(bootstrapper.initialized for bootstrapper in self.bootstrappers):
                for bootstrapper in self.bootstrappers:
                    bootstrapper.keep_alive(self)
                return
            from_peer = self._least_recently_asked(peers)
        self._asked_at[from_peer.mid] = self._clock().seconds()
        self.send_introduction_request(from_peer)

    def _least_recently_asked(self, peers: list[Peer]) -> Peer:
        # Asking the peer we asked longest ago (rather than a random one) spreads the requests, so that
        # more of them yield someone new. Ties, e.g. peers never asked, are broken at random.
        asked_at = self._asked_at
        if len(asked_at) > 4 * len(peers) + 64:  # forget peers that are gone
            present = {peer.mid for peer in peers}
            for mid in [mid for mid in asked_at if mid not in present]:
                del asked_at[mid]
        never = float("-inf")  # not 0.0: on a Clock that starts at 0, "asked at 0" is not "never asked"
        oldest = min(asked_at.get(peer.mid, never) for peer in peers)
        return random.choice([peer for peer in peers if asked_at.get(peer.mid, never) == oldest])

    def bootstrap(self) -> None:
        """Ask every bootstrapper for addresses and walk to them (in the background)."""
        for bootstrapper in self.bootstrappers:
            self.register_anonymous_task("bootstrap", self._bootstrap_with, bootstrapper)

    async def _bootstrap_with(self, bootstrapper: Any) -> None:
        initialized = bootstrapper.initialize(self)
        addresses = await bootstrapper.get_addresses(self, 60.0)
        for count, address in enumerate(addresses):
            if 0 < self.max_peers <= count:
                break
            self.network.origins.note(address, BOOTSTRAP)
            self.walk_to(address)
        await initialized

    def get_peer_for_introduction(self, exclude: Peer | None = None, new_style: bool = False,
                                  to: Address | None = None) -> Peer | None:
        """A random peer other than ``exclude``; only IPv4 peers unless ``new_style``.

        :param to: the address of whoever the peer is for; peers whose address would mean nothing there
            (a loopback peer for a remote requester, say) are left out.
        """
        candidates = [peer for peer in self.get_peers()
                      if peer != exclude and (new_style or isinstance(peer.address, UDPv4Address))]
        if to is None or not candidates:
            return random.choice(candidates) if candidates else None
        # Almost every peer passes the address rules: try a few at random before checking them all.
        may_introduce = self.address_hygiene.may_introduce
        for _ in range(4):
            candidate = random.choice(candidates)
            if may_introduce(candidate.address, to):
                return candidate
        candidates = [peer for peer in candidates if may_introduce(peer.address, to)]
        return random.choice(candidates) if candidates else None

    def get_walkable_addresses(self) -> list[Address]:
        """Addresses introduced to us in this community that we have not verified yet."""
        return self.network.get_walkable_addresses(self.community_id)

    def get_peers(self) -> list[Peer]:
        """The verified peers that serve this community."""
        return self.network.get_peers_for_service(self.community_id)


__all__ = ["DEFAULT_MAX_PEERS", "DROP_BAD_ADDRESS", "DROP_BAD_SIGNATURE", "DROP_DEPRECATED_MESSAGE",
           "DROP_HANDLER_ERROR", "DROP_MALFORMED", "DROP_PEER_LIMIT", "DROP_RATE_LIMITED", "DROP_REPLAY",
           "DROP_TOO_SHORT", "DROP_UNKNOWN_MESSAGE", "DROP_UNSOLICITED", "DROP_WRONG_PREFIX", "INTERFACE_FOR_ADDRESS",
           "NO_ADDRESS", "RESERVED_MESSAGE_IDS", "Community", "CommunitySettings"]
