"""A simulated Qubes network in Linux network namespaces: a proxy qube with Qubes-style
`vifN.M` interfaces (group 2, /32 addresses, host routes) to AppVM namespaces, an uplink
to an "internet" namespace, and the Qubes 4.2 nftables structure in the proxy qube.

Nothing here touches the host's own network: every interface is created directly inside
a namespace made by this module, and every namespace, process and socket is torn down by
`QubesLab.close()`, which runs even when building the lab failed half way."""

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass

from helpers.client import clean_env
from helpers.origin import Headers, HttpOrigin, TcpServer, parse_headers
from helpers.proxy import LISTENING_RE, START_TIMEOUT, Egressd, egressd_binary

CLONE_NEWNET = 0x40000000
COMMAND_TIMEOUT = 20.0

# Addresses of the simulation. 198.51.100.0/24 is TEST-NET-2: never routed anywhere.
PROXY_ADDR = "10.137.0.5"          # the proxy qube's own address, also on every vif
UPLINK_PROXY = "198.51.100.1"
ORIGIN_A = "198.51.100.2"
ORIGIN_B = "198.51.100.3"
QUBES_VIF_METRIC = 32740           # what Qubes puts on downstream host routes
QUBES_VIF_GROUP = 2

# The Qubes 4.2 firewall of a net qube (qubes-core-agent-linux, network/qubes-firewall),
# reduced to what matters to a proxy: anti-spoofing by interface and address, `input`
# with policy drop that jumps to the user's `custom-input` first and rejects new
# connections from downstream qubes last. Unlike a real sys-firewall, `forward` drops
# everything, so an AppVM can only get out through the proxy.
QUBES_42_RULESET = """\
table ip qubes {
	set downstream {
		type ipv4_addr
	}

	set allowed {
		type ifname . ipv4_addr
	}

	chain prerouting {
		type filter hook prerouting priority raw; policy accept;
		iifgroup 2 goto antispoof
		ip saddr @downstream counter drop
	}

	chain antispoof {
		iifname . ip saddr @allowed accept
		counter drop
	}

	chain custom-input {
	}

	chain input {
		type filter hook input priority filter; policy drop;
		jump custom-input
		ct state invalid counter drop
		iifgroup 2 udp dport 68 counter drop
		ct state established,related accept
		iifgroup 2 meta l4proto icmp accept
		iif "lo" accept
		iifgroup 2 counter reject with icmp host-prohibited
		counter
	}

	chain custom-forward {
	}

	chain forward {
		type filter hook forward priority filter; policy drop;
		jump custom-forward
		ct state invalid counter drop
		ct state established,related accept
		oifgroup 2 counter drop
	}
}
table ip6 qubes {
	chain custom-input {
	}

	chain input {
		type filter hook input priority filter; policy drop;
		jump custom-input
		ct state invalid counter drop
		ct state established,related accept
		iifgroup 2 meta l4proto ipv6-icmp accept
		iif "lo" accept
		iifgroup 2 counter reject with icmpv6 admin-prohibited
		counter
	}

	chain custom-forward {
	}

	chain forward {
		type filter hook forward priority filter; policy drop;
		jump custom-forward
	}
}
"""


# Qubes 4.0/4.1: iptables (filter table of /etc/qubes/iptables.rules), INPUT ending in a
# reject for vif+; anti-spoofing per vif in the raw table is added by add_appvm().
# FORWARD drops everything here too, so the proxy is the only way out.
QUBES_41_IPTABLES = """\
*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -m conntrack --ctstate INVALID -j DROP
-A INPUT -i vif+ -p udp -m udp --dport 68 -j DROP
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -i vif+ -p icmp -j ACCEPT
-A INPUT -i lo -j ACCEPT
-A INPUT -i vif+ -j REJECT --reject-with icmp-host-prohibited
-A INPUT -j DROP
COMMIT
"""


def available():
    """None when namespaces and nftables can be used here, else the reason they cannot."""
    if os.geteuid() != 0:
        return "needs root (network namespaces and nftables)"
    for tool in ("ip", "nft", "curl"):
        if shutil.which(tool) is None:
            return "`%s` is not installed (scripts/install-deps.sh installs it)" % tool
    probe = "egt-probe-%d" % os.getpid()
    try:
        run(["ip", "netns", "add", probe])
    except CommandFailed as e:
        return "`ip netns add` does not work here: %s" % e
    try:
        run(["ip", "netns", "exec", probe, "nft", "list", "ruleset"])
    except CommandFailed as e:
        return "nftables does not work in a namespace here: %s" % e
    finally:
        subprocess.run(["ip", "netns", "del", probe], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
    return None


class CommandFailed(RuntimeError):
    def __init__(self, args, proc):
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        super().__init__("%s: exit %d\nstdout: %s\nstderr: %s" % (
            " ".join(args), proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:]))


