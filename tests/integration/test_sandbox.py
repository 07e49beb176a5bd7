"""The sandbox egressd enters once it is listening: Landlock (it reads only the config's
folder, the folder holding the rules folder and the resolver's files, writes nothing,
opens no new listening socket) and seccomp (no programs, processes, mounts, raw sockets...).
The unit tests (sandbox_test.cpp) try each refused call in a child process; these check
the real daemon: it is sandboxed, it still serves, resolves and reloads, and what lies
outside its folders stays out of reach."""

import ctypes
import os
import re

import pytest

from helpers.client import curl
from helpers.common import ALICE, ALICE_FILE, BOB, BOB_FILE, anchored
from helpers.control import command

SYS_landlock_create_ruleset = 444  # x86_64 and most others
LANDLOCK_CREATE_RULESET_VERSION = 1


def landlock_abi():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(SYS_landlock_create_ruleset, None, ctypes.c_size_t(0),
                       ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    return max(abi, 0)


needs_landlock = pytest.mark.skipif(landlock_abi() == 0, reason="this kernel has no Landlock")


def status_of(pid):
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def test_egressd_runs_sandboxed_and_still_serves_and_reloads(egressd, origin):
    proxy = egressd(rules={ALICE_FILE: anchored("allowed.test")}, http_ports=[origin.port])
    line = proxy.wait_log(r"sandbox: .*").group(0)
    abi = landlock_abi()
    if abi:
        assert "landlock=on abi=%d" % abi in line, line
    assert "seccomp=on" in line, line
    status = status_of(proxy.proc.pid)
    assert status["Seccomp"] == "2" and status["NoNewPrivs"] == "1", status

    # Names still resolve (resolv.conf, hosts), requests still go out.
    url = "http://allowed.test:%d/" % origin.port
    assert curl(proxy.url(), url, source=ALICE).status == 200
    # Reloads still read the folder, also a file that appeared after the start.
    (proxy.rules_dir / BOB_FILE).write_text(anchored("allowed.test") + "\n")
    answer = command(proxy, "reload")
    assert answer["ok"] is True and answer["changed"]["added"] == ["bob"], answer
    assert curl(proxy.url(), url, source=BOB).status == 200


@needs_landlock
@pytest.mark.parametrize("sandboxed", [True, False])
def test_a_rules_file_linked_from_outside_cannot_be_read_again(egressd, origin, tmp_path_factory,
                                                               sandboxed):
    outside = tmp_path_factory.mktemp("outside") / "alice"
    outside.write_text(anchored("allowed.test") + "\n")
    # The sandbox keeps the folder holding the rules folder: make that one not hold `outside`.
    rules = tmp_path_factory.mktemp("kept") / "parent" / "rules"
    rules.mkdir(parents=True)
    os.symlink(outside, rules / ALICE_FILE)
    proxy = egressd(rules_dir=rules, http_ports=[origin.port],
                    config={"sandbox": sandboxed})
    allowed = "http://allowed.test:%d/" % origin.port
    other = "http://other.test:%d/" % origin.port
    # Read once at the start, before the sandbox.
    assert curl(proxy.url(), allowed, source=ALICE).status == 200

    outside.write_text(anchored("other.test") + "\n")
    answer = command(proxy, "reload")
    if sandboxed:
        assert answer["ok"] is False, answer
        assert any(ALICE_FILE in p and "Permission denied" in p for p in answer["problems"]), answer
        # The file keeps its previous rules.
        assert curl(proxy.url(), allowed, source=ALICE).status == 200
        assert curl(proxy.url(), other, source=ALICE).status == 403
    else:
        assert answer["ok"] is True, answer
        assert curl(proxy.url(), other, source=ALICE).status == 200


@needs_landlock
def test_moving_the_rules_folder_elsewhere_asks_for_a_restart(egressd, origin, tmp_path_factory):
    proxy = egressd(rules={ALICE_FILE: anchored("allowed.test")}, http_ports=[origin.port])
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / ALICE_FILE).write_text(anchored("other.test") + "\n")
    config = proxy.workdir / "egressd.toml"
    text = config.read_text()
    config.write_text(re.sub(r'(?m)^rules_dir = .*$', 'rules_dir = "%s"' % elsewhere, text))
    answer = command(proxy, "reload")
    assert answer["ok"] is False, answer
    assert any("restart egressd" in p and str(elsewhere) in p for p in answer["problems"]), answer
    # Nothing changed.
    assert curl(proxy.url(), "http://allowed.test:%d/" % origin.port, source=ALICE).status == 200


def test_the_sandbox_can_be_turned_off(egressd):
    proxy = egressd(config={"sandbox": False})
    proxy.wait_log(r"sandbox: off")
    assert status_of(proxy.proc.pid)["Seccomp"] == "0"
