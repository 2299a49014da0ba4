"""Reusable display widgets."""