def run(args, check=True, input=None, timeout=COMMAND_TIMEOUT, env=None):
    """Runs a command to completion; text output. Raises CommandFailed on a non-zero
    exit when `check`."""
    proc = subprocess.run([str(a) for a in args], input=input, capture_output=True,
                          text=True, timeout=timeout, env=env,
                          stdin=None if input is not None else subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise CommandFailed([str(a) for a in args], proc)
    return proc


_libc = ctypes.CDLL(None, use_errno=True)


def in_netns(name, fn, *args, **kwargs):
    """Calls fn(*args, **kwargs) on a helper thread that has joined network namespace
    `name`, and returns its result (or raises its exception). Sockets made there stay
    in that namespace for life and can be used from any thread; this is how the tests
    hold raw connections from an AppVM and run origin servers in the internet."""
    result = {}

    def body():
        try:
            fd = os.open("/run/netns/%s" % name, os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, "setns(%s): %s" % (name, os.strerror(err)))
            finally:
                os.close(fd)
            result["value"] = fn(*args, **kwargs)
        except BaseException as e:  # handed to the caller
            result["error"] = e

    t = threading.Thread(target=body, name="netns-" + name, daemon=True)
    t.start()
    t.join(COMMAND_TIMEOUT)
    if t.is_alive():
        raise TimeoutError("call in namespace %s did not return within %.0fs"
                           % (name, COMMAND_TIMEOUT))
    if "error" in result:
        raise result["error"]
    return result["value"]


@dataclass
class CurlResult:
    returncode: int
    status: int
    headers: Headers
    body: bytes
    stderr: str
    elapsed: float
    args: list

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def describe(self):
        return "%s\n exit %d, status %d, %.2fs\n stderr: %s\n body: %r" % (
            " ".join(self.args), self.returncode, self.status, self.elapsed,
            self.stderr[-2000:], self.body[:600])


class Namespace:
    """One network namespace (created by the constructor; deleted by delete())."""

    def __init__(self, name):
        self.name = name
        run(["ip", "netns", "add", name])
        self.ip("link", "set", "lo", "up")

    def command(self, *args):
        return ["ip", "netns", "exec", self.name] + [str(a) for a in args]

    def run(self, *args, check=True, input=None, timeout=COMMAND_TIMEOUT):
        return run(self.command(*args), check=check, input=input, timeout=timeout,
                   env=clean_env())

    def ip(self, *args):
        """`ip -n NAME ...`: iproute2 enters the namespace itself, much faster than
        `ip netns exec`."""
        return run(["ip", "-n", self.name] + [str(a) for a in args])

    def nft(self, *args, check=True, input=None):
        return self.run("nft", *args, check=check, input=input)

    def ruleset(self):
        """`nft list ruleset` with counter values zeroed, so two listings compare equal
        when only traffic differs."""
        text = self.nft("list", "ruleset").stdout
        out = []
        for line in text.splitlines():
            words = line.split(" ")
            for i, w in enumerate(words[:-1]):
                if w in ("packets", "bytes") and words[i + 1].isdigit():
                    words[i + 1] = "0"
            out.append(" ".join(words))
        return "\n".join(out) + "\n"

    def call(self, fn, *args, **kwargs):
        return in_netns(self.name, fn, *args, **kwargs)

    def curl(self, proxy_url, url, *extra, timeout=15):
        """curl through `proxy_url`, run in this namespace; the final status, headers,
        body and curl's exit code (7 = could not connect, 28 = timed out, ...)."""
        with tempfile.TemporaryDirectory(prefix="curl-") as tmp:
            head_path = os.path.join(tmp, "head")
            body_path = os.path.join(tmp, "body")
            args = self.command("curl", "-q", "-sS", "--proxy", proxy_url, "-D", head_path,
                                "-o", body_path, "--max-time", str(timeout),
                                "--connect-timeout", str(timeout), *extra, url)
            start = time.monotonic()
            proc = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True,
                                  env=clean_env(), timeout=timeout + 10)
            elapsed = time.monotonic() - start
            status, headers = 0, Headers()
            if os.path.exists(head_path):
                with open(head_path, "rb") as f:
                    blocks = [b for b in f.read().decode("latin-1").split("\r\n\r\n")
                              if b.strip()]
                if blocks:
                    lines = blocks[-1].split("\r\n")
                    parts = lines[0].split(" ")
                    if len(parts) >= 2 and parts[1].isdigit():
                        status = int(parts[1])
                    headers = Headers(parse_headers([l for l in lines[1:] if ":" in l]))
            body = b""
            if os.path.exists(body_path):
                with open(body_path, "rb") as f:
                    body = f.read()
            return CurlResult(proc.returncode, status, headers, body,
                              proc.stderr.decode("utf-8", "replace"), elapsed, args)

    def delete(self):
        """Kills every process still in the namespace (by pid) and deletes it."""
        pids = run(["ip", "netns", "pids", self.name], check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), 9)
            except (ProcessLookupError, ValueError):
                pass
        run(["ip", "netns", "del", self.name], check=False)


