"""Scripted cross-tenant provisioning (the "scripted scenario" of Entra multi-tenant user management).

A pull process reads the home tenant's users by delta query and provisions each new member user as a guest of the
resource tenant; a user removed from the home tenant (soft or hard delete) has its guest removed. The deltaLink
and the home-id -> guest-id map are kept in a state file, so each run only sees what changed since the last one.

Uses the official ``msgraph-sdk`` against any Graph-compatible server (Hospes or Microsoft Graph)::

    python examples/scripted_sync.py --base-url http://127.0.0.1:8000/v1.0 \\
        --home-tenant contoso.example --home-client-id ID --home-secret SECRET \\
        --resource-tenant fabrikam.example --resource-client-id ID --resource-secret SECRET \\
        --resource-domain fabrikam.example --state-file sync-state.json

Guests are created with ``POST /users`` for now; switching to ``POST /invitations`` changes ``provision_guest``
only (see its docstring).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import httpx
from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.password_profile import PasswordProfile
from msgraph.generated.models.user import User
from msgraph.generated.users.delta.delta_request_builder import DeltaRequestBuilder
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_service_client import GraphServiceClient

SOURCE_PROPERTIES = ["id", "displayName", "mail", "userPrincipalName", "userType"]


# --- connection -------------------------------------------------------------------------------------------------


class ClientCredentials(AccessTokenProvider):
    """OAuth 2.0 client credentials against ``{authority}/{tenant}/oauth2/v2.0/token``, for the API host only."""

    def __init__(self, authority: str, tenant: str, client_id: str, secret: str, api_host: str) -> None:
        self._url = f"{authority.rstrip('/')}/{tenant}/oauth2/v2.0/token"
        self._form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": secret,
            "scope": "https://graph.microsoft.com/.default",
        }
        self._validator = AllowedHostsValidator([api_host])
        self._token: str | None = None

    async def get_authorization_token(self, uri: str, additional_authentication_context: Any = None) -> str:
        if not self._validator.is_url_host_valid(uri):
            return ""  # never hand the token to another host (e.g. a nextLink elsewhere)
        if self._token is None:
            async with httpx.AsyncClient() as http:
                response = await http.post(self._url, data=self._form)
                response.raise_for_status()
                self._token = str(response.json()["access_token"])
        return self._token

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return self._validator


def graph_client(
    base_url: str, authority: str, tenant: str, client_id: str, secret: str
) -> GraphServiceClient:
    base_url = base_url.rstrip("/")  # a trailing slash would give ".../v1.0//users"
    host = urlparse(base_url).hostname or ""
    auth = BaseBearerTokenAuthenticationProvider(
        ClientCredentials(authority, tenant, client_id, secret, host)
    )
    adapter = GraphRequestAdapter(auth)
    adapter.base_url = base_url
    return GraphServiceClient(request_adapter=adapter)


# --- state --------------------------------------------------------------------------------------------------------


@dataclass
class SyncState:
    delta_link: str | None = None
    guests: dict[str, str] = field(
        default_factory=dict
    )  # home user id -> guest user id in the resource tenant

    @classmethod
    def load(cls, path: str) -> SyncState:
        if not os.path.exists(path):
            return cls()
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        return cls(data.get("deltaLink"), dict(data.get("guests", {})))

    def save(self, path: str) -> None:
        """Atomically: a crash leaves the previous state, and the next run replays from the previous link."""
        folder = os.path.dirname(os.path.abspath(path))
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".sync-state-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"deltaLink": self.delta_link, "guests": self.guests}, handle, indent=2)
        os.replace(tmp, path)


# --- provisioning ---------------------------------------------------------------------------------------------------


def guest_upn(mail: str, resource_domain: str) -> str:
    """Entra's guest UPN: the address with '@' replaced by '_', then '#EXT#@' and the inviting tenant's domain."""
    return f"{mail.replace('@', '_')}#EXT#@{resource_domain}"


