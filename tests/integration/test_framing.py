"""Message framing: requests another parser could read differently are refused with 400
and the connection closed (and never reach the origin), the head limits answer 414 and
431, and a malformed response from the origin gives 502, closes the client connection
and lets no byte of it through. See docs/framing.md."""

import threading

import pytest

from helpers.client import RawClient
from helpers.common import ALICE, ALICE_FILE
from helpers.origin import Reader, Response

RULES = {ALICE_FILE: "^allowed\\.test$\n"}


def url(port, path="/"):
    return "http://allowed.test:%d%s" % (port, path)


def refused(proxy, raw, status=400, reason=None, method="GET"):
    """Sends `raw` in one piece; the answer must be `status` (with `reason` in the
    page), and the connection must be closed after it."""
    with RawClient(proxy.address, source=ALICE, timeout=10) as c:
        c.send(raw)
        r = c.read_response(method)
        assert r.status == status, (r.raw_head, r.text[-500:])
        assert r.header("connection", "").lower() == "close", r.raw_head
        if reason is not None:
            assert reason in r.text, r.text[-800:]
        assert c.is_closed(timeout=5), "the connection stayed open after %d" % status
    return r


# ---- requests: one class per case, each refused before anything reaches the origin ----

def head(port, lines, method="POST", version="HTTP/1.1", path="/"):
    text = "%s %s %s\r\n" % (method, url(port, path), version)
    text += "".join(l + "\r\n" for l in ["Host: allowed.test"] + lines) + "\r\n"
    return text.encode("latin-1")


BAD_FRAMING = {
    # Transfer-Encoding with Content-Length, both orders.
    "te-then-cl": (["Transfer-Encoding: chunked", "Content-Length: 3"], b"3\r\nabc\r\n0\r\n\r\n"),
    "cl-then-te": (["Content-Length: 3", "Transfer-Encoding: chunked"], b"3\r\nabc\r\n0\r\n\r\n"),
    "te-gzip-and-cl": (["Transfer-Encoding: gzip", "Content-Length: 3"], b"abc"),
    # Content-Length duplicated, list-valued, or not a plain number.
    "two-equal-cl": (["Content-Length: 3", "Content-Length: 3"], b"abc"),
    "two-different-cl": (["Content-Length: 3", "Content-Length: 4"], b"abcd"),
    "cl-list": (["Content-Length: 3, 3"], b"abc"),
    "cl-plus": (["Content-Length: +3"], b"abc"),
    "cl-space-inside": (["Content-Length: 3 3"], b"abc"),
    "cl-overflow": (["Content-Length: 18446744073709551616"], b"abc"),
    "cl-19-digits": (["Content-Length: 1000000000000000000"], b"abc"),
    # Transfer codings other than one final chunked.
    "te-gzip": (["Transfer-Encoding: gzip"], b"abc"),
    "te-gzip-chunked": (["Transfer-Encoding: gzip, chunked"], b"3\r\nabc\r\n0\r\n\r\n"),
    "te-chunked-gzip": (["Transfer-Encoding: chunked, gzip"], b"3\r\nabc\r\n0\r\n\r\n"),
    "te-chunked-twice": (["Transfer-Encoding: chunked, chunked"], b"3\r\nabc\r\n0\r\n\r\n"),
    "te-two-fields": (["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"],
                      b"3\r\nabc\r\n0\r\n\r\n"),
    "te-empty": (["Transfer-Encoding: "], b""),
    "te-chunked-param": (["Transfer-Encoding: chunked;x=y"], b"3\r\nabc\r\n0\r\n\r\n"),
    "te-xchunked": (["Transfer-Encoding: xchunked"], b"3\r\nabc\r\n0\r\n\r\n"),
    # Bad chunk sizes and extensions (in the first chunk, sent with the head).
    "chunk-size-not-hex": (["Transfer-Encoding: chunked"], b"zz\r\nabc\r\n0\r\n\r\n"),
    "chunk-size-negative": (["Transfer-Encoding: chunked"], b"-3\r\nabc\r\n0\r\n\r\n"),
    "chunk-size-0x": (["Transfer-Encoding: chunked"], b"0x3\r\nabc\r\n0\r\n\r\n"),
    "chunk-size-space": (["Transfer-Encoding: chunked"], b" 3\r\nabc\r\n0\r\n\r\n"),
    "chunk-size-overflow": (["Transfer-Encoding: chunked"],
                            b"10000000000000003\r\nabc\r\n0\r\n\r\n"),
    "chunk-size-bare-lf": (["Transfer-Encoding: chunked"], b"3\nabc\r\n0\r\n\r\n"),
    "chunk-ext-syntax": (["Transfer-Encoding: chunked"], b"3;\r\nabc\r\n0\r\n\r\n"),
    "chunk-ext-too-long": (["Transfer-Encoding: chunked"],
                           b"3;x=" + b"y" * 300 + b"\r\nabc\r\n0\r\n\r\n"),
}


