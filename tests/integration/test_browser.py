"""The browser experience: Debian's Chromium (headless, driven by playwright-core through
tests/browser/drive.js) browses through a real egressd to real origins, HTTP and HTTPS.
Allowed pages load; a blocked HTTP page is egressd's block page, which names the client,
the host and the rule to add, and works without JavaScript and without loading anything
else; a blocked HTTPS site fails the way Chromium shows a refused tunnel.

Chromium connects to egressd from 127.0.0.1, so its rules file is browser.127.0.0.1.
Screenshots are kept under build/browser-artifacts/<build>/ (failed or not)."""

import json
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import zlib
from pathlib import Path

import pytest

from helpers.common import anchored
from helpers.origin import Response
from helpers.proxy import egressd_binary

REPO = Path(__file__).resolve().parents[2]
BROWSER_DIR = REPO / "tests" / "browser"
DRIVER = BROWSER_DIR / "drive.js"
CHROMIUM = "/usr/bin/chromium"

CLIENT = "127.0.0.1"       # where Chromium connects from
LABEL = "browser"
RULES_FILE = "%s.%s" % (LABEL, CLIENT)
ALLOWED_HTTP = "allowed.test"
ALLOWED_HTTPS = "tls.test"  # in the test certificate
BLOCKED_HTTP = "blocked.test"
BLOCKED_HTTPS = "other.test"
RULES = "# the browser of test_browser.py\n%s\n%s\n" % (anchored(ALLOWED_HTTP),
                                                      anchored(ALLOWED_HTTPS))

STEP_MS = 15000            # each launch, navigation, read and screenshot
DEADLINE_MS = 45000        # the whole driver run; it exits by itself then
WAIT_S = DEADLINE_MS / 1000 + 10
STOP_S = 8

# What Chromium reports for a CONNECT the proxy refused (here with a 403).
REFUSED_TUNNEL = "net::ERR_TUNNEL_CONNECTION_FAILED"


def artifacts_dir():
    """build/browser-artifacts/<dev|asan|...>: the build under test names the folder, so
    the two runs of `make test` keep their screenshots apart."""
    return REPO / "build" / "browser-artifacts" / egressd_binary().resolve().parent.name


@pytest.fixture
def browser_tools():
    problems = []
    if shutil.which("node") is None:
        problems.append("no `node` (Debian package nodejs)")
    if not os.access(CHROMIUM, os.X_OK):
        problems.append("no %s (Debian package chromium)" % CHROMIUM)
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        problems.append("no tests/browser/node_modules/playwright-core (make browser-deps)")
    if problems:
        pytest.fail("the browser tests need: %s; `make test` installs them (scripts/"
                    "install-deps.sh, then make browser-deps)" % "; ".join(problems),
                    pytrace=False)


def one_pixel_png():
    """A 1x1 white PNG, for the page with resources."""
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\xff\xff"))
            + chunk(b"IEND", b""))


def page_handler(title, text):
    """An origin that serves a small HTML page at /, a page that loads a stylesheet and
    an image at /with-resources (the control of the request recording), and 404 for
    anything else."""
    page = ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>%s</title></head>\n<body><h1>%s</h1><p id=\"text\">%s</p></body></html>\n"
            % (title, title, text)).encode()
    with_resources = (b"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                      b"<title>With resources</title>"
                      b"<link rel=\"stylesheet\" href=\"/style.css\"></head>\n"
                      b"<body><p>A page with a stylesheet and an image.</p>"
                      b"<img src=\"/pixel.png\" alt=\"\"></body></html>\n")
    files = {
        "/": ("text/html; charset=utf-8", page),
        "/with-resources": ("text/html; charset=utf-8", with_resources),
        "/style.css": ("text/css", b"p { color: #333 }\n"),
        "/pixel.png": ("image/png", one_pixel_png()),
    }

    def handle(req):
        if req.target in files:
            content_type, body = files[req.target]
            return Response(200, "OK", [("Content-Type", content_type)], body)
        return Response(404, "Not Found", [("Content-Type", "text/plain")], b"not here\n")
    return handle


