"""URL-encoded forms a client sent (the pages' forms, the OAuth token request), read one way everywhere."""

from __future__ import annotations

from urllib.parse import parse_qsl


def form_pairs(body: bytes, max_fields: int) -> list[tuple[str, str]]:
    """A url-encoded body's fields; ValueError when it is not UTF-8, has too many fields, or holds a NUL (no form
    field takes one, and PostgreSQL text cannot store it)."""
    pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False, max_num_fields=max_fields)
    if any("\x00" in key or "\x00" in value for key, value in pairs):
        raise ValueError("NUL in a form field")
    return pairs
