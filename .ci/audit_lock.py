"""Audit requirements.lock for known vulnerabilities (``make lint``): exit 1 on any.

pip-audit reads each pin's advisories from the package index's per-release JSON. Where that
answer is missing (some mirrors and proxies serve only the per-project JSON), a pin that is
the project's newest release is audited from the per-project JSON instead, whose
``vulnerabilities`` are those of the newest release. A pin neither answer covers is listed
as not audited (``--strict``: that fails too).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

PROJECT_JSON = "https://pypi.org/pypi/{name}/json"


def pip_audit(lock: Path) -> list[dict[str, Any]]:
    """pip-audit's verdict per pin: ``name``, ``version``, ``vulns`` or ``skip_reason``."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "audit.json"
        argv = [sys.executable, "-m", "pip_audit", "--progress-spinner", "off"]
        argv += ["-r", str(lock), "--require-hashes", "--disable-pip", "-f", "json", "-o", str(out)]
        done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600)
        if not out.exists():
            raise SystemExit(f"pip-audit failed (exit {done.returncode}):\n{done.stderr}")
        deps: list[dict[str, Any]] = json.loads(out.read_text())["dependencies"]
        return deps


def newest_release_vulns(name: str, version: str) -> list[dict[str, Any]] | None:
    """The advisories of ``name==version`` when it is the newest release, else ``None``."""
    with urllib.request.urlopen(PROJECT_JSON.format(name=name), timeout=60) as answer:
        project = json.load(answer)
    if project["info"]["version"] != version:
        return None
    return [
        {"id": v["id"], "fix_versions": v.get("fixed_in", []), "aliases": v.get("aliases", [])}
        for v in project.get("vulnerabilities", [])
        if not v.get("withdrawn")
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("lock", type=Path, nargs="?", default=Path("requirements.lock"))
    parser.add_argument("--strict", action="store_true", help="fail on a pin not audited too")
    args = parser.parse_args()
    vulnerable: list[str] = []
    unaudited: list[str] = []
    deps = pip_audit(args.lock)
    pins = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", args.lock.read_text(), re.MULTILINE))
    versions = [dep.get("version") or pins[dep["name"]] for dep in deps]
    with ThreadPoolExecutor(8) as pool:
        fallback = pool.map(
            lambda dv: newest_release_vulns(dv[0]["name"], dv[1]) if "skip_reason" in dv[0] else [],
            zip(deps, versions, strict=True),
        )
    for dep, version, newest in zip(deps, versions, fallback, strict=True):
        pin = f"{dep['name']}=={version}"
        vulns = newest if "skip_reason" in dep else dep.get("vulns", [])
        if vulns is None:
            unaudited.append(pin)
        for vuln in vulns or ():
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed release yet"
            vulnerable.append(f"{pin}: {vuln['id']} (fixed in {fixed})")
    audited = len(deps) - len(unaudited)
    print(
        f"audit of {args.lock}: {audited} of {len(deps)} pins audited, "
        f"{len(vulnerable)} known vulnerabilities"
    )
    if unaudited:
        print(
            f"not audited (no advisory data reachable for these releases; "
            f"`make lock-upgrade` moves pins to the newest): {', '.join(unaudited)}"
        )
    for line in vulnerable:
        print(f"VULNERABLE {line}")
    if vulnerable:
        print("Upgrade each to a fixed release in pyproject.toml, then `make lock`.")
    return 1 if vulnerable or (args.strict and unaudited) else 0


if __name__ == "__main__":
    sys.exit(main())
