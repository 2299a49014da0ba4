"""Vocoders and spectral analysis, one family per file."""
