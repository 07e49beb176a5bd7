"""Origin connections kept across client connections: a client that opens a connection
per request reuses one origin connection; clients never share one; a connection the
origin closed, or on which it sent something unasked, is not used again; and a kept
connection to an address the current rules no longer allow is not used."""

import json
import signal
import threading
import time

from helpers.client import RawClient
from helpers.common import ALICE, ALICE_FILE, ALICE_RULES, BOB, two_clients
from helpers.origin import Response

# One worker: each worker keeps its own origin connections, and these tests count them.
ONE_WORKER = {"workers": 1}


def url(origin, path="/", host="allowed.test"):
    return "http://%s:%d%s" % (host, origin.port, path)


def get_once(proxy, origin, path, source=ALICE, host="allowed.test"):
    """One request on its own client connection, closed after the response."""
    with RawClient(proxy.address, source=source) as c:
        r = c.request("GET", url(origin, path, host), [("Host", "x"), ("Connection", "close")])
        assert c.is_closed(timeout=5)
    return r


def test_connection_per_request_reuses_one_origin_connection(egressd, origin):
    proxy = egressd(rules=two_clients(), http_ports=[origin.port], config=ONE_WORKER)
    for i in range(5):
        r = get_once(proxy, origin, "/c%d" % i)
        assert r.status == 200
        assert json.loads(r.body)["target"] == "/c%d" % i
    assert [q.target for q in origin.requests] == ["/c%d" % i for i in range(5)]
    assert origin.connections == 1, "origin saw %d connections" % origin.connections
    # The client's "Connection: close" is hop-by-hop: the origin was not asked to close.
    assert all(not q.wants_close for q in origin.requests)


def test_clients_never_share_an_origin_connection(egressd, origin):
    rules = {ALICE_FILE: ALICE_RULES, "bob." + BOB: "^allowed\\.test$\n"}
    proxy = egressd(rules=rules, http_ports=[origin.port], config=ONE_WORKER)
    for i in range(3):
        assert get_once(proxy, origin, "/a%d" % i, source=ALICE).status == 200
        assert get_once(proxy, origin, "/b%d" % i, source=BOB).status == 200
    by_conn = {}
    for q in origin.requests:
        by_conn.setdefault(q.conn_id, set()).add(q.target[1])
    assert sorted(by_conn.values(), key=sorted) == [{"a"}, {"b"}], by_conn
    assert origin.connections == 2


def test_connection_closed_by_the_origin_is_not_reused(egressd, make_origin):
    # The origin closes after each response without saying so.
    origin = make_origin(lambda req: Response(200, "OK", [], b"once", close=True))
    proxy = egressd(rules=two_clients(), http_ports=[origin.port], config=ONE_WORKER)
    for i in range(3):
        r = get_once(proxy, origin, "/x%d" % i)
        assert r.status == 200 and r.body == b"once"
    assert len(origin.requests) == 3
    assert origin.connections == 3


def read_head(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(4096)
        if not more:
            return None
        data += more
    return data


def chatty_origin(make_origin, delay):
    """An origin that answers one request per connection ("connN"), then sends a forged
    response nobody asked for (after `delay` seconds, with forged.set()) and stays open."""
    forged = threading.Event()

    def chatty(sock, conn_id):
        if read_head(sock) is None:
            return
        body = b"conn%d" % conn_id
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        time.sleep(delay)
        sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nforge")
        forged.set()
        sock.settimeout(10)
        try:
            sock.recv(4096)
        except OSError:
            pass

    return make_origin(raw=chatty), forged


def test_origin_that_speaks_unasked_is_not_reused(egressd, make_origin):
    # The forged bytes come with the response: they are left over, so not kept.
    origin, forged = chatty_origin(make_origin, 0)
    proxy = egressd(rules=two_clients(), http_ports=[origin.port], config=ONE_WORKER)
    first = get_once(proxy, origin, "/1")
    assert forged.wait(5)
    second = get_once(proxy, origin, "/2")
    assert first.status == 200 and first.body == b"conn1"
    # Not the forged response left on the first connection: a fresh connection's answer.
    assert second.status == 200 and second.body == b"conn2"


def test_origin_that_speaks_while_kept_is_not_reused(egressd, make_origin):
    # The forged bytes come once the connection is kept, idle, for the next client.
    origin, forged = chatty_origin(make_origin, 0.3)
    proxy = egressd(rules=two_clients(), http_ports=[origin.port], config=ONE_WORKER)
    first = get_once(proxy, origin, "/1")
    assert forged.wait(5)
    time.sleep(0.1)  # the forged bytes are in egressd's receive queue
    second = get_once(proxy, origin, "/2")
    assert first.status == 200 and first.body == b"conn1"
    assert second.status == 200 and second.body == b"conn2"


def test_kept_connection_to_a_no_longer_allowed_address_is_not_used(egressd, origin):
    proxy = egressd(rules=two_clients(), http_ports=[origin.port], config=ONE_WORKER)
    assert get_once(proxy, origin, "/before").status == 200
    # Loopback is no longer an allowed destination.
    config = proxy.workdir / "egressd.toml"
    text = config.read_text()
    assert 'allow_destinations = ["127.0.0.0/8", "::1/128"]' in text
    config.write_text(text.replace('["127.0.0.0/8", "::1/128"]', "[]"))
    proxy.proc.send_signal(signal.SIGHUP)
    proxy.wait_log("reloaded rules")
    r = get_once(proxy, origin, "/after")
    assert r.status == 403, r.status
    assert [q.target for q in origin.requests] == ["/before"]

