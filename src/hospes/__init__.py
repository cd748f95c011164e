"""Hospes: self-hostable B2B identity collaboration."""

__version__ = "0.1.0"
