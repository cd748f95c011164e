"""``/docs`` works offline: the Swagger UI page names only same-origin assets, and the server serves them."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

_URL = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\s*:\s*["']([^"']+)["']""")
_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png", ".json": "application/json"}


def test_docs_reference_only_same_origin_assets_and_they_are_served(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "SwaggerUIBundle" in page.text
    assert not re.search(r"https?://|//cdn|jsdelivr|unpkg", page.text), "the page must not load anything remote"
    urls = {a or b for a, b in _URL.findall(page.text)}
    assets = {u for u in urls if u.rsplit(".", 1)[-1] in ("js", "css", "png", "json")}
    assert {"/openapi.json"} < assets and any(u.endswith("swagger-ui-bundle.js") for u in assets)
    assert any(u.endswith(".css") for u in assets)
    for url in assets:
        assert url.startswith("/") and not url.startswith("//"), url
        response = client.get(url)
        assert response.status_code == 200, url
        wanted = _TYPES["." + url.rsplit(".", 1)[-1]]
        assert wanted in response.headers["content-type"], (url, response.headers["content-type"])
        assert len(response.content) > 100
    assert client.get("/docs/oauth2-redirect").status_code == 200
