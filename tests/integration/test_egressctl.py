"""egressctl against a real egressd on loopback: every verb, its text and --json output,
and the exit codes scripts rely on (0 ok, 1 refused/failed, 2 usage, 3 not running).
The firewall verbs run only inside a throwaway network namespace (root needed)."""

import json
import os
import shutil
import subprocess
import uuid

import pytest

from helpers.client import curl
from helpers.common import ALICE, ALICE_FILE, STRANGER, anchored, two_clients
from helpers.ctl import FAILED, OK, UNREACHABLE, USAGE, Ctl, run_ctl


@pytest.fixture
def ctl_proxy(egressd, tmp_path, origin):
    """(egressd with alice and bob and a control socket, Ctl for it, origin)."""
    socket_path = tmp_path / "ctl.sock"
    proxy = egressd(rules=two_clients(), http_ports=[origin.port],
                    config={"control_socket": str(socket_path)})
    return proxy, Ctl(socket_path, proxy.workdir / "egressd.toml"), origin


def get(proxy, origin, host="allowed.test", source=ALICE):
    return curl(proxy.url(), "http://%s:%d/" % (host, origin.port), source=source, timeout=20)


# ---- show -------------------------------------------------------------------------------


def test_show_lists_clients_with_counts(ctl_proxy):
    proxy, ctl, origin = ctl_proxy
    assert get(proxy, origin).status == 200
    assert get(proxy, origin, host="other.test").status == 403
    assert get(proxy, origin, source=STRANGER).status == 403

    rows = ctl.show()
    alice, bob, stranger = rows["alice"], rows["bob"], rows[STRANGER]
    assert alice["address"] == ALICE and alice["known"] is True
    assert (alice["allowed"], alice["denied"]) == (1, 1), alice
    assert alice["last_denied_host"] == "other.test"
    assert alice["state"] == bob["state"] == "serving"
    assert stranger["known"] is False and stranger["denied"] == 1, stranger
    # Local additions: no vif routes on loopback.
    for row in (alice, bob, stranger):
        assert row["interface"] is None and row["connected"] is False, row

    text = ctl("show").stdout.splitlines()
    assert text[0].split() == ["LABEL", "ADDRESS", "INTERFACE", "CONNECTED", "STATE", "CONNS",
                               "ALLOWED", "DENIED", "LAST-DENIED"]
    by_address = {line.split()[1]: line.split() for line in text[1:]}
    assert by_address[ALICE] == ["alice", ALICE, "-", "no", "serving", "0", "1", "1",
                                 "other.test"], text
    assert by_address[STRANGER][0] == "-", text
    assert by_address[STRANGER][7] == "1", text


def test_json_is_accepted_before_and_after_the_verb(ctl_proxy):
    _, ctl, _ = ctl_proxy
    before = json.loads(ctl("--json", "show").stdout)
    after = json.loads(ctl("show", "--json").stdout)
    assert before["ok"] is after["ok"] is True
    assert "unlisted_vif_routes" in before and "unlisted_vif_routes" in after


def test_socket_comes_from_the_config_file(ctl_proxy):
    _, ctl, _ = ctl_proxy
    r = run_ctl("--config", ctl.config_path, "--json", "show")
    assert r.returncode == OK, r
    assert {c["label"] for c in json.loads(r.stdout)["clients"]} == {"alice", "bob"}


# ---- reload -----------------------------------------------------------------------------


def test_reload_reports_what_changed(ctl_proxy):
    proxy, ctl, origin = ctl_proxy
    (proxy.rules_dir / ALICE_FILE).write_text(anchored("other.test") + "\n")
    (proxy.rules_dir / "carol.127.0.0.4").write_text(anchored("allowed.test") + "\n")
    r = ctl("reload")
    assert "added: carol" in r.stdout and "modified: alice" in r.stdout, r.stdout
    assert get(proxy, origin, host="other.test").status == 200
    answer = ctl.json("reload")
    assert answer["changed"] == {"added": [], "removed": [], "modified": []}, answer


