#!/usr/bin/env python3
"""The two commands a newcomer needs, with nothing but Python 3.11+ installed.

    python3 dev.py demo    set up .venv, build the demo database and serve it on localhost
    python3 dev.py test    set up .venv (+ test browser), then ruff, mypy and the whole test suite

Set-up is idempotent: the virtualenv is (re)installed only when pyproject.toml changed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".surveyapp-installed"
BROWSER_DIR = ROOT / "tests" / "browser"


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
    run(PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
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
    code = run(PYTHON, "-m", "pytest", *extra, check=False)
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
