"""What an OpenID provider's configuration makes this server fetch: its discovery document, keys and token
endpoint are addresses a tenant administrator (or the partner) chooses, so they go through the same outbound guard
as provisioning targets (no loopback or private address unless ``HOSPES_OUTBOUND_ALLOW`` admits it), and an answer
is read only up to its size limit."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
from fastapi import FastAPI

from hospes.services.oidc_federation import (
    MAX_BODY_BYTES,
    READ_SECONDS,
    FederationError,
    OidcProvider,
    OidcRelyingParty,
)


def _provider(well_known: str) -> OidcProvider:
    issuer = well_known.removesuffix("/.well-known/openid-configuration")
    return OidcProvider("p1", issuer, "client", "secret", well_known, "openid email", {})


def test_the_servers_relying_party_does_not_reach_loopback_without_the_operators_consent(app: FastAPI) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(0.5)
    port = listener.getsockname()[1]
    rp: OidcRelyingParty = app.state.web.redemption.federation.rp
    try:
        with pytest.raises(FederationError) as refused:
            rp.discovery(_provider(f"http://127.0.0.1:{port}/tid/v2.0/.well-known/openid-configuration"))
        assert refused.value.code == "50027"
        with pytest.raises(TimeoutError):
            listener.accept()  # nothing connected
    finally:
        listener.close()


def test_an_answer_is_read_only_up_to_its_limit() -> None:
    sent = 0

    def endless() -> Iterator[bytes]:
        nonlocal sent
        while sent < 400:
            sent += 1
            yield b" " * 65536

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Type": "application/json"}, content=endless())

    rp = OidcRelyingParty(http=lambda: httpx.Client(transport=httpx.MockTransport(handler)))
    with pytest.raises(FederationError) as refused:
        rp.discovery(_provider("https://idp.example/tid/v2.0/.well-known/openid-configuration"))
    assert "too much" in refused.value.message
    assert sent * 65536 <= MAX_BODY_BYTES + 2 * 65536  # stopped near the limit, not at the end of the stream


def test_a_provider_that_answers_slowly_is_given_up_on() -> None:
    """Each read has its timeout; a provider trickling bytes within it is stopped by the answer's own deadline."""
    now = [0.0]

    def trickle() -> Iterator[bytes]:
        for _ in range(1000):
            now[0] += 1.0  # a second per byte
            yield b" "

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=trickle())

    rp = OidcRelyingParty(http=lambda: httpx.Client(transport=httpx.MockTransport(handler)), clock=lambda: now[0])
    with pytest.raises(FederationError) as refused:
        rp.discovery(_provider("https://slow.example/tid/v2.0/.well-known/openid-configuration"))
    assert "too long" in refused.value.message
    assert now[0] <= READ_SECONDS + 2