def test_reload_with_errors_prints_file_line_and_keeps_the_old_rules(ctl_proxy):
    proxy, ctl, origin = ctl_proxy
    (proxy.rules_dir / ALICE_FILE).write_text("# broken\n^allowed\\.test(\n")
    r = ctl("reload", expect=FAILED)
    assert "%s:2: error:" % (proxy.rules_dir / ALICE_FILE) in r.stderr, r.stderr
    assert "keep the rules they had" in r.stderr, r.stderr
    assert get(proxy, origin).status == 200
    answer = ctl.json("reload", expect=FAILED)
    assert answer["ok"] is False and answer["applied"] is True and answer["problems"], answer
    # show says which rules are in force and why, until the file is fixed.
    r = ctl("show")
    assert "alice: its rules file has errors; the rules loaded before stay in force" in r.stdout
    assert "%s:2: error:" % (proxy.rules_dir / ALICE_FILE) in r.stdout, r.stdout
    (proxy.rules_dir / ALICE_FILE).write_text(anchored("allowed.test") + "\n")
    ctl("reload")
    assert "has errors" not in ctl("show").stdout

    # A rules folder that cannot be read keeps everything as it was.
    proxy.rules_dir.rename(proxy.rules_dir.with_name("moved"))
    try:
        r = ctl("reload", expect=FAILED)
        assert "previous rules stay" in r.stderr, r.stderr
        assert get(proxy, origin).status == 200
    finally:
        proxy.rules_dir.with_name("moved").rename(proxy.rules_dir)


# ---- stop / start / restart / kill-all --------------------------------------------------


def test_stop_and_start(ctl_proxy):
    proxy, ctl, origin = ctl_proxy
    r = ctl("stop", "alice")
    assert r.stdout.startswith("stopped: alice"), r.stdout
    assert ctl.show()["alice"]["state"] == "stopped"
    r = get(proxy, origin)
    assert r.status == 503 and "egressctl start alice" in r.text, r.describe()
    assert ctl("show").stdout.count("stopped") == 1
    r = ctl("start", "alice")
    assert r.stdout.startswith("started: alice"), r.stdout
    assert get(proxy, origin).status == 200


def test_unknown_client_fails_and_changes_nothing(ctl_proxy):
    proxy, ctl, origin = ctl_proxy
    r = ctl("stop", "alice", "nosuchclient", expect=FAILED)
    assert "nosuchclient" in r.stderr, r.stderr
    assert ctl.show()["alice"]["state"] == "serving"
    answer = ctl.json("stop", "nosuchclient", expect=FAILED)
    assert answer["ok"] is False and "nosuchclient" in answer["error"]


def test_restart_and_kill_all(ctl_proxy):
    proxy, ctl, origin = ctl_proxy
    assert get(proxy, origin, host="other.test").status == 403
    (proxy.rules_dir / ALICE_FILE).write_text(anchored("other.test") + "\n")
    r = ctl("restart", "alice")
    assert r.stdout.startswith("restarted: alice"), r.stdout
    assert "modified: alice" in r.stdout, r.stdout
    assert get(proxy, origin, host="other.test").status == 200

    answer = ctl.json("kill-all")
    assert answer["ok"] is True and answer["closed_connections"] >= 0
    assert "connection" in ctl("kill-all").stdout
    r = ctl("kill-all-and-restart")
    assert "rules reloaded" in r.stdout, r.stdout


# ---- exit codes -------------------------------------------------------------------------


def test_not_running_is_exit_3_with_a_clear_message(tmp_path):
    path = tmp_path / "nothing.sock"
    r = run_ctl("--socket", path, "show")
    assert r.returncode == UNREACHABLE, r
    assert r.stderr.strip() == ("egressctl: egressd is not running (cannot connect to %s: "
                                "No such file or directory)" % path), r.stderr
    r = run_ctl("--socket", path, "--json", "reload")
    assert r.returncode == UNREACHABLE and r.stdout == "", r


def test_usage_errors_are_exit_2():
    for args in ([], ["frobnicate"], ["stop"], ["firewall"], ["firewall", "open", "--port", "0"],
                 ["show", "--no-such-option"]):
        r = run_ctl(*args)
        assert r.returncode == USAGE, (args, r)


