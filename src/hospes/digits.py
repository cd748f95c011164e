"""Whole numbers from text a client sent: ASCII digits only.

``str.isdigit()`` is also true of '²' and other Unicode digits, which ``int()`` then refuses (a 500 where a 400
belongs) or reads as a different number; and ``int()`` refuses more than 4,300 digits. Every count, size or page
number read from a request goes through ``ascii_int``.
"""

from __future__ import annotations

_MAX_DIGITS = 18  # beyond any count or size Hospes accepts, and well inside int()'s own limit


def ascii_int(text: str | None) -> int | None:
    """``text`` as a non-negative integer when it is 1 to 18 ASCII digits (no sign, no spaces), else ``None``."""
    if not text or len(text) > _MAX_DIGITS or not text.isascii() or not text.isdigit():
        return None
    return int(text)
