"""The egressctl tools that make an allow-list quick to build, against a real egressd:
check, lint, blocked, allow and deny, watch, learn and suggest."""

import json
import os
import stat
import subprocess
import time

import pytest

from helpers.client import curl
from helpers.common import ALICE, ALICE_FILE, BOB, BOB_FILE, anchored
from helpers.ctl import FAILED, OK, USAGE, Ctl, egressctl_binary, run_ctl


@pytest.fixture
def tools(egressd, tmp_path, origin):
    """(egressd with alice (allow-list) and bob (block-list), Ctl, origin)."""
    socket_path = tmp_path / "ctl.sock"
    proxy = egressd(
        rules={ALICE_FILE: "# alice\n" + anchored("allowed.test") + "\n",
               BOB_FILE: "# bob blocks\n" + anchored("blocked.test") + "\n"},
        http_ports=[80, origin.port],
        config={"control_socket": str(socket_path), "clients": {"bob": {"mode": "block-list"}}})
    return proxy, Ctl(socket_path, proxy.workdir / "egressd.toml"), origin


def get(proxy, origin, host, source=ALICE):
    return curl(proxy.url(), "http://%s:%d/" % (host, origin.port), source=source, timeout=20)


# ---- check ------------------------------------------------------------------------------


def test_check_gives_the_verdict_and_the_deciding_line(tools):
    proxy, ctl, origin = tools
    r = ctl("check", "alice", "http://allowed.test:%d/x" % origin.port)
    assert r.stdout.startswith("allow"), r.stdout
    assert "%s:2 ^allowed\\.test$" % (proxy.rules_dir / ALICE_FILE) in r.stdout, r.stdout
    # The same verdict as a real request.
    assert get(proxy, origin, "allowed.test").status == 200

    r = ctl("check", "alice", "other.test:%d" % origin.port, expect=FAILED)
    assert r.stdout.startswith("deny") and "CONNECT other.test" in r.stdout, r.stdout
    assert "port is not allowed" in r.stdout, r.stdout
    answer = ctl.json("check", ALICE, "https://other.test/", expect=FAILED)
    assert answer["checks"][0]["reason"] == "no-allow-rule", answer
    assert answer["checks"][0]["port"] == 443
    # A bare host: both what a browser would send for http:// and for https://.
    answer = ctl.json("check", "bob", "allowed.test")
    assert [c["method"] for c in answer["checks"]] == ["GET", "CONNECT"], answer
    answer = ctl.json("check", "bob", "Blocked.Test", expect=FAILED)
    assert answer["checks"][0]["reason"] == "block-rule", answer
    assert answer["checks"][0]["rule"]["line"] == 2

    ctl("check", "alice", "not a host", expect=FAILED)
    ctl("check", "nobody", "allowed.test", expect=FAILED)
    ctl("check", "alice", expect=USAGE)


# ---- lint -------------------------------------------------------------------------------


def test_lint_catches_each_warning_class_and_exits_for_ci(tools, tmp_path):
    proxy, ctl, origin = tools
    r = ctl("lint")
    assert "0 errors, 0 warnings" in r.stderr, r.stderr

    folder = tmp_path / "lintme"
    folder.mkdir()
    lines = {
        "unanchored": "example.com",
        "unescaped-dot": "^www.example\\.org$",
        "matches-everything": ".*",
        "matches-nothing": "^http://example\\.net/$",
        "duplicate": "example.com",
        "shadowed": "host:api.example.io",
    }
    (folder / "work.10.0.0.1").write_text(
        "domain:example.io\n" + "\n".join(lines.values()) + "\n")
    (folder / "clean.10.0.0.2").write_text("host:www.example.com\n(^|\\.)example\\.org$\n")
    r = ctl("lint", "--rules", folder, expect=FAILED)
    for code in lines:
        assert "[%s]" % code in r.stdout, (code, r.stdout)
    assert "%s:2: warning: [unanchored]" % (folder / "work.10.0.0.1") in r.stdout, r.stdout
    assert "clean.10.0.0.2" not in r.stdout, r.stdout
    # One client by name (label or address), and JSON for scripts.
    ctl("lint", "clean", "--rules", folder)
    ctl("lint", "10.0.0.2", "--rules", folder)
    answer = ctl.json("lint", "work", "--rules", folder, expect=FAILED)
    assert answer["ok"] is False and len(answer["problems"]) >= len(lines), answer
    ctl("lint", "nobody", "--rules", folder, expect=FAILED)
    # An error is reported with its line too.
    (folder / "bad.10.0.0.3").write_text("ok\n(unclosed\n")
    r = ctl("lint", "bad", "--rules", folder, expect=FAILED)
    assert "%s:2: error:" % (folder / "bad.10.0.0.3") in r.stdout, r.stdout