@dataclass
class AppVm:
    """A downstream qube: its namespace, its address and the proxy qube's vif to it."""
    ns: Namespace
    address: str
    vif: str


class QubesLab:
    """The whole simulation. Namespaces are named egt<pid>-<role> so parallel runs and
    leftovers of a killed run never collide with this one.

        lab = QubesLab()            # proxy qube + internet, Qubes 4.2 firewall loaded
                                    # (QubesLab(qubes_version="4.1"): iptables instead)
        lab.add_appvm(12)           # AppVM 10.137.0.12 behind vif12.0
        ...
        lab.close()                 # always: deletes everything made so far
    """

    def __init__(self, prefix=None, qubes_version="4.2"):
        self.prefix = prefix or "egt%d" % os.getpid()
        self.qubes_version = qubes_version
        self.namespaces = []
        self.appvms = {}
        self.servers = []
        try:
            self.proxy = self._namespace("proxy")
            self.internet = self._namespace("net")
            self._uplink()
            if qubes_version == "4.2":
                self.proxy.nft("-f", "-", input=QUBES_42_RULESET)
            else:
                self.proxy.run("iptables-restore", input=QUBES_41_IPTABLES)
        except BaseException:
            self.close()
            raise

    def _namespace(self, role):
        name = "%s-%s" % (self.prefix, role)
        # A namespace of this name can only be a leftover of a killed run of this pid.
        run(["ip", "netns", "del", name], check=False)
        ns = Namespace(name)
        self.namespaces.append(ns)
        return ns

    def _uplink(self):
        # eth0 of the proxy qube; the internet side holds the origin addresses.
        self.proxy.ip("link", "add", "eth0", "type", "veth", "peer", "name", "eth0",
                       "netns", self.internet.name)
        self.proxy.ip("addr", "add", UPLINK_PROXY + "/24", "dev", "eth0")
        self.proxy.ip("link", "set", "eth0", "up")
        self.proxy.ip("route", "add", "default", "via", ORIGIN_A, "dev", "eth0")
        for addr in (ORIGIN_A, ORIGIN_B):
            self.internet.ip("addr", "add", addr + "/24", "dev", "eth0")
        self.internet.ip("link", "set", "eth0", "up")

    def add_appvm(self, xid, last_octet=None):
        """Starts AppVM number `xid` (IP 10.137.0.<last_octet or xid>) the way Qubes
        does: vif<xid>.0 in the proxy qube, in group 2, with the proxy qube's address
        and a host route to the AppVM; anti-spoofing entry; AppVM eth0 with a /32
        address and a default route to the proxy qube on link."""
        octet = last_octet or xid
        address = "10.137.0.%d" % octet
        vif = "vif%d.0" % xid
        ns = self._namespace("app%d" % xid)
        self.proxy.ip("link", "add", vif, "type", "veth", "peer", "name", "eth0",
                       "netns", ns.name)
        self.proxy.ip("link", "set", vif, "group", QUBES_VIF_GROUP)
        self.proxy.ip("addr", "add", PROXY_ADDR + "/32", "dev", vif)
        self.proxy.ip("link", "set", vif, "up")
        self.proxy.ip("route", "add", address, "dev", vif, "scope", "link",
                       "metric", QUBES_VIF_METRIC)
        if self.qubes_version == "4.2":
            self.proxy.nft("add", "element", "ip", "qubes", "allowed",
                           "{ %s . %s }" % (vif, address))
            self.proxy.nft("add", "element", "ip", "qubes", "downstream",
                           "{ %s }" % address)
        else:
            self.proxy.run("iptables", "-w", "-t", "raw", "-A", "PREROUTING", "-i", vif,
                           "!", "-s", address, "-j", "DROP")
        ns.ip("addr", "add", address + "/32", "dev", "eth0")
        ns.ip("link", "set", "eth0", "up")
        ns.ip("route", "add", "default", "via", PROXY_ADDR, "dev", "eth0", "onlink")
        vm = AppVm(ns, address, vif)
        self.appvms[octet] = vm
        return vm

    def vif_routes(self):
        """The proxy qube's routes as `ip -json route` gives them."""
        return json.loads(self.proxy.ip("-json", "route").stdout)

    def start_origin(self, make_server):
        """Builds a server in the internet namespace with make_server() (which binds
        its listener there) and starts it."""
        server = self.internet.call(make_server)
        self.servers.append(server)
        server.start()
        return server

    def close(self):
        for server in self.servers:
            try:
                server.stop()
            except Exception:  # keep tearing down
                pass
        self.servers = []
        for ns in reversed(self.namespaces):
            ns.delete()
        self.namespaces = []


