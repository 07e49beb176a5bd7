"""Clients: a raw-socket HTTP/1.x client that parses responses strictly by their framing
(so stray or missing body bytes show up), and a curl runner."""

import os
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

from helpers.origin import Headers, parse_headers

IO_TIMEOUT = 15.0


@dataclass
class HttpResponse:
    version: str
    status: int
    reason: str
    headers: Headers
    raw_head: bytes
    body: bytes = b""
    framing: str = "none"          # length, chunked, close or none
    interim: list = field(default_factory=list)  # 1xx responses seen before this one

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def header(self, name, default=None):
        return self.headers.get(name, default)


class RawClient:
    """One TCP connection to the proxy, optionally from a chosen source address."""

    def __init__(self, proxy_address, source=None, timeout=IO_TIMEOUT):
        host, port = proxy_address
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if source is not None:
            self.sock.bind((source, 0))
        self.sock.connect((host, port))
        self.buf = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        self.sock.sendall(data)

    def shutdown_write(self):
        self.sock.shutdown(socket.SHUT_WR)

    def _fill(self):
        data = self.sock.recv(256 * 1024)
        if not data:
            raise EOFError("proxy closed the connection; got so far: %r" % self.buf[:2000])
        self.buf += data

    def _read_until(self, marker, limit=1 << 20):
        for _ in range(1 << 20):
            i = self.buf.find(marker)
            if i >= 0:
                out, self.buf = self.buf[:i + len(marker)], self.buf[i + len(marker):]
                return out
            if len(self.buf) > limit:
                raise ValueError("no %r within %d bytes" % (marker, limit))
            self._fill()
        raise ValueError("too many reads")

    def _read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_head(self):
        raw = self._read_until(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        status, _, reason = rest.partition(" ")
        return HttpResponse(version, int(status), reason,
                            Headers(parse_headers([l for l in lines[1:] if l])), raw)

    def read_response(self, method="GET", skip_interim=True):
        """Reads one response. 1xx responses are collected into .interim (or returned
        themselves when skip_interim is False). The body is read by its framing;
        without any framing, until the proxy closes the connection."""
        interim = []
        for _ in range(100):
            resp = self.read_head()
            if 100 <= resp.status < 200 and resp.status != 101:
                if not skip_interim:
                    return resp
                interim.append(resp)
                continue
            break
        else:
            raise ValueError("too many interim responses")
        resp.interim = interim
        te = resp.headers.tokens("transfer-encoding")
        cl = resp.headers.get_all("content-length")
        if method == "HEAD" or resp.status in (204, 304) or (
                method == "CONNECT" and 200 <= resp.status < 300):
            resp.framing = "none"
        elif te:
            assert te[-1] == "chunked", te
            resp.framing = "chunked"
            resp.body = self._read_chunked()
        elif cl:
            assert len(set(cl)) == 1, cl
            resp.framing = "length"
            resp.body = self._read_exact(int(cl[0]))
        else:
            resp.framing = "close"
            resp.body = self.read_to_eof()
        return resp

    def _read_chunked(self):
        parts = []
        for _ in range(1 << 24):
            line = self._read_until(b"\r\n", 4096)
            size = int(line.split(b";")[0].strip(), 16)
            if size == 0:
                for _ in range(1000):
                    if self._read_until(b"\r\n", 65536) == b"\r\n":
                        return b"".join(parts)
                raise ValueError("too many trailer lines")
            parts.append(self._read_exact(size))
            if self._read_exact(2) != b"\r\n":
                raise ValueError("chunk data not followed by CRLF")
        raise ValueError("too many chunks")

    def read_to_eof(self, limit=256 << 20):
        for _ in range(1 << 20):
            try:
                data = self.sock.recv(256 * 1024)
            except ConnectionResetError:
                data = b""
            if not data:
                out, self.buf = self.buf, b""
                return out
            self.buf += data
            if len(self.buf) > limit:
                raise ValueError("more than %d bytes before EOF" % limit)
        raise ValueError("too many reads")

    def is_closed(self, timeout=5.0):
        """True when the proxy closes the connection (EOF or reset) within `timeout`
        with no unread byte; False if it stays open or sends more bytes."""
        if self.buf:
            return False
        old = self.sock.gettimeout()
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1)
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True
        finally:
            self.sock.settimeout(old)
        if data:
            self.buf += data
            return False
        return True

    def request(self, method, url, headers=(), body=None, version="HTTP/1.1"):
        """Sends one request (Content-Length added for a bytes body unless a framing
        header is given) and returns read_response()."""
        self.send(build_request(method, url, headers, body, version))
        return self.read_response(method)


def build_request(method, target, headers=(), body=None, version="HTTP/1.1"):
    headers = list(headers)
    names = {n.lower() for n, _ in headers}
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        headers.append(("Content-Length", str(len(body))))
    head = "%s %s %s\r\n" % (method, target, version)
    head += "".join("%s: %s\r\n" % hv for hv in headers) + "\r\n"
    return head.encode("latin-1") + (body or b"")


def host_header(url):
    """The authority of an absolute http URL, for a Host header."""
    return url.split("://", 1)[1].split("/", 1)[0]


def clean_env():
    """The environment without proxy variables, so only --proxy decides."""
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")}
    env["HOME"] = env.get("HOME", "/nonexistent")
    return env


@dataclass
class CurlResult:
    returncode: int
    status: int
    headers: Headers
    body: bytes
    stderr: str
    elapsed: float
    args: list

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def describe(self):
        return "curl %s\n exit %d, status %d\n stderr: %s\n body: %r" % (
            " ".join(self.args), self.returncode, self.status, self.stderr[-3000:],
            self.body[:1000])


def curl(proxy_url, url, *extra, source=None, timeout=60, output=None):
    """Runs curl through the proxy. Returns the final response's status, headers and
    body (the body is left in `output` and not read when `output` is given)."""
    with tempfile.TemporaryDirectory(prefix="curl-") as tmp:
        head_path = os.path.join(tmp, "head")
        body_path = output or os.path.join(tmp, "body")
        args = ["curl", "-q", "-sS", "--proxy", proxy_url, "-D", head_path, "-o", body_path,
                "--max-time", str(timeout)]
        if source is not None:
            args += ["--interface", source]
        args += list(extra) + [url]
        start = time.monotonic()
        proc = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=clean_env(), timeout=timeout + 10)
        elapsed = time.monotonic() - start
        status, headers = 0, Headers()
        if os.path.exists(head_path):
            with open(head_path, "rb") as f:
                blocks = [b for b in f.read().decode("latin-1").split("\r\n\r\n") if b.strip()]
            if blocks:
                lines = blocks[-1].split("\r\n")
                parts = lines[0].split(" ")
                if len(parts) >= 2 and parts[1].isdigit():
                    status = int(parts[1])
                headers = Headers(parse_headers([l for l in lines[1:] if ":" in l]))
        body = b""
        if output is None and os.path.exists(body_path):
            with open(body_path, "rb") as f:
                body = f.read()
        return CurlResult(proc.returncode, status, headers, body,
                          proc.stderr.decode("utf-8", "replace"), elapsed, args)
