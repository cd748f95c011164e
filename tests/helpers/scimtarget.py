"""The independent SCIM target for provisioning tests and the bench: ``scim2-server`` as a subprocess on loopback,
with a bearer token and the 8x8 custom extension (``urn:ietf:params:scim:schemas:extension:8x8:1.1:User``) added
to RFC 7643's schemas. Its state is read back over its own SCIM API (``Target.users()``), and with
``dump_path`` it writes every resource to a JSON file when it stops (``--dump-resources``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from tests.helpers.live import free_port

EXT_8X8 = "urn:ietf:params:scim:schemas:extension:8x8:1.1:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
TOKEN = "scim-test-token-5f1c"


def _write_schema_files(folder: Path) -> tuple[Path, Path]:
    base = resources.files("scim2_server") / "resources"
    schemas = json.loads((base / "default-schemas.json").read_text())
    schemas.append(
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": EXT_8X8,
            "name": "8x8User",
            "description": "8x8 extension (seed 002)",
            "attributes": [
                {
                    "name": "site",
                    "type": "string",
                    "multiValued": False,
                    "required": False,
                    "caseExact": False,
                    "mutability": "readWrite",
                    "returned": "default",
                    "uniqueness": "none",
                }
            ],
            "meta": {"resourceType": "Schema", "location": f"/v2/Schemas/{EXT_8X8}"},
        }
    )
    types = json.loads((base / "default-resource-types.json").read_text())
    for item in types:
        if item["id"] == "User":
            item["schemaExtensions"].append({"schema": EXT_8X8, "required": False})
    schema_file, type_file = folder / "schemas.json", folder / "resource-types.json"
    schema_file.write_text(json.dumps(schemas))
    type_file.write_text(json.dumps(types))
    return schema_file, type_file


@dataclass
class Target:
    base_url: str  # .../v2
    token: str
    process: subprocess.Popen[bytes]
    dump_path: Path | None

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers={"Authorization": f"Bearer {self.token}"}, timeout=30)

    def list(self, endpoint: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        with self.client() as client:
            start = 1
            while True:
                page = client.get(endpoint, params={"startIndex": start, "count": 1000}).json()
                resources_ = page.get("Resources") or []
                out.extend(resources_)
                start += len(resources_)
                if not resources_ or start > page["totalResults"]:
                    return out

    def users(self) -> list[dict[str, Any]]:
        return self.list("/Users")

    def groups(self) -> list[dict[str, Any]]:
        with self.client() as client:
            found = self.list("/Groups")
            # Members are not "returned: default" everywhere: read each group with them explicitly.
            return [client.get(f"/Groups/{g['id']}").json() for g in found]

    def user_by_name(self, user_name: str) -> dict[str, Any] | None:
        with self.client() as client:
            page = client.get("/Users", params={"filter": f'userName eq "{user_name}"'}).json()
        hits = page.get("Resources") or []
        return hits[0] if hits else None


# The ``scim2-server`` entry point, started so that SIGINT stops it even when this process inherited SIGINT as
# ignored (a shell starts background jobs that way, and Python then leaves it ignored in its children): without a
# handler the server would only die to the SIGKILL sent 10 s later, without writing its dump.
_SERVE = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); sys.argv[0] = 'scim2-server'; "
    "from scim2_server.testserver.cli import main; main()"
)


@contextmanager
def run_target(tmp: Path, *, token: str = TOKEN, dump: bool = False) -> Iterator[Target]:
    tmp.mkdir(parents=True, exist_ok=True)
    schema_file, type_file = _write_schema_files(tmp)
    port = free_port()
    dump_path = tmp / "dump.json" if dump else None
    args = [
        sys.executable,
        "-c",
        _SERVE,
        "--port",
        str(port),
        "--hostname",
        "127.0.0.1",
        "--bearer-token",
        token,
        "--schema",
        str(schema_file),
        "--resource-type",
        str(type_file),
    ]
    if dump_path is not None:
        args += ["--dump-resources", str(dump_path)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
    base = f"http://127.0.0.1:{port}/v2"
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                raise RuntimeError("scim2-server exited at start")
            try:
                if httpx.get(f"{base}/ServiceProviderConfig", timeout=1).status_code in (200, 401):
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("scim2-server did not start within 20 s")
            time.sleep(0.05)
        yield Target(base, token, process, dump_path)
    finally:
        process.send_signal(signal.SIGINT)  # lets it write --dump-resources
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
