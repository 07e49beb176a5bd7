"""The destination policy: after DNS, egressd connects only to addresses it checked, and
by default refuses loopback, the proxy host's own addresses and every other internal
range, for plain HTTP and CONNECT alike; request loops are refused even when allowed.
Only loopback and this host's own addresses are used: a refused destination is never
connected to, and an allowed one is a local origin."""

import json
import socket
import subprocess

from helpers.client import RawClient, curl
from helpers.common import ALICE, ALICE_FILE, BOB, BOB_FILE, anchored, ipv6_loopback_available
from helpers.control import echo

RULES = {ALICE_FILE: "\n".join([anchored("allowed.test"), "ip:127.0.0.0/8", "ip:::1",
                                "ip:::ffff:0:0/96", "ip:0.0.0.0/8", "ip:10.0.0.0/8",
                                "ip:169.254.0.0/16", "ip:192.168.0.0/16", "ip:224.0.0.0/4",
                                "ip:100.64.0.0/10"]) + "\n",
         BOB_FILE: anchored("allowed.test") + "\n"}


def strict(egressd, origin, **config):
    """An egressd with the default destination policy (nothing internal allowed)."""
    cfg = {"allow_destinations": []}
    cfg.update(config)
    return egressd(rules=RULES, http_ports=[origin.port, 8100], connect_ports=[origin.port],
                   config=cfg)


def test_a_name_that_resolves_to_loopback_is_refused(egressd, origin):
    # DNS rebinding: allowed.test is allowed by name, but resolves to 127.0.0.1.
    proxy = strict(egressd, origin)
    r = curl(proxy.url(), "http://allowed.test:%d/" % origin.port, source=ALICE)
    assert r.status == 403, r.describe()
    assert "destination not allowed: allowed.test (127.0.0.1 is a loopback address)" in r.text
    proxy.wait_log(r"destination refused addr=127\.0\.0\.2 host=allowed\.test port=%d "
                   r"reason=.*loopback" % origin.port)
    assert origin.requests == [], "the origin was reached"


def test_connect_to_loopback_is_refused_with_a_reason(egressd, make_origin):
    origin = make_origin(raw=echo)
    proxy = strict(egressd, origin)
    with RawClient(proxy.address, source=ALICE) as c:
        c.send(b"CONNECT allowed.test:%d HTTP/1.1\r\nHost: allowed.test\r\n\r\n" % origin.port)
        r = c.read_response("CONNECT")
    assert r.status == 403, r.raw_head
    assert r.header("X-Egressd-Reason") == "destination-not-allowed"
    assert b"127.0.0.1 is a loopback address" in r.body
    assert origin.connections == 0


def test_every_spelling_of_an_internal_address_is_refused(egressd, origin):
    """IP literals the rules allow (ip: lines) are still refused as destinations, in every
    form; numeric tricks are not even valid hosts."""
    proxy = strict(egressd, origin)
    refused = ["127.0.0.1", "127.8.9.10", "[::1]", "[::ffff:127.0.0.1]", "0.0.0.0",
               "10.1.2.3", "169.254.169.254", "192.168.1.1", "100.64.0.1", "224.0.0.1"]
    if not ipv6_loopback_available():
        refused.remove("[::1]")
    for host in refused:
        r = curl(proxy.url(), "http://%s:%d/" % (host, origin.port), source=ALICE)
        assert r.status == 403, (host, r.describe())
        assert "destination not allowed" in r.text, (host, r.text)
    # Sent raw: curl itself would turn these into 127.0.0.1.
    for trick in ["2130706433", "127.1", "0x7f.0.0.1", "017700000001", "0177.0.0.1",
                  "127.0.0.1.", "%31%32%37.0.0.1", "[::ffff:7f00:1]"]:
        with RawClient(proxy.address, source=ALICE) as c:
            r = c.request("GET", "http://%s:%d/" % (trick, origin.port), headers=[("Host", trick)])
        assert r.status in (400, 403), (trick, r.status, r.text)
    assert origin.requests == []


def test_the_proxy_hosts_own_address_is_refused(egressd, origin):
    own = own_address()
    if own is None:
        return  # no address besides loopback: nothing to test here
    rules = dict(RULES)
    rules[ALICE_FILE] += "ip:%s\n" % own
    proxy = egressd(rules=rules, http_ports=[origin.port], config={"allow_destinations": []})
    with RawClient(proxy.address, source=ALICE) as c:
        r = c.request("GET", "http://%s:%d/" % (own, origin.port), headers=[("Host", own)])
    assert r.status == 403
    assert "destination not allowed: %s is" % own in r.text, r.text


def test_allowed_networks_per_client_and_for_everyone(egressd, origin):
    proxy = strict(egressd, origin, clients={"alice": {"allow_destinations": ["127.0.0.0/8"]}})
    url = "http://allowed.test:%d/" % origin.port
    assert curl(proxy.url(), url, source=ALICE).status == 200
    assert curl(proxy.url(), url, source=BOB).status == 403

    # The command-line flag opens a network for every client.
    everyone = egressd(rules=RULES, http_ports=[origin.port], config={"allow_destinations": []},
                       args=["--allow-destination", "127.0.0.1/32"])
    assert curl(everyone.url(), url, source=BOB).status == 200


def test_request_loops_are_refused_even_when_loopback_is_allowed(egressd, origin):
    port = free_port()
    proxy = egressd(rules=RULES, http_ports=[origin.port, port], listen=["127.0.0.1:%d" % port],
                    config={"allow_destinations": ["127.0.0.0/8"]})
    for host in ("127.0.0.1", "allowed.test"):
        r = curl(proxy.url(), "http://%s:%d/" % (host, port), source=ALICE)
        assert r.status == 403, r.describe()
        assert "request loop: 127.0.0.1:%d is egressd" % port in r.text, r.text
    # One decision per request: the request never came back in.
    assert len(proxy.decisions()) == 2, proxy.decisions()
    # The same address on another port is an ordinary allowed destination.
    assert curl(proxy.url(), "http://allowed.test:%d/" % origin.port, source=ALICE).status == 200


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def own_address():
    """An address of this host that is not loopback, or None."""
    out = subprocess.run(["ip", "-json", "addr"], stdout=subprocess.PIPE, text=True,
                         check=False).stdout
    try:
        interfaces = json.loads(out or "[]")
    except ValueError:
        return None
    for interface in interfaces:
        for info in interface.get("addr_info", []):
            if info.get("family") == "inet" and not info.get("local", "").startswith("127."):
                return info["local"]
    return None
