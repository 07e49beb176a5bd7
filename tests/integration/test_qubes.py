"""End-to-end Qubes simulation: a proxy qube namespace with vif12.0/vif15.0 (group 2) to
two AppVM namespaces, an "internet" namespace with origins, the Qubes 4.2 nftables
structure, egressd inside the proxy qube and egressctl driving it.

Needs root, `ip netns` and `nft`; skipped with the reason otherwise. No packet leaves the
namespaces made here: the proxy qube's only routes lead to the AppVMs and the internet
namespace, and clients run inside the AppVM namespaces."""

import json
import shutil

import pytest

from helpers import netns
from helpers.client import RawClient
from helpers.netns import (ORIGIN_A, ORIGIN_B, PROXY_ADDR, NetnsEgressd, QubesLab,
                           echo_server, egressctl_binary, http_origin, wait_until)
from helpers.proxy import to_toml

PORT = 8100
PROXY_URL = "http://%s:%d" % (PROXY_ADDR, PORT)
URL_A = "http://%s/a" % ORIGIN_A
URL_B = "http://%s/b" % ORIGIN_B

WORK_FILE = "work.10.137.0.12"
DEV_FILE = "dev.10.137.0.15"
THIRD_FILE = "third.10.137.0.17"
RULES = {
    WORK_FILE: "# AppVM work may reach origin A only\n^198\\.51\\.100\\.2$\n",
    DEV_FILE: "# AppVM dev may reach origin B only\n^198\\.51\\.100\\.3$\n",
    THIRD_FILE: "^198\\.51\\.100\\.2$\n^198\\.51\\.100\\.3$\n",
}

CTL_OK, CTL_FAILED, CTL_USAGE, CTL_UNREACHABLE = 0, 1, 2, 3


@pytest.fixture(scope="module")
def lab_available():
    reason = netns.available()
    if reason:
        pytest.skip("Qubes simulation: " + reason)


class Qubes:
    """The running simulation: lab (namespaces), egressd in the proxy qube, and
    helpers to run egressctl there and clients in the AppVMs."""

    def __init__(self, lab, proxy, config_path, socket_path, rules_dir):
        self.lab = lab
        self.proxy = proxy
        self.config_path = config_path
        self.socket_path = socket_path
        self.rules_dir = rules_dir
        self.clients = []

    def ctl(self, *args, check=True):
        """egressctl in the proxy qube, with this egressd's socket and config."""
        proc = self.lab.proxy.run(egressctl_binary(), "--socket", self.socket_path,
                                  "--config", self.config_path, *args, check=False)
        if check and proc.returncode != CTL_OK:
            raise AssertionError("egressctl %s: exit %d\nstdout: %s\nstderr: %s\n"
                                 "egressd log:\n%s" % (" ".join(args), proc.returncode,
                                                       proc.stdout, proc.stderr,
                                                       self.proxy.log_tail()))
        return proc

    def show(self):
        """The clients of `egressctl show --json`, by label (or address if unknown)."""
        answer = json.loads(self.ctl("--json", "show").stdout)
        return {row.get("label") or row["address"]: row for row in answer["clients"]}

    def curl(self, octet, url, *extra):
        return self.lab.appvms[octet].ns.curl(PROXY_URL, url, *extra)

    def connect(self, octet):
        """A raw connection from AppVM 10.137.0.<octet> to the proxy."""
        client = self.lab.appvms[octet].ns.call(RawClient, (PROXY_ADDR, PORT))
        self.clients.append(client)
        return client

    def tunnel(self, octet, host=ORIGIN_A, port=443):
        """An open CONNECT tunnel from AppVM <octet> to the echo server, checked."""
        client = self.connect(octet)
        resp = client.request("CONNECT", "%s:%d" % (host, port),
                              headers=[("Host", "%s:%d" % (host, port))])
        assert resp.status == 200, (resp.status, resp.raw_head)
        client.send(b"ping\n")
        assert client._read_exact(5) == b"ping\n"
        return client

    def keep_alive(self, octet, url=URL_A):
        """A kept-alive connection from AppVM <octet> after one 200 answer."""
        client = self.connect(octet)
        resp = client.request("GET", url, headers=[("Host", url.split("/")[2])])
        assert resp.status == 200, (resp.status, resp.raw_head, resp.body[:300])
        return client

    def close(self):
        for c in self.clients:
            c.close()