class Site:
    """egressd with the browser's rules, an HTTP origin and an HTTPS origin."""

    def __init__(self, egressd, make_origin):
        self.http_text = "Served over HTTP by the test origin %d" % os.getpid()
        self.https_text = "Served over HTTPS by the test origin %d" % os.getpid()
        self.http = make_origin(page_handler("Allowed HTTP page", self.http_text))
        self.https = make_origin(page_handler("Allowed HTTPS page", self.https_text),
                                 tls=True)
        self.proxy = egressd(rules={RULES_FILE: RULES}, http_ports=[self.http.port],
                             connect_ports=[self.https.port])
        self.rules_file = str(self.proxy.rules_dir / RULES_FILE)

    def http_url(self, host, path="/"):
        return "http://%s:%d%s" % (host, self.http.port, path)

    def https_url(self, host, path="/"):
        return "https://%s:%d%s" % (host, self.https.port, path)


@pytest.fixture
def site(browser_tools, egressd, make_origin):
    return Site(egressd, make_origin)


def _browser_leftovers(marker):
    """Pids of processes whose command line holds `marker` (this run's own folder, where
    Playwright put Chromium's profile): the Chromium this run started."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline:
            pids.append(int(entry.name))
    return pids


def browse(proxy, visits):
    """Runs drive.js once with `visits`; returns its answer, {name: visit}. Every wait is
    bounded; on the way out nothing it started is left running, and its folder is gone."""
    # Playwright puts Chromium's profile in TMPDIR: a folder of this run's own, which also
    # marks this run's processes. Short, in /tmp: Chromium's singleton socket goes in it
    # and a unix socket path has at most 107 bytes.
    run_dir = Path(tempfile.mkdtemp(prefix="egressd-browser-", dir="/tmp"))
    try:
        return _browse(proxy, visits, run_dir)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def _browse(proxy, visits, run_dir):
    env = dict(os.environ, TMPDIR=str(run_dir), HOME=str(run_dir),
               XDG_CONFIG_HOME=str(run_dir / "config"), XDG_CACHE_HOME=str(run_dir / "cache"),
               PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
    job = {"proxy": proxy.url(), "executable": CHROMIUM, "timeout_ms": STEP_MS,
           "deadline_ms": DEADLINE_MS, "visits": visits}
    for v in visits:
        if v.get("screenshot"):
            Path(v["screenshot"]).unlink(missing_ok=True)  # never a stale picture
    proc = subprocess.Popen(["node", str(DRIVER)], cwd=BROWSER_DIR, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    out = err = b""
    try:
        out, err = proc.communicate(json.dumps(job).encode(), timeout=WAIT_S)
    except subprocess.TimeoutExpired:
        # SIGTERM: Playwright closes the browser and exits; SIGKILL if it does not.
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate(timeout=STOP_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=STOP_S)
        marker = str(run_dir) + "/"
        leftovers = _browser_leftovers(marker)
        deadline = time.monotonic() + STOP_S
        while leftovers and time.monotonic() < deadline:
            time.sleep(0.1)
            leftovers = _browser_leftovers(marker)
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    stderr = err.decode("utf-8", "replace")
    assert proc.returncode == 0, "drive.js exited with %s:\n%s" % (proc.returncode,
                                                                 stderr[-4000:])
    assert not leftovers, "Chromium outlived drive.js: %s" % leftovers
    answer = json.loads(out)
    return {v["name"]: v for v in answer["visits"]}


def show_screenshots(capsys, visits):
    with capsys.disabled():
        for v in visits.values():
            if v.get("screenshot"):
                print("\n  browser screenshot (%s): %s" % (v["name"], v["screenshot"]), end="")
        print()


def png_size(path):
    """(width, height) of a PNG file, checking its signature and header."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "%s is not a PNG" % path
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def assert_screenshot(visit):
    assert visit["screenshot"], "no screenshot for %s: %s" % (visit["name"],
                                                              visit["screenshot_error"])
    width, height = png_size(visit["screenshot"])
    assert width > 0 and height > 0


