"""The hook through which an application takes part in TrustChain: one listener per block type."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from .block import TrustChainBlock

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred


class BlockListener:
    """Decides about countersigning blocks of its types and hears about every new stored block of them.

    Register it with :meth:`TrustChainCommunity.add_listener
    <ipv8.attestation.trustchain.community.TrustChainCommunity.add_listener>`. Blocks of a listened type
    are built (and read back from the database) as :attr:`BLOCK_CLASS`, which may add its own
    transaction rules through :meth:`TrustChainBlock.validate_transaction`.
    """

    #: The block class for the listened types.
    BLOCK_CLASS: ClassVar[type[TrustChainBlock]] = TrustChainBlock

    def should_sign(self, block: TrustChainBlock) -> bool | Deferred[bool]:
        """Whether to countersign ``block``, a valid proposal addressed to us (a bool or a Deferred of one).

        The default refuses: a node only signs what an application explicitly agrees to.
        """
        return False

    def received_block(self, block: TrustChainBlock) -> Any:
        """A block of a listened type was stored (ours or somebody else's). The return value is ignored."""
        return None
