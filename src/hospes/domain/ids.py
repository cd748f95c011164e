"""Object ids: random UUIDs in their canonical text form, as Graph returns them."""

from __future__ import annotations

import uuid


def new_id() -> str:
    return str(uuid.uuid4())
