"""Plain HTTP forwarding: absolute-form only, what the origin receives (hop-by-hop
headers, Via, Host), keep-alive and upstream reuse, HTTP/1.0 clients, responses without
bodies, close-delimited responses, and an IPv6 listener."""

import ctypes
import json
import os
import socket

import pytest

from helpers.client import RawClient, curl
from helpers.common import ALICE, ALICE_FILE, ipv6_loopback_available, two_clients
from helpers.origin import Response

HOP_BY_HOP = ["connection", "keep-alive", "proxy-connection", "proxy-authorization", "te",
              "trailer", "upgrade"]


@pytest.fixture
def proxy(egressd, origin):
    return egressd(rules=two_clients(), http_ports=[origin.port])


def url(origin, path="/", host="allowed.test"):
    return "http://%s:%d%s" % (host, origin.port, path)


def test_get_with_curl(proxy, origin):
    r = curl(proxy.url(), url(origin, "/path/x?q=1&r=%20"), source=ALICE)
    assert r.status == 200, r.describe()
    echo = json.loads(r.body)
    assert echo["method"] == "GET" and echo["target"] == "/path/x?q=1&r=%20"
    assert origin.requests[0].request_line == "GET /path/x?q=1&r=%20 HTTP/1.1"


def test_origin_form_request_is_refused(proxy, origin):
    with RawClient(proxy.address, source=ALICE) as c:
        r = c.request("GET", "/", [("Host", "allowed.test:%d" % origin.port)])
    assert r.status == 400
    assert origin.connections == 0


def test_hop_by_hop_removed_via_added_host_regenerated(proxy, origin):
    target = url(origin, "/hop?x=1")
    headers = [
        ("Host", "liar.example"),
        ("Connection", "keep-alive, X-Drop-Me, x-also-drop"),
        ("Keep-Alive", "timeout=5"),
        ("Proxy-Connection", "keep-alive"),
        ("Proxy-Authorization", "Basic c2VjcmV0OnNlY3JldA=="),
        ("TE", "trailers"),
        ("Trailer", "X-Checksum"),
        ("Upgrade", "websocket"),
        ("X-Drop-Me", "1"),
        ("X-Also-Drop", "2"),
        ("X-Keep", "kept value"),
        ("Via", "1.0 earlier"),
        ("User-Agent", "integration-test"),
    ]
    with RawClient(proxy.address, source=ALICE) as c:
        r = c.request("GET", target, headers)
    assert r.status == 200
    (req,) = origin.requests
    assert req.request_line == "GET /hop?x=1 HTTP/1.1"
    names = req.headers.names()
    for name in HOP_BY_HOP + ["x-drop-me", "x-also-drop"]:
        assert name not in names, (name, req.raw_head)
    assert req.headers.get_all("x-keep") == ["kept value"]
    assert req.headers.get_all("user-agent") == ["integration-test"]
    assert req.headers.get_all("host") == ["allowed.test:%d" % origin.port]
    vias = req.headers.tokens("via")
    assert vias == ["1.0 earlier", "1.1 egressd"], req.raw_head


def test_via_uses_configured_name(egressd, origin):
    proxy = egressd(rules=two_clients(), http_ports=[origin.port],
                    config={"via_name": "gateway-7"})
    with RawClient(proxy.address, source=ALICE) as c:
        assert c.request("GET", url(origin), [("Host", "x")]).status == 200
    assert origin.requests[0].headers.tokens("via") == ["1.1 gateway-7"]


def test_host_header_does_not_decide(proxy, origin):
    # The rules apply to the request target; a Host header naming an allowed host does
    # not get a denied target through.
    with RawClient(proxy.address, source=ALICE) as c:
        r = c.request("GET", url(origin, host="other.test"),
                      [("Host", "allowed.test:%d" % origin.port)])
    assert r.status == 403
    assert origin.connections == 0