@pytest.mark.parametrize("name", sorted(BAD_FRAMING))
def test_ambiguous_request_framing_is_refused(egressd, origin, name):
    proxy = egressd(rules=RULES, http_ports=[origin.port])
    lines, body = BAD_FRAMING[name]
    refused(proxy, head(origin.port, lines) + body)
    assert origin.connections == 0


def test_transfer_encoding_in_http10_is_refused(egressd, origin):
    proxy = egressd(rules=RULES, http_ports=[origin.port])
    refused(proxy, head(origin.port, ["Transfer-Encoding: chunked"], version="HTTP/1.0")
            + b"3\r\nabc\r\n0\r\n\r\n", reason="HTTP/1.0")
    assert origin.connections == 0


@pytest.mark.parametrize("method,lines,body", [
    ("GET", ["Content-Length: 3"], b"abc"),
    ("HEAD", ["Content-Length: 3"], b"abc"),
    ("GET", ["Transfer-Encoding: chunked"], b"3\r\nabc\r\n0\r\n\r\n"),
    ("HEAD", ["Transfer-Encoding: chunked"], b"0\r\n\r\n"),
    ("TRACE", ["Content-Length: 3"], b"abc"),
])
def test_body_on_get_or_head_is_refused(egressd, origin, method, lines, body):
    # A server that ignores such a body would read it as the next request.
    proxy = egressd(rules=RULES, http_ports=[origin.port])
    # The answer to HEAD has no page: only its length says there is one.
    refused(proxy, head(origin.port, lines, method=method) + body, method=method,
            reason=None if method == "HEAD" else "a body on a")
    assert origin.connections == 0


def test_get_with_content_length_zero_is_forwarded(egressd, origin):
    proxy = egressd(rules=RULES, http_ports=[origin.port])
    with RawClient(proxy.address, source=ALICE, timeout=10) as c:
        c.send(head(origin.port, ["Content-Length: 0"], method="GET"))
        assert c.read_response().status == 200
    assert origin.requests[0].headers.get("content-length") == "0"


BAD_HEADS = {
    "obs-fold": ["X-Folded: a", " b"],
    "obs-fold-tab": ["X-Folded: a", "\tTransfer-Encoding: chunked"],
    "space-before-colon": ["X-Bad : a"],
    "tab-before-colon": ["Transfer-Encoding\t: chunked"],
    "te-space-before-colon": ["Transfer-Encoding : chunked"],
    "leading-space-name": [" Content-Length: 3"],
    "empty-name": [": a"],
    "ctl-in-name": ["\x01Transfer-Encoding: chunked"],
    "nul-in-name": ["X-Bad\x00: a"],
    "non-ascii-name": ["Tran\xc5\xbffer-Encoding: chunked"],  # UTF-8 of a long s
    "separator-in-name": ["X(y): a"],
    "te-look-alike-underscore": ["Transfer_Encoding: chunked"],
    "cl-look-alike-underscore": ["Content_Length: 3"],
    "te-look-alike-hyphens": ["Transfer---Encoding: chunked"],
    "no-colon": ["just text"],
    "ctl-in-value": ["X-Bad: a\x01b"],
    "nul-in-value": ["X-Bad: a\x00content-length: 3"],
    "del-in-value": ["X-Bad: a\x7f"],
    "esc-in-value": ["X-Bad: \x1b[31mred"],
    "bare-cr-in-value": ["X-Bad: a\rTransfer-Encoding: chunked"],
    "bare-lf-in-value": ["X-Bad: a\nTransfer-Encoding: chunked"],
}


