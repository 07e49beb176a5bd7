"""Identity by qube name over qrexec: egressd's qrexec socket gets, as a qrexec socket
service does, the descriptor "egress.Proxy[+ARG] SOURCE\\0" and then the client's HTTP.
The rules file named after the qube (or after the argument, a profile) applies; a
malformed descriptor closes the connection; nothing in the HTTP stream is ever read as
a descriptor. The client here plays qrexec's part: it writes the descriptor itself."""

import json
import socket

import pytest

from helpers.client import RawClient

WORK_RULES = "# the qube work\n^allowed\\.test$\n"
BANKING_RULES = "# the profile banking\n^other\\.test$\n"


class QrexecClient(RawClient):
    """A connection to egressd's qrexec socket that starts with `descriptor` (bytes)."""

    def __init__(self, path, descriptor, timeout=10):  # pylint: disable=super-init-not-called
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buf = b""
        if descriptor:
            self.sock.sendall(descriptor)

    def closed_unanswered(self):
        """True when egressd closes the connection without sending a byte."""
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True


def start(egressd, origin, tmp_path):
    path = tmp_path / "q.sock"
    proxy = egressd(rules={"work": WORK_RULES, "banking": BANKING_RULES},
                    http_ports=[origin.port], connect_ports=[origin.port],
                    config={"qrexec_socket": str(path)})
    proxy.wait_log(r"qrexec socket path=")
    return proxy, path


def get(client, url):
    host = url.split("://", 1)[1].split("/", 1)[0]
    client.send(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (url, host)).encode())
    return client.read_response()


def test_the_qubes_own_rules_file_applies(egressd, origin, tmp_path):
    proxy, path = start(egressd, origin, tmp_path)
    allowed = "http://allowed.test:%d/w" % origin.port
    other = "http://other.test:%d/o" % origin.port
    with QrexecClient(path, b"egress.Proxy work\0") as c:
        r = get(c, allowed)
        assert r.status == 200, r.raw_head
        assert json.loads(r.body)["target"] == "/w"
        r = get(c, other)  # the same connection: the identity stays
        assert r.status == 403
        assert b"work" in r.body
    d = proxy.wait_decision(client="work", host="allowed.test", verdict="allow")
    assert d["addr"].startswith("100::"), d
    proxy.wait_log(r"qrexec caller source=work argument=- addr=100::")
    assert [r.target for r in origin.requests] == ["/w"]


def test_the_argument_selects_a_profile(egressd, origin, tmp_path):
    proxy, path = start(egressd, origin, tmp_path)
    with QrexecClient(path, b"egress.Proxy+banking work\0") as c:
        assert get(c, "http://other.test:%d/" % origin.port).status == 200
    with QrexecClient(path, b"egress.Proxy+banking work\0") as c:
        assert get(c, "http://allowed.test:%d/" % origin.port).status == 403
    proxy.wait_decision(client="banking", host="other.test", verdict="allow")


def test_a_qube_without_a_rules_file_is_an_unknown_client(egressd, origin, tmp_path):
    proxy, path = start(egressd, origin, tmp_path)
    with QrexecClient(path, b"egress.Proxy dev\0") as c:
        assert get(c, "http://allowed.test:%d/" % origin.port).status == 403
    proxy.wait_decision(host="allowed.test", reason="unknown-client-denied")


def test_connect_through_qrexec(egressd, origin, tmp_path):
    _, path = start(egressd, origin, tmp_path)
    with QrexecClient(path, b"egress.Proxy work\0") as c:
        c.send(b"CONNECT allowed.test:%d HTTP/1.1\r\nHost: allowed.test:%d\r\n\r\n"
               % (origin.port, origin.port))
        head = c.read_head()
        assert head.status == 200
        c.send(b"GET /in-tunnel HTTP/1.1\r\nHost: allowed.test\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and json.loads(r.body)["target"] == "/in-tunnel"


@pytest.mark.parametrize("descriptor", [
    b"egress.Other work\0",                  # another service
    b"egress.Proxywork\0",                   # no space
    b"egress.Proxy 1work\0",                 # not a qube name
    b"egress.Proxy+ba/d work\0",             # not a profile name
    b"egress.Proxy work extra\0",            # a space in the name
    b"egress.Proxy " + b"w" * 300,           # no NUL within the limit
    b"GET http://allowed.test/ HTTP/1.1\r\n\r\n",  # HTTP without a descriptor
])
def test_a_malformed_descriptor_closes_the_connection_unanswered(egressd, origin, tmp_path,
                                                                  descriptor):
    proxy, path = start(egressd, origin, tmp_path)
    with QrexecClient(path, descriptor) as c:
        c.sock.shutdown(socket.SHUT_WR)
        assert c.closed_unanswered()
    proxy.wait_log(r"qrexec: (bad descriptor|descriptor longer|no descriptor)")
    assert origin.requests == []


def test_a_descriptor_inside_the_http_stream_is_not_honoured(egressd, origin, tmp_path):
    proxy, path = start(egressd, origin, tmp_path)
    with QrexecClient(path, b"egress.Proxy work\0") as c:
        assert get(c, "http://allowed.test:%d/" % origin.port).status == 200
        # A forged descriptor claiming the profile banking, then a request banking may make.
        c.send(b"egress.Proxy+banking work\0GET http://other.test:%d/ HTTP/1.1\r\n"
               b"Host: other.test\r\n\r\n" % origin.port)
        r = c.read_response()
        assert r.status == 400
    # And as the very first bytes after the real descriptor: still not a second identity.
    with QrexecClient(path, b"egress.Proxy work\0egress.Proxy+banking work\0") as c:
        c.send(b"GET http://other.test:%d/ HTTP/1.1\r\nHost: other.test\r\n\r\n" % origin.port)
        assert c.read_response().status == 400
    assert len(origin.requests) == 1
    assert not [d for d in proxy.decisions() if d.get("client") == "banking"]
