"""SSRF guard for outbound provisioning URLs (security-and-limits §2.7).

A tenant admin types the target URL, so the server must not become a way to reach its own network: only http(s),
no credentials in the URL, and every address the host resolves to must be public unless the operator admitted it
with ``HOSPES_OUTBOUND_ALLOW`` (host names or CIDR ranges). The check runs when a connection is made, not only when
the URL is saved, and the connection is pinned to the vetted address (the request goes to the IP; Host header and
TLS SNI keep the name), so a DNS answer that changes between the check and the connect (rebinding) cannot slip
through. Redirects are never followed by the connector.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

# Ranges that are never "public", beyond what ``is_global`` already excludes (it covers RFC 1918, loopback,
# link-local incl. 169.254.169.254, CGNAT 100.64/10, ULA fc00::/7, unspecified, documentation, reserved).
_ALWAYS_BLOCKED = (ipaddress.ip_network("0.0.0.0/8"), ipaddress.ip_network("::/128"))


class OutboundBlockedError(ValueError):
    """The URL or one of its addresses is not allowed as an outbound provisioning target."""


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class OutboundPolicy:
    allowed_hosts: frozenset[str] = frozenset()
    allowed_networks: tuple[IpNetwork, ...] = ()
    resolver: Resolver = _system_resolver

    @classmethod
    def parse(cls, value: str, resolver: Resolver | None = None) -> OutboundPolicy:
        """``HOSPES_OUTBOUND_ALLOW``: comma-separated host names, IP addresses and CIDR ranges."""
        hosts: set[str] = set()
        networks: list[IpNetwork] = []
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks), resolver or _system_resolver)

    def _admitted(self, host: str, address: IpAddress) -> bool:
        if host in self.allowed_hosts:
            return True
        mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
        candidates = [address] if mapped is None else [address, mapped]
        return any(a in net for a in candidates for net in self.allowed_networks if a.version == net.version)

    def _public(self, address: IpAddress) -> bool:
        mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
        if mapped is not None:
            return self._public(mapped)
        if any(address in net for net in _ALWAYS_BLOCKED if address.version == net.version):
            return False
        return address.is_global and not address.is_multicast

    def check_url(self, url: str) -> tuple[str, int]:
        """Validate the syntax of a target URL; returns (host, port). Does not resolve."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise OutboundBlockedError(f"invalid URL: {exc}") from None
        if parts.scheme not in ("https", "http"):
            raise OutboundBlockedError("only https (or http to an admitted host) URLs are allowed")
        if parts.username or parts.password:
            raise OutboundBlockedError("credentials in the URL are not allowed; use the secret token")
        host = (parts.hostname or "").lower().rstrip(".")
        if not host:
            raise OutboundBlockedError("the URL has no host")
        return host, port or (443 if parts.scheme == "https" else 80)

    def vet(self, host: str, port: int) -> str:
        """Resolve ``host`` and check every address; return the address to connect to."""
        host = host.lower().rstrip(".")
        try:
            literal: IpAddress | None = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [literal]
        else:
            try:
                addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in self.resolver(host, port)]
            except (OSError, UnicodeError) as exc:
                raise OutboundBlockedError(f"cannot resolve {host}: {exc}") from None
        if not addresses:
            raise OutboundBlockedError(f"{host} has no address")
        for address in addresses:
            if not (self._public(address) or self._admitted(host, address)):
                raise OutboundBlockedError(
                    f"{host} resolves to {address}, a private, loopback or link-local address; an operator can "
                    "admit it with HOSPES_OUTBOUND_ALLOW"
                )
        return str(addresses[0])


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport that vets every request's host and pins the connection to the vetted address."""

    def __init__(self, policy: OutboundPolicy, inner: httpx.BaseTransport | None = None) -> None:
        self.policy = policy
        self.inner = inner or httpx.HTTPTransport(retries=0)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        port = request.url.port or (443 if request.url.scheme == "https" else 80)
        address = self.policy.vet(host, port)
        if address != host:
            # Keep the Host header and the TLS server name of the original host; connect to the vetted address.
            request.headers.setdefault("Host", request.headers.get("Host") or request.url.netloc.decode("ascii"))
            request.extensions = {**request.extensions, "sni_hostname": host}
            ip_host = f"[{address}]" if ":" in address else address
            request.url = request.url.copy_with(host=ip_host.strip("[]"))
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()
