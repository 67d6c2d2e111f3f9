"""The Community: an overlay with message dispatch and the IPv8 peer-discovery protocol.

Peers find each other with four messages (facts sheet B.5-B.8): an *introduction request* asks a peer
to vouch for us and to introduce someone it knows; the *introduction response* names that someone; the
responder also sends the introduced peer a *puncture request*, which makes it send a *puncture* to us so
that both NATs have a hole open for the other. Each message exists in an IPv4-only ("old style") and an
address-family-agnostic ("new style") variant.
"""
from __future__ import annotations

import collections
import logging
import random
from typing import TYPE_CHECKING, Any, Callable, ClassVar

from twisted.internet.defer import Deferred, ensureDeferred

from .lazy_community import (EZPackOverlay, InvalidSignatureError, PacketDecodingError, lazy_wrapper,
                             lazy_wrapper_unsigned)
from .messaging.addresses import UDPv4Address, UDPv4LANAddress, UDPv6Address
from .messaging.payload import (IntroductionRequestPayload, IntroductionResponsePayload,
                                NewIntroductionRequestPayload, NewIntroductionResponsePayload, NewPuncturePayload,
                                NewPunctureRequestPayload, PuncturePayload, PunctureRequestPayload)
from .messaging.payload_headers import BinMemberAuthenticationPayload, GlobalTimeDistributionPayload
from .messaging.serialization import PackError
from .overlay import Settings

if TYPE_CHECKING:
    from .peer import Peer
    from .types import Address

DEFAULT_MAX_PEERS = 30
#: Message ids the framework keeps for itself (introductions, punctures and old Dispersy messages).
RESERVED_MESSAGE_IDS = range(231, 256)
NO_ADDRESS = ("0.0.0.0", 0)

#: Old Dispersy message ids that may still arrive from ancient peers; they are logged and dropped.
DEPRECATED_MESSAGES = {
    255: "reserved-255", 254: "on-missing-sequence", 253: "missing-proof", 252: "signature-request",
    251: "signature-response", 248: "on-identity", 247: "on-missing-identity", 244: "destroy-community",
    243: "authorize", 242: "revoke", 241: "subjective-set", 240: "missing-subjective-set",
    239: "on-missing-message", 238: "undo-own", 237: "undo-other", 236: "dynamic-settings",
    235: "missing-last-message",
}

#: Which endpoint interface serves which address type.
INTERFACE_FOR_ADDRESS = {UDPv4Address: "UDPIPv4", UDPv4LANAddress: "UDPIPv4", UDPv6Address: "UDPIPv6"}

# Reasons under which Community.drop_counts files a dropped packet.
DROP_TOO_SHORT = "too-short"
DROP_WRONG_PREFIX = "wrong-prefix"
DROP_UNKNOWN_MESSAGE = "unknown-message"
DROP_DEPRECATED_MESSAGE = "deprecated-message"
DROP_MALFORMED = "malformed"
DROP_BAD_SIGNATURE = "bad-signature"
DROP_HANDLER_ERROR = "handler-error"
DROP_PEER_LIMIT = "peer-limit"

logger = logging.getLogger(__name__)


class CommunitySettings(Settings):
    """Settings every Community understands; subclass it to add your own (see ``settings_class``)."""

    #: Stop accepting introduction requests once we have more than this many peers (-1: no limit).
    max_peers: int = DEFAULT_MAX_PEERS
    #: Ask for our traffic to go through a TunnelEndpoint (when the endpoint is one).
    anonymize: bool = False


