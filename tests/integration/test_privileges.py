"""Privilege drop: started as root with --user, egressd binds, opens its control socket,
then runs as that user for good; it still serves and reloads rules it can read, and a
rules file only root can read is an error of that file, not the end of the service."""

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from helpers.client import curl
from helpers.common import ALICE, ALICE_FILE, BOB, BOB_FILE, anchored
from helpers.control import command
from helpers.proxy import egressd_binary, to_toml

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop privileges")


@pytest.fixture
def public_rules():
    """A rules folder the unprivileged user can read (pytest's tmp_path is root-only)."""
    folder = Path(tempfile.mkdtemp(prefix="egressd-rules-"))
    os.chmod(folder, 0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def uid_of(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return [int(x) for x in line.split()[1:]]
    raise AssertionError("no Uid line")


def test_runs_as_the_user_and_keeps_reloading(egressd, origin, dns_server, tmp_path,
                                              public_rules):
    nobody = pwd.getpwnam("nobody")
    (public_rules / ALICE_FILE).write_text(anchored("allowed.test") + "\n")
    socket_path = tmp_path / "control.sock"
    # The config must stay readable after the drop too: beside the rules, not in tmp_path.
    config = public_rules.parent / (public_rules.name + ".toml")
    config.write_text(to_toml({
        "listen": ["127.0.0.1:0"], "rules_dir": str(public_rules), "user": "nobody",
        "control_socket": str(socket_path), "http_ports": [origin.port], "watch": False,
        "allow_destinations": ["127.0.0.0/8"], "dns": {"servers": [dns_server.endpoint]}}))
    os.chmod(config, 0o644)
    try:
        proxy = egressd(use_config=False, rules_dir=public_rules, args=["--config", config])
        proxy.control_path = socket_path
        proxy.wait_log(r"running as user=nobody uid=%d" % nobody.pw_uid)
        assert uid_of(proxy.proc.pid) == [nobody.pw_uid] * 4  # real, effective, saved, fs
        url = "http://allowed.test:%d/" % origin.port
        assert curl(proxy.url(), url, source=ALICE).status == 200

        # Reloads still read the config and the rules.
        (public_rules / BOB_FILE).write_text(anchored("allowed.test") + "\n")
        answer = command(proxy, "reload")
        assert answer["ok"] is True and answer["changed"]["added"] == ["bob"], answer
        assert curl(proxy.url(), url, source=BOB).status == 200

        # A file only root can read: an error of that file; the others keep working.
        os.chmod(public_rules / BOB_FILE, 0o600)
        (public_rules / BOB_FILE).write_text("^other\\.test$\n")
        answer = command(proxy, "reload")
        assert answer["applied"] is True and answer["ok"] is False, answer
        assert any("Permission denied" in p for p in answer["problems"]), answer
        assert curl(proxy.url(), url, source=ALICE).status == 200
        assert curl(proxy.url(), url, source=BOB).status == 200  # bob's previous rules
    finally:
        config.unlink()


def test_an_unknown_user_stops_the_start(public_rules):
    r = subprocess.run([str(egressd_binary()), "--listen", "127.0.0.1:0", "--rules",
                        str(public_rules), "--control-socket", "", "--user",
                        "no-such-user-egressd"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=20)
    assert r.returncode == 1
    assert 'cannot run as user "no-such-user-egressd": no such user' in r.stderr, r.stderr
