"""Running InfluxDB 2 and onboarding it once (org, operator token, buckets)."""

from __future__ import annotations

import secrets
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from infra import processes

NAME = "influxdb"


def start_influxdb(
    influxd: Path, *, run_dir: Path, host: str, port: int
) -> subprocess.Popen[bytes]:
    data = run_dir / "influxdb"
    data.mkdir(parents=True, exist_ok=True)
    return processes.start(
        [
            str(influxd),
            "--bolt-path",
            str((data / "influxd.bolt").resolve()),
            "--engine-path",
            str((data / "engine").resolve()),
            "--sqlite-path",
            str((data / "influxd.sqlite").resolve()),
            "--http-bind-address",
            f"{host}:{port}",
            "--reporting-disabled",
            "--log-level",
            "warn",
        ],
        name=NAME,
        run_dir=run_dir,
    )


def is_healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:  # noqa: S310 - our URL
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def wait_healthy(url: str, *, run_dir: Path, timeout_s: float) -> None:
    processes.wait_until_healthy(
        lambda: is_healthy(url),
        run_dir=run_dir,
        names=[NAME],
        what=f"InfluxDB did not answer on {url}",
        timeout_s=timeout_s,
    )


def onboard(url: str, *, org: str, bucket: str, retention_days: int) -> tuple[str, str] | None:
    """Onboard a fresh server; return its operator token and the admin user's password.

    ``None`` when the server was onboarded before.
    """
    from influxdb_client import InfluxDBClient
    from influxdb_client.domain.onboarding_request import OnboardingRequest
    from influxdb_client.service.setup_service import SetupService

    with InfluxDBClient(url=url, token="") as client:
        service = SetupService(client.api_client)
        if not service.get_setup().allowed:
            return None
        token = secrets.token_urlsafe(32)
        password = secrets.token_urlsafe(24)
        service.post_setup(
            OnboardingRequest(
                username="millstream",
                password=password,
                org=org,
                bucket=bucket,
                retention_period_seconds=retention_days * 86400,
                token=token,
            )
        )
        return token, password