def test_response_hop_by_hop_removed(make_origin, egressd):
    def handler(req):
        return Response(headers=[("Connection", "X-Secret-Hop"), ("X-Secret-Hop", "1"),
                                 ("Keep-Alive", "timeout=99"), ("Proxy-Connection", "x"),
                                 ("X-End-To-End", "yes"), ("Content-Type", "text/plain")],
                        body=b"resp")
    server = make_origin(handler)
    proxy = egressd(rules=two_clients(), http_ports=[server.port])
    with RawClient(proxy.address, source=ALICE) as c:
        r = c.request("GET", url(server), [("Host", "x")])
    assert r.status == 200 and r.body == b"resp"
    names = r.headers.names()
    assert "x-secret-hop" not in names and "keep-alive" not in names
    assert "proxy-connection" not in names
    assert "x-secret-hop" not in r.headers.tokens("connection")
    assert r.headers.get("x-end-to-end") == "yes"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_methods_with_bodies_are_forwarded(proxy, origin, method):
    body = ("%s body \u00e9\n" % method).encode() * 50
    with RawClient(proxy.address, source=ALICE) as c:
        r = c.request(method, url(origin, "/m"), [("Host", "x"),
                                                  ("Content-Type", "text/plain")], body)
    assert r.status == 200
    (req,) = origin.requests
    assert req.method == method and req.target == "/m"
    assert req.body == body
    assert req.headers.get("content-type") == "text/plain"


def test_keep_alive_reuses_upstream_connection(proxy, origin):
    with RawClient(proxy.address, source=ALICE) as c:
        for i in range(4):
            r = c.request("GET", url(origin, "/n%d" % i), [("Host", "x")])
            assert r.status == 200
            assert json.loads(r.body)["target"] == "/n%d" % i
        assert not c.is_closed(timeout=0.2)
    assert [r.target for r in origin.requests] == ["/n0", "/n1", "/n2", "/n3"]
    assert origin.connections == 1, "origin saw %d connections" % origin.connections
    assert {r.conn_id for r in origin.requests} == {1}


SYS_pidfd_getfd = 438


def tcp_nodelay_by_peer(pid):
    """{peer (host, port): TCP_NODELAY} for the connected TCP sockets of process `pid`,
    read through copies of its descriptors (pidfd_getfd)."""
    libc = ctypes.CDLL(None, use_errno=True)
    found = {}
    pidfd = os.pidfd_open(pid)
    try:
        for name in os.listdir("/proc/%d/fd" % pid):
            try:
                if not os.readlink("/proc/%d/fd/%s" % (pid, name)).startswith("socket:"):
                    continue
            except OSError:
                continue  # closed meanwhile
            fd = libc.syscall(SYS_pidfd_getfd, pidfd, int(name), 0)
            assert fd >= 0 or ctypes.get_errno() == 9, os.strerror(ctypes.get_errno())
            if fd < 0:
                continue
            with socket.socket(fileno=fd) as s:
                if s.type != socket.SOCK_STREAM or s.family not in (socket.AF_INET,
                                                                    socket.AF_INET6):
                    continue
                try:
                    peer = s.getpeername()[:2]
                except OSError:
                    continue  # a listener
                found[peer] = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        os.close(pidfd)
    return found


def test_client_and_origin_connections_send_small_writes_at_once(proxy, origin):
    # TCP_NODELAY on both sides. The client side gets it from the listening socket (Linux
    # copies it to accepted sockets), so this checks what the kernel really gives them.
    with RawClient(proxy.address, source=ALICE) as c:
        r = c.request("GET", url(origin, "/nodelay"))
        assert r.status == 200
        nodelay = tcp_nodelay_by_peer(proxy.proc.pid)
        client_side = nodelay.get(c.sock.getsockname()[:2])
    origin_side = [v for (_, port), v in nodelay.items() if port == origin.port]
    assert client_side == 1, nodelay
    assert origin_side == [1], nodelay


def test_keep_alive_with_curl_two_urls(proxy, origin, tmp_path):
    # The helper puts its own URL last: "... /first -o b1 /second".
    r = curl(proxy.url(), url(origin, "/second"), url(origin, "/first"),
             "-o", str(tmp_path / "b1"), source=ALICE)
    assert r.returncode == 0, r.describe()
    assert [q.target for q in origin.requests] == ["/first", "/second"]
    assert origin.connections == 1


def test_switching_origins_on_one_client_connection(origin, make_origin, egressd):
    second = make_origin()
    proxy = egressd(rules={ALICE_FILE: "^allowed\\.test$\n^other\\.test$\n"},
                    http_ports=[origin.port, second.port])
    sequence = [(origin, "allowed.test"), (second, "other.test"), (origin, "allowed.test"),
                (origin, "allowed.test")]
    with RawClient(proxy.address, source=ALICE) as c:
        for i, (server, host) in enumerate(sequence):
            r = c.request("GET", url(server, "/s%d" % i, host), [("Host", "x")])
            assert r.status == 200
            assert json.loads(r.body)["target"] == "/s%d" % i
    assert [q.target for q in origin.requests] == ["/s0", "/s2", "/s3"]
    assert [q.target for q in second.requests] == ["/s1"]
    # /s2 and /s3 came back-to-back: the second of them reused the connection.
    assert origin.requests[1].conn_id == origin.requests[2].conn_id


