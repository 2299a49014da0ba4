"""Image networks, one family per file."""