# ---- blocked ----------------------------------------------------------------------------


def test_blocked_lists_refused_hosts_most_frequent_first(tools):
    proxy, ctl, origin = tools
    for host, times in (("once.invalid", 1), ("often.invalid", 3)):
        for _ in range(times):
            assert get(proxy, origin, host).status == 403
    assert get(proxy, origin, "allowed.test").status == 200
    r = ctl("blocked", "alice")
    rows = [line.split() for line in r.stdout.splitlines()[1:]]
    assert [(row[0], row[2]) for row in rows] == [("3", "often.invalid"), ("1", "once.invalid")]
    assert rows[0][3] == str(origin.port)
    answer = ctl.json("blocked", "alice")
    assert answer["hosts"][0]["host"] == "often.invalid"
    # --since: nothing in the last second once we wait past it.
    time.sleep(1.2)
    assert ctl.json("blocked", "alice", "--since", "1s")["hosts"] == []
    assert len(ctl.json("blocked", "alice", "--since", "1h")["hosts"]) == 2
    ctl("blocked", "alice", "--since", "soon", expect=USAGE)
    assert "nothing refused" in ctl("blocked", "bob").stdout


# ---- allow / deny -----------------------------------------------------------------------


def test_allow_appends_a_rule_that_then_passes_check(tools):
    proxy, ctl, origin = tools
    path = proxy.rules_dir / ALICE_FILE
    os.chmod(path, 0o640)
    assert get(proxy, origin, "other.test").status == 403
    r = ctl("allow", "alice", "Other.Test.")
    assert "added to %s:3: ^other\\.test$" % path in r.stdout, r.stdout
    assert r.stdout.splitlines()[-2].startswith("allow"), r.stdout
    assert path.read_text().endswith("\n^other\\.test$\n")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    assert get(proxy, origin, "other.test").status == 200
    ctl("check", "alice", "other.test")
    # Again: nothing changes.
    r = ctl("allow", "alice", "other.test")
    assert "already in %s:3" % path in r.stdout, r.stdout
    assert path.read_text().count("other") == 1

    # --subdomains and --port, on a file without a final newline.
    path.write_text(path.read_text().rstrip("\n"))
    r = ctl("allow", "alice", "example.com", "--subdomains")
    assert "(^|\\.)example\\.com$" in r.stdout, r.stdout
    ctl("check", "alice", "http://www.example.com/")
    r = ctl("allow", "alice", "www.example.com", "--port", "8443")
    assert "host:www.example.com:8443" in r.stdout, r.stdout
    ctl("check", "alice", "www.example.com:8443")
    ctl("check", "alice", "www.example.com:8444", expect=FAILED)
    assert path.read_text().splitlines()[-3:] == [
        "^other\\.test$", "(^|\\.)example\\.com$", "host:www.example.com:8443"]
    # No leftover temporary files.
    assert sorted(p.name for p in proxy.rules_dir.iterdir()) == sorted([ALICE_FILE, BOB_FILE])


def test_deny_on_a_block_list_and_the_wrong_mode_refused(tools):
    proxy, ctl, origin = tools
    assert get(proxy, origin, "other.test", source=BOB).status == 200
    r = ctl("deny", "bob", "other.test")
    assert "added to" in r.stdout and "^other\\.test$" in r.stdout, r.stdout
    assert get(proxy, origin, "other.test", source=BOB).status == 403

    # allow on a block-list client, deny on an allow-list one: nothing is written.
    before = (proxy.rules_dir / ALICE_FILE).read_text()
    r = ctl("deny", "alice", "allowed.test", expect=FAILED)
    assert "allow-list client" in r.stderr and "^allowed\\.test$" in r.stderr, r.stderr
    assert (proxy.rules_dir / ALICE_FILE).read_text() == before
    r = ctl("allow", "bob", "blocked.test", expect=FAILED)
    assert "block-list client" in r.stderr, r.stderr

    ctl("allow", "alice", "bad host", expect=USAGE)
    ctl("allow", "alice", "10.0.0.1", "--port", "22", expect=USAGE)
    r = ctl("allow", "127.0.0.9", "other.test", expect=FAILED)
    assert "has no rules file" in r.stderr, r.stderr


# ---- watch ------------------------------------------------------------------------------


