"""Self-checks of the test helpers themselves (no egressd involved), so a failure in the
suite can be trusted to be about egressd."""

import socket
import ssl

from helpers import dns
from helpers.client import RawClient, build_request
from helpers.common import NXDOMAIN_NAME
from helpers.origin import CLOSE, Response
from helpers.proxy import parse_decision, to_toml


def test_dns_answers_a_nodata_and_nxdomain(dns_server):
    qid, rcode, answers = dns.query(dns_server.address, "allowed.test")
    assert (qid, rcode, answers) == (0x1234, 0, [socket.inet_aton("127.0.0.1")])
    _, rcode, answers = dns.query(dns_server.address, "Allowed.TEST", dns.TYPE_AAAA)
    assert (rcode, answers) == (0, [])
    _, rcode, answers = dns.query(dns_server.address, NXDOMAIN_NAME)
    assert (rcode, answers) == (3, [])


def test_origin_records_and_echoes(origin):
    with RawClient(("127.0.0.1", origin.port)) as c:
        r1 = c.request("POST", "/a?b=c", [("Host", "x"), ("X-One", "1")], b"hello")
        c.send(b"GET /two HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n")
        r2 = c.read_response()
    assert r1.status == 200 and r2.status == 200
    assert r1.headers.get("content-type") == "application/json"
    assert origin.connections == 1
    first, second = origin.requests
    assert first.request_line == "POST /a?b=c HTTP/1.1"
    assert first.headers.get("x-one") == "1" and first.body == b"hello"
    assert second.body == b"abcde" and second.body_framing == "chunked"
    assert second.trailers.get("x-t") == "1"


def test_origin_close_delimited_and_head(make_origin):
    def handler(req):
        if req.method == "HEAD":
            return Response(headers=[("Content-Length", "10")], framing="none")
        return Response(body=b"until close", framing="close")

    server = make_origin(handler)
    with RawClient(("127.0.0.1", server.port)) as c:
        head = c.request("HEAD", "/", [("Host", "x")])
        assert head.status == 200 and head.body == b""
        body = c.request("GET", "/", [("Host", "x")])
        assert body.framing == "close" and body.body == b"until close"


def test_tls_origin(make_origin, tls_cert):
    server = make_origin(tls=True)
    ctx = ssl.create_default_context(cafile=tls_cert[0])
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="tls.test") as s:
            s.sendall(build_request("GET", "/tls", [("Host", "tls.test")]))
            data = b""
            for _ in range(100):
                data += s.recv(65536)
                if b'"target": "/tls"' in data:
                    break
    assert data.startswith(b"HTTP/1.1 200 OK")


def test_raw_origin_and_handler_close(make_origin):
    def handler(req):
        req.sock.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")
        return CLOSE

    server = make_origin(handler)
    with RawClient(("127.0.0.1", server.port)) as c:
        assert c.request("GET", "/", [("Host", "x")]).status == 204
        assert c.is_closed()


def test_toml_and_decision_parsing():
    text = to_toml({"listen": ["127.0.0.1:0"], "workers": 2, "dns": {"servers": ["a:1"]},
                    "clients": {"carol": {"mode": "block-list"}}})
    assert 'listen = ["127.0.0.1:0"]' in text and "[dns]" in text
    assert '[clients.carol]\nmode = "block-list"' in text
    d = parse_decision('2024 info decision client=- addr=127.0.0.9 method=GET '
                       'host=a.test port=80 verdict=deny reason=unknown-client-denied '
                       'x="a \\"b\\""')
    assert d["client"] == "-" and d["reason"] == "unknown-client-denied"
    assert d["x"] == 'a "b"'
