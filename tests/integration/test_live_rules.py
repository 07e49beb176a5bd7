"""Live rules: egressd watches its config file and rules folder and reloads on its own;
a reload is all-or-nothing per file; open tunnels are re-checked against new rules
(or not, when recheck_tunnels is off); and none of it drops a request the rules allow,
even while the rules are rewritten a hundred times under load."""

import os
import random
import signal
import threading
import time

from helpers.client import RawClient
from helpers.common import ALICE, ALICE_FILE, BOB, BOB_FILE, STRANGER, anchored
from helpers.control import command, echo, open_tunnel
from helpers.netns import wait_until

ALICE_RULES = "# alice\n^allowed\\.test$\n^tunnel\\.test$\n"


def watched(egressd, tmp_path, rules, **config):
    """An egressd that watches its files, with a control socket."""
    sock = tmp_path / "ctl" / "control.sock"
    cfg = {"control_socket": str(sock), "watch": True}
    cfg.update(config.pop("config", {}))
    proxy = egressd(rules=rules, config=cfg, **config)
    proxy.control_path = sock
    return proxy


def status(proxy, url, source=ALICE):
    with RawClient(proxy.address, source=source) as c:
        return c.request("GET", url, headers=[("Host", url.split("/")[2]),
                                              ("Connection", "close")]).status


def eventually(proxy, url, expected, source=ALICE, timeout=10.0):
    """Waits until a request gets `expected`: the watcher reloads on its own time."""
    wait_until(lambda: status(proxy, url, source) == expected, timeout=timeout,
               what="%s from %s to answer %d" % (url, source, expected))


def replace(path, text):
    """Writes like an editor that saves through a temporary file and a rename."""
    temp = path.with_name("." + path.name + ".tmp")
    temp.write_text(text)
    os.replace(temp, path)


def reload_count(proxy):
    return proxy.log().count("reloaded rules generation=")


def test_watch_reloads_on_every_kind_of_change(egressd, origin, tmp_path):
    proxy = watched(egressd, tmp_path, {ALICE_FILE: ALICE_RULES}, http_ports=[origin.port])
    url = "http://%s:%d/" % ("%s", origin.port)
    allowed, other = url % "allowed.test", url % "other.test"
    path = proxy.rules_dir / ALICE_FILE
    assert status(proxy, allowed) == 200
    assert status(proxy, other) == 403

    # An editor's rename-over.
    replace(path, anchored("other.test") + "\n")
    eventually(proxy, other, 200)
    assert status(proxy, allowed) == 403

    # Written in place.
    path.write_text(anchored("allowed.test") + "\n" + anchored("other.test") + "\n")
    eventually(proxy, allowed, 200)

    # A new client's file appears, then goes.
    (proxy.rules_dir / BOB_FILE).write_text(anchored("other.test") + "\n")
    eventually(proxy, other, 200, source=BOB)
    (proxy.rules_dir / BOB_FILE).unlink()
    eventually(proxy, other, 403, source=BOB)

    # A broken edit: that client keeps the rules it had, and show says why.
    path.write_text("^other\\.test$\n(unclosed\n")
    proxy.wait_log(r"%s:2: error" % str(path).replace(".", r"\."))
    assert status(proxy, allowed) == 200
    alice = [c for c in command(proxy, "show")["clients"] if c["label"] == "alice"][0]
    assert alice["rules_state"] == "previous", alice
    assert alice["rules_errors"][0].startswith(str(path) + ":2: error:"), alice
    path.write_text(anchored("other.test") + "\n")
    eventually(proxy, allowed, 403)

    # The whole folder replaced by another one.
    old = proxy.rules_dir.with_name("rules.old")
    proxy.rules_dir.rename(old)
    new = proxy.rules_dir.with_name("rules.new")
    new.mkdir()
    (new / ALICE_FILE).write_text(anchored("allowed.test") + "\n")
    new.rename(proxy.rules_dir)
    eventually(proxy, allowed, 200)
    # ...and the new folder is watched in its turn.
    (proxy.rules_dir / ALICE_FILE).write_text(anchored("other.test") + "\n")
    eventually(proxy, other, 200)

    # The config file: unknown clients become allowed.
    config_path = proxy.workdir / "egressd.toml"
    replace(config_path, config_path.read_text().replace(
        'watch = true', 'watch = true\nunknown_clients = "allow"'))
    eventually(proxy, allowed, 200, source=STRANGER)


