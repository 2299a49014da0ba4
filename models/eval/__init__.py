"""Metrics and statistics (pure functions; no Qt)."""