class Community(EZPackOverlay):
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
            set_anonymity = getattr(self.endpoint, "set_anonymity", None)
            if set_anonymity is None:
                self.logger.warning("%s asked for anonymity but its endpoint cannot provide it",
                                    type(self).__name__)
            else:
                set_anonymity(self._prefix, True)

        self.network.register_service_provider(community_id, self)
        self.network.blacklist_mids.append(self.my_peer.mid)
        self.bootstrappers: list[Any] = []
        #: Number of packets dropped, per reason (the ``DROP_*`` constants of this module).
        self.drop_counts: collections.Counter[str] = collections.Counter()
        self._asked_at: dict[bytes, float] = {}  # mid -> when we last asked that peer for an introduction

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
        if isinstance(exc, InvalidSignatureError):
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

    # Addresses ----------------------------------------------------------------------------------------

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
            address = self.get_ipv6_address() if hasattr(self, "get_ipv6_address") else None
            if address and ":" in address[0] and address[0] != "::":
                return UDPv6Address(*address)
        return None

    def my_preferred_address(self) -> Address:
        """The address we advertise as our WAN address in new-style messages."""
        interfaces = getattr(self.endpoint, "interfaces", None)
        if not interfaces:
            return self.my_estimated_wan
        for interface in interfaces:
            address_class = UDPv4Address if interface == "UDPIPv4" else UDPv6Address
            if address_class not in self.my_peer.addresses:
                guess = self.guess_address(interface)
                if guess is not None:
                    self.my_peer.address = guess
        return self.my_peer.address

    def _is_lan_address(self, ip: str) -> bool:
        checker = getattr(self, "address_is_lan", None)
        return bool(checker(ip)) if checker is not None else False

    def _in_lan_subnets(self, ip: str) -> bool:
        checker = getattr(self, "address_in_lan_subnets", None)
        if checker is not None:
            return bool(checker(ip))
        return self._is_lan_address(ip)

    # Building discovery messages --------------------------------------------------------------------

    def _signed(self, prefix: bytes | None, payload: Any, global_time: int) -> bytes:
        auth = BinMemberAuthenticationPayload(self.my_peer.public_key.key_to_bin())
        return self._ez_pack(prefix or self._prefix, payload.msg_id,
                             [auth, GlobalTimeDistributionPayload(global_time), payload])

    def create_introduction_request(self, socket_address: Address, extra_bytes: bytes = b"",
                                    new_style: bool = False, prefix: bytes | None = None) -> bytes:
        """Build (not send) an introduction request to ``socket_address``."""
        # The identifier doubles as the distribution time, both reduced to 16 bits as the deployed
        # network does.
        identifier = self.claim_global_time() % 65536
        payload: Any
        if new_style or isinstance(socket_address, UDPv6Address):
            payload = NewIntroductionRequestPayload(
                destination_address=socket_address, source_lan_address=self.my_estimated_lan,
                source_wan_address=self.my_preferred_address(), identifier=identifier,
                connection_type_0=False, connection_type_1=False, supports_new_style=False, dflag1=False,
                dflag2=False, tunnel=False, sync=False, advice=False, extra_bytes=extra_bytes)
        else:
            payload = IntroductionRequestPayload(
                destination_address=socket_address, source_lan_address=self.my_estimated_lan,
                source_wan_address=self.my_estimated_wan, advice=True, connection_type="unknown",
                identifier=identifier, extra_bytes=extra_bytes, supports_new_style=new_style)
        return self._signed(prefix, payload, identifier)

    def create_introduction_response(self, lan_socket_address: Address, socket_address: Address,
                                     identifier: int, introduction: Peer | None = None, extra_bytes: bytes = b"",
                                     prefix: bytes | None = None, new_style: bool = False) -> bytes:
        """
        Build (not send) the answer to an introduction request from ``socket_address``, whose LAN
        address is ``lan_socket_address``.

        If we introduce a peer, that peer is sent a puncture request right away so it opens its NAT
        towards the requester.
        """
        global_time = self.claim_global_time() % 65536
        requester = self.network.get_verified_by_address(socket_address)
        if introduction is None:
            introduction = self.get_peer_for_introduction(exclude=requester, new_style=new_style)
        intro_lan, intro_wan = NO_ADDRESS, NO_ADDRESS
        if introduction is not None:
            intro_lan, intro_wan = self._introduction_addresses(introduction)

        payload: Any
        if new_style:
            payload = NewIntroductionResponsePayload(
                destination_address=socket_address, source_lan_address=self.my_estimated_lan,
                source_wan_address=self.my_preferred_address(), lan_introduction_address=intro_lan,
                wan_introduction_address=intro_wan, identifier=identifier,
                intro_supports_new_style=bool(introduction and introduction.new_style_intro),
                flag1=False, flag2=False, flag3=False, flag4=False, flag5=False, flag6=False, flag7=False,
                extra_bytes=extra_bytes)
        else:
            payload = IntroductionResponsePayload(
                destination_address=socket_address, source_lan_address=self.my_estimated_lan,
                source_wan_address=self.my_estimated_wan, lan_introduction_address=intro_lan,
                wan_introduction_address=intro_wan, connection_type="unknown", identifier=identifier,
                extra_bytes=extra_bytes,
                intro_supports_new_style=bool(introduction and introduction.new_style_intro),
                peer_limit_reached=0 <= self.max_peers <= len(self.get_peers()))

        if introduction is not None:
            puncture_request = self.create_puncture_request(lan_socket_address, socket_address, identifier,
                                                            prefix=prefix, new_style=new_style)
            self.endpoint.send(introduction.address, puncture_request)
        return self._signed(prefix, payload, global_time)

    def _introduction_addresses(self, introduction: Peer) -> tuple[Address, Address]:
        """The (LAN, WAN) pair under which we tell others to reach ``introduction``."""
        address = introduction.address
        if isinstance(address, UDPv4Address) and self._is_lan_address(address[0]):
            # A peer on our own LAN is reachable from outside through our WAN IP, at its own port.
            return address, (self.my_estimated_wan[0], address[1])
        return introduction.addresses.get(UDPv4LANAddress, NO_ADDRESS), address

    def create_puncture(self, lan_walker: Address, wan_walker: Address, identifier: int,
                        new_style: bool = False) -> bytes:
        """Build (not send) a puncture, the signed packet that opens our NAT towards a walker."""
        payload_class = NewPuncturePayload if new_style else PuncturePayload
        payload = payload_class(source_lan_address=lan_walker, source_wan_address=wan_walker, identifier=identifier)
        return self._signed(None, payload, self.claim_global_time())

    def create_puncture_request(self, lan_walker: Address, wan_walker: Address, identifier: int,
                                prefix: bytes | None = None, new_style: bool = False) -> bytes:
        """Build (not send) an unsigned request to puncture towards a walker's LAN/WAN addresses."""
        old_style_possible = isinstance(lan_walker, UDPv4Address) and isinstance(wan_walker, UDPv4Address)
        payload_class = PunctureRequestPayload if old_style_possible and not new_style else NewPunctureRequestPayload
        payload = payload_class(lan_walker_address=lan_walker, wan_walker_address=wan_walker, identifier=identifier)
        return self._ez_pack(prefix or self._prefix, payload.msg_id,
                             [GlobalTimeDistributionPayload(self.claim_global_time()), payload], False)

    # Receiving discovery messages ----------------------------------------------------------------------

    def introduction_request_callback(self, peer: Peer, dist: GlobalTimeDistributionPayload,
                                      payload: IntroductionRequestPayload | NewIntroductionRequestPayload) -> None:
        """Hook: called after we answered an introduction request from ``peer``."""

    def introduction_response_callback(self, peer: Peer, dist: GlobalTimeDistributionPayload,
                                       payload: IntroductionResponsePayload | NewIntroductionResponsePayload) -> None:
        """Hook: called after we processed an introduction response from ``peer``."""

    @lazy_wrapper(GlobalTimeDistributionPayload, IntroductionRequestPayload)
    def on_old_introduction_request(self, peer: Peer, dist: GlobalTimeDistributionPayload,
                                    payload: IntroductionRequestPayload) -> None:
        """An IPv4-only introduction request arrived."""
        if payload.supports_new_style:
            peer.new_style_intro = True
        self.on_introduction_request(peer, dist, payload)

    @lazy_wrapper(GlobalTimeDistributionPayload, NewIntroductionRequestPayload)
    def on_new_introduction_request(self, peer: Peer, dist: GlobalTimeDistributionPayload,
                                    payload: NewIntroductionRequestPayload) -> None:
        """A new-style introduction request arrived: its sender speaks new style."""
        peer.new_style_intro = True
        self.on_introduction_request(peer, dist, payload)

    def on_introduction_request(self, peer: Peer, dist: GlobalTimeDistributionPayload,
                                payload: IntroductionRequestPayload | NewIntroductionRequestPayload) -> None:
        """Accept the requester as a peer and answer, unless we already have too many peers."""
        if 0 <= self.max_peers < len(self.get_peers()):
            # Staying silent makes the requester's churn strategy look elsewhere.
            self.drop_counts[DROP_PEER_LIMIT] += 1
            return
        if isinstance(payload.source_lan_address, UDPv4Address):
            peer.address = UDPv4LANAddress(*payload.source_lan_address)
        self._heard_from(peer)
        self.network.add_verified_peer(peer)
        self.network.discover_services(peer, [self.community_id])
        # The puncture request that goes with an introduction carries the requester's own LAN address:
        # a peer behind the same NAT as the requester punctures there. (py-ipv8 passes the address the
        # requester used for *us* instead, which sends such punctures to the wrong host.)
        response = self.create_introduction_response(payload.source_lan_address, peer.address,
                                                     payload.identifier, new_style=peer.new_style_intro)
        self.endpoint.send(peer.address, response)
        self.introduction_request_callback(peer, dist, payload)

    @lazy_wrapper(GlobalTimeDistributionPayload, IntroductionResponsePayload)
    def on_old_introduction_response(self, peer: Peer, dist: GlobalTimeDistributionPayload,
                                     payload: IntroductionResponsePayload) -> None:
        """An IPv4-only introduction response arrived."""
        if payload.supports_new_style:
            peer.new_style_intro = True
        self.on_introduction_response(peer, dist, payload)

    @lazy_wrapper(GlobalTimeDistributionPayload, NewIntroductionResponsePayload)
    def on_new_introduction_response(self, peer: Peer, dist: GlobalTimeDistributionPayload,
                                     payload: NewIntroductionResponsePayload) -> None:
        """A new-style introduction response arrived."""
        peer.new_style_intro = True
        self.on_introduction_response(peer, dist, payload)

    def on_introduction_response(self, peer: Peer, dist: GlobalTimeDistributionPayload,
                                 payload: IntroductionResponsePayload | NewIntroductionResponsePayload) -> None:
        """Learn our outside address, accept the responder as a peer and remember whom it introduced."""
        destination = payload.destination_address
        if isinstance(destination, UDPv4Address) and not self._in_lan_subnets(destination[0]):
            self.my_estimated_wan = destination
        self.my_peer.address = destination

        if peer.new_style_intro:
            self._try_other_interface(peer, payload)

        self._heard_from(peer)
        self.network.add_verified_peer(peer)
        self.network.discover_services(peer, [self.community_id])
        for address in self._introduced_addresses(payload):
            self.network.discover_address(peer, address, self.community_id, payload.intro_supports_new_style)
        self.introduction_response_callback(peer, dist, payload)

    def _heard_from(self, peer: Peer) -> None:
        # A peer that verifies itself with this very message has just spoken; without a time, churn would
        # treat it as "never heard from" and keep it forever if it then fell silent.
        peer.last_response = self._clock().seconds()

    def _try_other_interface(self, peer: Peer, payload: Any) -> None:
        """The responder advertises an address of another family we also serve: open a path there too."""
        offered = payload.source_wan_address
        interface = INTERFACE_FOR_ADDRESS.get(type(offered))
        if (interface is None or type(offered) is type(peer.address) or offered == peer.address
                or interface not in getattr(self.endpoint, "interfaces", ())):
            return
        self.network.discover_address(peer, offered, self.community_id, True)
        my_address = self.my_peer.addresses.get(type(offered)) or self.guess_address(interface)
        if my_address:
            request = self.create_puncture_request(NO_ADDRESS, my_address, payload.identifier, new_style=True)
            self.endpoint.send(peer.address, request)

    def _introduced_addresses(self, payload: Any) -> list[Address]:
        """Which of the introduced peer's addresses we should try, given where we stand."""
        lan, wan = payload.lan_introduction_address, payload.wan_introduction_address
        my_wan_ip = self.my_estimated_wan[0]
        if wan != NO_ADDRESS and wan[0] != my_wan_ip:
            return [lan, wan] if lan != NO_ADDRESS else [wan]
        if lan != NO_ADDRESS and wan[0] == my_wan_ip:
            # Behind the same NAT as us: only the LAN address can work.
            return [lan]
        if wan != NO_ADDRESS:
            return [wan, UDPv4Address(self.my_estimated_lan[0], wan[1])]
        return []

    @lazy_wrapper(GlobalTimeDistributionPayload, PuncturePayload)
    def on_puncture(self, peer: Peer, dist: GlobalTimeDistributionPayload, payload: PuncturePayload) -> None:
        """A puncture opened a NAT mapping towards us; being signed, it also proves its sender (see below)."""
        self._accept_puncturer(peer)

    @lazy_wrapper(GlobalTimeDistributionPayload, NewPuncturePayload)
    def on_new_puncture(self, peer: Peer, dist: GlobalTimeDistributionPayload, payload: NewPuncturePayload) -> None:
        """A new-style puncture: as :meth:`on_puncture`."""
        peer.new_style_intro = True
        self._accept_puncturer(peer)

    def _accept_puncturer(self, peer: Peer) -> None:
        # The puncture is signed by a peer we were introduced to and comes from its reachable address, so
        # we accept it at once and answer with the introduction request we would otherwise send on a later
        # walk step (py-ipv8 waits for that step): the puncturer then knows us too, and may introduce
        # someone new. The messages on the wire are the ordinary ones, only sooner.
        if self.network.get_verified_by_public_key_bin(peer.public_key.key_to_bin()) is not None:
            return
        if 0 <= self.max_peers <= len(self.get_peers()):
            return
        self._heard_from(peer)
        self.network.add_verified_peer(peer)
        self.network.discover_services(peer, [self.community_id])
        self.send_introduction_request(peer)

    @lazy_wrapper_unsigned(GlobalTimeDistributionPayload, PunctureRequestPayload)
    def on_old_puncture_request(self, source_address: Address, dist: GlobalTimeDistributionPayload,
                                payload: PunctureRequestPayload) -> None:
        """An IPv4-only puncture request arrived."""
        self.on_puncture_request(source_address, dist, payload)

    @lazy_wrapper_unsigned(GlobalTimeDistributionPayload, NewPunctureRequestPayload)
    def on_new_puncture_request(self, source_address: Address, dist: GlobalTimeDistributionPayload,
                                payload: NewPunctureRequestPayload) -> None:
        """A new-style puncture request arrived."""
        self.on_puncture_request(source_address, dist, payload, True)

    def on_puncture_request(self, source_address: Address, dist: GlobalTimeDistributionPayload,
                            payload: PunctureRequestPayload | NewPunctureRequestPayload,
                            new_style: bool = False) -> None:
        """Send a puncture to the walker; use its LAN address when it sits behind our own WAN IP."""
        target = payload.wan_walker_address
        if target[0] == self.my_estimated_wan[0]:
            target = payload.lan_walker_address
        puncture = self.create_puncture(self.my_estimated_lan, payload.wan_walker_address, payload.identifier,
                                        new_style)
        self.endpoint.send(target, puncture)
        # A peer of ours vouches for the walker: remember it as an address worth walking to, exactly as if
        # that peer had introduced it to us.
        introducer = self.network.get_verified_by_address(source_address)
        if introducer is not None and target != NO_ADDRESS and target[1] != 0:
            self.network.discover_address(introducer, target, self.community_id, new_style)

    # Walking ------------------------------------------------------------------------------------------------

    def walk_to(self, address: Address) -> None:
        """Send an introduction request to ``address``."""
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
            if random.random() < 0.05 and any(getattr(b, "initialized", False) for b in self.bootstrappers):
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
        oldest = min(asked_at.get(peer.mid, 0.0) for peer in peers)
        return random.choice([peer for peer in peers if asked_at.get(peer.mid, 0.0) == oldest])

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
            self.walk_to(address)
        await initialized

    def get_peer_for_introduction(self, exclude: Peer | None = None, new_style: bool = False) -> Peer | None:
        """A random peer other than ``exclude``; only IPv4 peers unless ``new_style``."""
        candidates = [peer for peer in self.get_peers()
                      if peer != exclude and (new_style or isinstance(peer.address, UDPv4Address))]
        return random.choice(candidates) if candidates else None

    def get_walkable_addresses(self) -> list[Address]:
        """Addresses introduced to us in this community that we have not verified yet."""
        return self.network.get_walkable_addresses(self.community_id)

    def get_peers(self) -> list[Peer]:
        """The verified peers that serve this community."""
        return self.network.get_peers_for_service(self.community_id)


__all__ = ["Community", "CommunitySettings", "DEFAULT_MAX_PEERS", "RESERVED_MESSAGE_IDS"]
