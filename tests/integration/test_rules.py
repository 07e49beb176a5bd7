"""Per-client rules: who may reach what, the decisions logged, the block page, clients
without a rules file, and `egressd --check` on broken rules and config."""

import html
import json

import pytest

from helpers.client import RawClient, curl
from helpers.common import (ALICE, ALICE_FILE, BOB, BOB_FILE, CAROL, STRANGER, anchored,
                            two_clients)
from helpers.proxy import run_check


def get(proxy, url, source):
    return curl(proxy.url(), url, source=source, timeout=20)


def test_two_clients_get_their_own_rules(egressd, origin):
    proxy = egressd(rules=two_clients(), http_ports=[origin.port])
    allowed = "http://allowed.test:%d/a" % origin.port
    other = "http://other.test:%d/b" % origin.port

    r = get(proxy, allowed, ALICE)
    assert r.status == 200, r.describe()
    assert json.loads(r.body)["target"] == "/a"
    r = get(proxy, other, BOB)
    assert r.status == 200, r.describe()
    assert json.loads(r.body)["target"] == "/b"
    assert get(proxy, other, ALICE).status == 403
    assert get(proxy, allowed, BOB).status == 403

    # Only the two allowed requests reached the origin.
    assert [r.target for r in origin.requests] == ["/a", "/b"]

    alice_file = str(proxy.rules_dir / ALICE_FILE)
    bob_file = str(proxy.rules_dir / BOB_FILE)
    d = proxy.wait_decision(client="alice", host="allowed.test", verdict="allow")
    assert d == {**d, "addr": ALICE, "method": "GET", "port": str(origin.port),
                 "reason": "allow-rule", "rule": alice_file + ":2"}
    d = proxy.wait_decision(client="bob", host="other.test", verdict="allow")
    assert d == {**d, "addr": BOB, "reason": "allow-rule", "rule": bob_file + ":3"}
    d = proxy.wait_decision(client="alice", host="other.test")
    assert d == {**d, "verdict": "deny", "reason": "no-allow-rule", "addr": ALICE}
    d = proxy.wait_decision(client="bob", host="allowed.test")
    assert d == {**d, "verdict": "deny", "reason": "no-allow-rule", "addr": BOB}


def test_rules_are_case_insensitive_unanchored_ere(egressd, origin):
    # The old tinyproxy semantics, kept for existing files: substring search, any case.
    proxy = egressd(rules={ALICE_FILE: "ALLOWED\\.Test\n"}, http_ports=[origin.port])
    for host in ["allowed.test", "ALLOWED.TEST", "notallowed.test"]:
        r = get(proxy, "http://%s:%d/" % (host, origin.port), ALICE)
        assert r.status == 200, (host, r.describe())
    assert get(proxy, "http://other.test:%d/" % origin.port, ALICE).status == 403
    d = proxy.wait_decision(host="notallowed.test")
    assert d["verdict"] == "allow"
    # The host is normalised to lower case before it is logged and matched.
    assert not [d for d in proxy.decisions() if d.get("host") == "ALLOWED.TEST"]


def test_long_rule_line_is_not_split(egressd, origin):
    # tinyproxy split lines over 511 bytes; here one long alternation is one rule.
    names = "|".join("host%03d\\.example" % i for i in range(60))
    line = "^(%s|allowed\\.test)$" % names
    assert len(line) > 1024
    proxy = egressd(rules={ALICE_FILE: line + "\n"}, http_ports=[origin.port])
    assert get(proxy, "http://allowed.test:%d/" % origin.port, ALICE).status == 200
    # A piece of the line must not have become a rule of its own.
    assert get(proxy, "http://other.test:%d/" % origin.port, ALICE).status == 403


def test_block_list_client(egressd, origin):
    proxy = egressd(rules={"carol." + CAROL: "# carol may go anywhere but\n^blocked\\.test$\n"},
                    http_ports=[origin.port],
                    config={"clients": {"carol": {"mode": "block-list"}}})
    assert get(proxy, "http://allowed.test:%d/" % origin.port, CAROL).status == 200
    assert get(proxy, "http://blocked.test:%d/" % origin.port, CAROL).status == 403
    d = proxy.wait_decision(host="blocked.test")
    assert d == {**d, "client": "carol", "verdict": "deny", "reason": "block-rule",
                 "rule": str(proxy.rules_dir / ("carol." + CAROL)) + ":2"}
    d = proxy.wait_decision(host="allowed.test")
    assert d == {**d, "verdict": "allow", "reason": "no-block-rule"}


def test_default_mode_block_list(egressd, origin):
    proxy = egressd(rules={ALICE_FILE: "^blocked\\.test$\n"}, http_ports=[origin.port],
                    config={"default_mode": "block-list"})
    assert get(proxy, "http://other.test:%d/" % origin.port, ALICE).status == 200
    assert get(proxy, "http://blocked.test:%d/" % origin.port, ALICE).status == 403


