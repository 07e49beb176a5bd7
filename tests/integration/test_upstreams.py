"""Upstream (parent) proxies: requests routed through tinyproxy from Debian and through a
SOCKS5/SOCKS4a server by destination and by client, with credentials; failures that name
the parent; what the destination policy can still check; egressctl check showing the
route."""

import json

import pytest

from helpers.client import RawClient, curl
from helpers.common import ALICE, BOB
from helpers.ctl import FAILED, Ctl
from helpers.parents import SocksServer, Tinyproxy, free_port

ALICE_FILE = "alice." + ALICE
BOB_FILE = "bob." + BOB
RULES = ("^localhost$\n^allowed\\.test$\n^only\\.via\\.socks$\n^127\\.0\\.0\\.1$\n"
         "^10\\.1\\.2\\.3$\n")
BOTH = {ALICE_FILE: RULES, BOB_FILE: RULES}


@pytest.fixture
def tinyproxy(tmp_path):
    started = []

    def start(**options):
        workdir = tmp_path / ("tinyproxy%d" % len(started))
        workdir.mkdir()
        parent = Tinyproxy(workdir, **options)
        started.append(parent)
        return parent.start()

    try:
        yield start
    finally:
        for parent in started:
            parent.stop()


@pytest.fixture
def socks():
    started = []

    def start(**options):
        server = SocksServer(**options)
        started.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in started:
            server.stop()


def upstream(url, **extra):
    return dict({"url": url}, **extra)


def vias(origin):
    return origin.requests[-1].headers.get_all("via")


def through_tinyproxy(origin):
    return any("tinyproxy" in v for v in vias(origin))


def open_tunnel(proxy, authority, source=ALICE):
    c = RawClient(proxy.address, source=source)
    c.send(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (authority, authority)).encode())
    return c, c.read_response("CONNECT")


def get_in_tunnel(client, path, host="localhost"):
    client.send(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host)).encode())
    return client.read_response()


def test_plain_requests_go_through_the_parent_their_route_names(egressd, origin, tinyproxy):
    parent = tinyproxy()
    proxy = egressd(rules=BOTH, http_ports=[origin.port],
                    config={"upstreams": {"corp": upstream(parent.url)},
                            "routes": [{"via": "corp", "domains": ["localhost"]}]})
    for i in range(2):  # the second request may reuse the connection to the parent
        r = curl(proxy.url(), "http://localhost:%d/through%d" % (origin.port, i), source=ALICE)
        assert r.status == 200, r.describe()
        assert json.loads(r.body)["target"] == "/through%d" % i
        assert through_tinyproxy(origin), vias(origin)
    assert "GET http://localhost:%d/through0" % origin.port in parent.log()
    # No route matches: straight to the origin.
    r = curl(proxy.url(), "http://allowed.test:%d/direct" % origin.port, source=ALICE)
    assert r.status == 200, r.describe()
    assert not through_tinyproxy(origin), vias(origin)
    assert "/direct" not in parent.log()


def test_routes_by_client(egressd, origin, tinyproxy):
    parent = tinyproxy()
    proxy = egressd(rules=BOTH, http_ports=[origin.port],
                    config={"upstreams": {"corp": upstream(parent.url)},
                            "routes": [{"via": "direct", "hosts": ["allowed.test"]},
                                       {"via": "corp", "clients": ["bob"]}]})
    r = curl(proxy.url(), "http://localhost:%d/bob" % origin.port, source=BOB)
    assert r.status == 200, r.describe()
    assert through_tinyproxy(origin)
    r = curl(proxy.url(), "http://localhost:%d/alice" % origin.port, source=ALICE)
    assert r.status == 200, r.describe()
    assert not through_tinyproxy(origin)
    # The earlier direct route wins for bob too.
    r = curl(proxy.url(), "http://allowed.test:%d/bob-direct" % origin.port, source=BOB)
    assert r.status == 200, r.describe()
    assert not through_tinyproxy(origin)


def test_connect_and_plain_requests_with_credentials(egressd, origin, tinyproxy):
    parent = tinyproxy(basic_auth=("alice", "s3cret"), connect_ports=[origin.port])
    proxy = egressd(rules=BOTH, http_ports=[origin.port], connect_ports=[origin.port],
                    config={"upstreams": {"corp": upstream(parent.url, username="alice",
                                                           password="s3cret")},
                            "routes": [{"via": "corp"}]})
    c, r = open_tunnel(proxy, "localhost:%d" % origin.port)
    with c:
        assert r.status == 200, r.raw_head
        inner = get_in_tunnel(c, "/in-tunnel")
        assert inner.status == 200
        assert json.loads(inner.body)["target"] == "/in-tunnel"
    assert "CONNECT localhost:%d" % origin.port in parent.log()
    r = curl(proxy.url(), "http://localhost:%d/plain" % origin.port, source=ALICE)
    assert r.status == 200, r.describe()
    assert through_tinyproxy(origin)
    # The client's own Proxy-Authorization is never passed on; ours never shows.
    assert origin.requests[-1].headers.get("proxy-authorization") is None
    assert "s3cret" not in proxy.log()


