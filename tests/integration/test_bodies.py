"""Request and response bodies: chunked both ways, Expect: 100-continue, and 64 MiB each
way with matching checksums (streamed from and to files)."""

import hashlib
import json
import os
import time

import pytest

from helpers.client import RawClient, curl
from helpers.common import ALICE, file_sha256, two_clients
from helpers.origin import FileBody, Response


@pytest.fixture
def proxy(egressd, origin):
    return egressd(rules=two_clients(), http_ports=[origin.port])


def url(origin, path="/"):
    return "http://allowed.test:%d%s" % (origin.port, path)


def random_file(path, size):
    data = os.urandom(size)
    path.write_bytes(data)
    return data


def test_chunked_upload_with_curl(proxy, origin, tmp_path):
    data = random_file(tmp_path / "up.bin", 300_000)
    r = curl(proxy.url(), url(origin, "/up"), "-H", "Transfer-Encoding: chunked",
             "--data-binary", "@%s" % (tmp_path / "up.bin"), source=ALICE)
    assert r.status == 200, r.describe()
    echo = json.loads(r.body)
    assert echo["body_len"] == len(data)
    assert echo["body_sha256"] == hashlib.sha256(data).hexdigest()
    assert origin.requests[0].method == "POST"


def test_chunked_upload_raw_with_extensions_and_trailer(proxy, origin):
    pieces = [b"a", b"bc" * 7, os.urandom(70_000), b"\r\n0\r\n", os.urandom(3)]
    body = b"".join(b"%x;ext=v\r\n" % len(p) + p + b"\r\n" for p in pieces)
    body += b"0\r\nX-Checksum: 1\r\n\r\n"
    with RawClient(proxy.address, source=ALICE) as c:
        c.send(("PUT %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                % url(origin, "/raw")).encode() + body)
        r = c.read_response()
        assert r.status == 200
        # The connection is still in step: a second request works.
        assert c.request("GET", url(origin, "/after"), [("Host", "x")]).status == 200
    assert origin.requests[0].body == b"".join(pieces)


def test_chunked_download(make_origin, egressd, tmp_path):
    pieces = [os.urandom(n) for n in (1, 2, 1000, 65536, 100_000, 7, 300_000)]

    def handler(req):
        return Response(headers=[("Content-Type", "application/octet-stream")],
                        body=iter(pieces), framing="chunked")
    server = make_origin(handler)
    proxy = egressd(rules=two_clients(), http_ports=[server.port])
    expected = b"".join(pieces)
    with RawClient(proxy.address, source=ALICE) as c:
        r = c.request("GET", url(server), [("Host", "x")])
        assert r.status == 200 and r.body == expected
        assert r.framing in ("chunked", "close")
    r = curl(proxy.url(), url(server), source=ALICE, output=str(tmp_path / "down"))
    assert r.returncode == 0, r.describe()
    assert (tmp_path / "down").read_bytes() == expected


def test_expect_100_continue_with_curl(proxy, origin, tmp_path):
    data = random_file(tmp_path / "body", 4096)
    r = curl(proxy.url(), url(origin, "/expect"), "-v", "-H", "Expect: 100-continue",
             "--expect100-timeout", "20", "--data-binary", "@%s" % (tmp_path / "body"),
             source=ALICE)
    assert r.status == 200, r.describe()
    echo = json.loads(r.body)
    assert echo["body_len"] == len(data)
    assert echo["body_sha256"] == hashlib.sha256(data).hexdigest()
    # curl sent the body because it was told to continue, not because it gave up waiting.
    assert "100 Continue" in r.stderr, r.stderr
    assert r.elapsed < 10


def test_expect_100_continue_raw(proxy, origin):
    body = os.urandom(2048)
    with RawClient(proxy.address, source=ALICE) as c:
        c.send(("POST %s HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                "Content-Length: %d\r\n\r\n" % (url(origin, "/e"), len(body))).encode())
        interim = c.read_response(skip_interim=False)
        assert interim.status == 100, interim.raw_head
        c.send(body)
        r = c.read_response()
        assert r.status == 200
    assert origin.requests[0].body == body


def test_upload_64mib(proxy, origin, big_file):
    path, sha, size = big_file
    r = curl(proxy.url(), url(origin, "/big"), "--data-binary", "@" + path,
             "-H", "Content-Type: application/octet-stream", source=ALICE, timeout=60)
    assert r.status == 200, r.describe()
    echo = json.loads(r.body)
    assert echo["body_len"] == size
    assert echo["body_sha256"] == sha


def test_download_64mib(make_origin, egressd, big_file, tmp_path):
    path, sha, size = big_file
    server = make_origin(lambda req: Response(
        headers=[("Content-Type", "application/octet-stream")], body=FileBody(path)))
    proxy = egressd(rules=two_clients(), http_ports=[server.port])
    out = tmp_path / "down.bin"
    start = time.monotonic()
    r = curl(proxy.url(), url(server, "/big"), source=ALICE, output=str(out), timeout=60)
    assert r.returncode == 0 and r.status == 200, r.describe()
    assert r.headers.get("content-length") == str(size)
    assert out.stat().st_size == size
    assert file_sha256(out) == sha
    assert time.monotonic() - start < 60
    out.unlink()