def test_watch_streams_decisions_until_stopped(tools):
    proxy, ctl, origin = tools
    binary = egressctl_binary()
    proc = subprocess.Popen([str(binary), "--socket", str(ctl.socket_path), "--json", "watch",
                             "alice"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)
    try:
        # egressd subscribes before it answers: every later decision is in the stream.
        assert "watching alice" in proc.stderr.readline()
        get(proxy, origin, "allowed.test")
        get(proxy, origin, "other.test", source=BOB)  # another client: not shown
        get(proxy, origin, "nope.invalid")
        lines = [json.loads(proc.stdout.readline()) for _ in range(2)]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert [(e["verdict"], e["host"], e["client"]) for e in lines] == [
        ("allow", "allowed.test", "alice"), ("deny", "nope.invalid", "alice")], lines
    assert lines[0]["rule"].endswith(ALICE_FILE + ":2"), lines
    # The watcher's connection is gone: egressd forgets it (no error, still serving).
    assert get(proxy, origin, "allowed.test").status == 200
    r = run_ctl("--socket", ctl.socket_path, "watch", "nobody")
    assert r.returncode == FAILED


# ---- learn / suggest --------------------------------------------------------------------


def test_learning_allows_records_and_suggests(tools):
    proxy, ctl, origin = tools
    assert get(proxy, origin, "other.test").status == 403
    r = ctl("learn", "alice", "on")
    assert "LEARNING" in r.stdout, r.stdout
    assert ctl.show()["alice"]["learning"] is True
    assert "LEARNING" in ctl("show").stdout
    proxy.wait_log(r"LEARNING MODE ON clients=alice")

    for host in ("other.test", "www.example.com", "www.example.com", "a-b.test"):
        assert get(proxy, origin, host).status == 200, host
    d = proxy.wait_decision(host="www.example.com", reason="learning")
    assert d["verdict"] == "allow"
    # What the rules allow is not recorded as learned.
    assert get(proxy, origin, "allowed.test").status == 200
    ctl.json("check", "alice", "other.test")  # allowed while learning

    r = ctl("suggest", "alice")
    rules = [line for line in r.stdout.splitlines() if line and not line.startswith("#")]
    # Each learned host has a registrable domain of its own: one host: rule each, the
    # most requested first.
    assert rules[0] == "host:www.example.com", r.stdout
    assert sorted(rules) == ["host:a-b.test", "host:other.test", "host:www.example.com"], r.stdout
    assert "allowed.test" not in r.stdout
    assert "still learning" in r.stderr
    answer = ctl.json("suggest", "alice")
    counts = {req["host"]: req["count"] for req in answer["requests"]}
    assert counts == {"other.test": 1, "www.example.com": 2, "a-b.test": 1}, answer

    # The suggestions are valid rules that allow what was learned.
    ctl("learn", "alice", "off")
    assert get(proxy, origin, "other.test").status == 403
    path = proxy.rules_dir / ALICE_FILE
    path.write_text(path.read_text() + r.stdout)
    ctl("reload")
    for host in ("other.test", "www.example.com", "a-b.test"):
        assert get(proxy, origin, host).status == 200, host
    ctl("learn", "alice", "maybe", expect=USAGE)
    r = ctl("learn", "127.0.0.9", "on", expect=FAILED)
    assert "has no rules file" in r.stderr, r.stderr
    # A new recording starts empty.
    ctl("learn", "alice", "on")
    assert ctl.json("suggest", "alice")["requests"] == []
    ctl("learn", "alice", "off")


def test_learning_off_closes_a_tunnel_only_learning_allowed(egressd, make_origin, tmp_path):
    from helpers.control import echo, open_tunnel
    origin = make_origin(raw=echo)
    socket_path = tmp_path / "ctl.sock"
    proxy = egressd(rules={ALICE_FILE: anchored("allowed.test") + "\n"},
                    connect_ports=[origin.port], config={"control_socket": str(socket_path)})
    ctl = Ctl(socket_path)
    ctl("learn", "alice", "on")
    tunnel = open_tunnel(proxy, origin.port)
    ctl("learn", "alice", "off")
    assert tunnel.is_closed(timeout=5)


def test_tools_do_not_run_without_egressd(tmp_path):
    r = run_ctl("--socket", tmp_path / "none.sock", "check", "alice", "example.com")
    assert r.returncode == 3, r
    # lint needs no daemon.
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "a.10.0.0.1").write_text("host:example.com\n")
    r = run_ctl("--socket", tmp_path / "none.sock", "lint", "--rules", folder)
    assert r.returncode == OK, r
