"""A real Hospes server process on loopback (plain HTTP, or HTTPS with a test CA), and official ``msgraph-sdk``
clients pointed at it."""

from __future__ import annotations

import os
import secrets
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import httpx
from kiota_abstractions.authentication import (
    AccessTokenProvider,
    AllowedHostsValidator,
    BaseBearerTokenAuthenticationProvider,
)
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.password_profile import PasswordProfile
from msgraph.generated.models.user import User

from hospes.services.tenants import TenantBootstrap
from tests.helpers.tenants import PASSWORD
from tests.helpers.tls import LocalCA


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class LiveServer:
    base_url: str  # e.g. http://127.0.0.1:PORT, or https://127.0.0.1:PORT
    database_url: str
    ca_file: str | None = None  # the CA that signed the server's certificate, when it serves HTTPS
    pid: int = 0  # the server process (``hospes serve``), for tests that kill it

    @property
    def graph_url(self) -> str:
        return f"{self.base_url}/v1.0"

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """httpx's ``verify`` for this server: its test CA (and only it) over HTTPS."""
        return ssl.create_default_context(cafile=self.ca_file) if self.ca_file else True


# One deployment secret key for the whole test session, shared by the in-process app (tests/conftest.py) and every
# live server: they all read the same database, whose server keys and secrets are encrypted under it.
TEST_SECRET_KEY = secrets.token_hex(32)


@contextmanager
def run_server(
    database_url: str,
    data_dir: str,
    extra_env: dict[str, str] | None = None,
    *,
    workers: int = 1,
    tls: LocalCA | None = None,
) -> Iterator[LiveServer]:
    """``tls``: serve HTTPS (``hospes serve --tls-cert --tls-key``) with the server certificate of that CA."""
    port = free_port()
    base = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    tls_args = ["--tls-cert", tls.cert_file, "--tls-key", tls.key_file] if tls else []
    verify = ssl.create_default_context(cafile=tls.ca_file) if tls else True
    # Background work of one live server would otherwise serve every tenant's provisioning, bulk-invite and
    # dynamic-group jobs in the session's shared database, racing the tests that drive those jobs themselves. Tests
    # that need it on say so.
    env = {
        "HOSPES_PROVISIONING_RUNNER": "false",
        "HOSPES_BULK_WORKER": "false",
        "HOSPES_DYNAMIC_GROUPS": "false",
        **os.environ,
        "HOSPES_DATABASE_URL": database_url,
        "HOSPES_PUBLIC_URL": base,
        "HOSPES_DATA_DIR": data_dir,
        "HOSPES_SECRET_KEY": TEST_SECRET_KEY,
        **(extra_env or {}),
    }
    errors_file = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "hospes",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            *tls_args,
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        # A file, not a pipe: the server logs every request (hospes.access), and a pipe nobody reads fills up
        # and blocks the server mid-test.
        stderr=errors_file,
    )
    try:
        # Generous: with one test process per core, a server (``--workers 2`` starts three processes) may start
        # while the other test process keeps the cores busy.
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError("server exited: " + _tail(errors_file))
            try:
                if httpx.get(f"{base}/healthz", timeout=1, verify=verify).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                proc.terminate()
                proc.wait(timeout=10)
                raise RuntimeError("server did not start within 90 s: " + _tail(errors_file))
            time.sleep(0.1)
        yield LiveServer(base, database_url, tls.ca_file if tls else None, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        errors_file.close()


def _tail(file: Any, size: int = 8000) -> str:
    file.seek(0)
    text: str = file.read().decode(errors="replace")
    return text[-size:]


class ClientCredentialsProvider(AccessTokenProvider):
    """Gets a token from the server's own token endpoint (OAuth 2.0 client credentials), for its host only."""

    def __init__(self, server: LiveServer, tenant: str, client_id: str, secret: str) -> None:
        self._server, self._tenant = server, tenant
        self._form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        self._validator = AllowedHostsValidator([urlparse(server.base_url).hostname or ""])
        self._token: str | None = None

    async def get_authorization_token(self, uri: str, additional_authentication_context: Any = None) -> str:
        if not self._validator.is_url_host_valid(uri):
            return ""
        if self._token is None:
            async with httpx.AsyncClient() as http:
                response = await http.post(
                    f"{self._server.base_url}/{self._tenant}/oauth2/v2.0/token",
                    data={**self._form, "scope": "https://graph.microsoft.com/.default"},
                )
                response.raise_for_status()
                self._token = response.json()["access_token"]
        return self._token

    def get_allowed_hosts_validator(self) -> AllowedHostsValidator:
        return self._validator


class PasswordGrantProvider(ClientCredentialsProvider):
    """A user's delegated token from the resource-owner password grant (a public client: no secret)."""

    def __init__(self, server: LiveServer, tenant: str, client_id: str, username: str, password: str) -> None:
        super().__init__(server, tenant, client_id, "")
        self._form = {"grant_type": "password", "client_id": client_id, "username": username, "password": password}


def _client(server: LiveServer, provider: AccessTokenProvider) -> GraphServiceClient:
    adapter = GraphRequestAdapter(BaseBearerTokenAuthenticationProvider(provider))
    adapter.base_url = server.graph_url
    return GraphServiceClient(request_adapter=adapter)


def graph_client(server: LiveServer, tenant: str, client_id: str, secret: str) -> GraphServiceClient:
    return _client(server, ClientCredentialsProvider(server, tenant, client_id, secret))


def user_graph_client(
    server: LiveServer, tenant: str, client_id: str, username: str, password: str
) -> GraphServiceClient:
    """The SDK signed in as a user: every call acts with the user's own rights."""
    return _client(server, PasswordGrantProvider(server, tenant, client_id, username, password))


def sdk_user(boot: TenantBootstrap, nick: str) -> User:
    """The SDK model of a new enabled member of ``boot``'s tenant, for ``users.post``."""
    return User(
        account_enabled=True,
        display_name=nick.title(),
        mail_nickname=nick,
        user_principal_name=f"{nick}@{boot.domain}",
        password_profile=PasswordProfile(password=PASSWORD, force_change_password_next_sign_in=False),
    )
