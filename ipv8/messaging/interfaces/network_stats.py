"""Traffic figures of one message type of one community."""
from __future__ import annotations

_REPORTED_FIELDS = (
    "identifier",
    "num_up", "num_down",
    "bytes_up", "bytes_down",
    "first_measured_up", "first_measured_down",
    "last_measured_up", "last_measured_down",
)


class NetworkStat:
    """
    Counts and timestamps for the messages with one message id (byte 22 of the packet).

    ``*_up`` figures are about sent messages, ``*_down`` about received ones. Timestamps are seconds
    (whatever clock the caller uses, normally UNIX time); 0 means "never".
    """

    def __init__(self, identifier: int) -> None:
        """Create empty figures for message id ``identifier``."""
        self.identifier: int = identifier
        self.num_up: int = 0
        self.bytes_up: int = 0
        self.first_measured_up: float = 0
        self.last_measured_up: float = 0
        self.num_down: int = 0
        self.bytes_down: int = 0
        self.first_measured_down: float = 0
        self.last_measured_down: float = 0

    def add_sent_stat(self, timestamp: float, num_bytes: int) -> None:
        """Account for one message of ``num_bytes`` bytes sent at ``timestamp``."""
        self.num_up += 1
        self.bytes_up += num_bytes
        self.first_measured_up = self.first_measured_up or timestamp
        self.last_measured_up = timestamp

    def add_received_stat(self, timestamp: float, num_bytes: int) -> None:
        """Account for one message of ``num_bytes`` bytes received at ``timestamp``."""
        self.num_down += 1
        self.bytes_down += num_bytes
        self.first_measured_down = self.first_measured_down or timestamp
        self.last_measured_down = timestamp

    def to_dict(self) -> dict[str, int | float]:
        """All figures (and the identifier) as a plain dict, e.g. for JSON."""
        return {name: getattr(self, name) for name in _REPORTED_FIELDS}

    def __str__(self) -> str:
        """One line with the counts, for logs."""
        return (f"NetworkStat(id={self.identifier}, up={self.num_up} msgs/{self.bytes_up} B, "
                f"down={self.num_down} msgs/{self.bytes_down} B)")


__all__ = ["NetworkStat"]
