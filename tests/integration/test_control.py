"""The control socket: show, stop/start, restart, kill-all and reload against a real
egressd with real client connections (curl, raw sockets, CONNECT tunnels)."""

import json
import os
import socket
import stat

import pytest

from helpers.client import RawClient, curl
from helpers.control import Control, command, echo, open_tunnel
from helpers.common import ALICE, ALICE_FILE, BOB, BOB_FILE, anchored
from helpers.proxy import Egressd, to_toml

ALICE_RULES = "# alice\n^allowed\\.test$\n^tunnel\\.test$\n"
BOB_RULES = "# bob\n^other\\.test$\n"


def start(egressd, tmp_path, rules, **kwargs):
    sock = tmp_path / "ctl" / "control.sock"
    proxy = egressd(rules=rules, config={"control_socket": str(sock)}, **kwargs)
    proxy.control_path = sock
    return proxy


def kept_alive(proxy, url, source):
    """A connection that has served one request and stays open."""
    c = RawClient(proxy.address, source=source)
    r = c.request("GET", url, headers=[("Host", url.split("/")[2])])
    assert r.status == 200, (r.status, r.text)
    return c


def client_rows(answer):
    return {row["address"]: row for row in answer["clients"]}


def test_show_lists_known_and_unknown_clients_with_counts(egressd, origin, tmp_path):
    proxy = start(egressd, tmp_path, {ALICE_FILE: ALICE_RULES}, http_ports=[origin.port])
    assert curl(proxy.url(), "http://allowed.test:%d/" % origin.port, source=ALICE).status == 200
    assert curl(proxy.url(), "http://allowed.test:%d/x" % origin.port, source=ALICE).status == 200
    assert curl(proxy.url(), "http://blocked.test:%d/" % origin.port, source=ALICE).status == 403
    assert curl(proxy.url(), "http://other.test:%d/" % origin.port, source=BOB).status == 403

    answer = command(proxy, "show")
    assert answer["ok"] is True, answer
    assert answer["generation"] == 1
    assert answer["rules_dir"] == str(proxy.rules_dir)
    assert answer["listen"] == ["127.0.0.1:%d" % proxy.port]
    assert answer["workers"] == 2
    assert [row["address"] for row in answer["clients"]] == [ALICE, BOB]
    alice, bob = answer["clients"]
    assert alice["label"] == "alice" and alice["known"] is True
    assert alice["rules_file"] == str(proxy.rules_dir / ALICE_FILE)
    assert alice["mode"] == "allow-list" and alice["state"] == "serving"
    assert (alice["allowed"], alice["denied"]) == (2, 1)
    assert alice["last_denied_host"] == "blocked.test"
    assert alice["last_seen"].endswith("Z")
    assert bob["label"] is None and bob["known"] is False and bob["rules_file"] is None
    assert (bob["allowed"], bob["denied"]) == (0, 1)
    assert bob["last_denied_host"] == "other.test"
    assert bob["state"] == "serving"

    # A connection that is open shows up as active.
    with kept_alive(proxy, "http://allowed.test:%d/" % origin.port, ALICE):
        rows = client_rows(command(proxy, "show"))
        assert rows[ALICE]["active_connections"] == 1
        assert rows[ALICE]["allowed"] == 3


