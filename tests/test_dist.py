"""The one-file build (`make dist`): the x86_64 .pyz serves the demo relay with the system
python from a clean directory; the aarch64 .pyz holds only aarch64 or pure wheels.

`.ci/run` builds both with `make dist` before the suite, so these tests only check them; a
missing or stale artifact (sources differ from this checkout) is rebuilt here (~20 s each).
"""

from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from relayd import __version__
from tests.support.daemon import free_port, http_get

REPO = Path(__file__).resolve().parent.parent
DIST = REPO / "dist"
BUILD = REPO / "systemd" / "build-pyz.sh"
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")
PACKAGES = ("relayd", "modem", "web")
SHIPPED = {".py", ".html", ".js", ".css", ".svg", ".txt", ".toml"}  # see package-data


def _system_python_version() -> str | None:
    if SYSTEM_PYTHON is None:
        return None
    out = subprocess.run(
        [SYSTEM_PYTHON, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() or None


needs_x86_64_python311 = pytest.mark.skipif(
    platform.machine() != "x86_64" or _system_python_version() != "3.11",
    reason="the x86_64 artifact is for CPython 3.11: needs an x86_64 host with /usr/bin/python3 3.11",
)


def _stale(pyz: Path) -> bool:
    """True when the .pyz is missing or its relayd/modem/web differ from this checkout."""
    if not pyz.exists():
        return True
    with zipfile.ZipFile(pyz) as archive:
        inside = {
            name.removeprefix("site-packages/"): name
            for name in archive.namelist()
            if name.startswith(tuple(f"site-packages/{p}/" for p in PACKAGES))
        }
        for package in PACKAGES:
            for path in (REPO / package).rglob("*"):
                if "__pycache__" in path.parts or path.suffix not in SHIPPED:
                    continue
                rel = str(path.relative_to(REPO))
                if rel not in inside or archive.read(inside[rel]) != path.read_bytes():
                    return True
    return False


def artifact(arch: str) -> Path:
    """dist/relayd-<version>-<arch>.pyz, built now if missing or stale."""
    pyz = DIST / f"relayd-{__version__}-{arch}.pyz"
    if _stale(pyz):
        subprocess.run(["bash", str(BUILD), arch, str(DIST)], check=True, timeout=300)
    assert not _stale(pyz), f"{pyz} does not match the checkout after a build"
    return pyz


def _wheel_tags(pyz: Path) -> dict[str, list[str]]:
    """Tags of every distribution shiv put in the archive (from its WHEEL files)."""
    tags: dict[str, list[str]] = {}
    with zipfile.ZipFile(pyz) as archive:
        for name in archive.namelist():
            if name.startswith("site-packages/") and name.endswith(".dist-info/WHEEL"):
                text = archive.read(name).decode()
                dist = name.split("/")[1]
                tags[dist] = [
                    ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("Tag:")
                ]
    return tags


@needs_x86_64_python311
def test_x86_64_pyz_runs_the_demo_with_the_system_python(tmp_path: Path) -> None:
    pyz = artifact("x86_64")
    port = free_port()
    # A clean directory and a bare environment: no venv, no project on the path.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    log = (tmp_path / "relayd.log").open("wb")
    process = subprocess.Popen(
        [SYSTEM_PYTHON or "python3", str(pyz), "run", "--demo", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 25
        body = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                status, body = http_get(f"http://127.0.0.1:{port}/health", timeout=1)
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        assert body == {"ok": True, "version": __version__, "sims_online": 1}, (
            tmp_path / "relayd.log"
        ).read_text()
        assert (tmp_path / "var" / "admin.key").exists()  # the embedded default, ./var/
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
        log.close()
    assert os.path.isdir(tmp_path / ".shiv")  # unpacked under $HOME, not into the project


def test_aarch64_pyz_holds_only_aarch64_or_pure_wheels() -> None:
    pyz = artifact("aarch64")
    tags = _wheel_tags(pyz)
    assert any(d.startswith("relayd-") for d in tags)
    compiled = {d: t for d, t in tags.items() if not all(x.endswith("-none-any") for x in t)}
    assert compiled, "expected compiled dependencies (aiohttp, pydantic-core, ...)"
    for dist, dist_tags in compiled.items():
        assert all(t.endswith("_aarch64") for t in dist_tags), (dist, dist_tags)
    with zipfile.ZipFile(pyz) as archive:
        objects = [n for n in archive.namelist() if n.endswith(".so")]
        assert objects and not [n for n in objects if "x86_64" in n]
        elf = archive.read(next(n for n in objects if "aiohttp" in n))
    assert elf[:4] == b"\x7fELF" and int.from_bytes(elf[18:20], "little") == 183  # EM_AARCH64
