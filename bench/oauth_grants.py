"""Token-endpoint grants per second of one ``hospes serve`` process, beside a baseline measured in the same run.

Run by hand:  .venv/bin/python -m bench.oauth_grants [--database-url postgresql+psycopg://...] [--seconds 4]
              [--clients 16] [--workers 1]

Each workload runs for --seconds with --clients keep-alive connections (a minimal HTTP/1.1 client on uvloop in this
process, ``Connection``) against one server process on loopback, after a warm-up:

- baseline: ``GET /{tenant}/v2.0/.well-known/openid-configuration`` — the same server, the same tenant lookup,
  no client authentication, no signature: the floor of a protocol request on this machine and database;
- client credentials: ``POST /{tenant}/oauth2/v2.0/token`` (``client_secret_post``, Graph ``.default``), every
  call a new RS256-signed access token;
- refresh token: ``POST /{tenant}/oauth2/v2.0/token`` with ``grant_type=refresh_token``, each client redeeming
  its own chain of rotated refresh tokens (seeded by authorization codes from a signed-in session, see
  ``seed_refresh_tokens``); the row says "n/a" when the server would not issue them;
- auth-code sign-in: a whole sign-in of a web app whose user already has a browser session (the cookie of the
  sign-in page): ``GET /{tenant}/oauth2/v2.0/authorize`` (PKCE S256, consent already granted) answered by a redirect
  carrying the code, then the code redeemed at the token endpoint. One sign-in is these two requests: the row
  counts sign-ins, its latency and CPU are per sign-in.

Columns: requests/s, p50/p99 latency (client side), errors (non-2xx), the cores the server process got during the
run (CPU-seconds per second), its CPU per request and its rate per CPU-second ("per core", what Keycloak's sizing
guide counts: 120 client-credential grants per second per vCPU), and the rate against the baseline. The load
generator shares the machine (and on a shared machine, so do other programs): when the server gets less than a
core the wall rate drops with it, while the per-core figure does not.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import html
import json
import re
import secrets
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import httpx
import uvloop
from rich.console import Console
from rich.table import Table

from bench._server import fresh_database, new_tenant, server_process, sessions_for, token, tree_cpu_seconds
from hospes.services.tenants import TenantBootstrap

console = Console(width=200)
KEYCLOAK_PER_VCPU = 120  # client-credential grants/s per vCPU, Keycloak's published sizing
GRAPH_DEFAULT = "https://graph.microsoft.com/.default"
AUTH_CODE = "auth-code sign-in (authorize + token)"


class Connection:
    """One keep-alive HTTP/1.1 connection that sends prepared requests and reads ``Content-Length`` answers: a
    load generator that costs the shared machine a fraction of what aiohttp did (this process competes with the
    server for the same two cores, and every core-second it saves is the server's)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader, self.writer, self.host = reader, writer, host

    @classmethod
    async def open(cls, base: str) -> Connection:
        parts = urlsplit(base)
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        return cls(reader, writer, parts.netloc)

    def request(self, method: str, path: str, form: dict[str, str] | None = None, cookie: str = "") -> bytes:
        body = urlencode(form).encode() if form is not None else b""
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
        if cookie:
            head += f"Cookie: {cookie}\r\n"
        if form is not None:
            head += f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
        return (head + "\r\n").encode() + body

    async def send(self, request: bytes) -> tuple[int, bytes]:
        status, _head, body = await self.exchange(request)
        return status, body

    async def exchange(self, request: bytes) -> tuple[int, bytes, bytes]:
        """Status, head (the header lines) and body of the answer."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, head, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


# One request of a workload on one client connection; returns whether it succeeded. ``state`` is the client's own
# (a refresh token chain, say), empty for stateless workloads.
Call = Callable[[Connection, list[str]], Awaitable[bool]]


@dataclass
class Workload:
    name: str
    call: Call
    seeds: list[list[str]]  # per client: its initial state


@dataclass
class Result:
    rate: float
    p50: float
    p99: float
    errors: int
    count: int
    cpu_seconds: float
    elapsed: float


def discovery_workload(boot: TenantBootstrap) -> Workload:
    path = f"/{boot.tenant_id}/v2.0/.well-known/openid-configuration"

    async def call(http: Connection, _: list[str]) -> bool:
        status, _body = await http.send(http.request("GET", path))
        return status == 200

    return Workload("baseline: discovery GET", call, [])


def client_credentials_workload(boot: TenantBootstrap) -> Workload:
    path = f"/{boot.tenant_id}/oauth2/v2.0/token"
    form = {
        "grant_type": "client_credentials",
        "client_id": boot.client_id,
        "client_secret": boot.client_secret,
        "scope": GRAPH_DEFAULT,
    }

    async def call(http: Connection, _: list[str]) -> bool:
        status, body = await http.send(http.request("POST", path, form))
        return status == 200 and b'"access_token":"ey' in body

    return Workload("client_credentials", call, [])


def refresh_workload(base: str, boot: TenantBootstrap, clients: int) -> Workload | None:
    """The refresh-grant row. Each client holds one refresh-token chain: every call redeems its current token and
    keeps the new one (single use with rotation, so chains never share a token). The chains are seeded by
    ``seed_refresh_tokens``; None (no row) when the server issues no refresh token that way."""
    seed = seed_refresh_tokens(base, boot, clients)
    if seed is None:
        return None
    path = f"/{boot.tenant_id}/oauth2/v2.0/token"

    async def call(http: Connection, state: list[str]) -> bool:
        form = {
            "grant_type": "refresh_token",
            "client_id": seed.client_id,
            "client_secret": seed.secret,
            "refresh_token": state[0],
            "scope": SCOPE,
        }
        status, raw = await http.send(http.request("POST", path, form))
        body = json.loads(raw) if status == 200 else {}
        if not body.get("refresh_token"):
            return False
        state[0] = body["refresh_token"]
        return True

    return Workload("refresh_token", call, [[token] for token in seed.tokens])


@dataclass
class RefreshSeed:
    client_id: str
    secret: str
    tokens: list[str]


REDIRECT = "https://rp.bench.invalid/callback"
SCOPE = "openid profile offline_access User.Read"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_META = re.compile(r'<meta http-equiv="refresh" content="0;url=([^"]+)">')


@dataclass
class SignedInBrowser:
    """A relying party (registered and consented for every user through Graph) and a browser session of the
    tenant's administrator, signed in on the sign-in page: what a sign-in to the app starts from."""

    client_id: str
    secret: str
    browser: httpx.Client

    @property
    def cookie(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.browser.cookies.items())

    def authorize_path(self, tenant_id: str, challenge: str) -> str:
        query = {
            "client_id": self.client_id,
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "scope": SCOPE,
            "state": secrets.token_urlsafe(8),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return f"/{tenant_id}/oauth2/v2.0/authorize?{urlencode(query)}"

    def redeem_form(self, code: str, verifier: str) -> dict[str, str]:
        return {
            "grant_type": "authorization_code",
            "client_id": self.client_id,
            "client_secret": self.secret,
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        }


def pkce() -> tuple[str, str]:
    """A code verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def signed_in_browser(base: str, boot: TenantBootstrap) -> SignedInBrowser | None:
    """None when any step is refused (a server without the authorization-code flow). The caller closes the
    browser."""
    bearer = {"Authorization": f"Bearer {token(base, boot)}"}
    with httpx.Client(base_url=base, headers=bearer, timeout=30) as graph:
        app = graph.post("/v1.0/applications", json={"displayName": "Bench RP", "web": {"redirectUris": [REDIRECT]}})
        if app.status_code != 201:
            return None
        sp = graph.post("/v1.0/servicePrincipals", json={"appId": app.json()["appId"]}).json()
        secret = graph.post(f"/v1.0/applications/{app.json()['id']}/addPassword", json={}).json()["secretText"]
        resource = graph.get("/v1.0/servicePrincipals?$filter=appId eq '00000003-0000-0000-c000-000000000000'")
        consent = {
            "clientId": sp["id"],
            "consentType": "AllPrincipals",
            "resourceId": resource.json()["value"][0]["id"],
            "scope": SCOPE,
        }
        if graph.post("/v1.0/oauth2PermissionGrants", json=consent).status_code != 201:
            return None
    browser = httpx.Client(base_url=base, timeout=30)
    form = browser.get(f"/{boot.domain}/login?prompt=login")
    found = _CSRF.search(form.text)
    credentials = {"username": boot.admin_user_principal_name, "password": boot.admin_password}
    if (
        found is None
        or browser.post(f"/{boot.domain}/login", data={"csrf": html.unescape(found.group(1)), **credentials}).is_error
    ):
        browser.close()
        return None
    return SignedInBrowser(app.json()["appId"], secret, browser)


def seed_refresh_tokens(base: str, boot: TenantBootstrap, count: int) -> RefreshSeed | None:
    """One refresh token per client, the way a web app gets them: per token an authorization request (PKCE S256)
    answered with a code from the signed-in session and redeemed at the token endpoint. None when any step is
    refused (a server without the authorization-code grant)."""
    signed_in = signed_in_browser(base, boot)
    if signed_in is None:
        return None
    tokens: list[str] = []
    browser = signed_in.browser
    try:
        for _ in range(count):
            verifier, challenge = pkce()
            code = _code(browser, signed_in.authorize_path(boot.tenant_id, challenge))
            if code is None:
                return None
            redeemed = browser.post(f"/{boot.tenant_id}/oauth2/v2.0/token", data=signed_in.redeem_form(code, verifier))
            if redeemed.status_code != 200 or "refresh_token" not in redeemed.json():
                return None
            tokens.append(redeemed.json()["refresh_token"])
    finally:
        browser.close()
    return RefreshSeed(signed_in.client_id, signed_in.secret, tokens)


_LOCATION = re.compile(rb"\r\nlocation: ([^\r]+)", re.IGNORECASE)
_CODE = re.compile(r"[?&]code=([^&#]+)")


def auth_code_workload(base: str, boot: TenantBootstrap) -> Workload | None:
    """The auth-code sign-in row: per call, ``authorize`` with the browser's session cookie (a 302 to the relying
    party with the code: consent is granted and the session fresh) and the code's redemption. None (no row) when
    the server signs nobody in that way."""
    signed_in = signed_in_browser(base, boot)
    if signed_in is None:
        return None
    cookie = signed_in.cookie
    signed_in.browser.close()
    token_path = f"/{boot.tenant_id}/oauth2/v2.0/token"

    async def call(http: Connection, _: list[str]) -> bool:
        verifier, challenge = pkce()
        authorize = http.request("GET", signed_in.authorize_path(boot.tenant_id, challenge), cookie=cookie)
        status, head, _body = await http.exchange(authorize)
        location = _LOCATION.search(head)
        code = _CODE.search(location.group(1).decode()) if status == 302 and location else None
        if code is None:
            return False
        form = signed_in.redeem_form(unquote(code.group(1)), verifier)
        status, body = await http.send(http.request("POST", token_path, form))
        return status == 200 and b'"id_token":"ey' in body

    return Workload(AUTH_CODE, call, [])


def _code(browser: httpx.Client, url: str) -> str | None:
    """Follows the server's redirects and "continue" pages until the answer leaves for the relying party."""
    response = browser.get(url)
    for _ in range(12):
        if response.status_code in (302, 303):
            location = response.headers["location"]
        elif response.status_code == 200 and (meta := _META.search(response.text)):
            location = html.unescape(meta.group(1))
        else:
            return None
        if location.startswith(REDIRECT):
            return parse_qs(urlsplit(location).query).get("code", [None])[0]
        response = browser.get(location)
    return None


async def run(base: str, workload: Workload, clients: int, seconds: float) -> tuple[int, list[float], int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client(state: list[str]) -> None:
        nonlocal errors
        http = await Connection.open(base)
        try:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                ok = await workload.call(http, state)
                latencies.append(time.perf_counter() - start)
                errors += not ok
        finally:
            http.close()

    states = workload.seeds or [[] for _ in range(clients)]
    await asyncio.gather(*(client(states[i]) for i in range(clients)))
    return len(latencies), latencies, errors


def measure(base: str, pid: int, workload: Workload, clients: int, seconds: float) -> Result:
    cpu = tree_cpu_seconds(pid)
    started = time.perf_counter()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        count, latencies, errors = runner.run(run(base, workload, clients, seconds))
    elapsed = time.perf_counter() - started
    cpu = tree_cpu_seconds(pid) - cpu
    ordered = sorted(latencies)
    return Result(
        rate=count / elapsed,
        p50=ordered[len(ordered) // 2] * 1000,
        p99=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        errors=errors,
        count=count,
        cpu_seconds=cpu,
        elapsed=elapsed,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default="")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = fresh_database(args.database_url or None, tmp)
        boot = new_tenant(sessions_for(url))
        with server_process(url, tmp, workers=args.workers) as (base, pid):
            workloads = [discovery_workload(boot), client_credentials_workload(boot)]
            refresh = refresh_workload(base, boot, args.clients)
            if refresh is not None:
                workloads.append(refresh)
            sign_in = auth_code_workload(base, boot)
            if sign_in is not None:
                workloads.append(sign_in)
            for workload in workloads:  # warm-up: imports, caches, connections, the JIT-less interpreter's dicts
                measure(base, pid, workload, args.clients, min(1.0, args.seconds / 4))
            results = {w.name: measure(base, pid, w, args.clients, args.seconds) for w in workloads}
    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    table = Table(
        title=f"Token endpoint, {args.workers} server process(es), {args.clients} clients, {args.seconds:g} s each "
        f"({backend}, load from this process on the same machine)"
    )
    for column in ("workload", "requests", "req/s", "p50 ms", "p99 ms", "errors", "server cores", "server CPU ms/req"):
        table.add_column(column, justify="left" if column == "workload" else "right")
    for column in ("per core (req/CPU-s)", "Keycloak per vCPU", "rate vs baseline"):
        table.add_column(column, justify="right")
    baseline = results[workloads[0].name]
    for name, r in results.items():
        per_core = r.count / r.cpu_seconds if r.cpu_seconds else float("nan")
        grant = name != workloads[0].name
        table.add_row(
            name,
            str(r.count),
            f"{r.rate:,.0f}",
            f"{r.p50:.1f}",
            f"{r.p99:.1f}",
            str(r.errors),
            f"{r.cpu_seconds / r.elapsed:.2f}",
            f"{r.cpu_seconds * 1000 / max(1, r.count):.2f}",
            f"{per_core:,.0f}",
            str(KEYCLOAK_PER_VCPU) if name == "client_credentials" else "",
            f"{r.rate / baseline.rate:.2f}" if grant else "1.00",
        )
    if refresh is None:
        table.add_row("refresh_token (no refresh tokens issued)", "n/a", "", "", "", "", "", "", "", "", "")
    if sign_in is None:
        table.add_row(f"{AUTH_CODE}: n/a (no authorization-code flow)", "n/a", "", "", "", "", "", "", "", "", "")
    console.print(table)


if __name__ == "__main__":
    main()