@pytest.mark.parametrize("name", sorted(BAD_HEADS))
def test_malformed_header_lines_are_refused(egressd, origin, name):
    proxy = egressd(rules=RULES, http_ports=[origin.port])
    raw = head(origin.port, BAD_HEADS[name], method="GET")
    refused(proxy, raw)
    assert origin.connections == 0


BAD_REQUEST_LINES = {
    "lower-case-method": b"get {url} HTTP/1.1",
    "method-with-underscore-lower": b"bad_method {url} HTTP/1.1",
    "ctl-in-method": b"G\x01T {url} HTTP/1.1",
    "tab-in-target": b"GET {url}a\tHTTP/1.1 HTTP/1.1",
    "space-in-target": b"GET {url}a b HTTP/1.1",
    "two-spaces": b"GET  {url} HTTP/1.1",
    "ctl-in-target": b"GET {url}a\x01b HTTP/1.1",
    "del-in-target": b"GET {url}a\x7f HTTP/1.1",
    "non-ascii-target": b"GET {url}\xd1\x81 HTTP/1.1",
    "fragment": b"GET {url}#frag HTTP/1.1",
    "version-1.2": b"GET {url} HTTP/1.2",
    "version-0.9": b"GET {url} HTTP/0.9",
    "version-2.0": b"GET {url} HTTP/2.0",
    "version-missing": b"GET {url}",
    "version-trailing-space": b"GET {url} HTTP/1.1 ",
    "version-lower-case": b"GET {url} http/1.1",
    "bare-lf-ending": b"GET {url} HTTP/1.1\nHost: allowed.test\n",
}


@pytest.mark.parametrize("name", sorted(BAD_REQUEST_LINES))
def test_malformed_request_lines_are_refused(egressd, origin, name):
    proxy = egressd(rules=RULES, http_ports=[origin.port])
    line = BAD_REQUEST_LINES[name].replace(b"{url}", url(origin.port).encode())
    raw = line + b"\r\nHost: allowed.test\r\n\r\n"
    if name == "bare-lf-ending":
        raw = line + b"\n"  # refused as soon as the bare LF is seen
    refused(proxy, raw)
    assert origin.connections == 0


def test_malformed_connect_head_is_refused(egressd, origin):
    proxy = egressd(rules=RULES, connect_ports=[origin.port])
    refused(proxy, b"CONNECT allowed.test:%d HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n"
            % origin.port)
    assert origin.connections == 0


# ---- chunked request bodies that go bad after the head has been forwarded -------------

def completing_origin(make_origin):
    """An origin that answers only requests whose body arrived whole; `completed` lists
    their bodies."""
    completed = []

    def handler(req):
        body = req.read_body()
        completed.append(body)
        return Response(body=b"ok")
    server = make_origin(handler)
    server.completed = completed
    return server


@pytest.mark.parametrize("bad", [b"zz\r\n", b"3;" + b"x" * 300 + b"\r\nabc\r\n",
                                 b"3\r\nabcd\r\n0\r\n\r\n"])
