"""Private (signing) key implementations."""