def test_a_burst_of_changes_is_one_reload(egressd, origin, tmp_path):
    proxy = watched(egressd, tmp_path, {ALICE_FILE: ALICE_RULES}, http_ports=[origin.port])
    path = proxy.rules_dir / ALICE_FILE
    before = reload_count(proxy)
    for i in range(50):
        path.write_text(ALICE_RULES + "# edit %d\n" % i)
    path.write_text(anchored("other.test") + "\n")
    eventually(proxy, "http://other.test:%d/" % origin.port, 200)
    time.sleep(0.5)  # let a late reload, if any, show up in the count
    reloads = reload_count(proxy) - before
    assert 1 <= reloads <= 5, "%d reloads for one burst of 51 writes" % reloads


def test_watch_off_reloads_only_when_asked(egressd, origin, tmp_path):
    proxy = watched(egressd, tmp_path, {ALICE_FILE: ALICE_RULES}, http_ports=[origin.port],
                    config={"watch": False})
    other = "http://other.test:%d/" % origin.port
    (proxy.rules_dir / ALICE_FILE).write_text(anchored("other.test") + "\n")
    time.sleep(0.6)  # longer than the watcher's debounce
    assert status(proxy, other) == 403
    assert command(proxy, "reload")["ok"] is True
    assert status(proxy, other) == 200


def test_a_removed_permission_closes_an_open_tunnel(egressd, make_origin, tmp_path):
    origin = make_origin(raw=echo)
    http_origin = make_origin()
    proxy = watched(egressd, tmp_path, {ALICE_FILE: ALICE_RULES},
                    connect_ports=[origin.port], http_ports=[http_origin.port],
                    config={"watch": False})
    tunnel = open_tunnel(proxy, origin.port)
    kept = RawClient(proxy.address, source=ALICE)
    url = "http://allowed.test:%d/" % http_origin.port
    assert kept.request("GET", url, headers=[("Host", "allowed.test")]).status == 200

    # A reload that keeps tunnel.test allowed leaves the tunnel alone.
    (proxy.rules_dir / ALICE_FILE).write_text(ALICE_RULES + "# comment\n")
    assert command(proxy, "reload")["tunnels_closed"] == 0
    tunnel.send(b"pong")
    assert tunnel._read_exact(4) == b"pong"

    # tunnel.test no longer allowed: the tunnel is closed, the HTTP connection is not.
    (proxy.rules_dir / ALICE_FILE).write_text(anchored("allowed.test") + "\n")
    answer = command(proxy, "reload")
    assert answer["tunnels_closed"] == 1, answer
    assert tunnel.is_closed(timeout=5)
    proxy.wait_log(r"tunnel closed addr=127\.0\.0\.2 host=tunnel\.test .*closed-by-reload")
    assert kept.request("GET", url, headers=[("Host", "allowed.test")]).status == 200
    # New tunnels are refused as well.
    with RawClient(proxy.address, source=ALICE) as c:
        c.send(b"CONNECT tunnel.test:%d HTTP/1.1\r\nHost: x\r\n\r\n" % origin.port)
        assert c.read_response("CONNECT").status == 403


def test_with_recheck_off_an_open_tunnel_outlives_the_rule(egressd, make_origin, tmp_path):
    origin = make_origin(raw=echo)
    proxy = watched(egressd, tmp_path, {ALICE_FILE: ALICE_RULES}, connect_ports=[origin.port],
                    config={"watch": False, "recheck_tunnels": False})
    tunnel = open_tunnel(proxy, origin.port)
    (proxy.rules_dir / ALICE_FILE).write_text(anchored("allowed.test") + "\n")
    assert command(proxy, "reload")["tunnels_closed"] == 0
    tunnel.send(b"still")
    assert tunnel._read_exact(5) == b"still"
    assert not tunnel.is_closed(timeout=0.3)
    with RawClient(proxy.address, source=ALICE) as c:
        c.send(b"CONNECT tunnel.test:%d HTTP/1.1\r\nHost: x\r\n\r\n" % origin.port)
        assert c.read_response("CONNECT").status == 403


