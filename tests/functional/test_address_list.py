"""The unified global address list: a member's people search in My Apps finds the tenant's members and the
members synchronized in from another tenant, guests only when shown in the address list, never hidden guests and
never another tenant's directory; a guest never gets the search; scripts filter and search over Graph."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers.cross_tenant import allow_sync, make_config
from tests.helpers.graph import assert_graph_error
from tests.helpers.portal import sign_in
from tests.helpers.tenants import PASSWORD, TenantHandle

EVENTUAL = {"ConsistencyLevel": "eventual"}


@pytest.fixture
def directory(make_tenant: Any) -> dict[str, Any]:
    contoso, fabrikam, tailspin = (make_tenant(n) for n in ("Contoso", "Fabrikam", "Tailspin"))
    # Contoso's Alice is synchronized into Fabrikam (the topology's mapping: Member, shown in the address list)
    allow_sync(fabrikam, contoso)
    sync = make_config(contoso, fabrikam)
    sync.create_job()
    sync.start()
    alice = contoso.new_user("alice", displayName="Alice Archer", mail=f"alice@{contoso.domain}", jobTitle="Buyer")
    sync.assign(alice["id"])
    sync.settle()
    people = {
        "mia": fabrikam.new_user("mia", displayName="Mia Moss", jobTitle="Engineer", department="Platform"),
        "noah": fabrikam.new_user(
            "noah", displayName="Noah North", jobTitle="Sales Lead", department="Sales", businessPhones=["+1 555 0100"]
        ),
        "hidden": fabrikam.new_user("hidden", displayName="Hugo Hidden", showInAddressList=False),
        "off": fabrikam.new_user("off", displayName="Olga Off", accountEnabled=False),
        "gina": fabrikam.new_user("gina", displayName="Gina Guest", userType="Guest"),
        "vic": fabrikam.new_user("vic", displayName="Vic Visible", userType="Guest", showInAddressList=True),
        "tom": tailspin.new_user("tom", displayName="Tom Tailspin"),
    }
    return {"fabrikam": fabrikam, "contoso": contoso, "alice": alice, **people}


def _names(web: TestClient, tenant: TenantHandle, query: str = "") -> list[str]:
    page = web.get(f"/{tenant.domain}/myapps/people", params={"q": query})
    assert page.status_code == 200, page.text
    return re.findall(r'<strong class="person-name">([^<]+)</strong>', page.text)


def test_a_member_finds_members_synchronized_members_and_shown_guests(web: TestClient, directory: Any) -> None:
    fabrikam: TenantHandle = directory["fabrikam"]
    assert sign_in(web, fabrikam.domain, f"mia@{fabrikam.domain}", PASSWORD).status_code == 303
    home = web.get(f"/{fabrikam.domain}/myapps")
    assert 'id="find-people"' in home.text

    everyone = _names(web, fabrikam)
    assert {"Mia Moss", "Noah North", "Alice Archer", "Vic Visible"} <= set(everyone)
    assert not {"Gina Guest", "Hugo Hidden", "Olga Off", "Tom Tailspin"} & set(everyone)
    assert everyone == sorted(everyone)

    assert _names(web, fabrikam, "sales") == ["Noah North"]  # department, job title
    assert _names(web, fabrikam, "north lead") == ["Noah North"]  # every word must match
    assert _names(web, fabrikam, "buyer") == ["Alice Archer"]  # the synchronized attributes
    assert _names(web, fabrikam, "gina") == [] and _names(web, fabrikam, "tom") == []
    assert _names(web, fabrikam, "100%_") == []  # LIKE wildcards are plain text
    page = web.get(f"/{fabrikam.domain}/myapps/people", params={"q": "alice"}).text
    assert "From another organization" in page and f"alice@{directory['contoso'].domain}" in page
    assert "+1 555 0100" in web.get(f"/{fabrikam.domain}/myapps/people", params={"q": "noah"}).text


def test_a_guest_never_gets_the_search(web: TestClient, directory: Any) -> None:
    fabrikam: TenantHandle = directory["fabrikam"]
    assert sign_in(web, fabrikam.domain, f"vic@{fabrikam.domain}", PASSWORD).status_code == 303
    assert 'id="find-people"' not in web.get(f"/{fabrikam.domain}/myapps").text
    refused = web.get(f"/{fabrikam.domain}/myapps/people", params={"q": "noah"})
    assert refused.status_code == 403 and "Noah" not in refused.text


def test_the_search_speaks_the_page_language(web: TestClient, directory: Any) -> None:
    fabrikam: TenantHandle = directory["fabrikam"]
    assert sign_in(web, fabrikam.domain, f"noah@{fabrikam.domain}", PASSWORD).status_code == 303
    page = web.get(f"/{fabrikam.domain}/myapps/people", params={"q": "zzz", "lang": "fr"})
    assert "Personne ne correspond." in page.text and "Rechercher" in page.text


def test_scripts_filter_and_search_the_address_list(directory: Any) -> None:
    fabrikam: TenantHandle = directory["fabrikam"]
    shown = fabrikam.get("/users", params={"$filter": "showInAddressList eq true", "$select": "displayName"})
    names = {u["displayName"] for u in shown.json()["value"]}
    assert {"Alice Archer", "Vic Visible"} <= names and "Gina Guest" not in names and "Hugo Hidden" not in names
    guests = fabrikam.get(
        "/users", params={"$filter": "showInAddressList eq true and userType eq 'Guest'", "$select": "displayName"}
    )
    assert [u["displayName"] for u in guests.json()["value"]] == ["Vic Visible"]
    found = fabrikam.get(
        "/users",
        params={"$search": '"displayName:Alice"', "$filter": "showInAddressList eq true", "$select": "displayName"},
        headers=EVENTUAL,
    )
    assert found.status_code == 200, found.text
    assert [u["displayName"] for u in found.json()["value"]] == ["Alice Archer"]
    without = fabrikam.get("/users", params={"$search": '"displayName:Alice"'})
    assert_graph_error(without, 400, "Request_UnsupportedQuery")
