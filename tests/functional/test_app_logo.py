"""An application's logo over Graph: ``PUT``/``GET /applications/{id}/logo``, ``info.logoUrl`` on the application
and its service principal, and the public, cacheable address that serves it."""

from __future__ import annotations

from tests.helpers.graph import assert_graph_error
from tests.helpers.images import gif, jpeg_header, png
from tests.helpers.tenants import TenantHandle


def _app(tenant: TenantHandle, name: str = "Payroll") -> tuple[dict[str, object], dict[str, object]]:
    app = tenant.post("/applications", json={"displayName": name}).json()
    sp = tenant.post("/servicePrincipals", json={"appId": app["appId"]}).json()
    return app, sp


def _put(tenant: TenantHandle, app_id: object, body: bytes, content_type: str = "image/png") -> object:
    return tenant.request("PUT", f"/applications/{app_id}/logo", content=body, headers={"Content-Type": content_type})


def test_put_then_get_the_logo_and_its_public_url(tenant: TenantHandle) -> None:
    app, sp = _app(tenant)
    assert tenant.get(f"/applications/{app['id']}").json()["info"]["logoUrl"] is None
    assert_graph_error(tenant.get(f"/applications/{app['id']}/logo"), 404, "Request_ResourceNotFound")
    image = png(32, 32)
    put = _put(tenant, app["id"], image)
    assert put.status_code == 204, put.text  # type: ignore[attr-defined]
    got = tenant.get(f"/applications/{app['id']}/logo")
    assert got.status_code == 200
    assert got.headers["content-type"] == "image/png"
    assert got.content == image

    url = tenant.get(f"/applications/{app['id']}").json()["info"]["logoUrl"]
    assert url.startswith("http") and f"/{tenant.id}/applogos/{app['appId']}/" in url and url.endswith(".png")
    assert tenant.get(f"/servicePrincipals/{sp['id']}").json()["info"]["logoUrl"] == url
    listed = tenant.get("/servicePrincipals?$filter=displayName eq 'Payroll'").json()["value"]
    assert listed[0]["info"]["logoUrl"] == url

    public = tenant.client.get(url)  # no token: a public address, as Entra's logo CDN
    assert public.status_code == 200
    assert public.content == image
    assert public.headers["content-type"] == "image/png"
    assert public.headers["x-content-type-options"] == "nosniff"
    assert public.headers["content-security-policy"] == "default-src 'none'"
    assert public.headers["content-disposition"] == "inline"
    assert "immutable" in public.headers["cache-control"]

    # A new image gets a new address; the old one is gone.
    assert _put(tenant, app["id"], gif(20, 20), "image/gif").status_code == 204  # type: ignore[attr-defined]
    new_url = tenant.get(f"/applications/{app['id']}").json()["info"]["logoUrl"]
    assert new_url != url and new_url.endswith(".gif")
    assert tenant.client.get(url).status_code == 404
    assert tenant.client.get(new_url).headers["content-type"] == "image/gif"
    assert tenant.client.get(new_url.removesuffix(".gif") + ".png").status_code == 404

    jpeg = _put(tenant, f"appId={app['appId']}", jpeg_header(100, 50), "image/jpeg")
    assert jpeg.status_code == 204, jpeg.text  # type: ignore[attr-defined]
    assert tenant.get(f"/applications/{app['id']}/logo").headers["content-type"] == "image/jpeg"


def test_refuses_what_is_not_a_small_png_jpeg_or_gif(tenant: TenantHandle) -> None:
    app, _ = _app(tenant)
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    assert_graph_error(_put(tenant, app["id"], svg, "image/svg+xml"), 400, "Request_BadRequest")
    assert_graph_error(_put(tenant, app["id"], b"<html>hi</html>", "image/png"), 400, "Request_BadRequest")
    # The bytes decide: a GIF sent as image/png is refused.
    assert_graph_error(_put(tenant, app["id"], gif(), "image/png"), 400, "Request_BadRequest")
    assert_graph_error(_put(tenant, app["id"], b""), 400, "Request_BadRequest")
    assert_graph_error(_put(tenant, app["id"], png(216, 10)), 400, "Request_BadRequest")
    too_big = png(10, 10) + b"\0" * (100 * 1024)
    assert_graph_error(_put(tenant, app["id"], too_big), 400, "Request_BadRequest")
    assert tenant.get(f"/applications/{app['id']}").json()["info"]["logoUrl"] is None


def test_tenant_isolation(tenant: TenantHandle, other_tenant: TenantHandle) -> None:
    app, _ = _app(tenant)
    assert _put(tenant, app["id"], png()).status_code == 204  # type: ignore[attr-defined]
    url = tenant.get(f"/applications/{app['id']}").json()["info"]["logoUrl"]
    assert_graph_error(other_tenant.get(f"/applications/{app['id']}/logo"), 404, "Request_ResourceNotFound")
    assert_graph_error(_put(other_tenant, app["id"], png()), 404, "Request_ResourceNotFound")
    # The same public address under the other tenant serves nothing.
    assert tenant.client.get(url.replace(f"/{tenant.id}/", f"/{other_tenant.id}/")).status_code == 404
    assert tenant.client.get(url).status_code == 200
    assert tenant.delete(f"/applications/{app['id']}").status_code == 204
    assert tenant.client.get(url).status_code == 404  # the logo goes with its application
