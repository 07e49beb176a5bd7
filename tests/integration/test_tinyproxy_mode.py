"""egressd's tinyproxy-compatible mode (`egressd --tinyproxy-config FILE -d`, or `-c FILE`
when FILE reads as a tinyproxy config): filters with tinyproxy's semantics, checked host by
host against Debian's real tinyproxy 1.11 running the same config; ConnectPort, Allow/Deny,
BasicAuth, Upstream, the headers added for the origin, error page templates, the stat
host, reloads on SIGHUP/SIGUSR1, daemon mode with PidFile and LogFile, and --check.

Where the brief of this feature and real tinyproxy 1.11.1 disagree, the tests follow the
brief and say so in a comment: an invalid method token is a 400 (tinyproxy forwards it),
wrong credentials are a 407 (tinyproxy: 401 Unauthorized), template values are
HTML-escaped (tinyproxy inserts them raw), and the Via received-by name is checked rather
than the whole value (tinyproxy: "1.1 gw (tinyproxy/1.11.1)")."""

import base64
import json
import os
import re
import signal
import time

import pytest

from helpers.client import RawClient, host_header
from helpers.parents import free_port
from helpers.proxy import run_check
from helpers.tinyproxy_mode import (AnsweringParent, RealTinyproxy, TinyproxyModeEgressd,
                                    answers, config_text, egressd_args, executable_of,
                                    filtered_set, is_our_egressd, kill_daemons,
                                    pids_with_argument, run_egressd, running, wait_gone,
                                    wait_port)

# Names the tests reach through egressd; the DNS fixture answers 127.0.0.1 for them while
# a test of this file runs.
NAMES = ["a.example", "b.example", "allowed.example", "blocked.example", "u.example",
         "c.example"]

# A refused client: tinyproxy 1.11.1 says "403 Access denied", the brief says
# "403 Access violation"; either phrase is accepted.
ACCESS_REFUSED_REASONS = ("Access denied", "Access violation")


# ---- fixtures -------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def test_names(dns_server):
    added = [n for n in NAMES if n not in dns_server.a]
    for name in added:
        dns_server.a[name] = ["127.0.0.1"]
    try:
        yield
    finally:
        for name in added:
            dns_server.a.pop(name, None)


def _remember(request, proxy):
    instances = getattr(request.node, "_egressd_instances", None)
    if instances is None:
        instances = []
        request.node._egressd_instances = instances  # the log tail is shown on failure
    instances.append(proxy)


@pytest.fixture
def tinyproxy_mode(request, tmp_path, dns_server):
    """tinyproxy_mode(directives=[...], filter_text=None, option="--tinyproxy-config",
    extra_args=()) -> a started TinyproxyModeEgressd: egressd -d in tinyproxy mode with
    a config of Port (free), Listen 127.0.0.1, Timeout, MaxClients, LogLevel Info, Filter
    (when filter_text is given) and the directives."""
    started = []

    def start(directives=(), filter_text=None, option="--tinyproxy-config", extra_args=()):
        name = "egressd%d" % (len(started) + 1)
        workdir = tmp_path / name
        workdir.mkdir()
        proxy = TinyproxyModeEgressd(workdir, directives, filter_text, dns_server.endpoint,
                                     name=name, option=option, extra_args=extra_args)
        started.append(proxy)
        _remember(request, proxy)
        proxy.start()
        return proxy

    problems = []
    try:
        yield start
    finally:
        for proxy in started:
            for p in proxy.stop():
                problems.append("%s: %s\nlog tail:\n%s" % (proxy.name, p, proxy.log_tail()))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def real_tinyproxy():
    """real_tinyproxy(directives, filter_text) -> a started RealTinyproxy."""
    started = []

    def start(directives=(), filter_text=None):
        tp = RealTinyproxy(directives, filter_text)
        started.append(tp)
        return tp.start()

    try:
        yield start
    finally:
        for tp in started:
            tp.stop()


@pytest.fixture
def parent():
    server = AnsweringParent().start()
    try:
        yield server
    finally:
        server.stop()


# ---- clients --------------------------------------------------------------------------

def address_of(proxy):
    return getattr(proxy, "address", proxy)


def get(proxy, url, headers=(), source=None, method="GET"):
    with RawClient(address_of(proxy), source=source) as c:
        return c.request(method, url, [("Host", host_header(url))] + list(headers))