def test_unknown_client_is_denied_by_default(egressd, origin):
    proxy = egressd(rules=two_clients(), http_ports=[origin.port])
    r = get(proxy, "http://allowed.test:%d/" % origin.port, STRANGER)
    assert r.status == 403, r.describe()
    assert origin.connections == 0
    page = html.unescape(r.text)
    assert STRANGER in page and "allowed.test" in page
    assert str(proxy.rules_dir) in page  # where a rules file for it would go
    d = proxy.wait_decision(addr=STRANGER)
    assert d == {**d, "client": "-", "verdict": "deny", "reason": "unknown-client-denied",
                 "host": "allowed.test", "port": str(origin.port)}


def test_unknown_client_allowed_when_configured(egressd, origin):
    proxy = egressd(rules=two_clients(), http_ports=[origin.port],
                    config={"unknown_clients": "allow"})
    r = get(proxy, "http://other.test:%d/x" % origin.port, STRANGER)
    assert r.status == 200, r.describe()
    d = proxy.wait_decision(addr=STRANGER)
    assert d == {**d, "client": "-", "verdict": "allow", "reason": "unknown-client-allowed"}
    # Known clients keep their own rules.
    assert get(proxy, "http://other.test:%d/" % origin.port, ALICE).status == 403


def test_http_port_not_allowed(egressd, origin, make_origin):
    unlisted = make_origin()
    proxy = egressd(rules=two_clients(), http_ports=[origin.port])
    r = get(proxy, "http://allowed.test:%d/" % unlisted.port, ALICE)
    assert r.status == 403, r.describe()
    assert unlisted.connections == 0
    d = proxy.wait_decision(host="allowed.test", port=unlisted.port)
    assert d == {**d, "verdict": "deny", "reason": "port-not-allowed"}


# ---- the block page --------------------------------------------------------------------

def test_block_page_names_client_host_file_and_line(egressd, origin):
    proxy = egressd(rules=two_clients(), http_ports=[origin.port])
    with RawClient(proxy.address, source=ALICE) as c:
        url = "http://www.example.com:%d/some/page" % origin.port
        r = c.request("GET", url, [("Host", "www.example.com:%d" % origin.port)])
    assert r.status == 403
    assert r.header("content-type", "").split(";")[0].strip().lower() == "text/html"
    body = r.text
    assert "alice" in body and ALICE in body and "www.example.com" in body
    assert str(proxy.rules_dir / ALICE_FILE) in html.unescape(body)
    # The exact line to add, backslashes kept, not mangled by the HTML escaping.
    assert anchored("www.example.com") == "^www\\.example\\.com$"
    assert anchored("www.example.com") in html.unescape(body)
    assert "<script" not in body.lower()
    assert origin.connections == 0


def test_block_page_escapes_html(egressd, origin, tmp_path):
    # A rules folder path full of HTML specials: the page must escape it everywhere.
    rules_dir = tmp_path / "rules <b>bold</b> & \"q\" 'a'"
    proxy = egressd(rules=two_clients(), http_ports=[origin.port], rules_dir=rules_dir)
    r = get(proxy, "http://a-b.test:%d/?x=<i>" % origin.port, ALICE)
    assert r.status == 403, r.describe()
    body = r.text
    assert "<b>" not in body and "</b>" not in body and "<i>" not in body
    assert str(rules_dir / ALICE_FILE) not in body
    page = html.unescape(body)
    assert str(rules_dir / ALICE_FILE) in page
    assert anchored("a-b.test") in page


# ---- egressd --check -----------------------------------------------------------------

def write(dir_path, files):
    dir_path.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (dir_path / name).write_text(text)
    return dir_path


def test_check_accepts_good_rules(tmp_path):
    rules = write(tmp_path / "rules", two_clients())
    code, out, err = run_check(["--check", "--rules", rules])
    assert code == 0, (out, err)
    assert "listening" not in out + err


def test_check_reports_bad_regex_with_file_and_line(tmp_path):
    rules = write(tmp_path / "rules", {
        ALICE_FILE: "# line 1\n^ok\\.test$\n(unclosed\n^fine\\.test$\n",
        BOB_FILE: "^other\\.test$\n",
    })
    code, out, err = run_check(["--check", "--rules", rules])
    assert code == 1, (out, err)
    assert "%s/%s:3: error:" % (rules, ALICE_FILE) in err, err
    assert "%s:1" % BOB_FILE not in err


def test_check_reports_every_problem(tmp_path):
    rules = write(tmp_path / "rules", {
        ALICE_FILE: "(unclosed\n",
        BOB_FILE: "^fine$\n\n[z-a]\n",
    })
    code, out, err = run_check(["--check", "--rules", rules])
    assert code == 1, (out, err)
    assert "%s/%s:1: error:" % (rules, ALICE_FILE) in err, err
    assert "%s/%s:3: error:" % (rules, BOB_FILE) in err, err


