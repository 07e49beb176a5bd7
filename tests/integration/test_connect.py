"""CONNECT tunnels: HTTPS with curl through the proxy, refusals, and the tunnel itself
(full duplex, half-close in both directions, bytes sent along with the CONNECT)."""

import hashlib
import json
import os
import socket
import threading

import pytest

from helpers.client import RawClient, curl
from helpers.common import ALICE, ALICE_FILE, anchored
from helpers.origin import Reader


def tunnel_rules():
    return {ALICE_FILE: "^tls\\.test$\n^tunnel\\.test$\n^127\\.0\\.0\\.1$\n"}


def open_tunnel(proxy, authority, source=ALICE, early=b""):
    c = RawClient(proxy.address, source=source)
    c.send(("CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (authority, authority)).encode()
           + early)
    r = c.read_response("CONNECT")
    return c, r


def test_https_with_curl(egressd, make_origin, tls_cert):
    server = make_origin(tls=True)
    proxy = egressd(rules=tunnel_rules(), connect_ports=[server.port])
    r = curl(proxy.url(), "https://tls.test:%d/secure?x=1" % server.port,
             "--cacert", tls_cert[0], source=ALICE)
    assert r.status == 200, r.describe()
    assert json.loads(r.body)["target"] == "/secure?x=1"
    d = proxy.wait_decision(method="CONNECT")
    assert d == {**d, "client": "alice", "host": "tls.test", "port": str(server.port),
                 "verdict": "allow", "reason": "allow-rule"}


def test_https_post_with_curl(egressd, make_origin, tls_cert, tmp_path):
    server = make_origin(tls=True)
    proxy = egressd(rules=tunnel_rules(), connect_ports=[server.port])
    data = os.urandom(1 << 20)
    (tmp_path / "body").write_bytes(data)
    r = curl(proxy.url(), "https://tls.test:%d/post" % server.port, "--cacert", tls_cert[0],
             "--data-binary", "@%s" % (tmp_path / "body"), source=ALICE)
    assert r.status == 200, r.describe()
    assert json.loads(r.body)["body_sha256"] == hashlib.sha256(data).hexdigest()


def test_connect_response_line(egressd, make_origin):
    server = make_origin(raw=lambda sock, conn_id: sock.recv(1))
    proxy = egressd(rules=tunnel_rules(), connect_ports=[server.port])
    c, r = open_tunnel(proxy, "tunnel.test:%d" % server.port)
    with c:
        assert r.status == 200
        assert r.raw_head.startswith(b"HTTP/1.1 200 Connection established\r\n"), r.raw_head


def test_denied_connect_gets_text_explanation(egressd, make_origin):
    server = make_origin(raw=lambda sock, conn_id: sock.recv(1))
    proxy = egressd(rules=tunnel_rules(), connect_ports=[server.port])
    c, r = open_tunnel(proxy, "www.example.com:%d" % server.port)
    with c:
        assert r.status == 403
    assert r.header("content-type", "").split(";")[0].strip().lower() == "text/plain"
    for fact in ["alice", ALICE, "www.example.com", str(proxy.rules_dir / ALICE_FILE),
                 anchored("www.example.com")]:
        assert fact in r.text, (fact, r.text)
    assert server.connections == 0
    d = proxy.wait_decision(method="CONNECT", host="www.example.com")
    assert d == {**d, "verdict": "deny", "reason": "no-allow-rule"}


def test_curl_sees_denied_connect(egressd, tls_cert):
    proxy = egressd(rules=tunnel_rules(), connect_ports=[443])
    r = curl(proxy.url(), "https://other.test/", "--cacert", tls_cert[0], source=ALICE,
             timeout=10)
    assert r.returncode != 0
    assert "403" in r.stderr, r.describe()


@pytest.mark.parametrize("which", ["unlisted", "default-443"])
def test_connect_port_not_allowed(egressd, make_origin, which):
    server = make_origin(raw=lambda sock, conn_id: sock.recv(1))
    listed = make_origin(raw=lambda sock, conn_id: sock.recv(1))
    proxy = egressd(rules=tunnel_rules(), connect_ports=[listed.port])
    port = server.port if which == "unlisted" else 443
    c, r = open_tunnel(proxy, "tls.test:%d" % port)
    with c:
        assert r.status == 403
    assert server.connections == 0
    d = proxy.wait_decision(method="CONNECT", port=port)
    assert d == {**d, "verdict": "deny", "reason": "port-not-allowed"}


def test_connect_to_ip_literal(egressd, make_origin):
    def hello(sock, conn_id):
        sock.sendall(b"hello from origin")
        sock.shutdown(socket.SHUT_WR)
        Reader(sock).at_eof()
    server = make_origin(raw=hello)
    proxy = egressd(rules=tunnel_rules(), connect_ports=[server.port])
    c, r = open_tunnel(proxy, "127.0.0.1:%d" % server.port)
    with c:
        assert r.status == 200
        c.shutdown_write()
        assert c.read_to_eof() == b"hello from origin"


def test_half_close_client_first(egressd, make_origin):
    # Client sends and shuts down its write side; the origin sees EOF and only then
    # answers; the answer must still reach the client.
    def origin_side(sock, conn_id):
        received = b""
        for _ in range(10000):
            data = sock.recv(65536)
            if not data:
                break
            received += data
        sock.sendall(b"after-eof:" + received)
        sock.shutdown(socket.SHUT_WR)

    server = make_origin(raw=origin_side)
    proxy = egressd(rules=tunnel_rules(), connect_ports=[server.port])
    c, r = open_tunnel(proxy, "tunnel.test:%d" % server.port)
    with c:
        assert r.status == 200
        payload = os.urandom(100_000)
        c.send(payload)
        c.shutdown_write()
        assert c.read_to_eof() == b"after-eof:" + payload


def test_half_close_origin_first(egressd, make_origin):
    # The origin sends and shuts down first; the client reads to EOF, then answers;
    # the answer must still reach the origin.
    got = {}
    done = threading.Event()

    def origin_side(sock, conn_id):
        sock.sendall(b"greeting" * 1000)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        for _ in range(10000):
            data = sock.recv(65536)
            if not data:
                break
            received += data
        got["data"] = received
        done.set()

    server = make_origin(raw=origin_side)
    proxy = egressd(rules=tunnel_rules(), connect_ports=[server.port])
    c, r = open_tunnel(proxy, "tunnel.test:%d" % server.port)
    with c:
        assert r.status == 200
        assert c.read_to_eof() == b"greeting" * 1000
        c.send(b"reply after your eof")
        c.shutdown_write()
        assert done.wait(10), "origin never saw EOF from the client"
    assert got["data"] == b"reply after your eof"


def test_bytes_sent_with_connect_are_not_lost(egressd, make_origin):
    def echo_once(sock, conn_id):
        data = b""
        for _ in range(1000):
            piece = sock.recv(65536)
            if not piece:
                break
            data += piece
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)

    server = make_origin(raw=echo_once)
    proxy = egressd(rules=tunnel_rules(), connect_ports=[server.port])
    c, r = open_tunnel(proxy, "tunnel.test:%d" % server.port, early=b"early bytes|")
    with c:
        assert r.status == 200
        c.send(b"later bytes")
        c.shutdown_write()
        assert c.read_to_eof() == b"early bytes|later bytes"


def test_full_duplex_bulk(egressd, make_origin):
    # An echo origin and a client writing 16 MiB while reading: without full duplex
    # relaying, buffers fill and this stalls.
    def echo(sock, conn_id):
        for _ in range(1 << 20):
            data = sock.recv(256 * 1024)
            if not data:
                break
            sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)

    server = make_origin(raw=echo)
    proxy = egressd(rules=tunnel_rules(), connect_ports=[server.port])
    c, r = open_tunnel(proxy, "tunnel.test:%d" % server.port)
    payload = os.urandom(16 << 20)
    errors = []

    def writer():
        try:
            view = memoryview(payload)
            for i in range(0, len(payload), 1 << 20):
                c.sock.sendall(view[i:i + (1 << 20)])
            c.shutdown_write()
        except OSError as e:
            errors.append(e)

    with c:
        assert r.status == 200
        t = threading.Thread(target=writer, daemon=True)
        t.start()
        echoed = c.read_to_eof(limit=len(payload) + 1)
        t.join(timeout=20)
    assert not errors
    assert len(echoed) == len(payload)
    assert hashlib.sha256(echoed).digest() == hashlib.sha256(payload).digest()
