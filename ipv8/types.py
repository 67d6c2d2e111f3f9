"""Type aliases shared across the package."""
from __future__ import annotations

from typing import Tuple

#: Any (host, port) pair; the named address tuples in :mod:`ipv8.messaging.addresses` are also valid.
Address = Tuple[str, int]
