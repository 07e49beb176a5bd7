"""SIGHUP reload: new rules take effect without a restart, a broken rules file never
replaces working rules, and a request in flight is not disturbed by a reload."""

import signal
import threading

from helpers.client import curl
from helpers.common import ALICE, ALICE_FILE, anchored, two_clients
from helpers.origin import Response


def get(proxy, url):
    return curl(proxy.url(), url, source=ALICE, timeout=20)


def reload(proxy, expect):
    """Sends SIGHUP and waits for the log line that says how the reload went."""
    before = len(proxy.log().splitlines())
    proxy.proc.send_signal(signal.SIGHUP)
    proxy.wait_log(expect)
    return proxy.log().splitlines()[before:]


def test_sighup_applies_new_rules(egressd, origin):
    proxy = egressd(rules=two_clients(), http_ports=[origin.port])
    other = "http://other.test:%d/" % origin.port
    assert get(proxy, other).status == 403

    (proxy.rules_dir / ALICE_FILE).write_text(anchored("other.test") + "\n")
    reload(proxy, r"reloaded rules generation=2")
    r = get(proxy, other)
    assert r.status == 200, r.describe()
    # The old rule is gone too.
    assert get(proxy, "http://allowed.test:%d/" % origin.port).status == 403


def test_sighup_with_broken_rules_keeps_the_old_ones(egressd, origin):
    proxy = egressd(rules=two_clients(), http_ports=[origin.port])
    allowed = "http://allowed.test:%d/" % origin.port
    assert get(proxy, allowed).status == 200

    path = proxy.rules_dir / ALICE_FILE
    path.write_text("^other\\.test$\n(unclosed\n")
    lines = reload(proxy, r"reloaded rules generation=2 .* with-errors=alice")
    assert any(str(path) + ":2:" in line for line in lines), lines
    # Still the rules from before the broken edit.
    assert get(proxy, allowed).status == 200
    assert get(proxy, "http://other.test:%d/" % origin.port).status == 403

    # Fixing the file and reloading again works.
    path.write_text(anchored("other.test") + "\n")
    reload(proxy, r"reloaded rules generation=3")
    assert get(proxy, "http://other.test:%d/" % origin.port).status == 200


def test_request_in_flight_survives_a_reload(egressd, make_origin):
    # The origin answers only after the reload has happened; the request started under
    # the old rules (which allowed it) and completes with the origin's answer.
    def slow(request):
        request.read_body()
        proxy.wait_log(r"reloaded rules generation=2", timeout=10)
        return Response(200, "OK", [("Content-Type", "text/plain")], b"done")

    origin = make_origin(handler=slow)
    proxy = egressd(rules=two_clients(), http_ports=[origin.port])
    result = {}
    t = threading.Thread(target=lambda: result.setdefault(
        "r", get(proxy, "http://allowed.test:%d/" % origin.port)))
    t.start()
    proxy.wait_decision(client="alice", host="allowed.test", verdict="allow")
    (proxy.rules_dir / ALICE_FILE).write_text("# nothing allowed any more\n")
    reload(proxy, r"reloaded rules generation=2")
    t.join(timeout=20)
    assert result["r"].status == 200 and result["r"].body == b"done", result["r"].describe()
    assert get(proxy, "http://allowed.test:%d/" % origin.port).status == 403


def test_a_reload_names_the_settings_that_wait_for_a_restart(egressd, origin):
    proxy = egressd(rules=two_clients(), http_ports=[origin.port])
    config = proxy.workdir / "egressd.toml"
    text = config.read_text()
    config.write_text(text + "\n[timeouts]\nidle_client = 5\n")
    lines = reload(proxy, r"reloaded rules generation=2")
    assert any("timeouts changed: it takes effect when egressd restarts" in line
               for line in lines), "\n".join(lines)
    assert get(proxy, "http://other.test:%d/" % origin.port).status == 403  # still serving


def test_a_sighup_while_egressd_starts_reloads_instead_of_killing_it(egressd):
    # SIGHUP's default action ends a process: before the fix, one start in a few died of
    # a SIGHUP sent right after "listening", before the handler was in place.
    for _ in range(10):
        proxy = egressd(rules=two_clients())
        proxy.proc.send_signal(signal.SIGHUP)
        proxy.wait_log(r"reloaded rules generation=2")
        assert proxy.proc.poll() is None, proxy.log_tail()

