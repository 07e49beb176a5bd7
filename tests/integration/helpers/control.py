"""Talking to egressd's control socket directly (JSON lines), and a CONNECT tunnel to an
echo origin, for the control, live-rules and rule-tools tests."""

import json
import socket

from helpers.client import RawClient
from helpers.common import ALICE


class Control:
    """One connection to the control socket."""

    def __init__(self, path, timeout=10.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buf = b""

    def close(self):
        self.sock.close()

    def send_line(self, data):
        self.sock.sendall(data)

    def read_line(self):
        """One answer line, or b"" when egressd closed the connection."""
        while b"\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                out, self.buf = self.buf, b""
                return out
            self.buf += data
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def __call__(self, command, **fields):
        self.send_line((json.dumps(dict(command=command, **fields)) + "\n").encode())
        line = self.read_line()
        assert line, "control socket closed without an answer"
        return json.loads(line)


def command(proxy, name, **fields):
    c = Control(proxy.control_path)
    try:
        return c(name, **fields)
    finally:
        c.close()


def echo(sock, conn_id):
    while True:
        data = sock.recv(65536)
        if not data:
            return
        sock.sendall(data)


def open_tunnel(proxy, port, source=ALICE):
    c = RawClient(proxy.address, source=source)
    c.send(("CONNECT tunnel.test:%d HTTP/1.1\r\nHost: tunnel.test:%d\r\n\r\n"
            % (port, port)).encode())
    r = c.read_response("CONNECT")
    assert r.status == 200, r.raw_head
    c.send(b"ping")
    assert c._read_exact(4) == b"ping"
    return c