def test_stop_closes_the_clients_connections_and_refuses_it(egressd, make_origin, tmp_path):
    origin = make_origin()
    tunnel_origin = make_origin(raw=echo)
    proxy = start(egressd, tmp_path, {ALICE_FILE: ALICE_RULES, BOB_FILE: BOB_RULES},
                  http_ports=[origin.port], connect_ports=[tunnel_origin.port])
    alice_url = "http://allowed.test:%d/" % origin.port
    bob_url = "http://other.test:%d/" % origin.port
    tunnel = open_tunnel(proxy, tunnel_origin.port)
    alice_kept = kept_alive(proxy, alice_url, ALICE)
    bob_kept = kept_alive(proxy, bob_url, BOB)

    answer = command(proxy, "stop", clients=["alice"])
    assert answer == {"ok": True, "clients": ["alice"], "closed_connections": 2}
    assert tunnel.is_closed(timeout=5), "the CONNECT tunnel stayed open"
    assert alice_kept.is_closed(timeout=5), "the kept-alive connection stayed open"
    proxy.wait_log(r"tunnel closed addr=127\.0\.0\.2 .* closed-by-control")

    # Bob is not affected, not even his open connection.
    r = bob_kept.request("GET", bob_url, headers=[("Host", bob_url.split("/")[2])])
    assert r.status == 200
    assert curl(proxy.url(), bob_url, source=BOB).status == 200

    # Alice's new requests get the page that says why and how to resume.
    r = curl(proxy.url(), alice_url, source=ALICE)
    assert r.status == 503, r.describe()
    assert "egressd is stopped for this client" in r.text
    assert "egressctl start alice" in r.text
    assert r.headers.get("connection") == "close"
    d = proxy.wait_decision(client="alice", reason="client-stopped")
    assert d["verdict"] == "deny" and d["host"] == "allowed.test"
    with RawClient(proxy.address, source=ALICE) as c:
        c.send(("CONNECT tunnel.test:%d HTTP/1.1\r\nHost: x\r\n\r\n" % tunnel_origin.port).encode())
        r = c.read_response("CONNECT")
        assert r.status == 503
        assert r.header("content-type").startswith("text/plain")
        assert b"to serve it again, run: egressctl start alice" in r.body
    proxy.wait_decision(client="alice", method="CONNECT", reason="client-stopped")

    rows = client_rows(command(proxy, "show"))
    assert rows[ALICE]["state"] == "stopped" and rows[BOB]["state"] == "serving"

    # Stopping again is not an error; start resumes.
    assert command(proxy, "stop", clients=[ALICE])["ok"] is True
    assert command(proxy, "start", clients=["alice"]) == {
        "ok": True, "clients": ["alice"], "closed_connections": 0}
    assert curl(proxy.url(), alice_url, source=ALICE).status == 200
    assert client_rows(command(proxy, "show"))[ALICE]["state"] == "serving"


def test_stop_survives_a_reload_and_works_for_unknown_clients(egressd, origin, tmp_path):
    proxy = start(egressd, tmp_path, {ALICE_FILE: ALICE_RULES}, http_ports=[origin.port])
    assert command(proxy, "stop", clients=[BOB])["clients"] == [BOB]
    r = curl(proxy.url(), "http://other.test:%d/" % origin.port, source=BOB)
    assert r.status == 503 and "egressctl start 127.0.0.3" in r.text
    assert command(proxy, "reload")["ok"] is True
    assert curl(proxy.url(), "http://other.test:%d/" % origin.port, source=BOB).status == 503
    assert client_rows(command(proxy, "show"))[BOB]["state"] == "stopped"


def test_restart_reloads_and_closes_that_clients_connections(egressd, origin, tmp_path):
    proxy = start(egressd, tmp_path, {ALICE_FILE: ALICE_RULES, BOB_FILE: BOB_RULES},
                  http_ports=[origin.port])
    alice_url = "http://allowed.test:%d/" % origin.port
    bob_url = "http://other.test:%d/" % origin.port
    alice_kept = kept_alive(proxy, alice_url, ALICE)
    bob_kept = kept_alive(proxy, bob_url, BOB)
    assert curl(proxy.url(), bob_url, source=ALICE).status == 403

    (proxy.rules_dir / ALICE_FILE).write_text(ALICE_RULES + anchored("other.test") + "\n")
    answer = command(proxy, "restart", clients=["alice"])
    assert answer["ok"] is True, answer
    assert answer["generation"] == 2
    assert answer["changed"] == {"added": [], "removed": [], "modified": ["alice"]}
    assert answer["closed_connections"] == 1
    assert alice_kept.is_closed(timeout=5)
    assert not bob_kept.is_closed(timeout=0.3)
    assert curl(proxy.url(), bob_url, source=ALICE).status == 200
    assert client_rows(command(proxy, "show"))[ALICE]["state"] == "serving"
    bob_kept.close()


def test_kill_all_closes_everything(egressd, make_origin, tmp_path):
    origin = make_origin()
    tunnel_origin = make_origin(raw=echo)
    proxy = start(egressd, tmp_path, {ALICE_FILE: ALICE_RULES, BOB_FILE: BOB_RULES},
                  http_ports=[origin.port], connect_ports=[tunnel_origin.port])
    alice_url = "http://allowed.test:%d/" % origin.port
    bob_url = "http://other.test:%d/" % origin.port
    connections = [open_tunnel(proxy, tunnel_origin.port), kept_alive(proxy, alice_url, ALICE),
                   kept_alive(proxy, bob_url, BOB)]
    assert command(proxy, "kill-all") == {"ok": True, "closed_connections": 3}
    for c in connections:
        assert c.is_closed(timeout=5)
    # The listeners stay, and nobody is stopped.
    assert curl(proxy.url(), alice_url, source=ALICE).status == 200
    assert curl(proxy.url(), bob_url, source=BOB).status == 200

    kept = kept_alive(proxy, bob_url, BOB)
    answer = command(proxy, "kill-all-and-restart")
    assert answer["ok"] is True and answer["closed_connections"] == 1
    assert answer["generation"] == 2
    assert kept.is_closed(timeout=5)


