"""Parent proxies for the upstream tests: tinyproxy from Debian run on loopback, and a
SOCKS5/SOCKS4a server written here that records what it was asked (so a test can see
that a name reached it unresolved) and relays to loopback origins only."""

import signal
import socket
import struct
import subprocess
import threading
import time

from helpers.origin import TcpServer

IO_TIMEOUT = 20.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class Tinyproxy:
    """tinyproxy -d on 127.0.0.1 with its own config and log in `workdir`.
    `basic_auth` = (user, password) makes it demand Proxy-Authorization;
    `connect_ports` are the ports it lets CONNECT reach (none: any)."""

    def __init__(self, workdir, basic_auth=None, connect_ports=()):
        self.workdir = workdir
        self.port = free_port()
        # Without LogFile, tinyproxy -d logs to its standard output: no file that the
        # unprivileged user it runs as would need to reach through pytest's private folders.
        self.log_path = workdir / "tinyproxy.out"
        lines = [
            "User nobody", "Group nogroup",
            "Port %d" % self.port, "Listen 127.0.0.1", "Timeout 30", "MaxClients 50",
            "LogLevel Info", "Allow 127.0.0.1",
        ]
        lines += ["ConnectPort %d" % p for p in connect_ports]
        if basic_auth:
            lines.append("BasicAuth %s %s" % basic_auth)
        self.config_path = workdir / "tinyproxy.conf"
        self.config_path.write_text("\n".join(lines) + "\n")
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["tinyproxy", "-d", "-c", str(self.config_path)],
                                     stdin=subprocess.DEVNULL,
                                     stdout=open(self.log_path, "wb"),
                                     stderr=subprocess.STDOUT)
        if not wait_listening(self.port, self.proc):
            out = self.stop()
            raise RuntimeError("tinyproxy did not start: %s" % out)
        return self

    def stop(self):
        if self.proc is None:
            return ""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        return self.log()

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port


def _recv_exact(sock, n):
    data = b""
    while len(data) < n:
        more = sock.recv(n - len(data))
        if not more:
            raise ConnectionError("closed after %d of %d bytes" % (len(data), n))
        data += more
    return data


def _recv_until_nul(sock, limit=512):
    data = b""
    while not data.endswith(b"\0"):
        data += _recv_exact(sock, 1)
        if len(data) > limit:
            raise ConnectionError("no NUL")
    return data[:-1].decode("latin-1")


def _relay(a, b):
    """Copies both ways until both directions have ended."""
    def pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    t = threading.Thread(target=pump, args=(b, a), daemon=True)
    t.start()
    pump(a, b)
    t.join(timeout=IO_TIMEOUT)


class SocksServer:
    """SOCKS5 (RFC 1928/1929) and SOCKS4a on 127.0.0.1. `names` maps the names it may be
    asked for to the loopback address it connects to (it resolves nothing else);
    `credentials` = (user, password) makes SOCKS5 require them; `refuse` = a SOCKS5 reply
    code to give every CONNECT. Each CONNECT is recorded in `requests` as a dict:
    version, atyp ("name", "ipv4", "ipv6"), host, port, user."""

    def __init__(self, names=None, credentials=None, refuse=None):
        self.names = dict(names or {})
        self.credentials = credentials
        self.refuse = refuse
        self.requests = []
        self._server = TcpServer(self._handle, name="socks")
        self.port = self._server.port

    def start(self):
        self._server.start()
        return self

    def stop(self):
        self._server.stop()

    def _target(self, host):
        if host in self.names:
            return self.names[host]
        if host.startswith("127."):
            return host
        return None

    def _handle(self, sock, conn_id):
        sock.settimeout(IO_TIMEOUT)
        version = _recv_exact(sock, 1)[0]
        if version == 5:
            self._socks5(sock)
        elif version == 4:
            self._socks4(sock)

    def _socks5(self, sock):
        methods = _recv_exact(sock, _recv_exact(sock, 1)[0])
        want = 2 if self.credentials else 0
        if want not in methods:
            sock.sendall(b"\x05\xff")
            return
        sock.sendall(bytes([5, want]))
        user = ""
        if want == 2:
            _recv_exact(sock, 1)  # sub-negotiation version 1
            user = _recv_exact(sock, _recv_exact(sock, 1)[0]).decode("latin-1")
            password = _recv_exact(sock, _recv_exact(sock, 1)[0]).decode("latin-1")
            ok = (user, password) == tuple(self.credentials)
            sock.sendall(b"\x01\x00" if ok else b"\x01\x01")
            if not ok:
                return
        ver, cmd, _, atyp = _recv_exact(sock, 4)
        if atyp == 1:
            host, kind = socket.inet_ntop(socket.AF_INET, _recv_exact(sock, 4)), "ipv4"
        elif atyp == 4:
            host, kind = socket.inet_ntop(socket.AF_INET6, _recv_exact(sock, 16)), "ipv6"
        else:
            host = _recv_exact(sock, _recv_exact(sock, 1)[0]).decode("latin-1")
            kind = "name"
        port = struct.unpack("!H", _recv_exact(sock, 2))[0]
        self.requests.append({"version": 5, "atyp": kind, "host": host, "port": port,
                              "user": user, "cmd": cmd})
        reply = lambda code: bytes([5, code, 0, 1, 127, 0, 0, 1]) + struct.pack("!H", 0)
        if self.refuse is not None:
            sock.sendall(reply(self.refuse))
            return
        address = self._target(host)
        if cmd != 1 or address is None:
            sock.sendall(reply(4))  # host unreachable
            return
        try:
            upstream = socket.create_connection((address, port), timeout=IO_TIMEOUT)
        except OSError:
            sock.sendall(reply(5))
            return
        with upstream:
            sock.sendall(reply(0))
            _relay(sock, upstream)

    def _socks4(self, sock):
        cmd = _recv_exact(sock, 1)[0]
        port = struct.unpack("!H", _recv_exact(sock, 2))[0]
        ip = _recv_exact(sock, 4)
        user = _recv_until_nul(sock)
        if ip[:3] == b"\0\0\0" and ip[3] != 0:
            host, kind = _recv_until_nul(sock), "name"
        else:
            host, kind = socket.inet_ntop(socket.AF_INET, ip), "ipv4"
        self.requests.append({"version": 4, "atyp": kind, "host": host, "port": port,
                              "user": user, "cmd": cmd})
        address = self._target(host)
        if cmd != 1 or address is None:
            sock.sendall(b"\x00\x5b" + b"\0" * 6)
            return
        try:
            upstream = socket.create_connection((address, port), timeout=IO_TIMEOUT)
        except OSError:
            sock.sendall(b"\x00\x5b" + b"\0" * 6)
            return
        with upstream:
            sock.sendall(b"\x00\x5a" + b"\0" * 6)
            _relay(sock, upstream)
