"""The Debian package: scripts/build-deb.sh packs what `cmake --install` installs, dpkg
installs it on this machine, the installed binaries check their config and serve a
request, and a purge takes everything away again."""

import fnmatch
import os
import subprocess
import time
from pathlib import Path

import pytest

from helpers.client import curl
from helpers.common import ALICE, ALICE_FILE, ALICE_RULES
from helpers.proxy import REPO, egressd_binary

INSTALLED = ["/usr/sbin/egressd", "/usr/sbin/egressctl",
             "/usr/lib/systemd/system/egressd.service",
             "/usr/lib/systemd/system/egressd-qubes.service",
             "/etc/egressd/egressd.toml", "/etc/egressd/qubes.toml",
             "/etc/qubes/qubes-firewall.d/50-egressd",
             "/usr/share/doc/egressd/README.md", "/usr/share/man/man8/egressd.8.gz",
             "/usr/share/man/man5/egressd.toml.5.gz",
             "/usr/share/bash-completion/completions/egressctl"]


def run(*args, check=True, timeout=120):
    proc = subprocess.run([str(a) for a in args], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    out = proc.stdout.decode("utf-8", "replace") + proc.stderr.decode("utf-8", "replace")
    if check:
        assert proc.returncode == 0, "%s: exit %d\n%s" % (" ".join(map(str, args)),
                                                          proc.returncode, out)
    return proc.returncode, out


def package_status():
    code, out = run("dpkg-query", "-W", "-f=${Status}", "egressd", check=False)
    return out.strip() if code == 0 else ""


@pytest.fixture
def package(tmp_path):
    """Builds the package from the build folder of the binary under test."""
    code, out = run(REPO / "scripts" / "build-deb.sh", egressd_binary().parent, tmp_path)
    path = Path(out.strip().splitlines()[-1])
    assert path.exists(), out
    return path


@pytest.fixture
def installed(package):
    """Installs the package with dpkg, and purges it afterwards whatever happens."""
    if package_status():
        pytest.fail("an egressd package is installed on this machine already (%s): the test "
                    "installs and purges its own; remove it first (dpkg --purge egressd)"
                    % package_status())
    try:
        run("dpkg", "-i", package)
        yield package
    finally:
        run("dpkg", "--purge", "egressd", check=False)


def test_the_package_holds_what_cmake_installs_with_depends_and_conffiles(package):
    _, info = run("dpkg-deb", "-f", package, "Package", "Version", "Depends")
    assert "Package: egressd" in info
    for library in ("libre2", "libc-ares2", "libseccomp2", "libspdlog"):
        assert library in info, info
    _, listing = run("dpkg-deb", "-c", package)
    for path in INSTALLED:
        assert "." + path in listing, path
    work = package.parent / "control"
    run("dpkg-deb", "-e", package, work)
    conf = (work / "conffiles").read_text().split()
    assert "/etc/egressd/egressd.toml" in conf and "/etc/egressd/qubes.toml" in conf
    # Stripped: no debug sections in what is shipped.
    extract = package.parent / "root"
    run("dpkg-deb", "-x", package, extract)
    _, sections = run("readelf", "-S", extract / "usr/sbin/egressd")
    assert ".debug_info" not in sections


def test_installed_package_checks_its_config_serves_and_purges_clean(installed, tmp_path,
                                                                      dns_server, origin):
    assert package_status() == "install ok installed"
    for path in INSTALLED:
        assert os.path.exists(path), path
    assert os.stat("/usr/sbin/egressd").st_mode & 0o777 == 0o755

    code, out = run("/usr/sbin/egressd", "--check", "-c", "/etc/egressd/egressd.toml")
    assert "valid" in out, out
    code, out = run("/usr/sbin/egressctl", "--version")
    assert "egressctl" in out or "egressd" in out, out

    # The installed binary serves: a config of the test's own, loopback only.
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / ALICE_FILE).write_text(ALICE_RULES)
    config = tmp_path / "egressd.toml"
    config.write_text(
        'listen = ["127.0.0.1:0"]\nrules_dir = "%s"\nwatch = false\ncontrol_socket = ""\n'
        'http_ports = [%d]\nallow_destinations = ["127.0.0.0/8"]\n\n[dns]\nservers = ["%s"]\n'
        % (rules, origin.port, dns_server.endpoint))
    log = tmp_path / "egressd.log"
    with open(log, "wb") as out_file:
        proc = subprocess.Popen(["/usr/sbin/egressd", "-c", str(config)],
                                stdin=subprocess.DEVNULL, stdout=out_file,
                                stderr=subprocess.STDOUT)
    try:
        port = None
        for _ in range(500):
            text = log.read_text(errors="replace")
            if "listening address=" in text:
                port = int(text.split("listening address=127.0.0.1:")[1].split()[0])
                break
            assert proc.poll() is None, text
            time.sleep(0.02)
        assert port, log.read_text(errors="replace")
        proxy = "http://127.0.0.1:%d" % port
        assert curl(proxy, "http://allowed.test:%d/" % origin.port, source=ALICE).status == 200
        assert curl(proxy, "http://other.test:%d/" % origin.port, source=ALICE).status == 403
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    run("dpkg", "--purge", "egressd")
    assert package_status() == ""
    for path in INSTALLED:
        assert not os.path.exists(path), path
    assert not os.path.exists("/etc/egressd")


def spec_files(spec):
    """The %files entries of a spec as rpmspec expands them: (path, is_dir_entry)."""
    _, text = run("rpmspec", "-P", "--define", "_unitdir /usr/lib/systemd/system",
                  "--define", "_docdir /usr/share/doc", spec)
    entries = []
    in_files = False
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("%"):
            word = line.split()[0]
            if word == "%files":
                in_files = True
                continue
            if in_files and word not in ("%dir", "%config(noreplace)", "%doc"):
                in_files = False
        if not in_files or not line:
            continue
        is_dir = line.startswith("%dir ")
        path = line.split()[-1]
        entries.append((path, is_dir))
    return entries


def test_the_rpm_spec_parses_and_lists_exactly_what_cmake_installs(tmp_path):
    stage = tmp_path / "stage"
    env = dict(os.environ, DESTDIR=str(stage))
    subprocess.run(["cmake", "--install", str(egressd_binary().parent), "--prefix", "/usr"],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    installed = sorted("/" + str(p.relative_to(stage)) for p in stage.rglob("*")
                       if p.is_file() or p.is_symlink())
    spec = tmp_path / "egressd.spec"
    spec.write_text((REPO / "packaging/rpm/egressd.spec").read_text()
                    .replace("@VERSION@", "0.1.0"))
    entries = spec_files(spec)
    assert entries, "no %files entries found"

    def covers(entry, path):
        pattern, is_dir = entry
        if pattern.endswith("/"):
            return path.startswith(pattern)
        if is_dir:
            return False
        return fnmatch.fnmatchcase(path, pattern)

    uncovered = [p for p in installed if not any(covers(e, p) for e in entries)]
    assert not uncovered, "installed but not in the spec's files list: " + repr(uncovered)
    unused = [e for e in entries
              if not e[1] and not any(covers(e, p) for p in installed)]
    assert not unused, "in the spec's files list but not installed: " + repr(unused)
    dirs = [e[0] for e in entries if e[1]]
    for folder in dirs:
        assert (stage / folder.lstrip("/")).is_dir(), folder