def test_reload_under_load_drops_nothing_the_rules_allow(egressd, origin, tmp_path):
    """While requests run, the rules are rewritten 100 times: valid and invalid versions,
    renames over the file, deletes and re-creations of other clients' files, editor
    leftovers, SIGHUP and control-socket reloads between the watcher's own. allowed.test
    is allowed for alice in every valid version (an invalid one keeps the previous rules),
    blocked.test in none: every request must get exactly that answer."""
    proxy = watched(egressd, tmp_path, {ALICE_FILE: ALICE_RULES, BOB_FILE: "^other\\.test$\n"},
                    http_ports=[origin.port])
    path = proxy.rules_dir / ALICE_FILE
    allowed = "http://allowed.test:%d/" % origin.port
    blocked = "http://blocked.test:%d/" % origin.port
    extra = ["^other\\.test$", "domain:example.com", "host:www.example.com:8443",
             "ip:192.0.2.0/24", "^a-b\\.test$"]
    broken = ["(unclosed", "domain:bad..name", "ip:10.0.0.1/99", "[z-a]"]
    stop = threading.Event()
    results = {"allowed": 0, "blocked": 0, "bob": 0}
    failures = []
    lock = threading.Lock()

    def load(seed):
        rng = random.Random(seed)
        deadline = time.monotonic() + 90
        while not stop.is_set() and time.monotonic() < deadline:
            which = rng.choice(["allowed", "allowed", "blocked", "bob"])
            try:
                if which == "bob":
                    status(proxy, "http://other.test:%d/" % origin.port, source=BOB)
                    got, want = None, None  # bob's file comes and goes: any answer
                else:
                    got = status(proxy, allowed if which == "allowed" else blocked)
                    want = 200 if which == "allowed" else 403
            except Exception as e:  # noqa: BLE001 - every failure is reported below
                got, want = repr(e), "an answer"
            with lock:
                results[which] += 1
                if want is not None and got != want:
                    failures.append((which, got, want))

    threads = [threading.Thread(target=load, args=(i,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    rng = random.Random(42)
    try:
        for i in range(100):
            kind = i % 10
            if kind in (0, 3, 6):
                lines = ["# version %d" % i] + rng.sample(extra, 2) + ["^allowed\\.test$"]
                rng.shuffle(lines)
                replace(path, "\n".join(lines) + "\n")
            elif kind in (1, 7):
                replace(path, "^allowed\\.test$\n%s\n" % rng.choice(broken))
            elif kind == 2:
                (proxy.rules_dir / BOB_FILE).unlink(missing_ok=True)
            elif kind == 4:
                (proxy.rules_dir / BOB_FILE).write_text("^other\\.test$\n")
            elif kind == 5:
                (proxy.rules_dir / ("." + ALICE_FILE + ".swp")).write_text("garbage (\n")
                (proxy.rules_dir / "carol.127.0.0.4").write_text("^x$\n")
                os.replace(proxy.rules_dir / "carol.127.0.0.4", proxy.rules_dir / "carol.bak")
            elif kind == 8:
                proxy.proc.send_signal(signal.SIGHUP)
            else:
                command(proxy, "reload")
            time.sleep(rng.uniform(0.005, 0.06))
        # The last word allows a host no earlier version did.
        replace(path, "^allowed\\.test$\n^unknown-ok\\.test$\n")
        eventually(proxy, "http://unknown-ok.test:%d/" % origin.port, 200)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)
    assert proxy.proc.poll() is None, "egressd died"
    assert not failures, "%d wrong answers, e.g. %r" % (len(failures), failures[:5])
    assert results["allowed"] >= 50 and results["blocked"] >= 20, results
    shown = command(proxy, "show")
    alice = [c for c in shown["clients"] if c["label"] == "alice"][0]
    assert alice["rules_state"] == "current" and not alice["rules_errors"], alice
    assert status(proxy, blocked) == 403
    reloads = reload_count(proxy)
    assert reloads >= 20, "only %d reloads happened" % reloads
    print("reload under load: requests %r, reloads %d, wrong answers 0" % (results, reloads))
