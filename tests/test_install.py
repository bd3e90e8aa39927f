"""systemd/install.sh into a directory tree (--root): idempotent, valid config, clean uninstall."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from relayd.config import load_config
from relayd.mdns import choose_backend
from tests.support.daemon import clean_env

REPO = Path(__file__).resolve().parent.parent
INSTALL = REPO / "systemd" / "install.sh"
RELAYD = Path(sys.executable).with_name("relayd")

# .ci/run installs Debian's `systemd` package (systemd-sysusers, systemctl) when missing.
pytestmark = pytest.mark.skipif(
    shutil.which("systemd-sysusers") is None or shutil.which("systemctl") is None,
    reason="systemd tools not installed (.ci/run installs systemd)",
)


def install(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run install.sh into `root`, using this venv's relayd (no venv build in tests)."""
    result = subprocess.run(
        ["bash", str(INSTALL), "--root", str(root), "--relayd", str(RELAYD), *args],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def tree(root: Path) -> dict[str, tuple[str, int, int, str]]:
    """Every path under root: type+mode, owner, group, and content hash or link target."""
    found = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            what = "-> " + os.readlink(path)
        elif stat.S_ISREG(st.st_mode):
            what = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            what = ""
        found[str(path.relative_to(root))] = (stat.filemode(st.st_mode), st.st_uid, st.st_gid, what)
    return found


def passwd_entry(root: Path, file: str, name: str) -> list[str] | None:
    for line in (root / "etc" / file).read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return fields
    return None


def test_install_twice_gives_the_same_tree(tmp_path: Path) -> None:
    root = tmp_path / "root"
    first = install(root)
    assert "wrote /etc/relayd/relayd.toml" in first.stdout
    before = tree(root)
    second = install(root)
    assert "kept /etc/relayd/relayd.toml" in second.stdout
    assert "wrote" not in second.stdout, second.stdout
    assert tree(root) == before

    # The user, in dialout, with no login.
    user = passwd_entry(root, "passwd", "relayd")
    assert user is not None and user[5] == "/var/lib/relayd" and user[6].endswith("nologin")
    dialout = passwd_entry(root, "group", "dialout")
    assert dialout is not None and "relayd" in dialout[3].split(",")

    # The config validates and keeps state where the unit's StateDirectory= is.
    config_path = root / "etc/relayd/relayd.toml"
    config = load_config(config_path, env={})
    assert config.storage.path == "/var/lib/relayd/relayd.db"
    assert stat.S_IMODE(config_path.stat().st_mode) == 0o640  # it will hold SMTP passwords
    group = passwd_entry(root, "group", "relayd")
    assert group is not None and config_path.stat().st_gid == int(group[2])

    unit = (root / "etc/systemd/system/relayd.service").read_text()
    assert f"ExecStart={RELAYD} run --config /etc/relayd/relayd.toml" in unit
    wants = root / "etc/systemd/system/multi-user.target.wants/relayd.service"
    assert os.readlink(wants) == "/etc/systemd/system/relayd.service"  # enabled
    rules = root / "etc/udev/rules.d/90-relayd-modem.rules"
    assert rules.read_text() == (REPO / "systemd/90-relayd-modem.rules").read_text()
    state = root / "var/lib/relayd"
    assert stat.S_IMODE(state.stat().st_mode) == 0o750
    assert state.stat().st_uid == int(user[2])
    assert not (root / "etc/avahi").exists()  # no avahi-daemon in this tree


def test_install_keeps_an_edited_config(tmp_path: Path) -> None:
    root = tmp_path / "root"
    config_path = root / "etc/relayd/relayd.toml"
    config_path.parent.mkdir(parents=True)
    config_path.write_text("[server]\nport = 9090\n")
    install(root)
    assert config_path.read_text() == "[server]\nport = 9090\n"


def test_avahi_gets_the_service_file_and_relayd_stays_quiet(tmp_path: Path) -> None:
    root = tmp_path / "root"
    daemon = root / "usr/sbin/avahi-daemon"
    daemon.parent.mkdir(parents=True)
    daemon.write_text("#!/bin/sh\n")
    daemon.chmod(0o755)
    install(root)
    before = tree(root)
    install(root)
    assert tree(root) == before

    service_file = root / "etc/avahi/services/relayd.service"
    group = ET.fromstring(service_file.read_text())
    assert group.findtext("name") == "relayd on %h"
    services = {s.findtext("type"): s for s in group.findall("service")}
    assert set(services) == {"_smsrelay._tcp", "_http._tcp"}
    relay_id = (root / "var/lib/relayd/instance-id").read_text().strip()
    for service in services.values():
        assert service.findtext("port") == "8080"
        txt = dict(t.text.split("=", 1) for t in service.findall("txt-record"))  # type: ignore[union-attr]
        assert txt["id"] == relay_id and txt["path"] == "/api/v1" and txt["auth"] == "token"
        assert not {"key", "secret", "password"} & set(txt)
    # relayd's own announcer stands down for avahi ([mdns] backend = "auto").
    config = load_config(root / "etc/relayd/relayd.toml", env={})
    assert choose_backend(config.mdns, service_file) == "avahi"

    daemon.unlink()  # avahi removed later: the file goes, relayd announces itself again
    result = install(root)
    assert "removed /etc/avahi/services/relayd.service" in result.stdout
    assert not service_file.exists()


def test_uninstall_leaves_the_data(tmp_path: Path) -> None:
    root = tmp_path / "root"
    install(root)
    state = root / "var/lib/relayd"
    (state / "relayd.db").write_bytes(b"SQLite format 3\0")
    (state / "admin.key").write_text("rk_secret\n")
    prefix = root / "opt/relayd/bin"  # as a --pyz or venv install would have left it
    prefix.mkdir(parents=True)
    result = install(root, "--uninstall")
    assert "kept /var/lib/relayd" in result.stdout
    for gone in (
        "etc/systemd/system/relayd.service",
        "etc/systemd/system/multi-user.target.wants/relayd.service",
        "etc/udev/rules.d/90-relayd-modem.rules",
        "usr/lib/sysusers.d/relayd.conf",
        "opt/relayd",
    ):
        assert not (root / gone).exists(), gone
    assert (state / "relayd.db").read_bytes() == b"SQLite format 3\0"
    assert (state / "admin.key").read_text() == "rk_secret\n"
    assert (root / "etc/relayd/relayd.toml").exists()
    install(root, "--uninstall")  # twice is fine too


def test_install_from_a_pyz_writes_a_wrapper(tmp_path: Path) -> None:
    """--pyz: the one-file build plus a wrapper at /opt/relayd/bin/relayd for the unit."""
    # A stand-in zipapp that behaves like relayd for `init`, made from this checkout.
    pyz = tmp_path / "relayd.pyz"
    src = tmp_path / "app"
    src.mkdir()
    (src / "__main__.py").write_text(
        "import sys\nfrom relayd.__main__ import main\nsys.exit(main())\n"
    )
    subprocess.run([sys.executable, "-m", "zipapp", str(src), "-o", str(pyz)], check=True)
    root = tmp_path / "root"
    result = subprocess.run(
        ["bash", str(INSTALL), "--root", str(root), "--pyz", str(pyz)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=clean_env(PYTHON=sys.executable, PYTHONPATH=str(REPO)),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (root / "opt/relayd/relayd.pyz").read_bytes() == pyz.read_bytes()
    wrapper = root / "opt/relayd/bin/relayd"
    assert os.access(wrapper, os.X_OK)
    assert "exec /usr/bin/python3 /opt/relayd/relayd.pyz" in wrapper.read_text()
    unit = (root / "etc/systemd/system/relayd.service").read_text()
    assert "ExecStart=/opt/relayd/bin/relayd run --config /etc/relayd/relayd.toml" in unit
    load_config(root / "etc/relayd/relayd.toml", env={})


def test_install_script_basics(tmp_path: Path) -> None:
    assert subprocess.run(["bash", "-n", str(INSTALL)], check=False).returncode == 0
    result = subprocess.run(
        ["bash", str(INSTALL), "--bogus"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2 and "unknown option --bogus" in result.stderr
    usage = subprocess.run(["bash", str(INSTALL), "--help"], capture_output=True, text=True)
    assert "--uninstall" in usage.stdout and usage.returncode == 0