def describe(visit):
    v = dict(visit)
    v["html"] = (v["html"] or "")[:2000]
    return json.dumps(v, indent=1)


def lines(text):
    """The page's text as its non-empty lines, each with its runs of blanks made one
    space."""
    out = [re.sub(r"\s+", " ", l).strip() for l in (text or "").splitlines()]
    return [l for l in out if l]


def assert_only_test_hosts_allowed(proxy):
    """Chromium's own traffic (update and account checks to Google hosts, seen here) goes
    through egressd too and is refused: nothing but the test's names was let through."""
    allowed = {d["host"] for d in proxy.decisions() if d.get("verdict") == "allow"}
    assert allowed <= {ALLOWED_HTTP, ALLOWED_HTTPS}, proxy.log_tail()


def assert_block_page(visit, site, host, port):
    """The block page as a person reads it: who was refused, where, and the fix."""
    assert visit["ok"], describe(visit)
    assert visit["status"] == 403, describe(visit)
    assert visit["content_type"].split(";")[0].strip() == "text/html", describe(visit)
    assert visit["title"] == "Blocked by egressd", describe(visit)
    text = lines(visit["text"])
    host_port = "%s:%d" % (host, port)
    assert "Blocked by egressd" in text, describe(visit)
    assert "Client %s" % LABEL in text, describe(visit)
    assert "Address %s" % CLIENT in text, describe(visit)
    assert "Host %s" % host_port in text, describe(visit)
    assert "Rules file %s" % site.rules_file in text, describe(visit)
    assert "To allow it, add this line to %s:" % site.rules_file in text, describe(visit)
    assert anchored(host) in text, describe(visit)  # the rule to add, on its own line


# ---- allowed pages -------------------------------------------------------------------------

def test_allowed_http_and_https_pages_load(site, capsys):
    out = artifacts_dir()
    visits = browse(site.proxy, [
        {"name": "allowed-http", "url": site.http_url(ALLOWED_HTTP),
         "screenshot": str(out / "allowed-http.png")},
        {"name": "allowed-https", "url": site.https_url(ALLOWED_HTTPS),
         "screenshot": str(out / "allowed-https.png")},
    ])
    show_screenshots(capsys, visits)

    http = visits["allowed-http"]
    assert http["ok"] and http["status"] == 200, describe(http)
    assert http["title"] == "Allowed HTTP page", describe(http)
    assert lines(http["text"]) == ["Allowed HTTP page", site.http_text], describe(http)
    assert_screenshot(http)

    https = visits["allowed-https"]
    assert https["ok"] and https["status"] == 200, describe(https)
    assert https["final_url"] == site.https_url(ALLOWED_HTTPS), describe(https)
    assert lines(https["text"]) == ["Allowed HTTPS page", site.https_text], describe(https)
    assert_screenshot(https)

    # Both went through egressd: a plain request and a tunnel, each allowed by its line.
    d = site.proxy.wait_decision(host=ALLOWED_HTTP, method="GET")
    assert d == {**d, "client": LABEL, "addr": CLIENT, "verdict": "allow",
                 "port": str(site.http.port), "rule": site.rules_file + ":2"}
    d = site.proxy.wait_decision(host=ALLOWED_HTTPS, method="CONNECT")
    assert d == {**d, "client": LABEL, "addr": CLIENT, "verdict": "allow",
                 "port": str(site.https.port), "rule": site.rules_file + ":3"}
    assert "/" in [r.target for r in site.http.requests]
    assert "/" in [r.target for r in site.https.requests]
    # The HTTP page came through egressd (its Via), not straight from the origin.
    first = [r for r in site.http.requests if r.target == "/"][0]
    assert first.headers.get("via"), first.headers
    assert_only_test_hosts_allowed(site.proxy)


# ---- blocked pages -------------------------------------------------------------------------

