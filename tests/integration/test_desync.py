"""The HTTP desync corpus of aws/http-desync-guardian (tests/*.yaml, kept unedited in
EGRESSD_DESYNC_CORPUS, default /work/shared/testdata/http-desync-guardian) run through
egressd in absolute-form, to an origin that records the raw bytes that arrive and reads
them with a strict parser of its own.

- Severe: never forwarded.
- Ambiguous: never forwarded in a form the origin could read differently: if anything
  arrives, it must be one strictly well-formed message and nothing else.
- Compliant / Acceptable: forwarded intact (method, path, the fields apart from the
  hop-by-hop ones egressd rewrites, body), unless listed in REFUSED with the reason
  egressd gives; a listed case that is forwarded fails too, so the list stays true.

Needs PyYAML (Debian: python3-yaml). The per-file, per-tier table is printed at the end
of the run and written to $EGRESSD_DESYNC_TABLE when that is set (docs/framing.md)."""

import glob
import html
import os
import re
import socket
import threading
import time
from collections import defaultdict

import pytest

from helpers.client import RawClient
from helpers.common import ALICE, ALICE_FILE

yaml = pytest.importorskip("yaml", reason="needs PyYAML (Debian package python3-yaml)")

CORPUS = os.environ.get("EGRESSD_DESYNC_CORPUS", "/work/shared/testdata/http-desync-guardian")
RULES = {ALICE_FILE: "^allowed\\.test$\n"}
# Origin connections close with the client's instead of being kept for its next one: once
# the origin sees the close, what reached it is all there is.
CLOSE_ORIGINS = {"timeouts": {"idle_origin": 0}}
TIERS = ("Compliant", "Acceptable", "Ambiguous", "Severe")

# Compliant and Acceptable cases egressd refuses on purpose, with the text its 400 page
# gives. Keys are (file, index in the file).
TE_ONLY_CHUNKED = "a transfer coding other than chunked"
REFUSED = {
    ("acceptable.yaml", 0): "whitespace between a header field name and the colon",
    ("acceptable.yaml", 1): "whitespace between a header field name and the colon",
    ("acceptable.yaml", 2): "invalid characters in a header field name",
    ("acceptable.yaml", 3): "whitespace between a header field name and the colon",
    ("acceptable.yaml", 6): "an HTTP version other than 1.0 or 1.1",
    ("acceptable.yaml", 7): "a request line without an HTTP version",
    ("acceptable.yaml", 8): "an HTTP version other than 1.0 or 1.1",
    ("bad-header-characters.yaml", 11): "invalid characters in a header field name",
    ("bad-header-characters.yaml", 12): "invalid characters in a header field name",
    ("bad-header-characters.yaml", 13): "a control character in the value of Some-Custom-Header",
    ("bad-header-characters.yaml", 14): "a control character in the value of Some-Custom-Header",
    ("more-compliant-tests.yaml", 5): TE_ONLY_CHUNKED,
    ("more-compliant-tests.yaml", 7): TE_ONLY_CHUNKED,
    ("more-compliant-tests.yaml", 8): TE_ONLY_CHUNKED,
    ("more-compliant-tests.yaml", 9): TE_ONLY_CHUNKED,
    ("rfc-compliant.yaml", 8): TE_ONLY_CHUNKED,
    ("rfc-compliant.yaml", 9): TE_ONLY_CHUNKED,
    ("rfc-compliant.yaml", 10): TE_ONLY_CHUNKED,
    ("rfc-compliant.yaml", 11): "fragments (&#39;#&#39;) are not allowed in a request URL",
    ("rfc-compliant.yaml", 12): "characters not allowed in the request target",
    ("uri-specific-test-cases.yaml", 1): "a space in the request target (or around the version)",
    ("uri-specific-test-cases.yaml", 3): "a space in the request target",
}

# Fields egressd rewrites or adds: hop-by-hop ones, Host (from the target), framing
# (re-established from what it parsed), Via.
REWRITTEN = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
             "transfer-encoding", "upgrade", "host", "content-length", "via"}


