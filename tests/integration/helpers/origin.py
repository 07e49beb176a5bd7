"""Origin servers on loopback: a generic threaded TCP server (optionally TLS) and an
HTTP/1.1 origin on top of it that records exactly what it received and answers through
a handler, with streaming bodies so large transfers never sit in memory."""

import hashlib
import json
import os
import socket
import ssl
import threading
import time

IO_TIMEOUT = 20.0        # every socket operation of an origin gives up after this
MAX_HEAD = 1 << 20       # a request head larger than this is a test failure
KEEP_BODY = 1 << 20      # request bodies up to this size are kept in Request.body
CHUNK = 256 * 1024


class TcpServer:
    """Accepts connections on `host`:0 and runs `handle(sock, conn_id)` for each in its
    own thread. With `ssl_context`, the socket is wrapped (handshake in that thread)."""

    def __init__(self, handle, host="127.0.0.1", ssl_context=None, name="origin"):
        self._handle = handle
        self._ssl = ssl_context
        self._name = name
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, 0))
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        self.host = host
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._conns = []
        self._threads = []
        self.connections = 0     # accepted so far
        self.peers = []          # (ip, port) of each accepted connection
        self.errors = []         # exceptions raised by handlers, for diagnostics
        self._accept_thread = threading.Thread(target=self._accept_loop,
                                               name=name + "-accept", daemon=True)

    def start(self):
        self._accept_thread.start()
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self._stop.set()
        self._accept_thread.join(timeout=5)
        self._listener.close()
        with self._lock:
            conns = list(self._conns)
            threads = list(self._threads)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.close()
            except OSError:
                pass
        for t in threads:
            t.join(timeout=5)

    def wait_connections(self, count, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.connections >= count:
                return True
            time.sleep(0.01)
        return self.connections >= count

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                sock, peer = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.connections += 1
                conn_id = self.connections
                self.peers.append(peer)
                self._conns.append(sock)
                t = threading.Thread(target=self._run, args=(sock, conn_id),
                                     name="%s-%d" % (self._name, conn_id), daemon=True)
                self._threads.append(t)
            t.start()

    def _run(self, sock, conn_id):
        try:
            sock.settimeout(IO_TIMEOUT)
            if self._ssl is not None:
                sock = self._ssl.wrap_socket(sock, server_side=True)
                with self._lock:
                    self._conns.append(sock)
            self._handle(sock, conn_id)
        except Exception as e:  # recorded, shown by tests that care
            if not self._stop.is_set():
                with self._lock:
                    self.errors.append("conn %d: %r" % (conn_id, e))
        finally:
            try:
                sock.close()
            except OSError:
                pass


class Reader:
    """Buffered reads from a socket with line and exact-size helpers."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        data = self.sock.recv(CHUNK)
        if not data:
            raise EOFError("peer closed")
        self.buf += data

    def read_until(self, marker, limit):
        for _ in range(1 << 20):
            i = self.buf.find(marker)
            if i >= 0:
                out, self.buf = self.buf[:i + len(marker)], self.buf[i + len(marker):]
                return out
            if len(self.buf) > limit:
                raise ValueError("no %r within %d bytes" % (marker, limit))
            self._fill()
        raise ValueError("too many reads")

    def read_some(self, n):
        if not self.buf:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def at_eof(self):
        """True when the peer closed with nothing buffered (waits for a byte or EOF)."""
        if self.buf:
            return False
        try:
            data = self.sock.recv(CHUNK)
        except (ConnectionResetError, ssl.SSLError):
            return True
        if not data:
            return True
        self.buf += data
        return False


def parse_headers(lines):
    """[(name, value)] from header lines, names and values exactly as sent (values
    stripped of surrounding whitespace)."""
    out = []
    for line in lines:
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError("bad header line %r" % line)
        out.append((name, value.strip()))
    return out


class Headers(list):
    """A list of (name, value) with case-insensitive look-ups."""

    def get(self, name, default=None):
        for n, v in self:
            if n.lower() == name.lower():
                return v
        return default

    def get_all(self, name):
        return [v for n, v in self if n.lower() == name.lower()]

    def names(self):
        return [n.lower() for n, _ in self]

    def tokens(self, name):
        """Comma-separated tokens of all fields `name`, lower-cased."""
        out = []
        for v in self.get_all(name):
            out += [t.strip().lower() for t in v.split(",") if t.strip()]
        return out


class Request:
    """One request as the origin received it."""

    def __init__(self, conn_id, raw_head, reader, sock, keep_body=KEEP_BODY):
        self.conn_id = conn_id
        self.raw_head = raw_head
        self.sock = sock
        self._reader = reader
        self._keep_body = keep_body
        text = raw_head.decode("latin-1")
        lines = text.split("\r\n")
        self.request_line = lines[0]
        parts = lines[0].split(" ")
        if len(parts) != 3:
            raise ValueError("bad request line %r" % lines[0])
        self.method, self.target, self.version = parts
        self.headers = Headers(parse_headers([l for l in lines[1:] if l]))
        self.body = b""
        self.body_len = 0
        self.body_sha256 = hashlib.sha256().hexdigest()
        self.body_framing = "none"
        self.trailers = Headers()
        self.body_read = False
        self.sent_continue = False

    @property
    def wants_close(self):
        tokens = self.headers.tokens("connection")
        if self.version == "HTTP/1.0":
            return "keep-alive" not in tokens
        return "close" in tokens

    def send_continue(self):
        self.sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.sent_continue = True

    def iter_body(self):
        """Yields the decoded request body in pieces (once)."""
        if self.body_read:
            return
        self.body_read = True
        te = self.headers.tokens("transfer-encoding")
        cl = self.headers.get("content-length")
        if te:
            if te[-1] != "chunked":
                raise ValueError("unsupported transfer-encoding %r" % te)
            self.body_framing = "chunked"
            for _ in range(1 << 24):
                size_line = self._reader.read_until(b"\r\n", 4096)
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    for _ in range(1000):
                        line = self._reader.read_until(b"\r\n", 65536)
                        if line == b"\r\n":
                            break
                        self.trailers += parse_headers([line.decode("latin-1").rstrip("\r\n")])
                    return
                remaining = size
                while remaining:
                    piece = self._reader.read_some(min(remaining, CHUNK))
                    remaining -= len(piece)
                    yield piece
                if self._reader.read_exact(2) != b"\r\n":
                    raise ValueError("chunk not followed by CRLF")
        elif cl is not None:
            self.body_framing = "length"
            remaining = int(cl)
            while remaining:
                piece = self._reader.read_some(min(remaining, CHUNK))
                remaining -= len(piece)
                yield piece

    def read_body(self):
        """Reads the whole body, hashing it; keeps it in .body when small enough."""
        if self.body_read:
            return self.body
        h = hashlib.sha256()
        kept = []
        n = 0
        for piece in self.iter_body():
            h.update(piece)
            n += len(piece)
            if n <= self._keep_body:
                kept.append(piece)
        self.body_len = n
        self.body_sha256 = h.hexdigest()
        self.body = b"".join(kept) if n <= self._keep_body else None
        return self.body

    def summary(self):
        """What the default handler echoes back, as a dict."""
        return {
            "conn": self.conn_id,
            "method": self.method,
            "target": self.target,
            "version": self.version,
            "headers": list(self.headers),
            "body_len": self.body_len,
            "body_sha256": self.body_sha256,
            "body_framing": self.body_framing,
        }


class Response:
    """What a handler answers. `body` is bytes, an iterable of bytes, or FileBody.
    framing: "length" (Content-Length), "chunked", "close" (no length, close after),
    or "none" (no body and no length header added; for 1xx/204/304 and raw tricks)."""

    def __init__(self, status=200, reason="OK", headers=None, body=b"", framing="length",
                 version="HTTP/1.1", close=False):
        self.status = status
        self.reason = reason
        self.headers = list(headers or [])
        self.body = body
        self.framing = framing
        self.version = version
        self.close = close


class FileBody:
    def __init__(self, path):
        self.path = path
        self.size = os.path.getsize(path)

    def __iter__(self):
        with open(self.path, "rb") as f:
            for _ in range(self.size // CHUNK + 2):
                data = f.read(CHUNK)
                if not data:
                    return
                yield data


CLOSE = object()  # handler return value: the handler wrote its answer; close now
HANG = object()   # handler return value: never answer; hold the connection until stop


def json_response(obj, status=200, reason="OK", headers=()):
    body = json.dumps(obj).encode()
    return Response(status, reason, [("Content-Type", "application/json")] + list(headers),
                    body)


def echo_handler(req):
    """Default: read the body and answer 200 with a JSON summary of the request."""
    req.read_body()
    return json_response(req.summary())


class HttpOrigin(TcpServer):
    """An HTTP/1.1 server that records each request (head and body digest) in
    `requests`, in arrival order, and answers with `handler(req)` (default echo)."""

    def __init__(self, handler=None, host="127.0.0.1", ssl_context=None,
                 auto_continue=True, name="http-origin"):
        super().__init__(self._serve_connection, host=host, ssl_context=ssl_context,
                         name=name)
        self.handler = handler or echo_handler
        self.auto_continue = auto_continue
        self.requests = []

    def wait_requests(self, count, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.requests) >= count:
                return True
            time.sleep(0.01)
        return len(self.requests) >= count

    def _serve_connection(self, sock, conn_id):
        reader = Reader(sock)
        for _ in range(10000):
            try:
                raw_head = reader.read_until(b"\r\n\r\n", MAX_HEAD)
            except (EOFError, ConnectionResetError):
                return
            req = Request(conn_id, raw_head, reader, sock)
            with self._lock:
                self.requests.append(req)
            expects = "100-continue" in req.headers.tokens("expect")
            if expects and self.auto_continue:
                req.send_continue()
            result = self.handler(req)
            if result is CLOSE:
                return
            if result is HANG:
                self._stop.wait(IO_TIMEOUT * 3)
                return
            if not req.body_read:
                req.read_body()
            write_response(sock, result, head_only=(req.method == "HEAD"))
            if result.close or result.framing == "close" or req.wants_close \
                    or result.version == "HTTP/1.0":
                try:
                    sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                return


def write_response(sock, resp, head_only=False):
    no_body = head_only or resp.status in (204, 304) or 100 <= resp.status < 200
    headers = list(resp.headers)
    names = {n.lower() for n, _ in headers}
    body = resp.body
    if resp.framing == "length" and "content-length" not in names:
        if isinstance(body, (bytes, bytearray)):
            length = len(body)
        elif isinstance(body, FileBody):
            length = body.size
        else:
            body = b"".join(body)
            length = len(body)
        if not (resp.status in (204, 304) or 100 <= resp.status < 200):
            headers.append(("Content-Length", str(length)))
    elif resp.framing == "chunked" and "transfer-encoding" not in names:
        headers.append(("Transfer-Encoding", "chunked"))
    head = "%s %d %s\r\n" % (resp.version, resp.status, resp.reason)
    head += "".join("%s: %s\r\n" % hv for hv in headers) + "\r\n"
    sock.sendall(head.encode("latin-1"))
    if no_body:
        return
    pieces = [body] if isinstance(body, (bytes, bytearray)) else body
    for piece in pieces:
        if not piece:
            continue
        if resp.framing == "chunked":
            sock.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
        else:
            sock.sendall(piece)
    if resp.framing == "chunked":
        sock.sendall(b"0\r\n\r\n")


def make_tls_context(cert_path, key_path):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_path, key_path)
    return ctx