def test_http10_client(proxy, origin):
    with RawClient(proxy.address, source=ALICE) as c:
        c.send(("GET %s HTTP/1.0\r\nUser-Agent: old\r\n\r\n" % url(origin, "/old")).encode())
        r = c.read_response()
        closed = c.is_closed()
    assert r.status == 200 and r.version in ("HTTP/1.0", "HTTP/1.1")
    assert json.loads(r.body)["target"] == "/old"
    assert closed, "an HTTP/1.0 request without keep-alive must end with a close"
    (req,) = origin.requests
    assert req.headers.get_all("host") == ["allowed.test:%d" % origin.port]


def test_http10_client_post_with_body(proxy, origin):
    body = b"x" * 5000
    with RawClient(proxy.address, source=ALICE) as c:
        c.send(("POST %s HTTP/1.0\r\nContent-Length: %d\r\n\r\n"
                % (url(origin, "/old"), len(body))).encode() + body)
        r = c.read_response()
    assert r.status == 200
    assert origin.requests[0].body == body


def test_close_delimited_response_to_http11_client(make_origin, egressd):
    payload = b"".join(b"line %05d of a body with no length\n" % i for i in range(20000))

    def handler(req):
        return Response(headers=[("Content-Type", "text/plain")], body=payload,
                        framing="close")
    server = make_origin(handler)
    proxy = egressd(rules=two_clients(), http_ports=[server.port])
    with RawClient(proxy.address, source=ALICE) as c:
        r = c.request("GET", url(server), [("Host", "x")])
        assert r.status == 200
        assert r.body == payload, "got %d of %d bytes" % (len(r.body), len(payload))
        if r.framing == "length" or r.framing == "chunked":
            # Re-framed by the proxy: then the connection may stay usable.
            pass
        else:
            assert c.is_closed()
    r = curl(proxy.url(), url(server), source=ALICE)
    assert r.returncode == 0 and r.body == payload, r.describe()


def test_head_response_has_no_body(make_origin, egressd):
    def handler(req):
        req.read_body()
        if req.method == "HEAD":
            return Response(headers=[("Content-Length", "123456"),
                                     ("Content-Type", "text/plain")], framing="none")
        return Response(body=b"the get body")
    server = make_origin(handler)
    proxy = egressd(rules=two_clients(), http_ports=[server.port])
    with RawClient(proxy.address, source=ALICE) as c:
        r = c.request("HEAD", url(server), [("Host", "x")])
        assert r.status == 200 and r.header("content-length") == "123456"
        # Had any body byte followed the HEAD response, this would not parse.
        r = c.request("GET", url(server), [("Host", "x")])
        assert r.status == 200 and r.body == b"the get body"


def test_our_own_answer_to_head_has_no_body(origin, egressd):
    # A HEAD refused by egressd: the page's length is announced, the page is not sent, so
    # the next response on the connection is read from its first byte.
    proxy = egressd(rules=two_clients(), http_ports=[origin.port])
    with RawClient(proxy.address, source=ALICE) as c:
        r = c.request("HEAD", "http://denied.invalid:%d/" % origin.port, [("Host", "x")])
        assert r.status == 403 and int(r.header("content-length")) > 0
        r = c.request("GET", url(origin), [("Host", "x")])
        assert r.status == 200, (r.status, r.raw_head)


def test_head_of_chunked_resource(make_origin, egressd):
    def handler(req):
        if req.method == "HEAD":
            return Response(headers=[("Transfer-Encoding", "chunked")], framing="none")
        return Response(body=[b"abc", b"def"], framing="chunked")
    server = make_origin(handler)
    proxy = egressd(rules=two_clients(), http_ports=[server.port])
    with RawClient(proxy.address, source=ALICE) as c:
        assert c.request("HEAD", url(server), [("Host", "x")]).status == 200
        r = c.request("GET", url(server), [("Host", "x")])
        assert r.status == 200 and r.body == b"abcdef"


