"""`make install` into a staging folder: the files, their modes, units that systemd
accepts, and the installed egressd accepting the installed configs."""

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from helpers.proxy import egressd_binary

REPO = Path(__file__).resolve().parents[2]
DOC = "usr/share/doc/egressd"
EXPECTED = {
    # path under DESTDIR: mode
    "usr/sbin/egressd": 0o755,
    "usr/sbin/egressctl": 0o755,
    "usr/lib/systemd/system/egressd.service": 0o644,
    "usr/lib/systemd/system/egressd-qubes.service": 0o644,
    "etc/qubes/qubes-firewall.d/50-egressd": 0o755,
    "etc/egressd/egressd.toml": 0o644,
    "etc/egressd/qubes.toml": 0o644,
    DOC + "/README.md": 0o644,
    DOC + "/examples/egressd.toml": 0o644,
    DOC + "/examples/qubes.toml": 0o644,
    DOC + "/examples/rules/work.10.137.0.12": 0o644,
}
# Every page in docs/ is installed (a new page needs a line in cmake/install.cmake).
EXPECTED.update({DOC + "/" + p.name: 0o644 for p in (REPO / "docs").glob("*.md")})


def build_dir():
    """The CMake build folder of the egressd under test (build/dev by default)."""
    return egressd_binary().resolve().parent


def install(destdir, prefix="/usr"):
    env = dict(os.environ, DESTDIR=str(destdir))
    proc = subprocess.run(["cmake", "--install", str(build_dir()), "--prefix", prefix],
                          env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture
def staged(tmp_path):
    if not (build_dir() / "cmake_install.cmake").exists():
        pytest.skip("no CMake build folder at %s" % build_dir())
    if not (build_dir() / "egressctl").exists():
        pytest.skip("egressctl is not built in %s" % build_dir())
    destdir = tmp_path / "destdir"
    install(destdir)
    return destdir


def test_files_and_modes(staged):
    files = {str(p.relative_to(staged)): stat.S_IMODE(p.stat().st_mode)
             for p in staged.rglob("*") if not p.is_dir()}
    assert files == EXPECTED
    rules = staged / "etc/egressd/rules"
    assert rules.is_dir() and not list(rules.iterdir())
    # Nothing was written outside DESTDIR (the configs use absolute /etc paths).
    assert {p.name for p in staged.iterdir()} == {"usr", "etc"}


def test_units_and_hook_name_the_installed_binaries(staged):
    qubes = (staged / "usr/lib/systemd/system/egressd-qubes.service").read_text()
    assert "ConditionPathExists=/run/qubes-service/egressd" in qubes
    assert ("ExecStartPre=+/usr/sbin/egressctl --config /etc/egressd/qubes.toml firewall open"
            in qubes)
    assert ("ExecStopPost=+/usr/sbin/egressctl --config /etc/egressd/qubes.toml firewall close"
            in qubes)
    assert "ExecStart=/usr/sbin/egressd --config /etc/egressd/qubes.toml" in qubes
    plain = (staged / "usr/lib/systemd/system/egressd.service").read_text()
    assert "ExecStart=/usr/sbin/egressd --config /etc/egressd/egressd.toml" in plain
    for unit in (qubes, plain):
        for line in ("DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict",
                     "PrivateTmp=yes", "CapabilityBoundingSet=\n", "RuntimeDirectory=egressd",
                     "ExecReload=/bin/kill -HUP $MAINPID",
                     "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX"):
            assert line in unit
    hook = (staged / "etc/qubes/qubes-firewall.d/50-egressd").read_text()
    assert hook.startswith("#!/bin/sh\n")
    assert "/run/qubes-service/egressd" in hook
    assert "/usr/sbin/egressctl --config /etc/egressd/qubes.toml firewall open" in hook


def test_other_prefix_is_written_into_units(tmp_path):
    if not (build_dir() / "egressctl").exists():
        pytest.skip("egressctl is not built in %s" % build_dir())
    destdir = tmp_path / "destdir"
    install(destdir, prefix="/opt/egressd")
    unit = (destdir / "opt/egressd/lib/systemd/system/egressd-qubes.service").read_text()
    assert "ExecStart=/opt/egressd/sbin/egressd " in unit
    assert "/usr/sbin" not in unit
    assert (destdir / "opt/egressd/sbin/egressd").exists()
    assert (destdir / "etc/egressd/qubes.toml").exists()


def test_installed_egressd_accepts_installed_configs(staged, tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(staged / DOC / "examples/rules/work.10.137.0.12", rules)
    for config in ("qubes.toml", "egressd.toml"):
        proc = subprocess.run([str(staged / "usr/sbin/egressd"), "--config",
                               str(staged / "etc/egressd" / config), "--rules", str(rules),
                               "--check"], stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=30)
        assert proc.returncode == 0, (config, proc.stdout, proc.stderr)
        assert "1 rules file(s) are valid" in proc.stdout, proc.stdout
    assert (staged / "usr/sbin/egressctl").stat().st_mode & stat.S_IXUSR
    proc = subprocess.run([str(staged / "usr/sbin/egressctl"), "--help"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_existing_configs_are_kept(staged):
    config = staged / "etc/egressd/qubes.toml"
    config.write_text("# edited by the administrator\n")
    out = install(staged)
    assert config.read_text() == "# edited by the administrator\n"
    assert "Keeping: " in out


def test_units_pass_systemd_analyze_verify(staged, tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # verify checks that ExecStart binaries exist: point the units at the staged ones.
    units = []
    for name in ("egressd.service", "egressd-qubes.service"):
        text = (staged / "usr/lib/systemd/system" / name).read_text()
        unit = tmp_path / name
        unit.write_text(text.replace("/usr/sbin/", str(staged / "usr/sbin") + "/"))
        units.append(str(unit))
    proc = subprocess.run([analyze, "verify"] + units, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stdout + proc.stderr
