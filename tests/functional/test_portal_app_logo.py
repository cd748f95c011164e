"""An enterprise app's logo on its Properties page: upload (PRG, CSRF), refusals in plain words, remove."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.helpers.images import gif, png
from tests.helpers.portal import alerts, csrf_of, sign_in_as_admin
from tests.helpers.tenants import TenantHandle


def _upload(web: TestClient, tenant: TenantHandle, sp_id: str, data: bytes, token: str, query: str = "") -> Any:
    files = {"logo": ("logo.img", data, "application/octet-stream")}
    return web.post(f"/{tenant.domain}/admin/apps/{sp_id}/logo{query}", data={"csrf": token}, files=files)


def test_upload_refuse_and_remove_a_logo(web: TestClient, tenant: TenantHandle) -> None:
    sign_in_as_admin(web, tenant)
    app = tenant.post("/applications", json={"displayName": "Payroll"}).json()
    sp = tenant.post("/servicePrincipals", json={"appId": app["appId"]}).json()
    page = web.get(f"/{tenant.domain}/admin/apps/{sp['id']}")
    token = csrf_of(page.text)
    assert 'id="app-logo"' not in page.text and 'id="f-logo"' in page.text

    forged = _upload(web, tenant, sp["id"], png(), "not-the-token")
    assert forged.status_code == 403
    svg = _upload(web, tenant, sp["id"], b"<svg xmlns='http://www.w3.org/2000/svg'/>", token)
    assert svg.status_code == 400
    assert alerts(svg.text)["logo"] == "This isn&#39;t a PNG, JPEG or GIF image."
    wide = _upload(web, tenant, sp["id"], png(300, 20), token)
    assert "larger than 215 × 215 pixels" in alerts(wide.text)["logo"]
    heavy = _upload(web, tenant, sp["id"], png(10, 10) + b"\0" * 110_000, token)
    assert heavy.status_code == 400 and "larger than 100 KB" in alerts(heavy.text)["logo"]
    assert tenant.get(f"/applications/{app['id']}").json()["info"]["logoUrl"] is None

    saved = _upload(web, tenant, sp["id"], gif(40, 40), token)
    assert saved.status_code == 303 and saved.headers["location"].endswith("?done=logo")
    url = tenant.get(f"/applications/{app['id']}").json()["info"]["logoUrl"]
    assert url.endswith(".gif")
    shown = web.get(saved.headers["location"])
    assert "The logo was saved." in shown.text
    path = "/" + url.split("://", 1)[1].split("/", 1)[1]
    assert f'src="{path}"' in shown.text
    assert web.get(url).content == gif(40, 40)

    french = _upload(web, tenant, sp["id"], b"GIF", token, "?lang=fr")  # the refusal in the page's language
    assert french.status_code == 400
    assert alerts(french.text)["logo"] == "Ce n’est pas une image PNG, JPEG ou GIF."
    web.get(f"/{tenant.domain}/admin?lang=en")

    removed = web.post(f"/{tenant.domain}/admin/apps/{sp['id']}/logo/remove", data={"csrf": token})
    assert removed.status_code == 303 and removed.headers["location"].endswith("?done=logo-removed")
    assert tenant.get(f"/applications/{app['id']}").json()["info"]["logoUrl"] is None
    assert web.get(url).status_code == 404
