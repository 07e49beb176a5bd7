"""Connection caps: a client over its cap gets 503 with a page (a CONNECT is closed at
once), accepting goes on, and other clients keep being served; a freed slot is usable
again. The global cap works the same way across clients."""

from helpers.client import RawClient
from helpers.common import ALICE, ALICE_FILE, BOB, BOB_FILE, anchored

RULES = {ALICE_FILE: anchored("allowed.test") + "\n", BOB_FILE: anchored("allowed.test") + "\n"}


def kept(proxy, url, source):
    c = RawClient(proxy.address, source=source)
    r = c.request("GET", url, headers=[("Host", "allowed.test")])
    assert r.status == 200, (r.status, r.text)
    return c


def get(proxy, url, source):
    with RawClient(proxy.address, source=source) as c:
        return c.request("GET", url, headers=[("Host", "allowed.test"), ("Connection", "close")])


def test_per_client_cap_refuses_that_client_only(egressd, origin):
    proxy = egressd(rules=RULES, http_ports=[origin.port],
                    config={"limits": {"connections_per_client": 3}})
    url = "http://allowed.test:%d/" % origin.port
    held = [kept(proxy, url, ALICE) for _ in range(3)]
    try:
        r = get(proxy, url, ALICE)
        assert r.status == 503, r.status
        assert "too many open connections (limit 3)" in r.text, r.text
        assert r.header("Connection") == "close"
        proxy.wait_log(r"connection refused addr=127\.0\.0\.2 reason=connections-per-client "
                       r"limit=3")
        # A CONNECT over the cap is closed without an answer.
        with RawClient(proxy.address, source=ALICE) as c:
            c.send(b"CONNECT allowed.test:443 HTTP/1.1\r\nHost: allowed.test\r\n\r\n")
            assert c.is_closed(timeout=5)
        # Others are served; the held connections still work.
        assert get(proxy, url, BOB).status == 200
        r = held[0].request("GET", url, headers=[("Host", "allowed.test")])
        assert r.status == 200
    finally:
        held.pop().close()
    # A freed slot can be used again (the close is seen asynchronously: retry briefly).
    for _ in range(50):
        if get(proxy, url, ALICE).status == 200:
            break
    else:
        raise AssertionError("the freed slot was never given back")
    for c in held:
        c.close()


def test_global_cap_refuses_everyone_over_it(egressd, origin):
    proxy = egressd(rules=RULES, http_ports=[origin.port], config={"limits": {"connections": 2}})
    url = "http://allowed.test:%d/" % origin.port
    held = [kept(proxy, url, ALICE), kept(proxy, url, BOB)]
    try:
        r = get(proxy, url, BOB)
        assert r.status == 503
        assert "egressd has too many open connections (limit 2)" in r.text, r.text
    finally:
        for c in held:
            c.close()