def test_bad_chunk_after_the_head_gives_400(egressd, make_origin, bad):
    server = completing_origin(make_origin)
    proxy = egressd(rules=RULES, http_ports=[server.port])
    with RawClient(proxy.address, source=ALICE, timeout=10) as c:
        # Expect: 100-continue: the head goes to the origin before any of the body.
        c.send(head(server.port, ["Transfer-Encoding: chunked", "Expect: 100-continue"]))
        interim = c.read_response(skip_interim=False)
        assert interim.status == 100
        assert server.wait_requests(1)
        c.send(b"3\r\nabc\r\n" + bad)
        r = c.read_response()
        assert r.status == 400, r.raw_head
        assert "malformed request body" in r.text
        assert c.is_closed(timeout=5)
    assert server.completed == []


def test_chunk_extension_limit_is_configurable(egressd, origin):
    proxy = egressd(rules=RULES, http_ports=[origin.port],
                    config={"limits": {"chunk_extension_bytes": 16}})
    ok = b"3;a=0123456789abc\r\nabc\r\n0\r\n\r\n"      # 16 bytes of extensions
    long = b"3;a=0123456789abcd\r\nabc\r\n0\r\n\r\n"   # 17
    with RawClient(proxy.address, source=ALICE, timeout=10) as c:
        c.send(head(origin.port, ["Transfer-Encoding: chunked"]) + ok)
        assert c.read_response().status == 200
    assert origin.requests[0].body == b"abc"
    r = refused(proxy, head(origin.port, ["Transfer-Encoding: chunked"]) + long)
    assert "longer than 16 bytes" in r.text
    assert len(origin.requests) == 1


# ---- limits ------------------------------------------------------------------------------

def test_request_line_limit_gives_414(egressd, origin):
    proxy = egressd(rules=RULES, http_ports=[origin.port],
                    config={"limits": {"request_line_bytes": 300}})
    base = "GET %s HTTP/1.1" % url(origin.port, "/")
    fits = base.replace("/ HTTP", "/" + "a" * (300 - len(base)) + " HTTP")
    assert len(fits) == 300
    with RawClient(proxy.address, source=ALICE, timeout=10) as c:
        c.send(fits.encode() + b"\r\nHost: x\r\n\r\n")
        assert c.read_response().status == 200
    too_long = fits.replace(" HTTP/1.1", "a HTTP/1.1")
    refused(proxy, too_long.encode() + b"\r\nHost: x\r\n\r\n", status=414)
    assert len(origin.requests) == 1


def test_over_long_request_line_is_refused_before_the_head_ends(egressd, origin):
    # No CRLF ever comes: the limit is enforced on what has arrived, not at the deadline.
    proxy = egressd(rules=RULES, http_ports=[origin.port],
                    config={"limits": {"request_line_bytes": 300}})
    refused(proxy, b"GET " + url(origin.port, "/" + "a" * 400).encode(), status=414)
    assert origin.connections == 0


def test_header_bytes_limit_gives_431(egressd, origin):
    proxy = egressd(rules=RULES, http_ports=[origin.port],
                    config={"limits": {"header_bytes": 2048}})
    with RawClient(proxy.address, source=ALICE, timeout=10) as c:
        c.send(head(origin.port, ["X-Big: " + "a" * 1500], method="GET"))
        assert c.read_response().status == 200
    refused(proxy, head(origin.port, ["X-Big: " + "a" * 2100], method="GET"), status=431)
    assert len(origin.requests) == 1


def test_header_count_limit_gives_431(egressd, origin):
    proxy = egressd(rules=RULES, http_ports=[origin.port],
                    config={"limits": {"header_count": 10}})
    nine = ["X-H%d: v" % i for i in range(9)]  # + Host = 10 fields
    with RawClient(proxy.address, source=ALICE, timeout=10) as c:
        c.send(head(origin.port, nine, method="GET"))
        assert c.read_response().status == 200
    r = refused(proxy, head(origin.port, nine + ["X-H9: v"], method="GET"), status=431)
    assert "more than 10 header fields" in r.text
    assert len(origin.requests) == 1


# ---- responses: malformed -> 502, client connection closed, nothing of it passes ------

