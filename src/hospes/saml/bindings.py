"""The two bindings a SAML message travels by: HTTP-Redirect (raw DEFLATE + base64 in the query string, signed over
the query's own octets) and HTTP-POST (base64 in a form field, signed inside the XML)."""

from __future__ import annotations

import base64
import binascii
import zlib
from dataclasses import dataclass
from urllib.parse import quote_plus, unquote_plus

from hospes.auth.certificates import SigningKey
from hospes.saml.common import MAX_ENCODED_BYTES, MAX_XML_BYTES, SamlError, binding_error
from hospes.saml.signing import Algorithm, QuerySignature, sig_alg_uri, sign_query

MESSAGE_PARAMS = ("SAMLRequest", "SAMLResponse")
# SAML asks for at most 80 bytes; service providers send return URLs. Hospes keeps it through the user's sign-in
# (inside the address the browser comes back to), which bounds it.
MAX_RELAY_STATE_BYTES = 1024


@dataclass(frozen=True)
class InboundMessage:
    """A message as it arrived, before its signature is checked: ``xml`` is what the peer sent; ``query`` is the
    Redirect binding's query signature (None when unsigned or by POST)."""

    param: str  # SAMLRequest | SAMLResponse
    xml: bytes
    relay_state: str | None
    binding: str  # "redirect" | "post"
    query: QuerySignature | None = None


def _b64decode(text: str) -> bytes:
    if len(text) > MAX_ENCODED_BYTES:
        raise binding_error("The SAML message is too large.")
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise binding_error("The SAML message is not valid base64.") from exc


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        xml = inflater.decompress(data, MAX_XML_BYTES + 1)
    except zlib.error as exc:
        raise binding_error("The SAML message is not raw DEFLATE data.") from exc
    if len(xml) > MAX_XML_BYTES or inflater.unconsumed_tail:
        raise binding_error("The SAML message is too large.")
    return xml


def _raw_pairs(query: str) -> dict[str, str]:
    """name -> value exactly as written (still percent-encoded); a repeated SAML parameter is refused, since the
    signature covers one of them and the reader could take the other."""
    pairs: dict[str, str] = {}
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        name = unquote_plus(name)
        if name in pairs and name in (*MESSAGE_PARAMS, "RelayState", "SigAlg", "Signature"):
            raise binding_error(f"The query parameter '{name}' appears more than once.")
        pairs.setdefault(name, value)
    return pairs


def read_redirect(query: str) -> InboundMessage:
    """Decode an HTTP-Redirect message from the raw query string (``request.url.query``, not a parsed dict: the
    signature covers the octets as the peer encoded them)."""
    if len(query) > 2 * MAX_ENCODED_BYTES:
        raise binding_error("The query string is too large.")
    raw = _raw_pairs(query)
    present = [p for p in MESSAGE_PARAMS if p in raw]
    if len(present) != 1:
        raise SamlError(
            "750054",
            "SAMLRequest or SAMLResponse must be present as query string parameters in HTTP request for SAML "
            "Redirect binding.",
        )
    param = present[0]
    xml = _inflate(_b64decode(unquote_plus(raw[param])))
    relay_state = _relay_state(unquote_plus(raw["RelayState"])) if "RelayState" in raw else None
    signature = None
    if "Signature" in raw or "SigAlg" in raw:
        if "Signature" not in raw or "SigAlg" not in raw:
            raise binding_error("A signed Redirect message needs both SigAlg and Signature.")
        octets = f"{param}={raw[param]}"
        if "RelayState" in raw:
            octets += f"&RelayState={raw['RelayState']}"
        octets += f"&SigAlg={raw['SigAlg']}"
        signature = QuerySignature(
            sig_alg=unquote_plus(raw["SigAlg"]),
            signature=_b64decode(unquote_plus(raw["Signature"])),
            signed_octets=octets.encode(),
        )
    return InboundMessage(param, xml, relay_state, "redirect", signature)


def read_post(form: dict[str, str]) -> InboundMessage:
    """Decode an HTTP-POST message from its form fields."""
    present = [p for p in MESSAGE_PARAMS if form.get(p)]
    if len(present) != 1:
        raise binding_error("The form must carry one SAMLRequest or SAMLResponse field.")
    param = present[0]
    xml = _b64decode(form[param])
    if len(xml) > MAX_XML_BYTES:
        raise binding_error("The SAML message is too large.")
    relay = form.get("RelayState")
    return InboundMessage(param, xml, _relay_state(relay) if relay is not None else None, "post")


def _relay_state(value: str) -> str:
    if len(value.encode()) > MAX_RELAY_STATE_BYTES:
        raise binding_error(f"The RelayState is longer than {MAX_RELAY_STATE_BYTES} bytes.")
    return value


def redirect_url(
    location: str,
    param: str,
    xml: bytes,
    *,
    relay_state: str | None = None,
    key: SigningKey | None = None,
    algorithm: Algorithm = "rsa-sha256",
) -> str:
    """``location`` with the message DEFLATE-encoded into its query, signed over the query octets when a key is
    given (the Redirect binding never carries an XML signature)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    deflated = compressor.compress(xml) + compressor.flush()
    query = f"{param}={quote_plus(base64.b64encode(deflated).decode())}"
    if relay_state is not None:
        query += f"&RelayState={quote_plus(relay_state)}"
    if key is not None:
        query += f"&SigAlg={quote_plus(sig_alg_uri(algorithm))}"
        _, signature = sign_query(query.encode(), key=key, algorithm=algorithm)
        query += f"&Signature={quote_plus(signature)}"
    return location + ("&" if "?" in location else "?") + query


def post_fields(param: str, xml: bytes, relay_state: str | None) -> dict[str, str]:
    """The form fields of an HTTP-POST message (the page that submits them is the caller's)."""
    fields = {param: base64.b64encode(xml).decode()}
    if relay_state is not None:
        fields["RelayState"] = relay_state
    return fields