def test_help_on_every_verb_and_version():
    verbs = [["show"], ["update"], ["start"], ["stop"], ["restart"], ["kill-all"],
             ["kill-all-and-restart"], ["reload"], ["firewall"], ["firewall", "open"],
             ["firewall", "close"], ["firewall", "status"]]
    for verb in verbs:
        r = run_ctl(*verb, "--help")
        assert r.returncode == OK, (verb, r)
        assert "Usage:" in r.stdout and "Exit status" in r.stdout, (verb, r.stdout)
    r = run_ctl("--version")
    assert r.returncode == OK and r.stdout.startswith("egressctl "), r


def test_config_with_errors_is_a_usage_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("workers = 999\n")
    r = run_ctl("--config", bad, "show")
    assert r.returncode == USAGE, r
    assert "%s:1: error:" % bad in r.stderr, r.stderr


# ---- firewall and update, inside a network namespace ------------------------------------

QUBES_42 = """
table ip qubes {
  chain custom-input {}
  chain input {
    type filter hook input priority filter; policy drop;
    jump custom-input
    ct state invalid drop
    ct state established,related accept
    iif "lo" accept
    iifgroup 2 reject with icmp host-prohibited
  }
}
"""


@pytest.fixture
def netns():
    """A fresh network namespace (deleted afterwards); skipped without root, ip or nft."""
    if os.geteuid() != 0 or not shutil.which("ip", path="/usr/sbin:/sbin:" + os.environ["PATH"]):
        pytest.skip("needs root and iproute2 to create a network namespace")
    nft = shutil.which("nft", path="/usr/sbin:/sbin:" + os.environ["PATH"])
    if not nft:
        pytest.skip("needs nft (package nftables)")
    name = "egctl-%s" % uuid.uuid4().hex[:8]
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name, nft
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def in_ns(ns, *args, input=None):
    return subprocess.run(["ip", "netns", "exec", ns] + list(args), input=input, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True, timeout=30)


def test_firewall_elsewhere_does_nothing_and_says_why(netns):
    ns, nft = netns
    r = run_ctl("firewall", "open", prefix=["ip", "netns", "exec", ns])
    assert r.returncode == OK, r
    assert "no Qubes firewall found" in r.stdout, r.stdout
    assert in_ns(ns, nft, "list", "ruleset").stdout.strip() == ""


def test_firewall_open_close_in_a_qubes_42_layout(netns):
    ns, nft = netns
    in_ns(ns, nft, "-f", "-", input=QUBES_42)
    before = in_ns(ns, nft, "list", "ruleset").stdout
    prefix = ["ip", "netns", "exec", ns]
    for _ in range(3):
        r = run_ctl("firewall", "open", "--port", "8100", prefix=prefix)
        assert r.returncode == OK, r
    custom = in_ns(ns, nft, "list", "chain", "ip", "qubes", "custom-input").stdout
    assert custom.count("jump egressd-input") == 1, custom
    status = json.loads(run_ctl("--json", "firewall", "status", "--port", "8100",
                                prefix=prefix).stdout)
    assert status["backend"] == "nftables"
    assert status["families"][0]["state"] == "open", status
    assert status["families"][1] == {"table": "ip6 qubes", "exists": False}, status
    r = run_ctl("firewall", "close", prefix=prefix)
    assert r.returncode == OK, r
    assert in_ns(ns, nft, "list", "ruleset").stdout == before


def test_update_reloads_and_opens_the_firewall(ctl_proxy, netns):
    proxy, ctl, origin = ctl_proxy
    ns, nft = netns
    in_ns(ns, nft, "-f", "-", input=QUBES_42)
    prefix = ["ip", "netns", "exec", ns]
    (proxy.rules_dir / "carol.127.0.0.4").write_text(anchored("allowed.test") + "\n")
    r = ctl("update", "--port", "8100", prefix=prefix)
    assert "added: carol" in r.stdout, r.stdout
    assert "ip qubes: opened" in r.stdout, r.stdout
    answer = json.loads(ctl("--json", "update", "--port", "8100", prefix=prefix).stdout)
    assert answer["ok"] is True
    assert answer["reload"]["ok"] is True
    assert answer["firewall"]["backend"] == "nftables"
    assert "already open" in answer["firewall"]["summary"][0], answer
    # A failed reload still reconciles the firewall, and says it failed.
    (proxy.rules_dir / ALICE_FILE).write_text("(\n")
    r = ctl("update", "--port", "8100", expect=FAILED, prefix=prefix)
    assert "keep the rules they had" in r.stderr and "already open" in r.stdout, r
