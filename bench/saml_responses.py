"""SAML Responses built and signed per second, in one process, beside a bare RSA-SHA256 signature of the same bytes
measured in the same run (the floor: what signing alone costs).

Run by hand:  .venv/bin/python bench/saml_responses.py [--seconds 2]

Rows: the three signing options (assertion, response, both: two signatures), RSA-SHA1, and the trap of loading the
key from its PEM for every response (what keeping key objects loaded avoids). Each row: responses/s, mean ms, and
the rate as a ratio of the bare-signature row.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from rich.console import Console
from rich.table import Table

from hospes.auth.certificates import create_signing_certificate, load_signing_key
from hospes.saml.claims import SamlUser, default_claims
from hospes.saml.nameid import build_name_id
from hospes.saml.response import Addressing, Authentication, Signing, build_response

TARGET = 500.0


def rate(work: Callable[[], object], seconds: float) -> tuple[float, float]:
    work()  # warm up (imports, caches)
    count, start = 0, time.perf_counter()
    end = start + seconds
    while time.perf_counter() < end:
        work()
        count += 1
    elapsed = time.perf_counter() - start
    return count / elapsed, elapsed / count * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    made = create_signing_certificate("CN=bench")
    key = load_signing_key(made.private_key_pem, made.info.der_b64)
    tenant = "6f0e2b7c-1111-4222-8333-944455556666"
    user = SamlUser(
        object_id="0b0b0b0b-aaaa-4bbb-8ccc-dddddddddddd",
        tenant_id=tenant,
        user_principal_name="adele.vance@contoso.example",
        user_type="Member",
        identity_provider=f"https://hospes.example/{tenant}/",
        mail="adele.vance@contoso.example",
        given_name="Adele",
        surname="Vance",
        display_name="Adele Vance",
        roles=("User", "Approver"),
    )

    def respond(option: str, algorithm: str = "rsa-sha256", signing_key: object = None) -> bytes:
        claims = default_claims(user)
        name_id = build_name_id(
            claims.name_id_format,
            source_value=claims.name_id_source,
            tenant_key=b"k" * 32,
            sp_entity_id="https://sso.8x8.com/saml2",
            object_id=user.object_id,
        )
        now = datetime.now(UTC)
        return build_response(
            Addressing(
                f"https://hospes.example/{tenant}/",
                "https://sso.8x8.com/saml2",
                "https://sso.8x8.com/saml2",
                "id-4e7f0c2d9b",
                now,
            ),
            Authentication(name_id, claims.attributes, now, "_0f1e2d3c4b5a69788796a5b4c3d2e1f0"),
            Signing(signing_key or key, option, algorithm),  # type: ignore[arg-type]
        )

    sample = respond("assertion")
    rows: list[tuple[str, Callable[[], object], float]] = [
        (
            "bare RSA-SHA256 signature of the response's bytes (baseline)",
            lambda: key.key.sign(sample, padding.PKCS1v15(), hashes.SHA256()),
            args.seconds,
        ),
        ("Response, assertion signed (default)", lambda: respond("assertion"), args.seconds),
        ("Response signed", lambda: respond("response"), args.seconds),
        ("Response and assertion signed", lambda: respond("both"), args.seconds),
        ("Response, assertion signed, RSA-SHA1", lambda: respond("assertion", "rsa-sha1"), args.seconds),
        (
            "Response, key loaded from PEM per response (the trap)",
            lambda: respond("assertion", signing_key=load_signing_key(made.private_key_pem, made.info.der_b64)),
            min(args.seconds, 1.0),
        ),
    ]
    table = Table(title=f"SAML responses per second, one process, one thread ({len(sample)} bytes each)")
    for column in ("what", "per second", "mean ms", "ratio to baseline"):
        table.add_column(column, justify="left" if column == "what" else "right")
    baseline = 0.0
    for name, work, seconds in rows:
        per_second, mean_ms = rate(work, seconds)
        baseline = baseline or per_second
        table.add_row(name, f"{per_second:,.0f}", f"{mean_ms:.2f}", f"{per_second / baseline:.2f}")
    console = Console()
    console.print(table)
    console.print(f"target: ≥ {TARGET:.0f} responses/s with the default option")


if __name__ == "__main__":
    main()