def test_check_rejects_backreference_re2_cannot_do(tmp_path):
    # Valid POSIX ERE for some engines, but RE2 refuses it: an error, never dropped.
    rules = write(tmp_path / "rules", {ALICE_FILE: "^ok$\n(a)\\1\n"})
    code, out, err = run_check(["--check", "--rules", rules])
    assert code == 1, (out, err)
    assert "%s/%s:2: error:" % (rules, ALICE_FILE) in err, err


def test_check_rejects_duplicate_address(tmp_path):
    rules = write(tmp_path / "rules", {ALICE_FILE: "^a$\n", "mallory." + ALICE: "^b$\n"})
    code, out, err = run_check(["--check", "--rules", rules])
    assert code == 1, (out, err)
    assert ALICE_FILE in err and "mallory." + ALICE in err, err
    assert "error" in err


def test_check_rejects_duplicate_label(tmp_path):
    rules = write(tmp_path / "rules", {ALICE_FILE: "^a$\n", "alice." + BOB: "^b$\n"})
    code, out, err = run_check(["--check", "--rules", rules])
    assert code == 1, (out, err)
    assert ALICE_FILE in err and "alice." + BOB in err, err


def test_check_reports_config_errors_with_line(tmp_path):
    rules = write(tmp_path / "rules", two_clients())
    config = tmp_path / "egressd.toml"
    config.write_text('listen = ["127.0.0.1:0"]\nrules_dir = "%s"\nno_such_key = 1\n'
                      'workers = "many"\n' % rules)
    code, out, err = run_check(["--check", "--config", config])
    assert code == 1, (out, err)
    assert "%s:3:" % config in err, err
    assert "%s:4:" % config in err, err


def test_check_with_config_and_bad_rules(tmp_path):
    rules = write(tmp_path / "rules", {ALICE_FILE: "ok\n(unclosed\n"})
    config = tmp_path / "egressd.toml"
    config.write_text('listen = ["127.0.0.1:0"]\nrules_dir = "%s"\n' % rules)
    code, out, err = run_check(["--check", "--config", config])
    assert code == 1, (out, err)
    assert "%s/%s:2: error:" % (rules, ALICE_FILE) in err, err


@pytest.mark.parametrize("flag", ["--version", "--help"])
def test_version_and_help(flag):
    code, out, err = run_check([flag])
    assert code == 0, (out, err)
    assert (out + err).strip()


def test_runs_without_config_file(egressd, origin, tmp_path):
    # `--listen ... --rules DIR` is enough; the defaults apply (http_ports = [80]).
    # The control socket goes to the test's folder, not to the system-wide default.
    proxy = egressd(rules=two_clients(), use_config=False,
                    args=["--listen", "127.0.0.1:0", "--rules", "{rules}",
                          "--allow-destination", "127.0.0.0/8",
                          "--control-socket", str(tmp_path / "control.sock")])
    # A host no rule allows is refused before any DNS look-up.
    r = get(proxy, "http://denied.invalid/", ALICE)
    assert r.status == 403, r.describe()
    d = proxy.wait_decision(host="denied.invalid")
    assert d == {**d, "client": "alice", "reason": "no-allow-rule", "port": "80"}
    # An allowed host on a port outside the default [80].
    r = get(proxy, "http://allowed.test:%d/" % origin.port, ALICE)
    assert r.status == 403, r.describe()
    proxy.wait_decision(host="allowed.test", reason="port-not-allowed")
    assert origin.connections == 0


def test_domain_and_host_port_rules(egressd, origin):
    # domain:NAME allows the name on the globally allowed ports only.
    url = "http://allowed.test:%d/d" % origin.port
    listed = egressd(rules={ALICE_FILE: "domain:allowed.test\n"}, http_ports=[origin.port])
    r = get(listed, url, ALICE)
    assert r.status == 200, r.describe()
    d = listed.wait_decision(client="alice", host="allowed.test", verdict="allow")
    assert d["rule"] == str(listed.rules_dir / ALICE_FILE) + ":1"

    unlisted = egressd(rules={ALICE_FILE: "domain:allowed.test\n"}, http_ports=[80])
    assert get(unlisted, url, ALICE).status == 403
    d = unlisted.wait_decision(client="alice", host="allowed.test")
    assert d["verdict"] == "deny" and d["reason"] == "port-not-allowed"

    # host:NAME:PORT opens that port for that host even though http_ports lacks it.
    opened = egressd(rules={ALICE_FILE: "# a port rule\nhost:allowed.test:%d\n" % origin.port},
                     http_ports=[80])
    r = get(opened, url, ALICE)
    assert r.status == 200, r.describe()
    d = opened.wait_decision(client="alice", host="allowed.test", verdict="allow")
    assert d["reason"] == "allow-rule"
    assert d["rule"] == str(opened.rules_dir / ALICE_FILE) + ":2"
    assert get(opened, "http://other.test:%d/" % origin.port, ALICE).status == 403
    assert [r.target for r in origin.requests] == ["/d", "/d"]