LEAK = b"LEAKED-BY-EGRESSD"
BAD_RESPONSES = {
    "te-and-cl": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n"
                 b"X-Leak: LEAKED-BY-EGRESSD\r\n\r\n5\r\nLEAKED-BY-EGRESSD\r\n0\r\n\r\n",
    "cl-and-te": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                 b"11\r\nLEAKED-BY-EGRESSD\r\n0\r\n\r\n",
    "two-different-cl": b"HTTP/1.1 200 OK\r\nContent-Length: 17\r\nContent-Length: 5\r\n\r\n"
                        b"LEAKED-BY-EGRESSD",
    "two-equal-cl": b"HTTP/1.1 200 OK\r\nContent-Length: 17\r\nContent-Length: 17\r\n\r\n"
                    b"LEAKED-BY-EGRESSD",
    "cl-list": b"HTTP/1.1 200 OK\r\nContent-Length: 17, 17\r\n\r\nLEAKED-BY-EGRESSD",
    "te-gzip": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nLEAKED-BY-EGRESSD",
    "te-in-http10": b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    b"11\r\nLEAKED-BY-EGRESSD\r\n0\r\n\r\n",
    "bad-chunk-size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"zz\r\nLEAKED-BY-EGRESSD\r\n0\r\n\r\n",
    "chunk-size-0x": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"0x11\r\nLEAKED-BY-EGRESSD\r\n0\r\n\r\n",
    "chunk-ext-too-long": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                          b"11;" + b"e" * 300 + b"\r\nLEAKED-BY-EGRESSD\r\n0\r\n\r\n",
    "obs-fold": b"HTTP/1.1 200 OK\r\nX-Leak: LEAKED-BY-EGRESSD\r\n folded\r\n"
                b"Content-Length: 0\r\n\r\n",
    "nul-in-header": b"HTTP/1.1 200 OK\r\nX-Leak: LEAKED-BY-EGRESSD\x00\r\n"
                     b"Content-Length: 0\r\n\r\n",
    "space-before-colon": b"HTTP/1.1 200 OK\r\nContent-Length : 17\r\n\r\nLEAKED-BY-EGRESSD",
    "bare-lf": b"HTTP/1.1 200 OK\nContent-Length: 17\n\nLEAKED-BY-EGRESSD",
    "version-1.2": b"HTTP/1.2 200 OK\r\nContent-Length: 17\r\n\r\nLEAKED-BY-EGRESSD",
    "ctl-in-reason": b"HTTP/1.1 200 O\x01K\r\nContent-Length: 17\r\n\r\nLEAKED-BY-EGRESSD",
    "too-many-fields": b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-F%d: v\r\n" % i for i in range(20))
                       + b"Content-Length: 17\r\n\r\nLEAKED-BY-EGRESSD",
    "smuggled-response": b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\n"
                         b"HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\nLEAKED-BY-EGRESSD",
}


def raw_origin(make_origin, response):
    """A raw origin that reads one request head and answers `response`, then keeps
    the connection open until the peer closes it."""
    def handle(sock, conn_id):
        reader = Reader(sock)
        reader.read_until(b"\r\n\r\n", 1 << 16)
        sock.sendall(response)
        reader.at_eof()
    return make_origin(raw=handle)


@pytest.mark.parametrize("name", sorted(BAD_RESPONSES))
def test_malformed_response_gives_502_and_closes(egressd, make_origin, name):
    server = raw_origin(make_origin, BAD_RESPONSES[name])
    proxy = egressd(rules=RULES, http_ports=[server.port],
                    config={"limits": {"header_count": 10}})
    with RawClient(proxy.address, source=ALICE, timeout=10) as c:
        c.send(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % url(server.port).encode())
        r = c.read_response()
        assert r.status == 502, r.raw_head
        assert r.header("connection", "").lower() == "close", r.raw_head
        rest = c.read_to_eof()
        everything = r.raw_head + r.body + rest
        assert LEAK not in everything, everything
        assert rest == b"", rest
    proxy.wait_log(r"upstream error .*the origin sent no valid response|ambiguous framing")