@pytest.fixture
def qubes_version():
    """Which Qubes firewall the proxy qube has; test_qubes_41 overrides it."""
    return "4.2"


@pytest.fixture
def lab(lab_available, qubes_version):
    lab = QubesLab(qubes_version=qubes_version)
    try:
        lab.add_appvm(12)
        lab.add_appvm(15)
        for host in (ORIGIN_A, ORIGIN_B):
            lab.start_origin(lambda host=host: http_origin(host, 80))
        lab.start_origin(lambda: echo_server(ORIGIN_A, 443))
        yield lab
    finally:
        lab.close()


@pytest.fixture
def qubes(request, lab, tmp_path):
    """egressd running in the proxy qube, listening on 0.0.0.0:8100, with the rules of
    work (10.137.0.12), dev (10.137.0.15) and third (10.137.0.17, not started yet).
    The firewall is as Qubes leaves it: port 8100 closed."""
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    for name, text in RULES.items():
        (rules_dir / name).write_text(text)
    socket_path = tmp_path / "control.sock"
    config_path = tmp_path / "qubes.toml"
    config_path.write_text(to_toml({
        "listen": ["0.0.0.0:%d" % PORT],
        "rules_dir": str(rules_dir),
        "control_socket": str(socket_path),
        "workers": 2,
        # Host names are IP literals here; a lookup would go to the internet
        # namespace, where nothing answers.
        "dns": {"servers": ["198.51.100.53"]},
        # The simulated internet is TEST-NET-2, a reserved range egressd refuses by
        # default: allowed here the way an operator allows an internal network.
        "allow_destinations": ["198.51.100.0/24"],
    }))
    proxy = NetnsEgressd(lab.proxy, tmp_path, ["--config", config_path], name="egressd")
    q = Qubes(lab, proxy, str(config_path), str(socket_path), rules_dir)
    request.node._egressd_instances = [proxy]
    problems = []
    try:
        proxy.start()
        wait_until(socket_path.exists, what="control socket %s" % socket_path)
        yield q
    finally:
        q.close()
        problems = proxy.stop()
        proxy.kill()
    if problems:
        pytest.fail("\n".join("%s\nlog tail:\n%s" % (p, proxy.log_tail()) for p in problems),
                    pytrace=False)


# ---- firewall ---------------------------------------------------------------------------


def test_port_is_rejected_until_firewall_open(qubes):
    r = qubes.curl(12, URL_A)
    # Qubes rejects (icmp host-prohibited) rather than drops: curl fails at once.
    assert r.returncode == 7, r.describe()
    assert r.elapsed < 3, r.describe()

    qubes.ctl("firewall", "open")
    r = qubes.curl(12, URL_A)
    assert r.returncode == 0 and r.status == 200, r.describe()
    assert json.loads(r.body)["target"] == "/a"

    qubes.ctl("firewall", "close")
    r = qubes.curl(12, URL_A)
    assert r.returncode == 7, r.describe()


def test_appvm_cannot_bypass_the_proxy(qubes):
    qubes.ctl("firewall", "open")
    r = qubes.lab.appvms[12].ns.curl(PROXY_URL, URL_A, "--noproxy", "*", "--max-time", "2")
    assert r.returncode != 0 and r.status == 0, r.describe()
    # Only the proxy's own port was opened, not the rest of the proxy qube.
    r = qubes.curl(12, URL_A, "--proxy", "http://%s:8101" % PROXY_ADDR)
    assert r.returncode == 7, r.describe()


