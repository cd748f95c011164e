"""Tables of the redemption area (ORM models on the shared Base); created by migrations only."""

from __future__ import annotations