def test_bad_chunk_later_in_a_response_cuts_the_connection(egressd, make_origin):
    # Once the head is out, a 502 is impossible: the client sees the body cut short,
    # and nothing after the bad chunk is relayed.
    response = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
    gate = threading.Event()

    def handle(sock, conn_id):
        reader = Reader(sock)
        reader.read_until(b"\r\n\r\n", 1 << 16)
        sock.sendall(response)
        gate.wait(10)
        sock.sendall(b"zz\r\nLEAKED-BY-EGRESSD\r\n0\r\n\r\n")
        reader.at_eof()
    server = make_origin(raw=handle)
    proxy = egressd(rules=RULES, http_ports=[server.port])
    with RawClient(proxy.address, source=ALICE, timeout=10) as c:
        c.send(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % url(server.port).encode())
        r = c.read_head()
        assert r.status == 200
        gate.set()
        rest = c.read_to_eof()
    assert LEAK not in rest
    assert not rest.endswith(b"0\r\n\r\n"), rest  # never a complete chunked body


def test_client_connection_is_not_reused_after_a_malformed_response(egressd, make_origin):
    # keep-alive client: after the 502 nothing more is read from this connection, so a
    # response smuggled behind the bad one can never be taken for the next answer.
    server = raw_origin(make_origin, BAD_RESPONSES["smuggled-response"])
    proxy = egressd(rules=RULES, http_ports=[server.port])
    with RawClient(proxy.address, source=ALICE, timeout=10) as c:
        c.send(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\nGET %s HTTP/1.1\r\nHost: x\r\n\r\n"
               % (url(server.port, "/1").encode(), url(server.port, "/2").encode()))
        r = c.read_response()
        assert r.status == 502
        assert c.read_to_eof() == b""
    assert server.connections == 1


# ---- well-formed edge cases of the early chunk check still go through ----------------

@pytest.mark.parametrize("body,expected", [(b"0\r\n\r\n", b""),
                                           (b"3\r\nabc\r\n0\r\n\r\n", b"abc"),
                                           (b"3;a=b\r\nabc\r\n0;c=d\r\nX-T: 1\r\n\r\n", b"abc")])
def test_chunked_request_sent_with_its_head_is_forwarded_whole(egressd, origin, body,
                                                               expected):
    # read_head() may parse the whole body before forwarding: the origin must still get
    # a complete chunked request, and the connection must stay in step.
    proxy = egressd(rules=RULES, http_ports=[origin.port])
    with RawClient(proxy.address, source=ALICE, timeout=10) as c:
        c.send(head(origin.port, ["Transfer-Encoding: chunked"]) + body)
        r = c.read_response()
        assert r.status == 200, r.raw_head
        assert c.request("GET", url(origin.port, "/next"), [("Host", "x")]).status == 200
    assert origin.requests[0].body == expected
    assert origin.requests[0].body_framing == "chunked"
    assert [q.target for q in origin.requests] == ["/", "/next"]


@pytest.mark.parametrize("version", ["HTTP/1.1", "HTTP/1.0"])
def test_empty_chunked_response_keeps_its_framing(egressd, make_origin, version):
    # The whole (empty) body arrives with the head and is parsed before the head is
    # relayed: the client must still learn where the response ends.
    server = raw_origin(make_origin, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                     b"0\r\n\r\n")
    proxy = egressd(rules=RULES, http_ports=[server.port])
    with RawClient(proxy.address, source=ALICE, timeout=10) as c:
        c.send(b"GET %s %s\r\nHost: x\r\n\r\n" % (url(server.port).encode(), version.encode()))
        r = c.read_response()
        assert r.status == 200 and r.body == b""
        assert r.framing == ("chunked" if version == "HTTP/1.1" else "close"), r.raw_head


def test_connect_with_a_body_is_refused(egressd, origin):
    proxy = egressd(rules=RULES, connect_ports=[origin.port])
    refused(proxy, b"CONNECT allowed.test:%d HTTP/1.1\r\nHost: x\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % origin.port)
    assert origin.connections == 0
