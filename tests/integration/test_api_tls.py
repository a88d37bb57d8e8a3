"""HTTPS and WSS from the real ``python -m api`` process, with a certificate made here;
its log never shows a credential passed in a query string."""

from __future__ import annotations

import asyncio
import secrets
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme
import websockets

from infra.ports import free_port

pytestmark = pytest.mark.integration

DEADLINE_S = 60.0


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_files(ca: trustme.CA, tmp_path: Path) -> tuple[Path, Path, Path]:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_path, key_path, ca_path = (tmp_path / n for n in ("cert.pem", "key.pem", "ca.pem"))
    cert.private_key_and_cert_chain_pem.write_to_path(str(cert_path))
    cert.private_key_pem.write_to_path(str(key_path))
    ca.cert_pem.write_to_path(str(ca_path))
    return cert_path, key_path, ca_path


@pytest.fixture
def https_api(
    service_env: dict[str, str], tls_files: tuple[Path, Path, Path], admin_key: str
) -> Iterator[tuple[str, subprocess.Popen[str], Path]]:
    cert_path, key_path, ca_path = tls_files
    port = free_port()
    env = {
        **service_env,
        "MILLSTREAM_API_ENV": "production",
        "MILLSTREAM_API_PORT": str(port),
        "MILLSTREAM_API_TLS_CERT": str(cert_path),
        "MILLSTREAM_API_TLS_KEY": str(key_path),
        "MILLSTREAM_API_ADMIN_API_KEY": admin_key,
        "MILLSTREAM_API_JWT_SECRET": secrets.token_urlsafe(40),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "api"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + DEADLINE_S
        while True:
            assert proc.poll() is None, "api exited during start-up"
            try:
                if (
                    httpx.get(
                        f"{url}/health",
                        verify=ssl.create_default_context(cafile=str(ca_path)),
                        timeout=2,
                    ).status_code
                    == 200
                ):
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "api did not serve HTTPS in time"
            time.sleep(0.2)
        yield url, proc, ca_path
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if proc.stderr is not None:
            proc.stderr.close()


def test_https_and_wss_with_a_generated_certificate_and_a_clean_log(
    https_api: tuple[str, subprocess.Popen[str], Path], admin_key: str
) -> None:
    url, proc, ca_path = https_api
    secret_query = "tok" + secrets.token_hex(12)

    with httpx.Client(
        base_url=url, verify=ssl.create_default_context(cafile=str(ca_path)), timeout=20
    ) as client:
        machines = client.get("/api/machines", headers={"X-API-Key": admin_key})
        with_query = client.get(f"/health?token={secret_query}&api_key={secret_query}")
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health", timeout=5)  # the system store does not know our CA
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(url.replace("https://", "http://") + "/health", timeout=5)

    async def live() -> None:
        context = ssl.create_default_context(cafile=str(ca_path))
        ws_url = url.replace("https://", "wss://") + f"/live?api_key={admin_key}"
        async with websockets.connect(ws_url, ssl=context) as ws:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.5)

    asyncio.run(live())

    assert machines.status_code == 200
    assert with_query.status_code == 200
    proc.terminate()
    _, log = proc.communicate(timeout=20)
    assert "[REDACTED]" in log
    assert "WebSocket /live?api_key=[REDACTED]" in log
    assert secret_query not in log
    assert admin_key not in log
    assert "https://127.0.0.1" in log
