"""Credentials and tokens: password and secret hashing, server keys, JWT access tokens, opaque signed tokens."""