def test_blocked_http_page_shows_the_block_page(site, capsys):
    visits = browse(site.proxy, [
        {"name": "blocked-http", "url": site.http_url(BLOCKED_HTTP, "/some/page"),
         "screenshot": str(artifacts_dir() / "blocked-http.png")},
    ])
    show_screenshots(capsys, visits)
    visit = visits["blocked-http"]
    assert_screenshot(visit)
    assert_block_page(visit, site, BLOCKED_HTTP, site.http.port)
    assert visit["final_url"] == site.http_url(BLOCKED_HTTP, "/some/page")
    d = site.proxy.wait_decision(host=BLOCKED_HTTP)
    assert d == {**d, "client": LABEL, "verdict": "deny", "reason": "no-allow-rule"}
    assert site.http.connections == 0
    assert_only_test_hosts_allowed(site.proxy)


def test_blocked_https_site_fails_as_a_refused_tunnel(site, capsys):
    visits = browse(site.proxy, [
        {"name": "blocked-https", "url": site.https_url(BLOCKED_HTTPS),
         "screenshot": str(artifacts_dir() / "blocked-https.png")},
    ])
    show_screenshots(capsys, visits)
    visit = visits["blocked-https"]
    assert_screenshot(visit)
    # Chromium never shows a proxy's answer to a CONNECT: the refusal is its own error page.
    assert not visit["ok"], describe(visit)
    assert visit["net_error"] == REFUSED_TUNNEL, describe(visit)
    assert REFUSED_TUNNEL[len("net::"):] in (visit["text"] or ""), describe(visit)
    d = site.proxy.wait_decision(host=BLOCKED_HTTPS, method="CONNECT")
    assert d == {**d, "client": LABEL, "verdict": "deny", "reason": "no-allow-rule",
                 "port": str(site.https.port)}
    assert site.https.connections == 0
    assert_only_test_hosts_allowed(site.proxy)


def test_block_page_needs_no_javascript_and_loads_nothing_else(site, capsys):
    url = site.http_url(BLOCKED_HTTP, "/without/javascript")
    control = site.http_url(ALLOWED_HTTP, "/with-resources")
    visits = browse(site.proxy, [
        {"name": "blocked-http-nojs", "url": url, "javascript": False,
         "screenshot": str(artifacts_dir() / "blocked-http-nojs.png")},
        # The control: with JavaScript off too, a page's stylesheet and image are seen.
        {"name": "control-nojs", "url": control, "javascript": False},
    ])
    show_screenshots(capsys, visits)

    seen = visits["control-nojs"]
    assert seen["ok"], describe(seen)
    assert sorted((r["url"], r["type"]) for r in seen["requests"]) == sorted([
        (control, "document"), (site.http_url(ALLOWED_HTTP, "/style.css"), "stylesheet"),
        (site.http_url(ALLOWED_HTTP, "/pixel.png"), "image")]), describe(seen)
    assert seen["dom"]["links"] and seen["dom"]["refs"], seen["dom"]

    visit = visits["blocked-http-nojs"]
    assert_screenshot(visit)
    # Everything a person needs is there with JavaScript off.
    assert_block_page(visit, site, BLOCKED_HTTP, site.http.port)
    # The page made one request: itself. (Chromium's own /favicon.ico request is the
    # browser's, not the page's: the page names no icon.)
    assert [(r["url"], r["type"], r["navigation"]) for r in visit["requests"]] == \
        [(url, "document", True)], describe(visit)
    # Nothing in it could load or run anything.
    dom = visit["dom"]
    assert dom["scripts"] == 0, dom
    assert dom["links"] == [], dom
    assert dom["refs"] == [], dom  # no src, href, srcset, action, ... at all
    assert dom["iframes"] == 0 and dom["meta_refresh"] == 0, dom
    assert dom["handlers"] == [], dom
    for css in dom["styles"] + dom["inline_style_attrs"]:
        assert "url(" not in css.lower() and "@import" not in css.lower(), css
    assert "<script" not in visit["html"].lower()
    assert_only_test_hosts_allowed(site.proxy)
