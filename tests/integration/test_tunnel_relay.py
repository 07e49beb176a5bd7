"""The CONNECT relay under bulk data: every byte arrives, the closing log line counts
them, a slow client is served without loss, and the idle deadline still applies once
bulk data has flowed."""

import hashlib
import os
import socket
import time

from helpers.client import RawClient
from helpers.common import ALICE, ALICE_FILE


def tunnel_rules():
    return {ALICE_FILE: "^tunnel\\.test$\n"}


def open_tunnel(proxy, port, early=b""):
    c = RawClient(proxy.address, source=ALICE)
    c.send(("CONNECT tunnel.test:%d HTTP/1.1\r\nHost: tunnel.test:%d\r\n\r\n"
            % (port, port)).encode() + early)
    r = c.read_response("CONNECT")
    assert r.status == 200, r.raw_head
    return c


def test_bulk_both_ways_is_counted_in_the_log(egressd, make_origin):
    # The origin takes an upload to its end, then answers with a large download.
    download = os.urandom(24 << 20)
    got = {}

    def origin_side(sock, conn_id):
        h = hashlib.sha256()
        size = 0
        while True:
            data = sock.recv(1 << 20)
            if not data:
                break
            h.update(data)
            size += len(data)
        got["upload"] = (size, h.digest())
        sock.sendall(download)
        sock.shutdown(socket.SHUT_WR)

    origin = make_origin(raw=origin_side)
    proxy = egressd(rules=tunnel_rules(), connect_ports=[origin.port])
    upload = os.urandom(8 << 20)
    c = open_tunnel(proxy, origin.port, early=b"early|")
    with c:
        c.sock.sendall(upload)
        c.shutdown_write()
        received = c.read_to_eof(limit=len(download) + 1)
    assert got["upload"] == (len(upload) + 6, hashlib.sha256(b"early|" + upload).digest())
    assert hashlib.sha256(received).digest() == hashlib.sha256(download).digest()
    proxy.wait_log(r"tunnel closed addr=127\.0\.0\.2 host=tunnel\.test port=%d sent=%d "
                   r"received=%d\n" % (origin.port, len(upload) + 6, len(download)))


def test_a_slow_client_gets_every_byte(egressd, make_origin):
    download = os.urandom(12 << 20)

    def origin_side(sock, conn_id):
        sock.sendall(download)
        sock.shutdown(socket.SHUT_WR)

    origin = make_origin(raw=origin_side)
    proxy = egressd(rules=tunnel_rules(), connect_ports=[origin.port])
    c = open_tunnel(proxy, origin.port)
    with c:
        time.sleep(0.5)  # the proxy's socket buffers fill up and it has to wait
        received = bytearray()
        while True:
            data = c.sock.recv(7000)
            if not data:
                break
            received += data
    assert len(received) == len(download)
    assert hashlib.sha256(received).digest() == hashlib.sha256(download).digest()


def test_an_idle_deadline_after_bulk_data(egressd, make_origin):
    def origin_side(sock, conn_id):
        sock.sendall(os.urandom(4 << 20))
        while sock.recv(65536):
            pass

    origin = make_origin(raw=origin_side)
    proxy = egressd(rules=tunnel_rules(), connect_ports=[origin.port],
                    config={"timeouts": {"tunnel_idle": 1}})
    c = open_tunnel(proxy, origin.port)
    with c:
        received = 0
        while received < (4 << 20):
            received += len(c.sock.recv(1 << 20))
        assert c.is_closed(timeout=10)
    proxy.wait_log(r"tunnel closed addr=127\.0\.0\.2 host=tunnel\.test .*received=%d "
                   r"idle-timeout" % (4 << 20))
