"""Switching language keeps where the person was going: the ``next=`` of the sign-in page (and the rest of the
query) survives in every language link, with ``lang`` replaced rather than added twice."""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs, urlsplit

from fastapi.testclient import TestClient

from tests.helpers.portal import sign_in_as_admin
from tests.helpers.tenants import TenantHandle

_LINK = re.compile(r'<a href="([^"]*)" lang="(\w\w)" hreflang="\w\w"')


def _language_links(page_html: str) -> dict[str, dict[str, list[str]]]:
    found = {code: parse_qs(urlsplit(html.unescape(href)).query) for href, code in _LINK.findall(page_html)}
    assert set(found) == {"en", "fr", "de", "es", "ja"}, found
    return found


def test_switching_language_keeps_next_on_the_sign_in_page(web: TestClient, tenant: TenantHandle) -> None:
    target = f"/{tenant.domain}/myapps?x=1&y=2"
    page = web.get(f"/{tenant.domain}/login", params={"next": target, "lang": "fr"})
    assert page.status_code == 200
    for code, query in _language_links(page.text).items():
        assert query == {"next": [target], "lang": [code]}, (code, query)
    switched = web.get(f"/{tenant.domain}/login", params={"next": target, "lang": "de"})  # the link followed
    assert f'name="next" value="{html.escape(target)}"' in switched.text


def test_switching_language_keeps_next_in_the_portal(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    page = web.get(f"/{tenant.domain}/admin/users", params={"next": "/x", "q": "ann", "lang": "es"})
    for code, query in _language_links(page.text).items():
        assert query == {"next": ["/x"], "q": ["ann"], "lang": [code]}, (code, query)
