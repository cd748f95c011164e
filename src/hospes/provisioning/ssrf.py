"""SSRF guard for outbound provisioning URLs.

A tenant admin types the target URL, so the server must not become a way to reach its own network: only http(s),
no credentials in the URL, and every address the host resolves to must be public unless the operator admitted it
with ``HOSPES_OUTBOUND_ALLOW`` (host names or CIDR ranges). The check runs when a connection is made, not only when
the URL is saved, and the connection is pinned to the vetted address (the request goes to the IP; Host header and
TLS SNI keep the name), so a DNS answer that changes between the check and the connect (rebinding) cannot slip
through. Redirects are never followed by the connector.

One URL parser: httpx's, the one that sends the requests. ``check_url`` parses with it and the transport vets
``request.url.host`` as httpx parsed it, so what is checked is what is connected to.

Host names that are numbers. The only IPv4 literal accepted is the canonical dotted quad (four decimal numbers
0-255 without leading zeros). Any other host whose last label is a number (``0177.0.0.1``, ``0x7f.1``, ``127.1``,
``2130706433``, ``127.0.0.01``) is refused as invalid: ``inet_aton``, browsers and some resolvers read these as
addresses (octal, hex, short forms), others as names, and the guard does not guess which.

Which addresses are public. IPv4: ``is_global``, not multicast, not 0.0.0.0/8. IPv6: only global unicast
(2000::/3) that ``is_global`` accepts, not multicast, and these forms that carry an IPv4 address:

* IPv4-mapped ``::ffff:a.b.c.d``, NAT64 well-known prefix ``64:ff9b::a.b.c.d`` (a DNS64 answer for an IPv4-only
  target) and 6to4 ``2002:AABB:CCDD::/48``: public only if the IPv4 address they carry is;
* refused outright: IPv4-compatible ``::a.b.c.d`` (deprecated), IPv4-translated ``::ffff:0:a.b.c.d`` (SIIT, not
  routed on the internet), the local-use NAT64 prefix ``64:ff9b:1::/48`` (where the IPv4 address sits is the
  operator's choice) and Teredo ``2001::/32`` (a host tunnel, never a server's address). An operator whose network
  needs one of them admits the range with ``HOSPES_OUTBOUND_ALLOW``.

A NAT64 gateway on a network-specific prefix (any other /96) is indistinguishable from a public IPv6 address; such a
network must block that prefix's private IPv4 destinations on the gateway.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass

import httpx

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

# Ranges that are never "public", beyond what ``is_global`` already excludes (it covers RFC 1918, loopback,
# link-local incl. 169.254.169.254, CGNAT 100.64/10, ULA fc00::/7, unspecified, documentation, reserved).
_ALWAYS_BLOCKED = (ipaddress.ip_network("0.0.0.0/8"), ipaddress.ip_network("::/128"))
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
_NEVER_V6 = (
    ipaddress.IPv6Network("::/96"),  # IPv4-compatible
    ipaddress.IPv6Network("::ffff:0:0:0/96"),  # IPv4-translated
    ipaddress.IPv6Network("64:ff9b:1::/48"),  # local-use NAT64
    ipaddress.IPv6Network("2001::/32"),  # Teredo
)
# The last label of a host that an IPv4 parser takes for a number: decimal, or hex with 0x.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")


class OutboundBlockedError(ValueError):
    """The URL or one of its addresses is not allowed as an outbound provisioning target."""


def _system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a mapped, NAT64 (well-known prefix) or 6to4 address leads to."""
    if address in _MAPPED or address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _SIX_TO_FOUR:
        return address.sixtofour
    return None


def _literal(host: str) -> IpAddress | None:
    """The address a host stands for when it is an IP literal; None for a name. Raises for a number that is not
    a canonical address (see the module docstring)."""
    bare = host.lower().rstrip(".")
    if bare.startswith("[") and bare.endswith("]"):
        bare = bare[1:-1]
    try:
        return ipaddress.ip_address(bare.split("%", 1)[0] if ":" in bare else bare)
    except ValueError:
        pass
    if ":" in bare or _NUMERIC_LABEL.fullmatch(bare.rsplit(".", 1)[-1]):
        raise OutboundBlockedError(
            f"{host!r} is not a valid host name or IP address (an IPv4 address is four decimal numbers 0-255 "
            "without leading zeros)"
        )
    return None


@dataclass(frozen=True)
class TargetUrl:
    """A URL as httpx parsed it (what the connector sends to), with its host and port."""

    url: httpx.URL
    host: str  # lower case, without brackets or a trailing dot
    port: int  # explicit, or the scheme's default


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
        embedded = _embedded_ipv4(address) if isinstance(address, ipaddress.IPv6Address) else None
        candidates = [address] if embedded is None else [address, embedded]
        return any(a in net for a in candidates for net in self.allowed_networks if a.version == net.version)

    def _public(self, address: IpAddress) -> bool:
        if isinstance(address, ipaddress.IPv6Address):
            embedded = _embedded_ipv4(address)
            if embedded is not None:
                return self._public(embedded)
            if address not in _GLOBAL_UNICAST or any(address in net for net in _NEVER_V6):
                return False
        elif any(address in net for net in _ALWAYS_BLOCKED if address.version == net.version):
            return False
        return address.is_global and not address.is_multicast

    def check_url(self, url: str) -> TargetUrl:
        """Validate the syntax of a target URL (host spelling included); does not resolve."""
        try:
            parsed = httpx.URL(url.strip())
        except (httpx.InvalidURL, TypeError) as exc:
            raise OutboundBlockedError(f"invalid URL: {exc}") from None
        if parsed.scheme not in ("https", "http"):
            raise OutboundBlockedError("only https (or http to an admitted host) URLs are allowed")
        if parsed.userinfo:
            raise OutboundBlockedError("credentials in the URL are not allowed; use the secret token")
        host = parsed.host.lower().rstrip(".")
        if not host:
            raise OutboundBlockedError("the URL has no host")
        _literal(host)
        return TargetUrl(parsed, host, parsed.port or (443 if parsed.scheme == "https" else 80))

    def vet(self, host: str, port: int) -> str:
        """Resolve ``host`` and check every address; return the address to connect to."""
        host = host.lower().rstrip(".")
        literal = _literal(host)
        if literal is not None:
            addresses: list[IpAddress] = [literal]
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
                    f"{host} resolves to {address}, a private, loopback or link-local address (or an IPv6 form of "
                    "one); an operator can admit it with HOSPES_OUTBOUND_ALLOW"
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