def test_refused_credentials(egressd, origin, tinyproxy):
    # tinyproxy 1.11 answers wrong credentials with 401 (not 407), to CONNECT and to
    # plain requests alike.
    parent = tinyproxy(basic_auth=("alice", "s3cret"), connect_ports=[origin.port])
    proxy = egressd(rules=BOTH, http_ports=[origin.port], connect_ports=[origin.port],
                    config={"upstreams": {"corp": upstream(parent.url, username="alice",
                                                           password="wrong-one")},
                            "routes": [{"via": "corp"}]})
    c, r = open_tunnel(proxy, "localhost:%d" % origin.port)
    with c:
        assert r.status == 401, r.raw_head
        assert "upstream corp (%s) refused CONNECT localhost:%d: 401 Unauthorized" % (
            parent.url, origin.port) in r.text
    # A plain request's answer is relayed like any response: this one is tinyproxy's page.
    r = curl(proxy.url(), "http://localhost:%d/x" % origin.port, source=ALICE)
    assert r.status == 401, r.describe()
    assert "tinyproxy" in r.text
    assert "wrong-one" not in proxy.log()
    assert not origin.requests


def parent_asking_for_credentials(sock, conn_id):
    """A parent that answers every request head with 407."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(4096)
        if not more:
            return
        data += more
    sock.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                 b"Proxy-Authenticate: Basic realm=\"corp\"\r\nContent-Length: 0\r\n\r\n")


def test_a_407_from_the_parent_is_a_502_that_says_what_to_set(egressd, origin, make_origin):
    parent = make_origin(raw=parent_asking_for_credentials)
    url = "http://127.0.0.1:%d" % parent.port
    proxy = egressd(rules=BOTH, http_ports=[origin.port], connect_ports=[origin.port],
                    config={"upstreams": {"corp": upstream(url)}, "routes": [{"via": "corp"}]})
    r = curl(proxy.url(), "http://localhost:%d/x" % origin.port, source=ALICE)
    assert r.status == 502, r.describe()
    assert "upstream corp (%s) asks for credentials (407): set username and password in " \
        "[upstreams.corp]" % url in r.text
    c, r = open_tunnel(proxy, "localhost:%d" % origin.port)
    with c:
        assert r.status == 502, r.raw_head
        assert "asks for credentials (407 Proxy Authentication Required)" in r.text
    assert proxy.wait_log("upstream error addr=%s host=localhost" % ALICE)


def test_a_parent_that_refuses_has_its_status_passed_on(egressd, origin, tinyproxy):
    parent = tinyproxy(connect_ports=[1])  # CONNECT to the origin's port is not allowed
    proxy = egressd(rules=BOTH, connect_ports=[origin.port],
                    config={"upstreams": {"corp": upstream(parent.url)},
                            "routes": [{"via": "corp"}]})
    c, r = open_tunnel(proxy, "localhost:%d" % origin.port)
    with c:
        assert r.status == 403, r.raw_head
        assert "upstream corp (%s) refused CONNECT localhost:%d: 403" % (
            parent.url, origin.port) in r.text


def test_an_unreachable_parent_is_a_502_that_names_it(egressd, origin):
    url = "http://127.0.0.1:%d" % free_port()  # nothing listens there
    proxy = egressd(rules=BOTH, http_ports=[origin.port], connect_ports=[origin.port],
                    config={"upstreams": {"corp": upstream(url)}, "routes": [{"via": "corp"}]})
    r = curl(proxy.url(), "http://localhost:%d/x" % origin.port, source=ALICE)
    assert r.status == 502, r.describe()
    assert "upstream corp (%s)" % url in r.text
    assert "Connection refused" in r.text
    c, r = open_tunnel(proxy, "localhost:%d" % origin.port)
    with c:
        assert r.status == 502
        assert "upstream corp (%s)" % url in r.text
    assert proxy.wait_log("upstream error addr=%s host=localhost" % ALICE)
    assert not origin.requests


def test_socks5_with_credentials_gets_the_name_unresolved(egressd, origin, socks, dns_server):
    server = socks(names={"only.via.socks": "127.0.0.1"}, credentials=("alice", "pw5"))
    proxy = egressd(rules=BOTH, http_ports=[origin.port], connect_ports=[origin.port],
                    config={"upstreams": {"tor": upstream("socks5://127.0.0.1:%d" % server.port,
                                                          username="alice", password="pw5")},
                            "routes": [{"via": "tor", "domains": ["socks"]}]})
    r = curl(proxy.url(), "http://only.via.socks:%d/plain" % origin.port, source=ALICE)
    assert r.status == 200, r.describe()
    assert json.loads(r.body)["target"] == "/plain"
    c, r = open_tunnel(proxy, "only.via.socks:%d" % origin.port)
    with c:
        assert r.status == 200, r.raw_head
        assert get_in_tunnel(c, "/tunnel", "only.via.socks").status == 200
    assert [(q["atyp"], q["host"], q["port"], q["user"]) for q in server.requests] == \
        [("name", "only.via.socks", origin.port, "alice")] * 2
    assert dns_server.queried("only.via.socks") == []  # resolved by the parent only
    assert "pw5" not in proxy.log()


def test_socks5_refusals(egressd, origin, socks):
    server = socks(refuse=0x02)  # "connection not allowed by ruleset"
    proxy = egressd(rules=BOTH, connect_ports=[origin.port],
                    config={"upstreams": {"tor": upstream("socks5://127.0.0.1:%d" % server.port)},
                            "routes": [{"via": "tor"}]})
    c, r = open_tunnel(proxy, "localhost:%d" % origin.port)
    with c:
        assert r.status == 403, r.raw_head
        assert "could not open localhost:%d: connection not allowed by its rules" % \
            origin.port in r.text
    # A parent that wants credentials egressd does not have.
    locked = socks(credentials=("a", "b"))
    proxy = egressd(rules=BOTH, connect_ports=[origin.port],
                    config={"upstreams": {"tor": upstream("socks5://127.0.0.1:%d" % locked.port)},
                            "routes": [{"via": "tor"}]})
    c, r = open_tunnel(proxy, "localhost:%d" % origin.port)
    with c:
        assert r.status == 502, r.raw_head
        assert "wants authentication" in r.text


def test_socks4a(egressd, origin, socks):
    server = socks(names={"only.via.socks": "127.0.0.1"})
    proxy = egressd(rules=BOTH, http_ports=[origin.port],
                    config={"upstreams": {"s4": upstream("socks4a://127.0.0.1:%d" % server.port,
                                                         username="egressd")},
                            "routes": [{"via": "s4"}]})
    r = curl(proxy.url(), "http://only.via.socks:%d/four" % origin.port, source=ALICE)
    assert r.status == 200, r.describe()
    assert server.requests == [{"version": 4, "atyp": "name", "host": "only.via.socks",
                                "port": origin.port, "user": "egressd", "cmd": 1}]


def test_addresses_are_still_checked_but_names_go_to_the_parent(egressd, origin, socks):
    server = socks(names={"only.via.socks": "127.0.0.1"})
    # No internal destination allowed: loopback and 10.0.0.0/8 are refused.
    proxy = egressd(rules=BOTH, http_ports=[origin.port],
                    config={"allow_destinations": [],
                            "upstreams": {"tor": upstream("socks5://127.0.0.1:%d" % server.port)},
                            "routes": [{"via": "tor"}]})
    for host in ("10.1.2.3", "127.0.0.1"):
        r = curl(proxy.url(), "http://%s:%d/x" % (host, origin.port), source=ALICE)
        assert r.status == 403, r.describe()
        assert "destination not allowed" in r.text
    assert server.requests == []
    # A name is resolved by the parent, where egressd cannot see the address: this one
    # reaches loopback (docs/configuration.md says so).
    r = curl(proxy.url(), "http://only.via.socks:%d/x" % origin.port, source=ALICE)
    assert r.status == 200, r.describe()


def test_check_shows_the_route(egressd, origin, tinyproxy):
    parent = tinyproxy()
    proxy = egressd(rules=BOTH, http_ports=[origin.port],
                    config={"upstreams": {"corp": upstream(parent.url, username="u",
                                                           password="hidden-pw")},
                            "routes": [{"via": "direct", "hosts": ["allowed.test"]},
                                       {"via": "corp", "domains": ["localhost"]}]})
    ctl = Ctl(proxy.control_path)
    out = ctl("check", "alice", "http://localhost:%d/" % origin.port).stdout
    assert "route: via upstream corp (%s), [[routes]] at line" % parent.url in out, out
    out = ctl("check", "alice", "http://allowed.test:%d/" % origin.port).stdout
    assert "route: direct ([[routes]] at line" in out, out
    out = ctl("check", "alice", "http://other.test:%d/" % origin.port, expect=FAILED).stdout
    assert "route: direct (no [[routes]] entry matched)" in out, out
    answer = ctl.json("check", "alice", "http://localhost:%d/" % origin.port)
    assert answer["checks"][0]["route"]["via"] == "corp"
    assert "hidden-pw" not in json.dumps(answer)