def test_firewall_open_is_idempotent_and_close_restores_the_ruleset(qubes):
    ns = qubes.lab.proxy
    # A rule of the user's own in custom-input must survive open and close untouched.
    ns.nft("add", "rule", "ip", "qubes", "custom-input", "iifname", "vif15.0", "tcp",
           "dport", "9999", "accept")
    before = ns.ruleset()
    for _ in range(10):
        qubes.ctl("firewall", "open")
    for family in ("ip", "ip6"):
        custom = ns.nft("list", "chain", family, "qubes", "custom-input").stdout
        jumps = [l.strip() for l in custom.splitlines() if "jump" in l or "goto" in l]
        assert len(jumps) == 1, (family, custom)
        target = jumps[0].split()[-1]
        chain = ns.nft("list", "chain", family, "qubes", target).stdout
        rules = [l.strip() for l in chain.splitlines()
                 if l.strip() and not l.strip().startswith(("table", "chain", "}"))]
        assert len(rules) == 1, (family, chain)
        for word in ("iifgroup 2", "tcp dport %d" % PORT, "ct state new", "accept"):
            assert word in rules[0], (family, rules[0])
    status = qubes.ctl("firewall", "status")
    assert status.stdout.strip(), status

    qubes.ctl("firewall", "close")
    assert ns.ruleset() == before
    # Closing what is closed changes nothing and is not an error.
    qubes.ctl("firewall", "close")
    assert ns.ruleset() == before


def test_firewall_open_takes_the_port_from_the_command_line(qubes):
    ns = qubes.lab.proxy
    before = ns.ruleset()
    qubes.ctl("firewall", "open", "--port", "8101")
    text = ns.nft("list", "table", "ip", "qubes").stdout
    assert "tcp dport 8101" in text, text
    assert "tcp dport %d" % PORT not in text, text
    qubes.ctl("firewall", "close", "--port", "8101")
    assert ns.ruleset() == before


@pytest.mark.parametrize("qubes_version", ["4.1"])
def test_qubes_41_iptables_open_and_close(qubes):
    if shutil.which("iptables") is None or shutil.which("ip6tables") is None:
        pytest.skip("iptables is not installed (scripts/install-deps.sh installs it)")
    ns = qubes.lab.proxy

    def listing():
        return (ns.run("iptables", "-w", "-S").stdout, ns.run("ip6tables", "-w", "-S").stdout)

    before = listing()
    r = qubes.curl(12, URL_A)
    assert r.returncode == 7 and r.elapsed < 3, r.describe()
    for _ in range(3):
        qubes.ctl("firewall", "open")
    rules = [l for l in ns.run("iptables", "-w", "-S", "INPUT").stdout.splitlines()
             if "8100" in l]
    assert len(rules) == 1, rules
    assert ns.run("iptables", "-w", "-S", "INPUT").stdout.splitlines()[1] == rules[0]
    r = qubes.curl(12, URL_A)
    assert r.returncode == 0 and r.status == 200, r.describe()
    assert qubes.curl(15, URL_A).status == 403

    qubes.ctl("firewall", "close")
    assert listing() == before
    assert qubes.curl(12, URL_A).returncode == 7


# ---- identity and rules -----------------------------------------------------------------


def test_each_appvm_gets_its_own_rules(qubes):
    qubes.ctl("firewall", "open")
    assert qubes.curl(12, URL_A).status == 200
    assert qubes.curl(12, URL_B).status == 403
    assert qubes.curl(15, URL_B).status == 200
    assert qubes.curl(15, URL_A).status == 403

    p = qubes.proxy
    d = p.wait_decision(client="work", host=ORIGIN_B)
    assert d == {**d, "addr": "10.137.0.12", "verdict": "deny", "reason": "no-allow-rule"}
    d = p.wait_decision(client="dev", host=ORIGIN_B)
    assert d == {**d, "addr": "10.137.0.15", "verdict": "allow",
                 "rule": str(qubes.rules_dir / DEV_FILE) + ":2"}
    # The block page names the client and its rules file.
    r = qubes.curl(15, URL_A)
    assert r.status == 403 and "dev" in r.text and DEV_FILE in r.text, r.describe()