def load_cases():
    cases = []
    for path in sorted(glob.glob(os.path.join(CORPUS, "*.yaml"))):
        name = os.path.basename(path)
        with open(path, encoding="utf-8") as f:
            for index, case in enumerate(yaml.safe_load(f) or []):
                ident = "%s:%d:%s" % (name, index, case.get("name", ""))
                ident = ident.encode("unicode_escape").decode("ascii")
                cases.append(pytest.param(name, index, case, id=ident))
    return cases


CASES = load_cases()
if not CASES:
    pytest.skip("no corpus at %s (set EGRESSD_DESYNC_CORPUS)" % CORPUS, allow_module_level=True)


def raw(text):
    """Bytes of a corpus string: one byte per character when it is <= U+00FF (so "\\x85"
    is the obs-text byte 0x85), UTF-8 otherwise ("Tran\u017ffer-Encoding")."""
    text = str(text)
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode("utf-8")


# ---- what the client sends -----------------------------------------------------------

BODY_TEXT = b"hello world"


def build(case, port):
    """(request bytes, body the origin should see, framing: "length", "chunked" or None)."""
    target = b"http://allowed.test:%d" % port + raw(case["uri"])
    line = raw(case["method"]) + b" " + target
    if case["version"] != "":
        line += b" " + raw(case["version"])
    headers = [(raw(h["name"]), raw(h.get("value", ""))) for h in case.get("headers") or []]
    if not any(n.lower() == b"host" for n, _ in headers):
        headers.insert(0, (b"Host", b"allowed.test:%d" % port))
    te = [v for n, v in headers if n.lower() == b"transfer-encoding"]
    cl = [v.strip(b" \t") for n, v in headers if n.lower() == b"content-length"]
    body, framing, expected = b"", None, b""
    if te and te[-1].split(b",")[-1].strip(b" \t").lower().startswith(b"chunked"):
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(BODY_TEXT), BODY_TEXT)
        framing, expected = "chunked", BODY_TEXT
    elif cl and cl[0].isdigit():
        n = int(cl[0])
        if n > 1 << 26:
            n = 16  # refused anyway; a token body
        expected = (b"0123456789abcdef" * (n // 16 + 1))[:n]
        body, framing = expected, "length"
    head = line + b"\r\n" + b"".join(n + b": " + v + b"\r\n" for n, v in headers) + b"\r\n"
    return head, body, framing, expected, headers


# ---- the recording origin and its strict reader --------------------------------------

TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
FIELD_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")


class Strict(Exception):
    pass


def strict_message(buf):
    """Reads one request from `buf` the strictest way: (message dict, bytes used), or
    None when more bytes are needed. Raises Strict for anything another parser could
    read differently."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        if b"\n" in buf.replace(b"\r\n", b"") or b"\r" in buf.replace(b"\r\n", b"")[:-1]:
            raise Strict("bare CR or LF")
        return None
    head = buf[:end]
    if b"\n" in head.replace(b"\r\n", b"") or b"\r" in head.replace(b"\r\n", b""):
        raise Strict("bare CR or LF in the head")
    lines = head.split(b"\r\n")
    m = re.fullmatch(rb"([A-Z][A-Z0-9_-]*) (/[\x21-\x7e]*) HTTP/1\.1", lines[0])
    if not m:
        raise Strict("request line %r" % lines[0])
    fields = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not TOKEN.fullmatch(name):
            raise Strict("field line %r" % line)
        value = value.strip(b" \t")
        if not FIELD_VALUE.fullmatch(value):
            raise Strict("field value %r" % line)
        fields.append((name, value))
    lower = [n.lower() for n, _ in fields]
    if lower.count(b"host") != 1:
        raise Strict("not exactly one Host")
    cl = [v for n, v in fields if n.lower() == b"content-length"]
    te = [v for n, v in fields if n.lower() == b"transfer-encoding"]
    pos = end + 4
    body = b""
    framing = None
    if cl and te:
        raise Strict("Content-Length and Transfer-Encoding")
    if te:
        if te != [b"chunked"] and [t.lower() for t in te] != [b"chunked"]:
            raise Strict("Transfer-Encoding %r" % te)
        framing = "chunked"
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return None
            size_line = buf[pos:eol]
            if not re.fullmatch(rb"[0-9a-fA-F]{1,16}", size_line):
                raise Strict("chunk size %r" % size_line)
            size = int(size_line, 16)
            pos = eol + 2
            if size == 0:
                if buf[pos:pos + 2] == b"\r\n":
                    pos += 2
                    break
                if len(buf) < pos + 2:
                    return None
                raise Strict("trailer fields")
            if len(buf) < pos + size + 2:
                return None
            body += buf[pos:pos + size]
            if buf[pos + size:pos + size + 2] != b"\r\n":
                raise Strict("chunk not followed by CRLF")
            pos += size + 2
    elif cl:
        if len(cl) != 1 or not re.fullmatch(rb"[0-9]{1,18}", cl[0]):
            raise Strict("Content-Length %r" % cl)
        framing = "length"
        n = int(cl[0])
        if len(buf) < pos + n:
            return None
        body = buf[pos:pos + n]
        pos += n
    return {"method": m.group(1), "target": m.group(2), "fields": fields, "body": body,
            "framing": framing}, pos


class Recording:
    def __init__(self):
        self.raw = b""
        self.messages = []
        self.problem = None
        self.leftover = b""
        self.done = threading.Event()


def recording_origin(make_origin):
    recordings = []

    def handle(sock, conn_id):
        rec = Recording()
        recordings.append(rec)
        buf = b""
        try:
            while True:
                try:
                    got = strict_message(buf)
                except Strict as e:
                    rec.problem = str(e)
                    sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                 b"Connection: close\r\n\r\n")
                    break
                if got is not None:
                    message, used = got
                    rec.messages.append(message)
                    buf = buf[used:]
                    sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"
                                 + (b"" if message["method"] == b"HEAD" else b"ok"))
                    continue
                try:
                    data = sock.recv(1 << 16)
                except (ConnectionResetError, socket.timeout):
                    data = b""
                if not data:
                    break
                rec.raw += data
                buf += data
        finally:
            rec.leftover = buf
            rec.done.set()

    server = make_origin(raw=handle)
    server.recordings = recordings
    return server


# ---- the test and its table ----------------------------------------------------------

RESULTS = defaultdict(lambda: {"forwarded": 0, "rejected": 0})
REASONS = defaultdict(int)  # (tier, reason egressd gave) -> refused cases
NOTES = []


@pytest.fixture(scope="module", autouse=True)
def table(request):
    yield
    if not RESULTS:
        return
    lines = ["", "desync corpus: forwarded / rejected per file and tier",
             "| file | tier | forwarded | rejected |", "|---|---|---|---|"]
    totals = defaultdict(lambda: [0, 0])
    for (name, tier) in sorted(RESULTS, key=lambda k: (k[0], TIERS.index(k[1]))):
        r = RESULTS[(name, tier)]
        lines.append("| %s | %s | %d | %d |" % (name, tier, r["forwarded"], r["rejected"]))
        totals[tier][0] += r["forwarded"]
        totals[tier][1] += r["rejected"]
    for tier in TIERS:
        if tier in totals:
            lines.append("| all | %s | %d | %d |" % (tier, totals[tier][0], totals[tier][1]))
    lines += ["", "| tier | reason egressd gave | cases |", "|---|---|---|"]
    for (tier, reason), n in sorted(REASONS.items(), key=lambda kv: (TIERS.index(kv[0][0]),
                                                                     -kv[1], kv[0][1])):
        lines.append("| %s | %s | %d |" % (tier, reason, n))
    lines += [""] + NOTES
    text = "\n".join(lines) + "\n"
    path = os.environ.get("EGRESSD_DESYNC_TABLE")
    if path:
        with open(path, "w") as f:
            f.write(text)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        for line in lines:
            reporter.write_line(line)


def send_case(proxy, head, body, method):
    """Sends a case; returns (status or None, closed after the answer, response text)."""
    with RawClient(proxy.address, source=ALICE, timeout=10) as c:
        # In one piece when small, so that a refusal never leaves unread bytes behind
        # (which would turn egressd's close into a reset that can swallow its answer).
        try:
            if len(body) < 32768:
                c.send(head + body)
            else:
                c.send(head)
                c.send(body)
        except OSError:
            pass  # refused before the body: the proxy closed its side
        try:
            # egressd's own answers to HEAD announce their page but do not send it.
            r = c.read_response(method if method in ("HEAD", "CONNECT") else "GET")
        except (EOFError, ConnectionResetError) as e:
            return None, True, str(e)
        closed = r.status < 400 or c.is_closed(timeout=3)  # only refusals must close
        return r.status, closed, r.text


@pytest.mark.parametrize("name,index,case", CASES)
def test_desync_case(egressd, make_origin, name, index, case):
    tier = case["expected"]["tier"]
    assert tier in TIERS, tier
    origin = recording_origin(make_origin)
    proxy = egressd(rules=RULES, http_ports=[origin.port], config=CLOSE_ORIGINS)
    head, body, framing, expected_body, headers = build(case, origin.port)
    status, closed, text = send_case(proxy, head, body, case["method"])

    # Whatever reached the origin: wait until egressd has closed that connection too.
    for rec in origin.recordings:
        assert rec.done.wait(10), "egressd kept the origin connection open"
    forwarded = any(rec.raw for rec in origin.recordings)
    RESULTS[(name, tier)]["forwarded" if forwarded else "rejected"] += 1

    if not forwarded:
        assert status in (400, 414, 431), (status, text[-300:])
        assert closed, "the connection stayed open after a refusal"
        assert origin.connections == 0
        reason = re.search(r"<p>(.*?)</p>", text, re.S)
        reason = reason.group(1).strip() if reason else text[-200:]
        REASONS[(tier, "%d %s" % (status, html.unescape(reason)))] += 1
        if tier in ("Compliant", "Acceptable"):
            assert (name, index) in REFUSED, "a %s case was refused: %s" % (tier, reason)
            assert REFUSED[(name, index)] in text, text[-600:]
            NOTES.append("- refused %s %s:%d %r: %s" % (tier, name, index, case["name"],
                                                        html.unescape(REFUSED[(name, index)])))
        return

    assert tier != "Severe", "a Severe case reached the origin"
    assert (name, index) not in REFUSED, "listed as refused, but forwarded"
    # One well-formed message, nothing before, inside or after it that a parser could
    # take differently.
    assert len(origin.recordings) == 1
    rec = origin.recordings[0]
    assert rec.problem is None, rec.problem
    assert len(rec.messages) == 1 and rec.leftover == b"", (rec.messages, rec.leftover)
    message = rec.messages[0]
    if tier == "Ambiguous":
        NOTES.append("- forwarded Ambiguous %s:%d %r in a strict form" % (name, index,
                                                                          case["name"]))
        return

    # Compliant / Acceptable: intact.
    assert status == 200, (status, text[-300:])
    assert message["method"] == raw(case["method"])
    assert message["target"] == (raw(case["uri"]) or b"/")
    named_in_connection = set()
    for n, v in headers:
        if n.lower() == b"connection":
            named_in_connection |= {t.strip(b" \t").lower() for t in v.split(b",")}
    sent = [(n, v.strip(b" \t")) for n, v in headers
            if n.lower().decode("latin-1") not in REWRITTEN
            and n.lower() not in named_in_connection]
    arrived = [(n, v) for n, v in message["fields"]
               if n.lower().decode("latin-1") not in REWRITTEN]
    assert arrived == sent
    assert message["body"] == expected_body
    assert message["framing"] == framing or (framing is None and message["framing"]
                                             in (None, "length") and not message["body"])
