"""The change feed of a target in another Hospes deployment: its Graph ``/users/delta``, read by the app of the
target tenant (``User.ReadWrite.All`` reads it).

A position is ``graph:`` and the ``$deltatoken`` of the last round's ``@odata.deltaLink``. Only the token is kept,
never the link: the target writes its links from its own public address, which need not be the address this
deployment reaches it at, and a link is followed only on the configured address (the SSRF guard's). ``LATEST``
is Graph's ``$deltatoken=latest`` (no users, a token from now on). No position: a round pages through every user
of the target (its watermark read before the first page, so nothing that changes meanwhile is missed) and is a
full window. A token the target refuses (410 ``syncStateNotFound`` past its change-log retention, 400 for one it
cannot read: another tenant's, or a key it no longer has) is ``PositionExpiredError``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from hospes.provisioning.connector import LATEST, Among, DriftWindow, PermanentError, PositionExpiredError, TargetObject

if TYPE_CHECKING:
    from hospes.provisioning.graph_target import GraphConnector

PREFIX = "graph:"
_PAGES = 100_000  # a round longer than this is a target answering in circles


def _token(link: Any, name: str) -> str | None:
    if not isinstance(link, str):
        return None
    value = httpx.URL(link).params.get(name)
    return value or None


def read(connector: GraphConnector, kind: str, position: str | None, among: Among | None = None) -> DriftWindow:
    """The users changed after ``position`` on the target's ``/users/delta`` (None: every user); the
    connector's ``drift`` method. ``among`` is not used: a delta page carries its users whole."""
    from hospes.provisioning.graph_target import _SELECT  # the module that holds this function as a method

    connector._kind(kind)
    if position is None or position == LATEST:
        params = {"$select": _SELECT} if position is None else {"$select": _SELECT, "$deltatoken": LATEST}
    elif position.startswith(PREFIX) and len(position) > len(PREFIX):
        params = {"$deltatoken": position.removeprefix(PREFIX)}
    else:
        raise PositionExpiredError("SyncStateNotFound", "the saved position is not a delta token of this target")
    objects: list[TargetObject] = []
    gone: list[str] = []
    for _ in range(_PAGES):
        try:
            page = connector.request("GET", "/users/delta", params=params)
        except PermanentError as exc:
            if position not in (None, LATEST) and exc.status in (400, 410):
                raise PositionExpiredError("SyncStateNotFound", exc.message, exc.status) from None
            raise
        data = connector.json_of(page)
        for item in data.get("value") or []:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            removed = item.get("@removed")
            if isinstance(removed, dict):
                if removed.get("reason") == "deleted":
                    gone.append(item["id"])
                else:  # "changed": in the target's deleted items; what it holds is read when it matters
                    objects.append(TargetObject(item["id"], None, {"id": item["id"], "IsSoftDeleted": True}))
            elif item.get("alternativeSecurityIds"):
                objects.append(connector.wire(item))
        skip = _token(data.get("@odata.nextLink"), "$skiptoken")
        if skip is not None:
            params = {"$skiptoken": skip}
            continue
        delta = _token(data.get("@odata.deltaLink"), "$deltatoken")
        if delta is None:
            raise PermanentError("ServiceIncompatible", "the target's delta answer ends with no link")
        return DriftWindow(objects, gone, PREFIX + delta, full=position is None)
    raise PermanentError("ServiceIncompatible", "the target's delta round does not end")