async def provision_guest(resource: GraphServiceClient, resource_domain: str, source: User) -> str:
    """Make ``source`` a guest of the resource tenant; return the guest's object id. Idempotent.

    Today: ``POST /users`` with ``userType: Guest`` and the guest UPN (``creationType`` is read-only, so it
    stays null). Once the invitations API is available, replace the body of this function with::

        invitation = await resource.invitations.post(Invitation(
            invited_user_email_address=mail, invited_user_display_name=source.display_name,
            invite_redirect_url="https://myapps.microsoft.com", send_invitation_message=False))
        return invitation.invited_user.id
    """
    mail = source.mail or source.user_principal_name or ""
    upn = guest_upn(mail, resource_domain)
    existing = await find_user(resource, upn)
    if existing is not None:
        return existing  # created by an earlier run that crashed before saving its state
    nickname = re.sub(r"[^A-Za-z0-9._-]", "", mail.split("@")[0])[:64] or "guest"
    guest = User(
        account_enabled=True,
        display_name=source.display_name or mail,
        mail=mail,
        mail_nickname=nickname,
        user_principal_name=upn,
        user_type="Guest",
        password_profile=PasswordProfile(password=secrets.token_urlsafe(24) + "-Aa1"),
    )
    created = await resource.users.post(guest)
    assert created is not None and created.id is not None
    return created.id


async def find_user(client: GraphServiceClient, upn: str) -> str | None:
    escaped = upn.replace("'", "''")
    params = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
        filter=f"userPrincipalName eq '{escaped}'", select=["id"]
    )
    page = await client.users.get(request_configuration=RequestConfiguration(query_parameters=params))
    found = page.value if page and page.value else []
    return found[0].id if found else None


async def remove_guest(resource: GraphServiceClient, guest_id: str) -> None:
    try:
        await resource.users.by_user_id(guest_id).delete()  # soft delete: restorable for 30 days
    except ODataError as exc:
        if exc.response_status_code != 404:  # already gone is fine
            raise


# --- one run ------------------------------------------------------------------------------------------------------


async def pull_changes(home: GraphServiceClient, delta_link: str | None) -> tuple[list[User], str]:
    """One delta round: every page up to the deltaLink."""
    if delta_link:
        page = await home.users.delta.with_url(delta_link).get()
    else:
        params = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(select=SOURCE_PROPERTIES)
        page = await home.users.delta.get(request_configuration=RequestConfiguration(query_parameters=params))
    users: list[User] = []
    while page is not None:
        users.extend(page.value or [])
        if page.odata_next_link:
            page = await home.users.delta.with_url(page.odata_next_link).get()
            continue
        if not page.odata_delta_link:
            raise RuntimeError("delta round ended without a deltaLink")
        return users, page.odata_delta_link
    raise RuntimeError("empty delta response")


async def sync_once(
    home: GraphServiceClient, resource: GraphServiceClient, domain: str, path: str
) -> dict[str, int]:
    state = SyncState.load(path)
    try:
        changes, delta_link = await pull_changes(home, state.delta_link)
    except ODataError as exc:
        if exc.response_status_code != 410:  # 410 syncStateNotFound: the link expired, start a full round
            raise
        changes, delta_link = await pull_changes(home, None)
    counts = {"invited": 0, "removed": 0, "unchanged": 0}
    for user in changes:
        assert user.id is not None
        gone = "@removed" in (user.additional_data or {})
        if gone or user.user_type == "Guest":  # a home guest is not ours to share further
            guest_id = state.guests.pop(user.id, None)
            if guest_id:
                await remove_guest(resource, guest_id)
                counts["removed"] += 1
        elif user.id not in state.guests:
            state.guests[user.id] = await provision_guest(resource, domain, user)
            counts["invited"] += 1
        else:
            counts["unchanged"] += 1  # guests are not updated from home (the scripted scenario's choice)
    state.delta_link = delta_link
    state.save(path)
    return counts


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--base-url", required=True, help="Graph base, e.g. http://127.0.0.1:8000/v1.0")
    parser.add_argument("--authority", help="Token endpoint base (default: the base URL's origin)")
    for side in ("home", "resource"):
        parser.add_argument(f"--{side}-tenant", required=True, help=f"{side} tenant id or domain")
        parser.add_argument(f"--{side}-client-id", required=True)
        parser.add_argument(f"--{side}-secret", required=True)
    parser.add_argument("--resource-domain", required=True, help="Domain for guest UPNs (…#EXT#@domain)")
    parser.add_argument("--state-file", default="sync-state.json")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    origin = urlparse(args.base_url)
    authority = args.authority or f"{origin.scheme}://{origin.netloc}"
    home = graph_client(args.base_url, authority, args.home_tenant, args.home_client_id, args.home_secret)
    resource = graph_client(
        args.base_url, authority, args.resource_tenant, args.resource_client_id, args.resource_secret
    )
    counts = asyncio.run(sync_once(home, resource, args.resource_domain, args.state_file))
    print(json.dumps(counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
