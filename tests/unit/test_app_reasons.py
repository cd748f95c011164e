"""The application screens' fault sentences: each one the portal lists for translation is a sentence the services
really use (so a reworded message cannot silently fall back to English), and a fault carries its template and
parameters so a page can say it in its language."""

from __future__ import annotations

from pathlib import Path

import pytest

from hospes.auth.certificates import CertificateError, read_certificate
from hospes.domain.app_registration import PlainError, RegistrationError, check_redirect_total, check_uri
from hospes.web.portal.app_forms import REASONS

SRC = Path(__file__).resolve().parents[2] / "src" / "hospes"
SOURCES = [
    SRC / "domain" / "app_registration.py",
    SRC / "services" / "app_credentials.py",
    SRC / "services" / "app_permissions.py",
    SRC / "services" / "apps.py",
    SRC / "auth" / "certificates.py",
]


def _text_of_sources() -> str:
    return "\n".join(" ".join(p.read_text().split()) for p in SOURCES)


@pytest.mark.parametrize("template", REASONS)
def test_every_listed_sentence_is_used_by_a_service(template: str) -> None:
    assert f'"{template}"' in _text_of_sources(), template


def test_faults_carry_template_and_parameters() -> None:
    with pytest.raises(RegistrationError) as caught:
        check_uri("http://rp.example/cb", "web.redirectUris")
    fault = caught.value
    assert fault.template in REASONS and fault.params == {"uri": "http://rp.example/cb"}
    assert fault.reason == fault.template % fault.params
    assert fault.message.startswith("Invalid value specified for property 'web.redirectUris' of resource")
    assert fault.message.endswith(fault.reason)
    with pytest.raises(PlainError) as total:
        check_redirect_total({"spa": [f"https://spa.example/{i}" for i in range(300)]})
    assert total.value.params == {"num": 256}
    with pytest.raises(CertificateError) as bad:
        read_certificate(b"not a certificate at all")
    assert bad.value.template in REASONS and str(bad.value) == bad.value.template
