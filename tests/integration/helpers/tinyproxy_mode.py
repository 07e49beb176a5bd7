"""egressd's tinyproxy-compatible mode in the tests: tinyproxy.conf text, egressd started
with --tinyproxy-config (in the foreground with -d, or as a daemon), the same config run by
Debian's real tinyproxy, a parent proxy that answers every request itself, and requests
whose answers are read as "filtered or not"."""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from helpers.client import RawClient
from helpers.origin import TcpServer
from helpers.parents import free_port, wait_listening
from helpers.proxy import Egressd, egressd_binary

# What every test config has besides its own directives (Port is added per instance).
BASE_DIRECTIVES = ["Listen 127.0.0.1", "Timeout 30", "MaxClients 50", "LogLevel Info"]
IO_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0


def quoted(path):
    return '"%s"' % path


def config_text(port, directives, filter_path=None, prefix=()):
    """A tinyproxy.conf: `prefix` lines, Port, the base directives, Filter (when given),
    then `directives` (lines, in order)."""
    lines = list(prefix) + ["Port %d" % port] + BASE_DIRECTIVES
    if filter_path is not None:
        lines.append("Filter %s" % quoted(filter_path))
    lines += list(directives)
    return "\n".join(lines) + "\n"


def egressd_args(config_path, dns_endpoint, foreground=True, option="--tinyproxy-config",
                 extra=()):
    """egressd's command line for tinyproxy mode in a test: no control socket, loopback
    destinations allowed, the test DNS server, 2 workers."""
    args = [option, str(config_path)]
    if foreground:
        args.append("-d")
    args += ["--control-socket", "", "--allow-destination", "127.0.0.0/8",
             "--dns-server", dns_endpoint, "-w", "2"]
    return args + [str(a) for a in extra]


class TinyproxyModeEgressd(Egressd):
    """A foreground egressd (-d) in tinyproxy mode: its config and filter are in
    `workdir`; `config_path`, `filter_path` and `config_port` say where."""

    def __init__(self, workdir, directives=(), filter_text=None, dns_endpoint=None,
                 name="egressd", option="--tinyproxy-config", extra_args=()):
        workdir = Path(workdir)
        self.config_port = free_port()
        self.config_path = workdir / "tinyproxy.conf"
        self.filter_path = None
        if filter_text is not None:
            self.filter_path = workdir / "filter"
            self.filter_path.write_text(filter_text)
        self.config_path.write_text(config_text(self.config_port, directives,
                                                self.filter_path))
        super().__init__(workdir, egressd_args(self.config_path, dns_endpoint, option=option,
                                               extra=extra_args), name=name)

    def signal(self, signum):
        self.proc.send_signal(signum)

    def log_size(self):
        return len(self.log())

    def wait_log_after(self, offset, pattern, timeout=5.0):
        """The first match of regex `pattern` in the log after `offset` characters."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.log()[offset:])
            if m:
                return m
            if time.monotonic() >= deadline:
                raise AssertionError("no %r in egressd log after offset %d:\n%s"
                                     % (pattern, offset, self.log_tail()))
            time.sleep(0.02)


class RealTinyproxy:
    """Debian's tinyproxy -d with a given config and filter. It runs as User nobody, so
    its files live in a world-readable folder of its own (pytest's are private), removed
    by stop()."""

    def __init__(self, directives=(), filter_text=None):
        self.dir = Path(tempfile.mkdtemp(prefix="egressd-tinyproxy-"))
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.filter_path = None
        if filter_text is not None:
            self.filter_path = self.dir / "filter"
            self.filter_path.write_text(filter_text)
            os.chmod(self.filter_path, 0o644)
        self.config_path = self.dir / "tinyproxy.conf"
        self.config_path.write_text(config_text(self.port, directives, self.filter_path,
                                                prefix=["User nobody", "Group nogroup"]))
        os.chmod(self.config_path, 0o644)
        self.log_path = self.dir / "tinyproxy.out"
        self.proc = None
        self._log = ""

    @property
    def address(self):
        return ("127.0.0.1", self.port)

    def start(self):
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(["tinyproxy", "-d", "-c", str(self.config_path)],
                                         stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=subprocess.STDOUT)
        if not wait_listening(self.port, self.proc):
            raise RuntimeError("tinyproxy did not start:\n%s" % self.stop())
        return self

    def stop(self):
        """Stops it, removes its folder and returns its log."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=STOP_TIMEOUT)
            self.proc = None
        if self.dir.exists():
            self._log = self.log()
            shutil.rmtree(self.dir, ignore_errors=True)
        return self._log

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return self._log

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class AnsweringParent:
    """A parent proxy on 127.0.0.1 that answers every request itself: 200 "parent" to a
    plain request, "200 Connection established" to CONNECT (then closes). Used as
    `Upstream http` so that neither proxy needs to resolve or reach the names asked for.
    The request line of each request is kept in `requests`."""

    def __init__(self):
        self.requests = []
        self.server = TcpServer(self._handle, name="answering-parent")
        self.port = self.server.port

    def start(self):
        self.server.start()
        return self

    def stop(self):
        self.server.stop()

    @property
    def connections(self):
        return self.server.connections

    @property
    def errors(self):
        return self.server.errors

    def _handle(self, sock, conn_id):
        data = b""
        while b"\r\n\r\n" not in data:
            more = sock.recv(65536)
            if not more:
                return
            data += more
            if len(data) > 1 << 20:
                return
        line = data.split(b"\r\n", 1)[0].decode("latin-1")
        self.requests.append(line)
        if line.startswith("CONNECT "):
            sock.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                         b"Content-Length: 6\r\nConnection: close\r\n\r\nparent")


