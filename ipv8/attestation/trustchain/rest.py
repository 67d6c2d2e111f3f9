"""``/trustchain/...``: read the local TrustChain database over REST, with IPv8 1.x's routes and JSON keys.

==========================================  ==================================================================
``GET /trustchain/recent``                  the most recently created blocks: ``{"blocks": [...]}``
``GET /trustchain/blocks/{hash}``           one block by its hex hash: ``{"block": {...}}`` (404 if unknown)
``GET /trustchain/users``                   keys with a chain, longest first: ``{"users": [...]}``
``GET /trustchain/users/{pk}/blocks``       the newest blocks of one chain: ``{"blocks": [...]}``
``GET /trustchain/users/{pk}/reputation``   our score of that key (:mod:`.reputation`; not in 1.x)
==========================================  ==================================================================

The overlay is the first loaded :class:`~.community.TrustChainCommunity`, looked up on every request;
without one every route answers 404. Blocks are :meth:`~.block.TrustChainBlock.to_dict` (binary fields in
hex). ``limit`` is capped at :data:`MAX_LIMIT` and ``offset`` at :data:`MAX_OFFSET`, so no request reads more
than a bounded part of the database; hashes and keys in the path must be hexadecimal of the right length.

Not registered by default: a service that runs TrustChain adds it with
``rest_manager.root_endpoint.register_endpoint("trustchain", TrustChainEndpoint())``.
"""
from __future__ import annotations

from typing import Any

from ...REST.base_endpoint import APIRequest, BadRequest, BaseEndpoint, NotFound, QueryParameter, api_method
from ...REST.schema import ERROR_REF, array, integer, obj, string
from .community import TrustChainCommunity

#: The most blocks or users one request returns.
MAX_LIMIT = 1000
#: The largest ``offset`` of ``/trustchain/recent`` (sqlite walks over skipped rows).
MAX_OFFSET = 100_000

_BLOCK = obj(description="A TrustChain half block; binary fields as hexadecimal.",
             public_key=string(), sequence_number=integer(), link_public_key=string(),
             link_sequence_number=integer(), previous_hash=string(), signature=string(), type=string(),
             transaction={"description": "The decoded transaction (JSON-safe), or null."},
             timestamp=integer(), insert_time={"type": ["integer", "null"]}, hash=string())
_BLOCKS = obj(("blocks",), blocks=array(_BLOCK))
_USERS = obj(("users",), users=array(obj(("public_key", "latest_block"), public_key=string(),
                                          latest_block=integer())))
_NOT_LOADED = ("No TrustChain community is loaded, or the block is unknown.", ERROR_REF)
_BAD_HASH = ("The hash is not 64 hexadecimal digits.", ERROR_REF)
_BAD_KEY = ("The public key is not 74 bytes in hexadecimal.", ERROR_REF)
_LIMIT = QueryParameter("limit", integer(minimum=1, maximum=MAX_LIMIT), "How many at most.")


def _hex(text: str, size: int, what: str) -> bytes:
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise BadRequest(f"{what} must be hexadecimal") from None
    if len(value) != size:
        raise BadRequest(f"{what} must be {size} bytes ({2 * size} hex digits)")
    return value


class _TrustChainResource(BaseEndpoint):
    tags = ("TrustChain",)

    def community(self) -> TrustChainCommunity:
        """The loaded TrustChain overlay; 404 without one."""
        for overlay in getattr(self.session, "overlays", []):
            if isinstance(overlay, TrustChainCommunity):
                return overlay
        raise NotFound("TrustChain community not found", code="TrustChainNotLoaded")


class RecentBlocksEndpoint(_TrustChainResource):
    """``/trustchain/recent``."""

    @api_method("GET", "The most recently created blocks.", {200: _BLOCKS, 404: _NOT_LOADED},
                query=(_LIMIT, QueryParameter("offset", integer(minimum=0, maximum=MAX_OFFSET), "Blocks to skip.")))
    def get_recent(self, request: APIRequest) -> dict[str, Any]:
        """Newest ``timestamp`` first (default 10 blocks)."""
        blocks = self.community().persistence.get_recent_blocks(request.query.get("limit", 10),
                                                                request.query.get("offset", 0))
        return {"blocks": [block.to_dict() for block in blocks]}