def test_reload_with_a_broken_file_keeps_the_old_rules(egressd, origin, tmp_path):
    proxy = start(egressd, tmp_path, {ALICE_FILE: ALICE_RULES}, http_ports=[origin.port])
    allowed = "http://allowed.test:%d/" % origin.port
    path = proxy.rules_dir / ALICE_FILE
    path.write_text("^other\\.test$\n(unclosed\n")
    answer = command(proxy, "reload")
    assert answer["ok"] is False and answer["applied"] is True, answer
    assert "some rules files have errors" in answer["error"], answer
    assert any(p.startswith(str(path) + ":2: error: ") for p in answer["problems"]), answer
    assert curl(proxy.url(), allowed, source=ALICE).status == 200
    shown = command(proxy, "show")
    alice = [c for c in shown["clients"] if c["label"] == "alice"][0]
    assert alice["rules_state"] == "previous", alice
    assert alice["rules_errors"][0].startswith(str(path) + ":2: error: "), alice

    # restart of a client whose file is broken closes nothing.
    with kept_alive(proxy, allowed, ALICE) as c:
        answer = command(proxy, "restart", clients=["alice"])
        assert answer["ok"] is False and "closed_connections" not in answer
        assert "not restarted" in answer["error"], answer
        assert not c.is_closed(timeout=0.3)

    path.write_text(ALICE_RULES)
    (proxy.rules_dir / BOB_FILE).write_text(BOB_RULES)
    answer = command(proxy, "reload")
    assert answer["ok"] is True and answer["changed"]["added"] == ["bob"], answer


def test_unknown_client_name_does_nothing(egressd, origin, tmp_path):
    proxy = start(egressd, tmp_path, {ALICE_FILE: ALICE_RULES}, http_ports=[origin.port])
    allowed = "http://allowed.test:%d/" % origin.port
    with kept_alive(proxy, allowed, ALICE) as c:
        for verb in ("stop", "restart", "start"):
            answer = command(proxy, verb, clients=["alice", "nobody"])
            assert answer == {"ok": False, "error": "unknown client: nobody"}
        assert not c.is_closed(timeout=0.3)
    assert curl(proxy.url(), allowed, source=ALICE).status == 200
    assert command(proxy, "show")["generation"] == 1


def test_socket_mode_and_bad_requests(egressd, tmp_path):
    proxy = start(egressd, tmp_path, {ALICE_FILE: ALICE_RULES})
    st = os.stat(proxy.control_path)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert stat.S_IMODE(os.stat(proxy.control_path.parent).st_mode) == 0o755

    c = Control(proxy.control_path)
    assert c("frobnicate") == {"ok": False, "error": "unknown command: frobnicate"}
    c.send_line(b'{"verb": "show"}\n')
    assert json.loads(c.read_line())["error"].startswith("invalid request")
    assert c("show")["ok"] is True  # still open after those
    c.send_line(b"{not json\n")
    answer = json.loads(c.read_line())
    assert answer["ok"] is False and answer["error"].startswith("invalid request")
    assert c.read_line() == b"", "the connection should be closed after invalid JSON"
    c.close()

    c = Control(proxy.control_path)
    try:
        c.send_line(b"[" * (70 * 1024))
    except (BrokenPipeError, ConnectionResetError):
        pass
    answer = json.loads(c.read_line())
    assert "longer than 64 KiB" in answer["error"]
    c.close()

    # One client that never finishes its line does not hold up another.
    stuck = Control(proxy.control_path)
    stuck.send_line(b'{"command": ')
    assert command(proxy, "show")["ok"] is True
    stuck.close()


def test_stale_socket_is_replaced_and_a_live_one_refused(egressd, tmp_path):
    path = tmp_path / "ctl" / "control.sock"
    path.parent.mkdir()
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens: what a crashed daemon leaves
    proxy = start(egressd, tmp_path, {ALICE_FILE: ALICE_RULES})
    assert command(proxy, "show")["ok"] is True

    # A second egressd on the same control socket refuses to start.
    workdir = tmp_path / "second"
    workdir.mkdir()
    config = workdir / "egressd.toml"
    config.write_text(to_toml({"listen": ["127.0.0.1:0"], "rules_dir": str(proxy.rules_dir),
                               "control_socket": str(path)}))
    second = Egressd(workdir, ["--config", config], name="second")
    with pytest.raises(RuntimeError, match="another egressd is answering"):
        second.start()
    second.stop()
    assert command(proxy, "show")["ok"] is True