def wait_until(predicate, timeout=5.0, interval=0.02, what="condition"):
    """Polls predicate() until it returns something truthy (returned) or `timeout`
    passes (AssertionError naming `what`)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("%s not reached within %.1fs" % (what, timeout))
        time.sleep(interval)


def _rebind(server, host, port):
    """Moves a just-built TcpServer's listener to a fixed port (origins in the
    internet namespace answer on the real ports, 80 and 443)."""
    server._listener.close()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(64)
    listener.settimeout(0.2)
    server._listener = listener
    server.port = port
    return server


def http_origin(host, port=80, handler=None):
    """An HttpOrigin (echo by default) on host:port; call inside the namespace."""
    return _rebind(HttpOrigin(handler, host=host, name="origin-" + host), host, port)


def echo_server(host, port=443):
    """A TCP server that sends back every byte it receives, for CONNECT tunnels."""

    def echo(sock, _conn_id):
        while True:
            data = sock.recv(65536)
            if not data:
                return
            sock.sendall(data)

    return _rebind(TcpServer(echo, host=host, name="echo-" + host), host, port)


def egressctl_binary():
    """EGRESSCTL_BIN, else the egressctl next to the egressd under test."""
    env = os.environ.get("EGRESSCTL_BIN")
    return env if env else str(egressd_binary().parent / "egressctl")


class NetnsEgressd(Egressd):
    """An egressd started with `ip netns exec NS` (which execs, so the pid is
    egressd's own and signals reach it directly)."""

    def __init__(self, ns, workdir, args, name="egressd"):
        super().__init__(workdir, args, name=name)
        self.ns = ns

    def command_line(self):
        return " ".join(self.ns.command(egressd_binary(), *self.args))

    def start(self, expected_listeners=1, timeout=START_TIMEOUT):
        binary = egressd_binary()
        if not binary.exists():
            raise RuntimeError("egressd binary not found at %s (build it, or set EGRESSD_BIN)"
                               % binary)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.ns.command(binary, *self.args),
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, cwd=self.workdir,
                                     start_new_session=True, env=clean_env())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = LISTENING_RE.findall(self.log())
            if len(found) >= expected_listeners:
                self.addresses = [(h.strip("[]"), int(p)) for h, p in found]
                return self
            if self.proc.poll() is not None:
                raise RuntimeError("egressd exited with %s before listening.\ncommand: %s\n"
                                   "log:\n%s" % (self.proc.returncode, self.command_line(),
                                                 self.log()))
            time.sleep(0.02)
        raise RuntimeError("egressd did not log its listening line within %.0fs.\n"
                           "command: %s\nlog:\n%s" % (timeout, self.command_line(),
                                                       self.log()))

    def stop(self):
        """As Egressd.stop(), but a second call does nothing."""
        if getattr(self, "_stopped", False):
            return []
        self._stopped = True
        return super().stop()

    def kill(self):
        """Last resort of the teardown: SIGKILL by pid if it is still running."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