def test_appvm_started_after_egressd_works_without_any_command(qubes):
    qubes.ctl("firewall", "open")
    assert qubes.curl(12, URL_A).status == 200
    vm = qubes.lab.add_appvm(17)
    assert vm.vif == "vif17.0"
    r = qubes.curl(17, URL_B)
    assert r.returncode == 0 and r.status == 200, r.describe()
    qubes.proxy.wait_decision(client="third", addr="10.137.0.17", verdict="allow")
    row = qubes.show()["third"]
    assert (row["interface"], row["connected"], row["allowed"]) == ("vif17.0", True, 1), row


def test_unknown_appvm_is_denied_and_listed(qubes):
    qubes.ctl("firewall", "open")
    qubes.lab.add_appvm(20)
    r = qubes.curl(20, URL_A)
    assert r.status == 403, r.describe()
    rows = qubes.show()
    row = rows["10.137.0.20"]
    assert row["known"] is False and row["denied"] == 1, row


# ---- egressctl show ---------------------------------------------------------------------


def test_show_lists_clients_with_interfaces_and_counts(qubes):
    qubes.ctl("firewall", "open")
    assert qubes.curl(12, URL_A).status == 200
    assert qubes.curl(12, URL_A).status == 200
    assert qubes.curl(12, URL_B).status == 403
    assert qubes.curl(15, URL_B).status == 200
    held = qubes.keep_alive(15, URL_B)

    rows = qubes.show()
    work, dev, third = rows["work"], rows["dev"], rows["third"]
    assert work["address"] == "10.137.0.12" and dev["address"] == "10.137.0.15"
    assert (work["interface"], work["connected"]) == ("vif12.0", True), work
    assert (dev["interface"], dev["connected"]) == ("vif15.0", True), dev
    # third.10.137.0.17 has rules but its AppVM is not running: no vif route.
    assert (third["interface"], third["connected"]) == (None, False), third
    assert (work["allowed"], work["denied"]) == (2, 1), work
    assert work["last_denied_host"] == ORIGIN_B, work
    assert (dev["allowed"], dev["denied"]) == (2, 0), dev
    assert work["state"] == dev["state"] == "serving"
    assert dev["active_connections"] == 1, dev
    assert third["allowed"] == third["denied"] == 0, third

    text = qubes.ctl("show").stdout
    for word in ("work", "dev", "third", "10.137.0.12", "vif12.0", "vif15.0"):
        assert word in text, text
    held.close()


# ---- stop / start / restart / kill-all --------------------------------------------------


def test_stop_closes_connections_and_refuses_until_start(qubes):
    qubes.ctl("firewall", "open")
    tunnel = qubes.tunnel(12)
    kept = qubes.keep_alive(12)
    other = qubes.keep_alive(15, URL_B)

    qubes.ctl("stop", "work")
    assert tunnel.is_closed(timeout=5), "stop left work's CONNECT tunnel open"
    assert kept.is_closed(timeout=5), "stop left work's keep-alive connection open"
    assert not other.is_closed(timeout=0.3), "stop closed dev's connection"

    r = qubes.curl(12, URL_A)
    assert r.status == 503, r.describe()
    assert "egressctl start work" in r.text, r.describe()
    qubes.proxy.wait_decision(client="work", reason="client-stopped", verdict="deny")
    assert qubes.show()["work"]["state"] == "stopped"
    # The other AppVM is served as before, on its open connection too.
    resp = other.request("GET", URL_B, headers=[("Host", ORIGIN_B)])
    assert resp.status == 200

    qubes.ctl("start", "work")
    assert qubes.show()["work"]["state"] == "serving"
    r = qubes.curl(12, URL_A)
    assert r.status == 200, r.describe()


