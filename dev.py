#!/usr/bin/env python3
"""The two commands a newcomer needs, with nothing but Python 3.11+ installed.

    python3 dev.py demo    set up .venv, build the demo database and serve it on localhost
    python3 dev.py test    set up .venv (+ test browser), then ruff, mypy, bandit, pip-audit and the tests

Set-up is idempotent: the virtualenv is (re)installed only when pyproject.toml changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".surveyapp-installed"
BROWSER_DIR = ROOT / "tests" / "browser"

# Known vulnerabilities in dependencies that the audit accepts: id -> why (each also in README.md,
# "Security checks"). Passed to pip-audit as --ignore-vuln.
ACCEPTED_VULNERABILITIES: dict[str, str] = {}


def run(*args: str | Path, check: bool = True, env: dict[str, str] | None = None) -> int:
    print("+", " ".join(str(a) for a in args), flush=True)
    result = subprocess.run([str(a) for a in args], cwd=ROOT, env=env, check=False)
    if check and result.returncode != 0:
        sys.exit(result.returncode)
    return result.returncode


def setup_venv() -> None:
    """Create .venv and install the project with its dev extra when pyproject.toml changed."""
    if sys.version_info < (3, 11):
        sys.exit("surveyapp needs Python 3.11 or newer")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if PYTHON.exists() and STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not PYTHON.exists():
        run(sys.executable, "-m", "venv", VENV)
    # setuptools too: the copy that `python -m venv` seeds is years old and has known vulnerabilities.
    run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip", "setuptools")
    run(PYTHON, "-m", "pip", "install", "--quiet", "-e", ".[dev]")
    STAMP.write_text(wanted)


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def setup_browser() -> None:
    """Headless Chromium and pdftoppm (Debian packages), axe-core (npm) for the browser and PDF tests.

    Installed where this user may (root with apt-get, as on CI); elsewhere the browser
    tests skip with a message, unless SURVEYAPP_REQUIRE_BROWSER=1 makes that an error.
    """
    missing = [
        package
        for package, present in (("chromium", chromium_path()), ("poppler-utils", shutil.which("pdftoppm")))
        if present is None
    ]
    if missing and shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run("apt-get", "update", "-qq", check=False, env=env)
        run("apt-get", "install", "-y", "-qq", *missing, check=False, env=env)
    axe = BROWSER_DIR / "node_modules" / "axe-core" / "axe.min.js"
    if not axe.exists() and shutil.which("npm"):
        run("npm", "install", "--prefix", BROWSER_DIR, "--no-audit", "--no-fund", "--silent", check=False)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def fetch_json(url: str) -> Any:
    """GET a JSON document; urllib.error.HTTPError for an answer that is not 2xx, OSError for no answer."""
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - an https URL made here
        return json.load(response)


def audit_from_project_pages(index: str, installed: dict[str, str]) -> bool:
    """The audit from each project's page, for an index that serves no per-release data; True if it failed.

    A project page lists the vulnerabilities of the latest release only: complete for a package at
    its latest release, the others are listed as not audited.
    """
    print("+ dependency audit from the index's project pages (it serves no per-release data)", flush=True)

    def page(name: str) -> Any:
        try:
            return fetch_json(f"{index}/{name}/json")
        except urllib.error.HTTPError:
            return None

    with ThreadPoolExecutor(max_workers=4) as pool:
        pages = dict(zip(installed, pool.map(page, installed)))
    found = not_audited = 0
    for name, version in sorted(installed.items(), key=lambda item: item[0].lower()):
        if pages[name] is None:
            not_audited += 1
            print(f"not audited: {name} {version} (not on the index)")
            continue
        latest = pages[name]["info"]["version"]
        for vuln in pages[name].get("vulnerabilities") or []:
            if not {vuln["id"], *vuln.get("aliases", [])} & ACCEPTED_VULNERABILITIES.keys():
                found += 1
                fixed = ", ".join(vuln.get("fixed_in") or []) or "none"
                print(f"{name} {version}: {vuln['id']} (fixed in: {fixed}) {vuln.get('summary') or ''}")
        if version != latest:
            not_audited += 1
            print(f"not audited: {name} {version} (the index lists vulnerabilities of {latest} only)")
    print(f"{len(installed)} packages: {found} known vulnerabilities, {not_audited} not audited")
    return found > 0


def audit_dependencies() -> bool:
    """Audit the installed runtime and dev dependencies for known vulnerabilities; True if that failed.

    pip-audit asks the package index for the vulnerabilities of each installed release. An index
    that answers for projects but not for releases (as some mirrors and proxies do) makes pip-audit
    skip every package and report nothing, so then the audit reads the project pages instead.
    An index that does not answer at all fails the audit on CI and only warns elsewhere.
    """
    listing = subprocess.run(
        [str(PYTHON), "-m", "pip", "list", "--format", "json", "--local", "--exclude-editable"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    installed = {dist["name"]: dist["version"] for dist in json.loads(listing.stdout)}
    # The JSON API of pip's default index, the one pip-audit asks.
    index = subprocess.run(
        [str(PYTHON), "-c", "from pip._internal.models.index import PyPI; print(PyPI.pypi_url)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        try:
            fetch_json(f"{index}/pip/{installed['pip']}/json")
        except urllib.error.HTTPError:
            fetch_json(f"{index}/pip/json")
            return audit_from_project_pages(index, installed)
    except OSError as exc:
        message = f"dependency audit: the package index did not answer ({exc})"
        if in_ci():
            print(f"error: {message}", file=sys.stderr)
            return True
        print(f"WARNING: {message}; not audited. Run the tests again when online.", file=sys.stderr)
        return False
    ignored = [arg for vuln in ACCEPTED_VULNERABILITIES for arg in ("--ignore-vuln", vuln)]
    code = run(
        BIN / "pip-audit", "--local", "--skip-editable", "--progress-spinner", "off", *ignored, check=False
    )
    return code != 0


def demo(extra: list[str]) -> None:
    setup_venv()
    os.execv(str(BIN / "surveyapp"), [str(BIN / "surveyapp"), "demo", *extra])


def test(extra: list[str]) -> None:
    setup_venv()
    setup_browser()
    failed = False
    failed |= run(BIN / "ruff", "check", ".", check=False) != 0
    failed |= run(BIN / "ruff", "format", "--check", ".", check=False) != 0
    failed |= run(BIN / "mypy", check=False) != 0
    failed |= run(BIN / "bandit", "-c", "pyproject.toml", "-r", "surveyapp", "-q", check=False) != 0
    failed |= audit_dependencies()
    # One pytest worker per core (pytest-xdist): every test owns its database (a SQLite copy, or a
    # PostgreSQL database named after its worker process) and its ports, so they run side by side.
    chosen = any(arg.startswith(("-n", "--numprocesses")) for arg in extra)
    workers = [] if chosen else ["-n", "auto"]
    code = run(PYTHON, "-m", "pytest", *workers, *extra, check=False)
    if code == 5:
        print("pytest collected no tests: that is a failure", file=sys.stderr)
    failed |= code != 0
    sys.exit(1 if failed else 0)


def main() -> None:
    commands = {"demo": demo, "test": test}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
