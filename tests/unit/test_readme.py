"""The README says where the portal, My Apps and the API docs are, and links every document of docs/."""

from __future__ import annotations

import re

from tests.helpers.env import ROOT


def test_readme_links_every_doc_and_names_the_portal() -> None:
    readme = (ROOT / "README.md").read_text()
    linked = set(re.findall(r"\]\((docs/[^)#]+)\)", readme))
    wanted = {f"docs/{p.name}" for p in (ROOT / "docs").glob("*.md")}
    assert wanted and wanted <= linked, sorted(wanted - linked)
    assert all((ROOT / path).exists() for path in linked), linked
    for address in ("/{tenant}/admin", "/{tenant}/myapps", "`/docs`", "`/`"):
        assert address in readme, address