@pytest.mark.parametrize("status,reason,headers", [
    (204, "No Content", []),
    (304, "Not Modified", [("ETag", '"v1"')]),
])
def test_no_body_statuses(make_origin, egressd, status, reason, headers):
    def handler(req):
        if req.target == "/empty":
            return Response(status, reason, headers, framing="none")
        return Response(body=b"after")
    server = make_origin(handler)
    proxy = egressd(rules=two_clients(), http_ports=[server.port])
    with RawClient(proxy.address, source=ALICE) as c:
        r = c.request("GET", url(server, "/empty"), [("Host", "x"),
                                                     ("If-None-Match", '"v1"')])
        assert r.status == status and r.body == b""
        r = c.request("GET", url(server, "/next"), [("Host", "x")])
        assert r.status == 200 and r.body == b"after"
    r = curl(proxy.url(), url(server, "/empty"), source=ALICE, timeout=10)
    assert r.returncode == 0 and r.status == status, r.describe()


def test_ip_literal_host_without_dns(egressd, origin):
    proxy = egressd(rules={ALICE_FILE: "^127\\.0\\.0\\.1$\n"}, http_ports=[origin.port])
    r = curl(proxy.url(), "http://127.0.0.1:%d/lit" % origin.port, source=ALICE)
    assert r.status == 200, r.describe()
    assert origin.requests[0].headers.get("host") == "127.0.0.1:%d" % origin.port


@pytest.mark.skipif(not ipv6_loopback_available(), reason="::1 is not configured")
def test_ipv6_listener(egressd, origin):
    rules = two_clients()
    rules["six.::1"] = "^allowed\\.test$\n"
    proxy = egressd(rules=rules, http_ports=[origin.port],
                    listen=["127.0.0.1:0", "[::1]:0"])
    hosts = [h for h, _ in proxy.addresses]
    assert sorted(hosts) == ["127.0.0.1", "::1"], proxy.addresses
    v4, v6 = hosts.index("127.0.0.1"), hosts.index("::1")
    r = curl(proxy.url(v6), url(origin, "/six"))
    assert r.status == 200, r.describe()
    d = proxy.wait_decision(addr="::1")
    assert d == {**d, "client": "six", "verdict": "allow", "host": "allowed.test"}
    # The IPv4 listener serves IPv4 clients at the same time.
    r = curl(proxy.url(v4), url(origin, "/four"), source=ALICE)
    assert r.status == 200, r.describe()
    with RawClient(proxy.addresses[v6]) as c:
        assert c.request("GET", url(origin, host="other.test"), [("Host", "x")]).status == 403


def test_pipelined_requests_answered_in_order(proxy, origin):
    both = b"".join(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % url(origin, p).encode()
                    for p in ("/p1", "/p2", "/p3"))
    with RawClient(proxy.address, source=ALICE) as c:
        c.send(both)
        targets = [json.loads(c.read_response().body)["target"] for _ in range(3)]
    assert targets == ["/p1", "/p2", "/p3"]


def test_connection_close_from_client_is_honoured(proxy, origin):
    with RawClient(proxy.address, source=ALICE) as c:
        r = c.request("GET", url(origin, "/last"), [("Host", "x"), ("Connection", "close")])
        assert r.status == 200
        assert c.is_closed(), "the proxy kept the connection after Connection: close"
    assert "connection" not in origin.requests[0].headers.names()


def test_denied_then_allowed_on_one_connection(proxy, origin):
    with RawClient(proxy.address, source=ALICE) as c:
        r = c.request("GET", url(origin, "/no", host="other.test"), [("Host", "x")])
        assert r.status == 403
        if c.is_closed(timeout=0.2):
            return  # closing after a refusal is fine too
        r = c.request("GET", url(origin, "/yes"), [("Host", "x")])
        assert r.status == 200
    assert [q.target for q in origin.requests] == ["/yes"]


def test_host_is_normalised_before_rules(proxy, origin):
    # Upper case and one trailing dot name the same host as the rule.
    for host in ["ALLOWED.test", "allowed.test."]:
        with RawClient(proxy.address, source=ALICE) as c:
            r = c.request("GET", url(origin, "/n", host=host), [("Host", "x")])
        assert r.status == 200, host
    assert {d["host"] for d in proxy.decisions()} == {"allowed.test"}