class BlockEndpoint(_TrustChainResource):
    """``/trustchain/blocks/{hash}``."""

    @api_method("GET", "One block by its hash.", {200: obj(("block",), block=_BLOCK), 400: _BAD_HASH,
                                                      404: _NOT_LOADED})
    def get_block(self, request: APIRequest) -> dict[str, Any]:
        """The block whose SHA-256 hash is ``hash`` (64 hex digits)."""
        block_hash = _hex(request.path["hash"], 32, "the block hash")
        block = self.community().persistence.get_block_with_hash(block_hash)
        if block is None:
            raise NotFound("block not found", code="UnknownBlock")
        return {"block": block.to_dict()}


class UserBlocksEndpoint(_TrustChainResource):
    """``/trustchain/users/{pk}/blocks``."""

    @api_method("GET", "The newest blocks of one chain.", {200: _BLOCKS, 400: _BAD_KEY, 404: _NOT_LOADED},
                query=(_LIMIT,))
    def get_blocks(self, request: APIRequest) -> dict[str, Any]:
        """Highest sequence number first (default 100 blocks)."""
        public_key = _hex(request.path["pk"], 74, "the public key")
        blocks = self.community().persistence.get_latest_blocks(public_key, limit=request.query.get("limit", 100))
        return {"blocks": [block.to_dict() for block in blocks]}


_REPUTATION = obj(("public_key", "reputation", "fraud", "nodes_visited", "edges_visited", "truncated"),
                  description="Personalised PageRank of the key from our own key over countersigned pairs.",
                  public_key=string(), reputation={"type": "number", "minimum": 0, "maximum": 1},
                  fraud={"type": "boolean", "description": "A fraud proof against the key is stored."},
                  nodes_visited=integer(), edges_visited=integer(),
                  truncated={"type": "boolean", "description": "The graph was larger than the bounds."})


class UserReputationEndpoint(_TrustChainResource):
    """``/trustchain/users/{pk}/reputation``."""

    @api_method("GET", "Our reputation score of one key.", {200: _REPUTATION, 400: _BAD_KEY, 404: _NOT_LOADED})
    def get_reputation(self, request: APIRequest) -> dict[str, Any]:
        """The score in [0, 1] (0: fraudster or not reachable from us); bounded work, cached for seconds."""
        public_key = _hex(request.path["pk"], 74, "the public key")
        community = self.community()
        result = community.reputation.result()
        fraud = community.persistence.did_double_spend(public_key)
        return {"public_key": public_key.hex(), "reputation": 0.0 if fraud else result.score(public_key),
                "fraud": fraud, "nodes_visited": result.nodes_visited, "edges_visited": result.edges_visited,
                "truncated": result.truncated}


class UsersEndpoint(_TrustChainResource):
    """``/trustchain/users``."""

    def __init__(self) -> None:
        super().__init__()
        user = self.add_endpoint("{pk}", _TrustChainResource())
        user.add_endpoint("blocks", UserBlocksEndpoint())
        user.add_endpoint("reputation", UserReputationEndpoint())

    @api_method("GET", "Keys with a chain, longest chain first.", {200: _USERS, 404: _NOT_LOADED}, query=(_LIMIT,))
    def get_users(self, request: APIRequest) -> dict[str, Any]:
        """``public_key`` (hex) and ``latest_block`` (its highest sequence number) per key (default 100)."""
        return {"users": self.community().persistence.get_users(limit=request.query.get("limit", 100))}


class TrustChainEndpoint(_TrustChainResource):
    """``/trustchain``: groups the routes above."""

    def __init__(self) -> None:
        super().__init__()
        self.add_endpoint("recent", RecentBlocksEndpoint())
        blocks = self.add_endpoint("blocks", _TrustChainResource())
        blocks.add_endpoint("{hash}", BlockEndpoint())
        self.add_endpoint("users", UsersEndpoint())
