"""The IPv8 introduction protocol, the half of :class:`~ipv8.community.Community` that meets other peers.

Peers find each other with four messages (facts sheet B.5-B.8): an *introduction request* asks a peer to vouch
for us and to introduce someone it knows; the *introduction response* names that someone; the responder also
sends the introduced peer a *puncture request*, which makes it send a *puncture* to us so that both NATs have a
hole open for the other. Each message exists in an IPv4-only ("old style") and an address-family-agnostic
("new style") variant; the bytes are the deployed network's.

Every field of these messages is written by a peer we cannot trust, so this is also where the node defends
itself (see "What a node remembers and for how long" in the documentation): answers are accepted only for
requests we sent, our WAN address is a vote, addresses pass :mod:`ipv8.messaging.address_hygiene`, puncture
requests are rate-limited, and a full peer table evicts only peers that never answered us.

:class:`IntroductionProtocol` is a mixin: it expects the attributes and methods of a Community.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..lazy_community import lazy_wrapper, lazy_wrapper_unsigned
from ..messaging.address_hygiene import fits_scope, is_usable
from ..messaging.addresses import UDPv4Address, UDPv4LANAddress, UDPv6Address
from ..messaging.drop_reasons import (DROP_BAD_ADDRESS, DROP_PEER_LIMIT, DROP_RATE_LIMITED, DROP_UNSOLICITED)
from ..messaging.interfaces.endpoint import IMultiInterfaceEndpoint
from ..messaging.payload import (IntroductionRequestPayload, IntroductionResponsePayload, NewIntroductionRequestPayload,
                                 NewIntroductionResponsePayload, NewPuncturePayload, NewPunctureRequestPayload,
                                 PuncturePayload, PunctureRequestPayload)
from ..messaging.payload_headers import (
    BinMemberAuthenticationPayload,
    GlobalTimeDistributionPayload,
)
from .peer_origin import PUNCTURE_RECEIVED, PUNCTURE_SENT, VIA_PUNCTURE_REQUEST, introduction_field

if TYPE_CHECKING:
    from ..peer import Peer
    from ..types import Address

NO_ADDRESS = ("0.0.0.0", 0)

#: Which endpoint interface serves which address type.
INTERFACE_FOR_ADDRESS = {UDPv4Address: "UDPIPv4", UDPv4LANAddress: "UDPIPv4", UDPv6Address: "UDPIPv6"}

#: Introduction messages carry their global time reduced to 16 bits (as the deployed network does).
SIXTEEN_BIT_TIME_MESSAGES = frozenset((IntroductionRequestPayload.msg_id, IntroductionResponsePayload.msg_id,
                                        NewIntroductionRequestPayload.msg_id, NewIntroductionResponsePayload.msg_id))


class IntroductionProtocol:
    """Building and handling introduction requests and responses, punctures and puncture requests."""

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
        # Remembered here rather than on sending, so that overlays that build and send requests themselves
        # get their answers too; unsent requests simply expire.
        self._remember_request(identifier, socket_address)
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
            introduction = self.get_peer_for_introduction(exclude=requester, new_style=new_style, to=socket_address)
        intro_lan, intro_wan = NO_ADDRESS, NO_ADDRESS
        if introduction is not None:
            intro_lan, intro_wan = self._introduction_addresses(introduction)
            hygiene = self.address_hygiene
            if not hygiene.may_introduce(intro_wan, socket_address):
                introduction, intro_lan, intro_wan = None, NO_ADDRESS, NO_ADDRESS
            elif intro_lan != NO_ADDRESS and not (hygiene.may_introduce(intro_lan, socket_address)
                                                  or intro_wan[0] == socket_address[0] and is_usable(intro_lan)):
                # Its LAN address means nothing to the requester (it is not behind the same NAT): repeat the
                # WAN address rather than leave the field empty, which old peers would take for an address.
                intro_lan = intro_wan

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
        if not self._make_room_for(peer):
            # Staying silent makes the requester's churn strategy look elsewhere.
            self.drop_counts[DROP_PEER_LIMIT] += 1
            return
        if isinstance(payload.source_lan_address, UDPv4Address) and is_usable(payload.source_lan_address):
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
        """Learn our outside address, accept the responder as a peer and remember whom it introduced.

        Only answers to our own requests count (matched by identifier and the address we asked); anything
        else is dropped as unsolicited, so nobody can push addresses or a WAN estimate on us.
        """
        asked = self._match_outstanding(payload.identifier, peer)
        if asked is None:
            self.drop_counts[DROP_UNSOLICITED] += 1
            return
        self._vote_wan_address(payload.destination_address, asked)

        if peer.new_style_intro:
            self._try_other_interface(peer, payload, asked)

        self._heard_from(peer)
        self.network.add_verified_peer(peer)
        self.network.discover_services(peer, [self.community_id])
        self._established.set(peer.public_key.key_to_bin(), None, self._clock().seconds())
        for address in self._introduced_addresses(payload):
            if self.address_hygiene.may_walk_to(address, asked):
                self.network.discover_address(peer, address, self.community_id, payload.intro_supports_new_style,
                                              introduction_field(payload, address))
            else:
                self.drop_counts[DROP_BAD_ADDRESS] += 1
        self.introduction_response_callback(peer, dist, payload)

    def _remember_request(self, key: int, address: Address) -> None:
        now = self._clock().seconds()
        asked = self._outstanding.get(key, now) or ()
        self._outstanding.set(key, (*asked, tuple(address))[-8:], now)

    def _match_outstanding(self, identifier: int, peer: Peer) -> tuple | None:
        """The address we sent request ``identifier`` to, if ``peer`` answers from it; the request is used up."""
        asked = self._outstanding.get(identifier, self._clock().seconds())
        if not asked:
            return None
        for address in peer.addresses.values():
            if tuple(address) in asked:
                remaining = tuple(a for a in asked if a != tuple(address))
                if remaining:
                    self._outstanding.set(identifier, remaining, self._clock().seconds())
                else:
                    self._outstanding.pop(identifier)
                return tuple(address)
        return None

    def _vote_wan_address(self, claim: Address, voter: tuple) -> None:
        """A responder at ``voter`` says it sees us at ``claim``: count its vote for our WAN address."""
        if not is_usable(claim) or not fits_scope(claim, voter):
            self.drop_counts[DROP_BAD_ADDRESS] += 1
            return
        winner = self._wan_vote.vote(voter[0], claim, self._clock().seconds())
        if isinstance(winner, UDPv4Address) and not self._in_lan_subnets(winner[0]):
            self.my_estimated_wan = winner
        self.my_peer.address = winner

    def _make_room_for(self, peer: Peer) -> bool:
        """Whether ``peer`` may join our peers, evicting a peer that never answered us if we are full.

        Peers that answered an introduction request of ours are *established* and are never evicted for a
        newcomer; among the others the one heard from longest ago goes first. So junk keys that only
        ever send requests cannot lock a community's peer table.
        """
        if self.max_peers < 0:
            return True
        peers = self.get_peers()
        if len(peers) < self.max_peers:
            return True
        key_bin = peer.public_key.key_to_bin()
        stored = self.network.get_verified_by_public_key_bin(key_bin)
        if stored is not None and stored in peers:
            return True
        now = self._clock().seconds()
        evictable = [candidate for candidate in peers
                     if self._established.get(candidate.public_key.key_to_bin(), now, False) is False]
        if not evictable:
            return False
        self.evict_peer(min(evictable, key=lambda candidate: candidate.last_response or 0.0))
        return True

    def evict_peer(self, peer: Peer) -> None:
        """Drop ``peer`` from this community (and from the network if no other overlay of ours uses it)."""
        services = self.network.get_services_for_peer(peer)
        if any(service != self.community_id and service in self.network.service_overlays for service in services):
            self.network.remove_service_for_peer(peer, self.community_id)
        else:
            self.network.remove_peer(peer)

    def _heard_from(self, peer: Peer) -> None:
        # A peer that verifies itself with this very message has just spoken; without a time, churn would
        # treat it as "never heard from" and keep it forever if it then fell silent.
        peer.last_response = self._clock().seconds()

    def _try_other_interface(self, peer: Peer, payload: Any, asked: tuple) -> None:
        """The responder advertises an address of another family we also serve: open a path there too."""
        offered = payload.source_wan_address
        interface = INTERFACE_FOR_ADDRESS.get(type(offered))
        if (interface is None or type(offered) is type(peer.address) or offered == peer.address
                or not IMultiInterfaceEndpoint.providedBy(self.endpoint) or interface not in self.endpoint.interfaces
                or not self.address_hygiene.may_walk_to(offered, asked)):
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
        self.network.origins.punctured(peer.address, PUNCTURE_RECEIVED)
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
        """Send a puncture to the walker; use its LAN address when it sits behind our own WAN IP.

        Anyone can send this unsigned request, naming any address, so it is rate-limited per source and
        the named address must pass the address rules: the node must not become a reflector.
        """
        if not self._puncture_limiter.allow(source_address[0], self._clock().seconds()):
            self.drop_counts[DROP_RATE_LIMITED] += 1
            return
        target = payload.wan_walker_address
        if target[0] == self.my_estimated_wan[0]:
            target = payload.lan_walker_address
        if not self.address_hygiene.may_walk_to(target, source_address):
            self.drop_counts[DROP_BAD_ADDRESS] += 1
            return
        puncture = self.create_puncture(self.my_estimated_lan, payload.wan_walker_address, payload.identifier,
                                        new_style)
        self.endpoint.send(target, puncture)
        self.network.origins.punctured(target, PUNCTURE_SENT, source_address)
        # A peer of ours vouches for the walker: remember it as an address worth walking to, exactly as if
        # that peer had introduced it to us.
        introducer = self.network.get_verified_by_address(source_address)
        if introducer is not None:
            self.network.discover_address(introducer, target, self.community_id, new_style, VIA_PUNCTURE_REQUEST)


__all__ = ["INTERFACE_FOR_ADDRESS", "IntroductionProtocol", "NO_ADDRESS", "SIXTEEN_BIT_TIME_MESSAGES"]
