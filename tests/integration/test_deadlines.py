"""Every wait has a deadline: an idle kept-alive client, a connect that gets no answer, a
DNS server that never answers, an idle tunnel. (The request head and the response head
deadlines are in test_errors.py.) Each is set to 1 s here and must end the wait with
the documented answer, without affecting anyone else."""

import socket
import time

from helpers.client import RawClient
from helpers.common import ALICE, ALICE_FILE, anchored
from helpers.control import echo, open_tunnel

RULES = {ALICE_FILE: "\n".join(anchored(h) for h in ("allowed.test", "tunnel.test",
                                                        "unknown-ok.test")) + "\n"}


def test_an_idle_kept_alive_client_is_closed(egressd, origin):
    proxy = egressd(rules=RULES, http_ports=[origin.port], config={"timeouts": {"idle_client": 1}})
    with RawClient(proxy.address, source=ALICE) as c:
        r = c.request("GET", "http://allowed.test:%d/" % origin.port,
                      headers=[("Host", "allowed.test")])
        assert r.status == 200
        start = time.monotonic()
        assert c.is_closed(timeout=10)
        assert time.monotonic() - start < 5


def test_a_connect_that_gets_no_answer_times_out_with_504(egressd):
    # A listener whose accept queue is full: the kernel drops further SYNs, so a connect
    # to it neither succeeds nor fails until the deadline.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        time.sleep(0.2)  # let the handshakes complete and fill the queue
        proxy = egressd(rules=RULES, http_ports=[port], config={"timeouts": {"connect": 1}})
        with RawClient(proxy.address, source=ALICE) as c:
            start = time.monotonic()
            r = c.request("GET", "http://allowed.test:%d/" % port,
                          headers=[("Host", "allowed.test")])
        assert r.status == 504, (r.status, r.text)
        assert "timed out" in r.text
        assert time.monotonic() - start < 8
    finally:
        for s in fillers:
            s.close()
        listener.close()


def test_a_dns_server_that_never_answers_gives_504(egressd, origin):
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        proxy = egressd(rules=RULES, http_ports=[origin.port],
                        config={"timeouts": {"dns": 1},
                                "dns": {"servers": ["127.0.0.1:%d" % silent.getsockname()[1]]}})
        with RawClient(proxy.address, source=ALICE) as c:
            start = time.monotonic()
            r = c.request("GET", "http://unknown-ok.test:%d/" % origin.port,
                          headers=[("Host", "unknown-ok.test")])
        assert r.status == 504, (r.status, r.text)
        assert "DNS lookup of unknown-ok.test timed out" in r.text
        assert time.monotonic() - start < 8
    finally:
        silent.close()


def test_an_idle_tunnel_is_closed(egressd, make_origin):
    origin = make_origin(raw=echo)
    proxy = egressd(rules=RULES, connect_ports=[origin.port],
                    config={"timeouts": {"tunnel_idle": 1}})
    tunnel = open_tunnel(proxy, origin.port)
    assert tunnel.is_closed(timeout=10)
    proxy.wait_log(r"tunnel closed addr=127\.0\.0\.2 host=tunnel\.test .* idle-timeout")
