"""Why a community dropped a packet: the keys of ``Community.drop_counts``.

Every packet a community refuses is counted under one of these reasons, so an operator (or a test) can see
what a node is being sent and what its defences caught.
"""

DROP_TOO_SHORT = "too-short"
DROP_WRONG_PREFIX = "wrong-prefix"
DROP_UNKNOWN_MESSAGE = "unknown-message"
DROP_DEPRECATED_MESSAGE = "deprecated-message"
DROP_MALFORMED = "malformed"
DROP_BAD_SIGNATURE = "bad-signature"
DROP_HANDLER_ERROR = "handler-error"
DROP_PEER_LIMIT = "peer-limit"
DROP_REPLAY = "replay"
DROP_UNSOLICITED = "unsolicited"
DROP_BAD_ADDRESS = "bad-address"
DROP_RATE_LIMITED = "rate-limited"

__all__ = ["DROP_BAD_ADDRESS", "DROP_BAD_SIGNATURE", "DROP_DEPRECATED_MESSAGE", "DROP_HANDLER_ERROR", "DROP_MALFORMED",
           "DROP_PEER_LIMIT", "DROP_RATE_LIMITED", "DROP_REPLAY", "DROP_TOO_SHORT", "DROP_UNKNOWN_MESSAGE",
           "DROP_UNSOLICITED", "DROP_WRONG_PREFIX"]
