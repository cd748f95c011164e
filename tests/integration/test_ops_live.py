"""``hospes serve`` as a load balancer sees it: SIGTERM drains (``/readyz`` 503 first, requests still answered, then
the process stops), and ``--workers N`` reports the metrics of all its processes from any of them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from hospes.storage.migrate import upgrade
from tests.helpers.live import TEST_SECRET_KEY, free_port


@contextmanager
def _serve(tmp_path: Path, workers: int = 1, **env: str) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    url = f"sqlite:///{tmp_path / 'hospes.db'}"
    upgrade(url)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hospes", "serve", "--port", str(port), "--workers", str(workers)],
        env={
            **os.environ,
            "HOSPES_DATABASE_URL": url,
            "HOSPES_DATA_DIR": str(tmp_path),
            "HOSPES_SECRET_KEY": TEST_SECRET_KEY,
            "HOSPES_PROVISIONING_RUNNER": "false",
            **env,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        yield proc, base
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_sigterm_takes_the_node_out_of_readiness_before_it_stops(tmp_path: Path) -> None:
    with _serve(tmp_path, HOSPES_DRAIN_SECONDS="3", HOSPES_LOG_FORMAT="json") as (proc, base):
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        deadline = signalled + 2
        while httpx.get(f"{base}/readyz", timeout=2).status_code != 503:
            assert time.monotonic() < deadline, "readiness did not flip"
            time.sleep(0.05)
        # the balancer takes it out; meanwhile whatever still arrives is answered, with Connection: close
        answer = httpx.get(f"{base}/healthz", timeout=2)
        assert answer.status_code == 200 and answer.headers["connection"] == "close"
        assert proc.wait(timeout=20) is not None
        assert time.monotonic() - signalled >= 2.5  # it waited out the drain before it stopped accepting
        errors = proc.stderr.read().decode() if proc.stderr else ""
    assert '"message":"SIGTERM: draining for 3.0 s (/readyz answers 503), then stopping"' in errors


def test_metrics_of_every_server_process(tmp_path: Path) -> None:
    with _serve(tmp_path, workers=2) as (_, base):
        for _ in range(40):
            with httpx.Client() as client:  # a new connection each time: the processes share the socket
                assert client.get(f"{base}/healthz").status_code == 200
        text = httpx.get(f"{base}/metrics").text
    match = re.search(r'hospes_http_requests_total\{method="GET",route="/healthz",status="200"\} (\S+)', text)
    assert match is not None and float(match.group(1)) == 40
    assert (tmp_path / "metrics").is_dir() and any((tmp_path / "metrics").glob("*.db"))