def test_stop_by_address_and_unknown_name(qubes):
    qubes.ctl("firewall", "open")
    qubes.ctl("stop", "10.137.0.15")
    assert qubes.curl(15, URL_B).status == 503
    assert qubes.curl(12, URL_A).status == 200
    bad = qubes.ctl("stop", "nosuchclient", check=False)
    assert bad.returncode == CTL_FAILED, bad
    assert "nosuchclient" in bad.stderr + bad.stdout
    qubes.ctl("start", "dev")
    assert qubes.curl(15, URL_B).status == 200


def test_restart_reloads_rules_and_closes_only_that_clients_connections(qubes):
    qubes.ctl("firewall", "open")
    assert qubes.curl(12, URL_B).status == 403
    kept = qubes.keep_alive(12)
    other = qubes.keep_alive(15, URL_B)

    (qubes.rules_dir / WORK_FILE).write_text("^198\\.51\\.100\\.[23]$\n")
    qubes.ctl("restart", "work")
    assert kept.is_closed(timeout=5), "restart left work's connection open"
    assert not other.is_closed(timeout=0.3), "restart closed dev's connection"
    assert qubes.curl(12, URL_B).status == 200


def test_restart_with_broken_rules_keeps_everything(qubes):
    qubes.ctl("firewall", "open")
    kept = qubes.keep_alive(12)
    (qubes.rules_dir / WORK_FILE).write_text("^198\\.51\\.100\\.(2$\n")
    bad = qubes.ctl("restart", "work", check=False)
    assert bad.returncode == CTL_FAILED, bad
    assert WORK_FILE + ":1" in bad.stdout + bad.stderr, bad
    assert not kept.is_closed(timeout=0.3), "a failed restart closed a connection"
    resp = kept.request("GET", URL_A, headers=[("Host", ORIGIN_A)])
    assert resp.status == 200


def test_kill_all_closes_every_connection_and_keeps_serving(qubes):
    qubes.ctl("firewall", "open")
    held = [qubes.tunnel(12), qubes.keep_alive(12), qubes.keep_alive(15, URL_B)]
    out = qubes.ctl("--json", "kill-all").stdout
    assert json.loads(out)["closed_connections"] == 3, out
    for i, client in enumerate(held):
        assert client.is_closed(timeout=5), "kill-all left connection %d open" % i
    assert qubes.curl(12, URL_A).status == 200
    assert qubes.curl(15, URL_B).status == 200


def test_kill_all_and_restart_picks_up_new_rules(qubes):
    qubes.ctl("firewall", "open")
    kept = qubes.keep_alive(15, URL_B)
    (qubes.rules_dir / DEV_FILE).write_text("^198\\.51\\.100\\.2$\n")
    qubes.ctl("kill-all-and-restart")
    assert kept.is_closed(timeout=5)
    assert qubes.curl(15, URL_A).status == 200
    assert qubes.curl(15, URL_B).status == 403


def test_update_keeps_old_scripts_working(qubes):
    # `proxyctl.py update` in old user scripts: rules re-read, firewall reconciled.
    before = qubes.lab.proxy.ruleset()
    (qubes.rules_dir / "extra.10.137.0.21").write_text("^198\\.51\\.100\\.3$\n")
    qubes.ctl("update")
    assert qubes.curl(12, URL_A).status == 200
    assert "extra" in qubes.show()
    qubes.ctl("firewall", "close")
    assert qubes.lab.proxy.ruleset() == before


def test_egressctl_says_when_the_daemon_is_not_running(qubes):
    qubes.proxy.stop()
    r = qubes.ctl("show", check=False)
    assert r.returncode == CTL_UNREACHABLE, r
    assert r.stderr.strip(), r
