"""Acquisition: per-image scores, one streamed inference pass, and the strategy registry."""