def connect(proxy, authority, headers=(), source=None):
    """(client, response) of a CONNECT; the caller closes the client."""
    c = RawClient(address_of(proxy), source=source)
    head = "CONNECT %s HTTP/1.1\r\nHost: %s\r\n" % (authority, authority)
    head += "".join("%s: %s\r\n" % hv for hv in headers)
    c.send((head + "\r\n").encode("latin-1"))
    return c, c.read_response("CONNECT")


def get_in_tunnel(client, path, host):
    client.send(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host)).encode())
    return client.read_response()


def filtered(r):
    return (r.status, r.reason) == (403, "Filtered")


def basic(user, password):
    return ("Proxy-Authorization",
            "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode())


def wait_for(predicate, what, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() >= deadline:
            raise AssertionError("not within %.0fs: %s" % (timeout, what))
        time.sleep(0.05)


def count_lines(proxy, pattern):
    rx = re.compile(pattern)
    return sum(1 for line in proxy.log().splitlines() if rx.search(line))


# ---- filter semantics, against real tinyproxy -----------------------------------------
#
# Each case: extra directives, the filter file, the requests ("host" = GET http://host/,
# or "GET URL" / "CONNECT host:port") tinyproxy 1.11.1 answers "403 Filtered", and those
# it lets through. Both proxies run the same config with `Upstream http` to a parent that
# answers everything itself, so neither needs to resolve the names: a request let through
# gets that parent's 200.

BRE_FILTER = """# BRE, tinyproxy's default FilterType
^exact\\.example$
\\(foo\\|bar\\)\\.grp\\.example$
^x\\{2,3\\}\\.rep\\.example$
ab+c\\.example
colou?r\\.example
(x|y)z\\.example
ba{2}d\\.example
ads\\.
*star\\.example
dot.example
"""

ERE_FILTER = """# ERE
^exact\\.example$
(foo|bar)\\.grp\\.example$
^x{2,3}\\.rep\\.example$
ab+c\\.example
colou?r\\.example
\\(x\\)z\\.example
ads\\.
"""

ERE_FILTERED = ["exact.example", "EXACT.Example", "foo.grp.example", "bar.grp.example",
                "xx.rep.example", "xxx.rep.example", "abc.example", "abbc.example",
                "color.example", "colour.example", "my-ads.example",
                "CONNECT colour.example:443"]
ERE_PASSED = ["baz.grp.example", "xxxx.rep.example", "ac.example", "xz.example",
              "other.example", "CONNECT xz.example:443"]

FNMATCH_FILTER = """# globs
*.example.com
ad?.example
host[0-9].example
node[!a-z].example
plain.example
"""

FILTER_CASES = {
    "bre": dict(
        directives=[], filter=BRE_FILTER,
        # unanchored, case-insensitive; \( \| \) group, \{m,n\} interval; + ? ( | ) { }
        # literal; a leading * literal; . any character
        filtered=["exact.example", "EXACT.Example", "foo.grp.example", "bar.grp.example",
                  "xx.rep.example", "xxx.rep.example", "my-ads.example", "ads.example",
                  "dotxexample", "dot.example.net", "CONNECT exact.example:443",
                  "CONNECT foo.grp.example:8443"],
        passed=["sub.exact.example", "exact.example.org", "baz.grp.example",
                "foo.grp.example.org", "xxxx.rep.example", "x.rep.example", "abc.example",
                "abbc.example", "color.example", "colour.example", "xz.example",
                "baad.example", "bad.example", "adsx.example", "star.example",
                "xstar.example", "other.example", "CONNECT xz.example:443"]),
    "ere": dict(directives=["FilterType ere"], filter=ERE_FILTER,
                filtered=ERE_FILTERED, passed=ERE_PASSED),
    "filter-extended": dict(directives=["FilterExtended Yes"], filter=ERE_FILTER,
                            filtered=ERE_FILTERED, passed=ERE_PASSED),
    "fnmatch": dict(
        directives=["FilterType fnmatch"], filter=FNMATCH_FILTER,
        # the whole host: *.example.com is not example.com; ? one character; sets
        filtered=["www.example.com", "a.b.example.com", "ads.example", "adx.example",
                  "host1.example", "node5.example", "plain.example",
                  "CONNECT www.example.com:443"],
        passed=["example.com", "example.com.evil", "ad.example", "adsx.example",
                "host12.example", "hostx.example", "nodeq.example", "x.plain.example",
                "plain.example.org", "CONNECT example.com:443"]),
    # tinyproxy.conf(5): "fnmatch is always case sensitive" (FilterCaseSensitive or not).
    "fnmatch-letter-case": dict(
        directives=["FilterType fnmatch"], filter=FNMATCH_FILTER,
        filtered=["plain.example"],
        passed=["WWW.EXAMPLE.COM", "Www.Example.Com", "PLAIN.example", "ADS.example"]),
    "bre-case-sensitive": dict(
        directives=["FilterCaseSensitive Yes"], filter="^exact\\.example$\nAds\\.\n",
        filtered=["exact.example", "Ads.example", "my-Ads.example"],
        passed=["EXACT.example", "ads.example", "ADS.example"]),
    # Comment lines (indented too), blank lines, leading and trailing blanks, a comment
    # after a pattern, CRLF. Were "#\|example" read as a pattern, it would match every
    # name here.
    "lines": dict(
        directives=[],
        filter=("#\\|example\n\n   \t \n   ^lead\\.example$\ntrail\\.example$   \n"
                "\ttab\\.example\t\nsuffix\\.example    # a comment after the pattern\n"
                "  #\\|example\ncrlf\\.example\r\n"),
        filtered=["lead.example", "trail.example", "tab.example", "suffix.example",
                  "crlf.example"],
        passed=["other.example", "x.lead.example", "example.org"]),
    # tinyproxy ends a pattern at its first blank or unescaped '#': "mid#hash\.example"
    # is the pattern "mid", "space\.example tail" is "space\.example".
    "line-quirks": dict(
        directives=[], filter="mid#hash\\.example\nspace\\.example tail\n",
        filtered=["mid.example", "amidst.example", "space.example"],
        passed=["hash.example", "tail.example", "spacex.example"]),
    # The whole URL: "http://host/path" as sent for plain HTTP, "host:port" for CONNECT.
    "filter-urls": dict(
        directives=["FilterURLs On"],
        filter="^http://u\\.example/secret\n^c\\.example:8443$\n/blocked/\n",
        filtered=["GET http://u.example/secret/x", "GET http://U.example/Secret",
                  "GET http://x.example/blocked/y", "CONNECT c.example:8443"],
        passed=["GET http://u.example/public", "GET http://u.example:8080/secret",
                "GET http://c.example/", "CONNECT c.example:443", "CONNECT u.example:443",
                "GET http://blocked.example/"]),
    "default-deny": dict(
        directives=["FilterDefaultDeny Yes"], filter="good\\.example$\n",
        filtered=["bad.example", "good.example.org", "CONNECT bad.example:443"],
        passed=["good.example", "sub.good.example", "CONNECT good.example:443"]),
}


def case_directives(case, parent):
    return FILTER_CASES[case]["directives"] + ["Upstream http 127.0.0.1:%d" % parent.port]


def case_requests(case):
    return FILTER_CASES[case]["filtered"] + FILTER_CASES[case]["passed"]


def describe(found, log):
    return "\n".join("  %-40s %s %s" % (spec, status, reason)
                     for spec, (status, reason) in found.items()) + "\nlog tail:\n" + \
        "\n".join(log.splitlines()[-40:])


@pytest.mark.parametrize("case", list(FILTER_CASES))
def test_real_tinyproxy_filters_as_the_table_says(case, real_tinyproxy, parent):
    spec = FILTER_CASES[case]
    tp = real_tinyproxy(case_directives(case, parent), spec["filter"])
    found = answers(tp.address, case_requests(case))
    assert filtered_set(found) == sorted(spec["filtered"]), describe(found, tp.log())
    assert all(found[s][0] == 200 for s in spec["passed"]), describe(found, tp.log())


# Where egressd means to differ: it compares host names in lower case, so the letter-case
# cases of tinyproxy (fnmatch always case-sensitive, FilterCaseSensitive) are not
# compared; test_egressd_compares_host_names_in_lower_case says what egressd does.
LETTER_CASE_CASES = ["fnmatch-letter-case", "bre-case-sensitive"]


@pytest.mark.parametrize("case", [c for c in FILTER_CASES if c not in LETTER_CASE_CASES])
def test_egressd_filters_exactly_what_real_tinyproxy_filters(case, real_tinyproxy, parent,
                                                             tinyproxy_mode):
    spec = FILTER_CASES[case]
    directives = case_directives(case, parent)
    requests = case_requests(case)
    tp = real_tinyproxy(directives, spec["filter"])
    by_tinyproxy = answers(tp.address, requests)
    assert filtered_set(by_tinyproxy) == sorted(spec["filtered"]), \
        "real tinyproxy:\n" + describe(by_tinyproxy, tp.log())

    proxy = tinyproxy_mode(directives, spec["filter"])
    by_egressd = answers(proxy.address, requests)
    differences = ["  %-40s tinyproxy: %d %s, egressd: %d %s" % (
        (s,) + by_tinyproxy[s] + by_egressd[s]) for s in requests
        if (by_tinyproxy[s] == (403, "Filtered")) != (by_egressd[s] == (403, "Filtered"))]
    assert not differences, "filtered by one proxy only:\n%s\negressd log tail:\n%s" % (
        "\n".join(differences), proxy.log_tail(40))
    # What tinyproxy let through, egressd sent to the parent as well.
    not_through = {s: by_egressd[s] for s in spec["passed"] if by_egressd[s][0] != 200}
    assert not not_through, "%r\nparent saw: %r\negressd log tail:\n%s" % (
        not_through, parent.requests, proxy.log_tail(40))


def test_egressd_compares_host_names_in_lower_case(tmp_path, tinyproxy_mode, parent):
    # fnmatch: tinyproxy lets WWW.EXAMPLE.COM past "*.example.com"; egressd does not.
    proxy = tinyproxy_mode(["FilterType fnmatch", "Upstream http 127.0.0.1:%d" % parent.port],
                           FNMATCH_FILTER)
    found = answers(proxy.address, ["WWW.EXAMPLE.COM", "Plain.Example", "example.com"])
    assert filtered_set(found) == ["Plain.Example", "WWW.EXAMPLE.COM"], found
    # FilterCaseSensitive with an upper-case letter in a line: it could never match a
    # host name, and egressd says so (line 2).
    filter_path = tmp_path / "case-filter"
    filter_path.write_text("^exact\\.example$\nAds\\.\n")
    config = tmp_path / "case.conf"
    config.write_text(config_text(free_port(), ["FilterCaseSensitive Yes"], filter_path))
    code, out, err = run_check(["--check", "--tinyproxy-config", config])
    assert code == 1, out + err
    assert re.search(r"%s(:| line )2\b" % re.escape(str(filter_path)), out + err), out + err


# ---- filtering with a real origin ---------------------------------------------------

def test_a_filtered_host_gets_403_filtered_and_other_hosts_reach_the_origin(tinyproxy_mode,
                                                                            origin):
    proxy = tinyproxy_mode(filter_text="# refused\nblocked\\.example$\n")
    r = get(proxy, "http://blocked.example:%d/x" % origin.port)
    assert filtered(r), r.raw_head
    proxy.wait_log(r'Proxying refused on filtered domain "blocked\.example"')
    c, r = connect(proxy, "blocked.example:%d" % origin.port)
    with c:
        assert filtered(r), r.raw_head
    wait_for(lambda: count_lines(proxy, r'Proxying refused on filtered domain '
                                        r'"blocked\.example"') >= 2,
             "a second 'Proxying refused' line, for the CONNECT")

    r = get(proxy, "http://allowed.example:%d/ok" % origin.port)
    assert r.status == 200, r.raw_head + r.body
    assert json.loads(r.body)["target"] == "/ok"
    # No ConnectPort line: CONNECT may reach any port.
    c, r = connect(proxy, "allowed.example:%d" % origin.port)
    with c:
        assert r.status == 200, r.raw_head
        inner = get_in_tunnel(c, "/tunnelled", "allowed.example")
        assert inner.status == 200
        assert json.loads(inner.body)["target"] == "/tunnelled"
    assert [q.target for q in origin.requests] == ["/ok", "/tunnelled"]


def test_filter_default_deny_makes_the_filter_an_allow_list(tinyproxy_mode, origin):
    proxy = tinyproxy_mode(["FilterDefaultDeny Yes"], filter_text="^allowed\\.example$\n")
    r = get(proxy, "http://allowed.example:%d/in" % origin.port)
    assert r.status == 200, r.raw_head
    r = get(proxy, "http://blocked.example:%d/out" % origin.port)
    assert filtered(r), r.raw_head
    proxy.wait_log(r'Proxying refused on filtered domain "blocked\.example"')
    c, r = connect(proxy, "a.example:%d" % origin.port)
    with c:
        assert filtered(r), r.raw_head
    c, r = connect(proxy, "allowed.example:%d" % origin.port)
    with c:
        assert r.status == 200, r.raw_head
        assert get_in_tunnel(c, "/tunnel", "allowed.example").status == 200
    assert [q.target for q in origin.requests] == ["/in", "/tunnel"]


def test_filter_urls_matches_the_whole_url_and_logs_it(tinyproxy_mode, origin):
    proxy = tinyproxy_mode(["FilterURLs On"],
                           filter_text="/secret/\n^c\\.example:%d$\n" % origin.port)
    r = get(proxy, "http://u.example:%d/secret/x" % origin.port)
    assert filtered(r), r.raw_head
    proxy.wait_log(r'Proxying refused on filtered url "http://u\.example(:%d)?/secret/x"'
                   % origin.port)
    r = get(proxy, "http://u.example:%d/public/x" % origin.port)
    assert r.status == 200, r.raw_head
    c, r = connect(proxy, "c.example:%d" % origin.port)
    with c:
        assert filtered(r), r.raw_head
    proxy.wait_log(r'Proxying refused on filtered url "c\.example:%d"' % origin.port)
    # The same host through a URL that matches no line.
    c, r = connect(proxy, "u.example:%d" % origin.port)
    with c:
        assert r.status == 200, r.raw_head
        assert get_in_tunnel(c, "/in-tunnel", "u.example").status == 200
    assert [q.target for q in origin.requests] == ["/public/x", "/in-tunnel"]


def test_a_tinyproxy_config_given_to_c_runs_tinyproxy_mode(tinyproxy_mode, origin):
    proxy = tinyproxy_mode(filter_text="blocked\\.example$\n", option="-c")
    assert filtered(get(proxy, "http://blocked.example:%d/" % origin.port))
    proxy.wait_log(r'Proxying refused on filtered domain "blocked\.example"')
    assert get(proxy, "http://allowed.example:%d/" % origin.port).status == 200


# ---- ConnectPort, methods, upstreams --------------------------------------------------

def test_connect_to_a_port_not_listed_is_an_access_violation(tinyproxy_mode, origin,
                                                              closed_port):
    proxy = tinyproxy_mode(["ConnectPort 443", "ConnectPort %d" % origin.port])
    c, r = connect(proxy, "allowed.example:%d" % closed_port)
    with c:
        assert (r.status, r.reason) == (403, "Access violation"), r.raw_head
    proxy.wait_log(r"Refused CONNECT method on port %d\b" % closed_port)
    c, r = connect(proxy, "allowed.example:%d" % origin.port)
    with c:
        assert r.status == 200, r.raw_head
        assert get_in_tunnel(c, "/listed", "allowed.example").status == 200
    # ConnectPort leaves plain HTTP alone.
    r = get(proxy, "http://allowed.example:%d/plain" % origin.port)
    assert r.status == 200, r.raw_head
    assert [q.target for q in origin.requests] == ["/listed", "/plain"]


def test_an_invalid_method_token_is_a_bad_request(tinyproxy_mode, origin):
    # (tinyproxy 1.11.1 itself forwards "G@T" to the origin.)
    proxy = tinyproxy_mode()
    with RawClient(proxy.address) as c:
        c.send(b"G@T http://allowed.example:%d/ HTTP/1.1\r\nHost: allowed.example\r\n\r\n"
               % origin.port)
        r = c.read_response()
    assert r.status == 400, r.raw_head
    assert origin.connections == 0


def test_an_unreachable_upstream_is_a_502_that_names_it(tinyproxy_mode, origin, closed_port):
    upstream = "127.0.0.1:%d" % closed_port
    proxy = tinyproxy_mode(["Upstream http %s" % upstream,
                            'Upstream none "allowed.example"'])
    r = get(proxy, "http://a.example:%d/x" % origin.port)
    assert r.status == 502, r.raw_head
    assert upstream in r.text, r.text
    c, r = connect(proxy, "a.example:%d" % origin.port)
    with c:
        assert r.status == 502, r.raw_head
        assert upstream in r.text, r.text
    # Upstream none "site": that host goes direct.
    r = get(proxy, "http://allowed.example:%d/direct" % origin.port)
    assert r.status == 200, r.raw_head + r.body
    assert [q.target for q in origin.requests] == ["/direct"]


# ---- reload ---------------------------------------------------------------------------

def test_sighup_reloads_the_filter_and_a_bad_filter_keeps_the_old_rules(tinyproxy_mode,
                                                                        origin):
    proxy = tinyproxy_mode(filter_text="a\\.example$\n")
    a = "http://a.example:%d/a" % origin.port
    b = "http://b.example:%d/b" % origin.port
    assert filtered(get(proxy, a))
    assert get(proxy, b).status == 200

    proxy.filter_path.write_text("# now b\nb\\.example$\n")
    offset = proxy.log_size()
    proxy.signal(signal.SIGHUP)
    proxy.wait_log_after(offset, r"reloaded rules generation=2\b")
    assert get(proxy, a).status == 200
    assert filtered(get(proxy, b))

    # A filter that does not compile (line 3: an unclosed group): SIGUSR1 reloads too, the
    # error names the file and line, the rules in force stay (a.example would be filtered
    # by line 2 of the new file).
    proxy.filter_path.write_text("# broken\na\\.example$\n\\(unclosed\n")
    offset = proxy.log_size()
    proxy.signal(signal.SIGUSR1)
    m = proxy.wait_log_after(offset, r"[^\n]*%s(:| line )3\b[^\n]*"
                             % re.escape(str(proxy.filter_path)))
    assert "error" in m.group(0).lower(), m.group(0)
    proxy.wait_log_after(offset, r"reload failed")
    assert get(proxy, a).status == 200
    assert filtered(get(proxy, b))
    assert proxy.proc.poll() is None, "egressd exited after the failed reload"


# ---- clients: Allow/Deny, BasicAuth ---------------------------------------------------

def test_allow_admits_only_the_listed_client(tinyproxy_mode, origin):
    proxy = tinyproxy_mode(["Allow 127.0.0.2"])
    url = "http://allowed.example:%d/" % origin.port
    r = get(proxy, url + "from-1", source="127.0.0.1")
    assert r.status == 403 and r.reason in ACCESS_REFUSED_REASONS, r.raw_head
    r = get(proxy, url + "from-2", source="127.0.0.2")
    assert r.status == 200, r.raw_head
    assert [q.target for q in origin.requests] == ["/from-2"]


def test_deny_then_allow_first_match_decides(tinyproxy_mode, origin):
    proxy = tinyproxy_mode(["Deny 127.0.0.3", "Allow 127.0.0.0/8"])
    url = "http://allowed.example:%d/" % origin.port
    r = get(proxy, url + "from-3", source="127.0.0.3")
    assert r.status == 403 and r.reason in ACCESS_REFUSED_REASONS, r.raw_head
    c, r = connect(proxy, "allowed.example:%d" % origin.port, source="127.0.0.3")
    with c:
        assert r.status == 403, r.raw_head
    r = get(proxy, url + "from-2", source="127.0.0.2")
    assert r.status == 200, r.raw_head
    assert [q.target for q in origin.requests] == ["/from-2"]


def test_basic_auth(tinyproxy_mode, origin):
    proxy = tinyproxy_mode(["BasicAuth user pass"])
    url = "http://allowed.example:%d/" % origin.port
    r = get(proxy, url + "none")
    assert r.status == 407, r.raw_head
    # tinyproxy 1.11.1 says realm="Tinyproxy"; the letter case is not checked.
    assert (r.header("proxy-authenticate") or "").lower() == 'basic realm="tinyproxy"', \
        r.raw_head
    # (tinyproxy 1.11.1 answers wrong credentials with 401 Unauthorized.)
    r = get(proxy, url + "wrong", [basic("user", "nope")])
    assert r.status == 407, r.raw_head
    c, r = connect(proxy, "allowed.example:%d" % origin.port)
    with c:
        assert r.status == 407, r.raw_head
    r = get(proxy, url + "right", [basic("user", "pass")])
    assert r.status == 200, r.raw_head
    c, r = connect(proxy, "allowed.example:%d" % origin.port, [basic("user", "pass")])
    with c:
        assert r.status == 200, r.raw_head
        assert get_in_tunnel(c, "/tunnel", "allowed.example").status == 200
    assert [q.target for q in origin.requests] == ["/right", "/tunnel"]
    assert all(q.headers.get("proxy-authorization") is None for q in origin.requests)


# ---- what the origin receives ---------------------------------------------------------

def test_headers_added_for_the_origin(tinyproxy_mode, origin):
    proxy = tinyproxy_mode(["XTinyproxy Yes", 'AddHeader "X-Added" "yes"',
                            'ViaProxyName "gw"'])
    r = get(proxy, "http://allowed.example:%d/h" % origin.port)
    assert r.status == 200, r.raw_head
    headers = origin.requests[-1].headers
    assert headers.get("x-tinyproxy") == "127.0.0.1", headers
    assert headers.get("x-added") == "yes", headers
    # The last Via element names "gw" as the proxy that received the request (tinyproxy
    # sends "1.1 gw (tinyproxy/1.11.1)").
    vias = ",".join(headers.get_all("via")).split(",")
    assert re.fullmatch(r"(HTTP/)?1\.[01] gw(\s+\(.*\))?", vias[-1].strip()), headers


def test_disable_via_header(tinyproxy_mode, origin):
    proxy = tinyproxy_mode(["DisableViaHeader Yes"])
    r = get(proxy, "http://allowed.example:%d/no-via" % origin.port)
    assert r.status == 200, r.raw_head
    assert origin.requests[-1].headers.get_all("via") == [], origin.requests[-1].headers


# ---- pages ----------------------------------------------------------------------------

def test_error_files_are_filled_in_and_html_escaped(tmp_path, tinyproxy_mode, origin,
                                                    closed_port):
    pages = tmp_path / "pages"
    pages.mkdir()
    (pages / "403.html").write_text("<p>cause={cause} detail={detail} url={url}</p>\n")
    (pages / "default.html").write_text("<html>DEFAULT cause={cause} detail={detail}</html>\n")
    proxy = tinyproxy_mode(['ErrorFile 403 "%s"' % (pages / "403.html"),
                            'DefaultErrorFile "%s"' % (pages / "default.html"),
                            "Upstream http 127.0.0.1:%d" % closed_port],
                           filter_text="blocked\\.example$\n")
    # '&' and "'" are allowed in a URL and special in HTML. (tinyproxy 1.11.1 inserts the
    # values without escaping them.)
    r = get(proxy, "http://blocked.example:%d/p?a=1&b='x'" % origin.port)
    assert filtered(r), r.raw_head
    m = re.fullmatch(r"<p>cause=Filtered detail=(.+) url=(.+)</p>\s*", r.text, re.S)
    assert m, r.text
    assert "http://blocked.example" in m.group(2) and "/p?a=1&amp;b=" in m.group(2), r.text
    assert "a=1&b" not in r.text
    # A raw '<' in the target: refused as malformed, or escaped in the page.
    with RawClient(proxy.address) as c:
        c.send(b"GET http://blocked.example:%d/<b>bold</b> HTTP/1.1\r\n"
               b"Host: blocked.example\r\n\r\n" % origin.port)
        r = c.read_response()
    assert r.status in (400, 403), r.raw_head
    if r.status == 403:
        assert "&lt;b&gt;bold&lt;/b&gt;" in r.text and "<b>" not in r.text, r.text
    # No ErrorFile for 502: DefaultErrorFile.
    r = get(proxy, "http://a.example:%d/x" % origin.port)
    assert r.status == 502, r.raw_head
    assert r.text.startswith("<html>DEFAULT cause="), r.text
    assert "{cause}" not in r.text and "{detail}" not in r.text, r.text
    assert origin.connections == 0


def test_stat_host_is_answered_by_egressd_itself(tinyproxy_mode, origin, dns_server):
    proxy = tinyproxy_mode(['StatHost "stats.test"'])
    r = get(proxy, "http://stats.test/")
    assert r.status == 200, r.raw_head
    assert (r.header("content-type") or "").split(";")[0].strip().lower() == "text/html", \
        r.raw_head
    assert "egressd" in r.text.lower() or "tinyproxy" in r.text.lower(), r.text
    assert dns_server.queried("stats.test") == []
    assert origin.connections == 0


# ---- daemon mode ----------------------------------------------------------------------

def test_daemon_mode_with_pid_file_and_log_file(tmp_path, dns_server, origin):
    d = tmp_path / "daemon"
    d.mkdir()
    port = free_port()
    pid_path, log_path = d / "egressd.pid", d / "egressd.log"
    filter_path = d / "filter"
    filter_path.write_text("blocked\\.example$\n")
    config = d / "tinyproxy.conf"
    config.write_text(config_text(port, ['PidFile "%s"' % pid_path,
                                         'LogFile "%s"' % log_path], filter_path))
    pids = []
    try:
        code, out, err = run_egressd(egressd_args(config, dns_server.endpoint,
                                                  foreground=False), d)
        assert code == 0, "stdout:\n%s\nstderr:\n%s" % (out, err)
        assert pid_path.exists(), "no pid file; stderr:\n%s" % err
        pid = int(pid_path.read_text().strip())
        pids.append(pid)
        assert running(pid) and is_our_egressd(pid), (pid, executable_of(pid))
        assert wait_port(port), "the daemon does not listen on %d" % port

        r = get(("127.0.0.1", port), "http://blocked.example:%d/x" % origin.port)
        assert filtered(r), r.raw_head
        r = get(("127.0.0.1", port), "http://allowed.example:%d/ok" % origin.port)
        assert r.status == 200, r.raw_head
        wait_for(lambda: log_path.exists() and 'Proxying refused on filtered domain '
                 '"blocked.example"' in log_path.read_text(errors="replace"),
                 "the 'Proxying refused' line in the LogFile")

        os.kill(pid, signal.SIGTERM)
        assert wait_gone(pid), "egressd %d still runs 10s after SIGTERM" % pid
        wait_for(lambda: not pid_path.exists(), "the pid file removed")
    finally:
        kill_daemons(pids + pids_with_argument(config))


def test_daemon_mode_config_error_exits_1_naming_the_line(tmp_path, dns_server):
    d = tmp_path / "daemon"
    d.mkdir()
    config = d / "tinyproxy.conf"
    text = config_text(free_port(), ["Frobnicate yes"])
    config.write_text(text)
    line = text.splitlines().index("Frobnicate yes") + 1
    try:
        code, out, err = run_egressd(egressd_args(config, dns_server.endpoint,
                                                  foreground=False), d)
        assert code == 1, "stdout:\n%s\nstderr:\n%s" % (out, err)
        assert re.search(r"%s(:| line )%d\b" % (re.escape(str(config)), line), err), err
    finally:
        kill_daemons(pids_with_argument(config))


# ---- --check --------------------------------------------------------------------------

def test_check_accepts_a_good_config(tmp_path, origin):
    filter_path = tmp_path / "filter"
    filter_path.write_text("# good\n^blocked\\.example$\n")
    config = tmp_path / "tinyproxy.conf"
    config.write_text(config_text(free_port(), [
        "ConnectPort 443", "BasicAuth user pass", "Allow 127.0.0.0/8", "XTinyproxy Yes",
        'AddHeader "X-Added" "yes"', "Upstream http 127.0.0.1:%d \"a.example\"" % origin.port,
        'StatHost "stats.test"'], filter_path))
    code, out, err = run_check(["--check", "--tinyproxy-config", config])
    assert code == 0, out + err


CHECK_PROBLEMS = {
    # A back-reference: POSIX BRE has it, egressd cannot run it in linear time.
    "back-reference": ("filter", "ok\\.example\n\\(x\\)\\1\n", 2),
    "unclosed-group": ("filter", "# comment\n\nok\\.example\n\\(unclosed\n", 4),
    "host-name-in-allow": ("config", "Allow localhost", None),
    "unknown-directive": ("config", "Frobnicate yes", None),
}


@pytest.mark.parametrize("case", list(CHECK_PROBLEMS))
def test_check_names_the_file_and_line_of_a_problem(tmp_path, case):
    where, text, line = CHECK_PROBLEMS[case]
    filter_path = tmp_path / "filter"
    filter_path.write_text(text if where == "filter" else "ok\\.example\n")
    config = tmp_path / "tinyproxy.conf"
    config_body = config_text(free_port(), [text] if where == "config" else [], filter_path)
    config.write_text(config_body)
    if where == "config":
        line = config_body.splitlines().index(text) + 1
    bad = filter_path if where == "filter" else config
    code, out, err = run_check(["--check", "--tinyproxy-config", config])
    assert code == 1, out + err
    assert re.search(r"%s(:| line )%d\b" % (re.escape(str(bad)), line), out + err), out + err