# ---- requests -------------------------------------------------------------------------

def request_bytes(spec, headers=()):
    """A request from a short spec: "host" is GET http://host/, "GET URL" and
    "CONNECT authority" are sent as written."""
    if spec.startswith("CONNECT "):
        authority = spec.split(" ", 1)[1]
        line, host = "CONNECT %s HTTP/1.1" % authority, authority
    else:
        url = spec.split(" ", 1)[1] if spec.startswith("GET ") else "http://%s/" % spec
        line, host = "GET %s HTTP/1.1" % url, url.split("://", 1)[1].split("/", 1)[0]
    head = line + "\r\nHost: %s\r\n" % host
    head += "".join("%s: %s\r\n" % hv for hv in headers)
    return (head + "\r\n").encode("latin-1")


def ask(address, spec, headers=(), source=None):
    """(status, reason, body) of one request made from a spec (see request_bytes) on a
    connection of its own."""
    with RawClient(address, source=source, timeout=IO_TIMEOUT) as c:
        c.send(request_bytes(spec, headers))
        r = c.read_response("CONNECT" if spec.startswith("CONNECT ") else "GET")
        return r.status, r.reason, r.body


def is_filtered(answer):
    status, reason, _ = answer
    return status == 403 and reason == "Filtered"


def answers(address, specs):
    """{spec: (status, reason)} for each spec; (0, "no answer: ...") when the
    connection failed or closed without an answer."""
    out = {}
    for spec in specs:
        try:
            status, reason, _ = ask(address, spec)
        except (OSError, EOFError, ValueError) as e:  # no answer: shown, never "filtered"
            status, reason = 0, "no answer: %r" % (e,)
        out[spec] = (status, reason)
    return out


def filtered_set(found):
    return sorted(spec for spec, (status, reason) in found.items()
                  if status == 403 and reason == "Filtered")


# ---- daemons --------------------------------------------------------------------------

def process_state(pid):
    """The state letter of /proc/PID/stat, or None when there is no such process."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def running(pid):
    """Whether PID is a live process (a zombie does not count)."""
    return process_state(pid) not in (None, "Z", "X")


def wait_gone(pid, timeout=STOP_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not running(pid):
            return True
        time.sleep(0.05)
    return not running(pid)


def executable_of(pid):
    """Where /proc/PID/exe points (" (deleted)" removed), or None."""
    try:
        target = os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return None
    suffix = " (deleted)"
    return target[:-len(suffix)] if target.endswith(suffix) else target


def is_our_egressd(pid):
    exe = executable_of(pid)
    return exe is not None and os.path.realpath(exe) == os.path.realpath(egressd_binary())


def pids_with_argument(argument):
    """Processes of the egressd binary whose command line has exactly `argument` (a
    path unique to one test), for cleaning up what that test started."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if os.fsencode(str(argument)) in args and is_our_egressd(int(entry)):
            out.append(int(entry))
    return out


def kill_daemons(pids):
    """SIGKILL to each of `pids` that is still a running egressd, then waits for them."""
    for pid in pids:
        if running(pid) and is_our_egressd(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for pid in pids:
        wait_gone(pid, timeout=5)


def run_egressd(args, workdir, timeout=20):
    """Runs egressd with `args` to completion; its output goes to files (a daemon that
    kept a pipe open would otherwise keep this waiting). Returns (code, stdout, stderr)."""
    workdir = Path(workdir)
    out_path, err_path = workdir / "run.stdout", workdir / "run.stderr"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.run([str(egressd_binary())] + [str(a) for a in args],
                              stdin=subprocess.DEVNULL, stdout=out, stderr=err, cwd=workdir,
                              timeout=timeout)
    return (proc.returncode, out_path.read_text(errors="replace"),
            err_path.read_text(errors="replace"))


def wait_port(port, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False
