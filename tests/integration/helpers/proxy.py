"""Starting a real egressd: config and rules written to a folder, stderr to a log file,
ports learned from its `listening address=` lines, decisions parsed from its log."""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0

LISTENING_RE = re.compile(r"listening address=(\[[0-9A-Fa-f:.]+\]|[0-9.]+):(\d+)")
DECISION_FIELD_RE = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')
SANITIZER_RE = re.compile(r"ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer")


def egressd_binary():
    return Path(os.environ.get("EGRESSD_BIN", REPO / "build" / "dev" / "egressd"))


def toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table, e.g. in an array of [[routes]]
        return "{" + ", ".join("%s = %s" % (k, toml_value(v)) for k, v in value.items()) + "}"
    raise TypeError("no TOML for %r" % (value,))


def to_toml(config):
    """TOML text for a dict of scalars, lists and (nested, one level deep or two for
    [clients.LABEL]) tables."""
    lines = []
    tables = []
    for key, value in config.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append("%s = %s" % (key, toml_value(value)))
    for name, table in tables:
        sub = [(k, v) for k, v in table.items() if isinstance(v, dict)]
        plain = [(k, v) for k, v in table.items() if not isinstance(v, dict)]
        if plain or not sub:
            lines.append("")
            lines.append("[%s]" % name)
            lines += ["%s = %s" % (k, toml_value(v)) for k, v in plain]
        for subname, subtable in sub:
            lines.append("")
            lines.append("[%s.%s]" % (name, subname))
            lines += ["%s = %s" % (k, toml_value(v)) for k, v in subtable.items()]
    return "\n".join(lines) + "\n"


def write_rules(rules_dir, rules):
    """Writes {file name: content} into rules_dir (created if needed)."""
    rules_dir = Path(rules_dir)
    rules_dir.mkdir(parents=True, exist_ok=True)
    for name, content in (rules or {}).items():
        (rules_dir / name).write_text(content)
    return rules_dir


def parse_decision(line):
    """The key=value fields after 'decision' in a log line, quotes removed."""
    i = line.find("decision ")
    fields = {}
    for key, value in DECISION_FIELD_RE.findall(line[i + len("decision "):]):
        if value.startswith('"'):
            value = value[1:-1].encode("latin-1", "backslashreplace").decode(
                "unicode_escape")
        fields[key] = value
    return fields


class Egressd:
    """A running egressd. Use start() / stop() or the egressd fixture."""

    def __init__(self, workdir, args, name="egressd"):
        self.workdir = Path(workdir)
        self.args = [str(a) for a in args]
        self.name = name
        self.log_path = self.workdir / ("%s.log" % name)
        self.proc = None
        self.addresses = []     # [(host, port)] in the order they were logged
        self.died_early = None  # exit code if it was found dead before stop()

    # ---- lifecycle ----------------------------------------------------------------

    def start(self, expected_listeners=1, timeout=START_TIMEOUT):
        binary = egressd_binary()
        if not binary.exists():
            raise RuntimeError("egressd binary not found at %s (build it, or set EGRESSD_BIN)"
                               % binary)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([str(binary)] + self.args, stdin=subprocess.DEVNULL,
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     cwd=self.workdir, start_new_session=True)
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
        raise RuntimeError("egressd logged %d of %d listening lines within %.0fs.\n"
                           "command: %s\nlog:\n%s" % (len(LISTENING_RE.findall(self.log())),
                                                      expected_listeners, timeout,
                                                      self.command_line(), self.log()))

    def stop(self):
        """Stops the process (SIGTERM, then SIGKILL). Returns a list of problems seen:
        it died before being asked to, or a sanitizer reported an error."""
        problems = []
        if self.proc is None:
            return problems
        if self.proc.poll() is not None:
            self.died_early = self.proc.returncode
            problems.append("egressd had exited by itself with status %s" % self.proc.returncode)
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                problems.append("egressd did not exit within %.0fs of SIGTERM" % STOP_TIMEOUT)
                self.proc.kill()
                self.proc.wait(timeout=STOP_TIMEOUT)
        self._log.close()
        if SANITIZER_RE.search(self.log()):
            problems.append("sanitizer error in egressd log")
        return problems

    def command_line(self):
        return " ".join([str(egressd_binary())] + self.args)

    # ---- addresses ----------------------------------------------------------------

    @property
    def address(self):
        return self.addresses[0]

    @property
    def port(self):
        return self.addresses[0][1]

    def url(self, index=0):
        host, port = self.addresses[index]
        return "http://%s:%d" % ("[%s]" % host if ":" in host else host, port)

    # ---- log ----------------------------------------------------------------------

    def log(self):
        try:
            return self.log_path.read_bytes().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=60):
        return "\n".join(self.log().splitlines()[-lines:])

    def decisions(self):
        return [parse_decision(l) for l in self.log().splitlines() if " decision " in
                " " + l and "verdict=" in l]

    def wait_decision(self, timeout=5.0, **match):
        """The first decision whose fields include `match` (e.g. host=..., verdict=...),
        polling the log until `timeout`. Fails with the log tail when none shows up."""
        deadline = time.monotonic() + timeout
        while True:
            for d in self.decisions():
                if all(d.get(k) == str(v) for k, v in match.items()):
                    return d
            if time.monotonic() >= deadline:
                raise AssertionError("no decision matching %r in egressd log:\n%s"
                                     % (match, self.log_tail()))
            time.sleep(0.02)

    def wait_log(self, pattern, timeout=5.0):
        """The first match of regex `pattern` in the log, polling until `timeout`."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.log())
            if m:
                return m
            if time.monotonic() >= deadline:
                raise AssertionError("no %r in egressd log:\n%s" % (pattern, self.log_tail()))
            time.sleep(0.02)


def run_check(args, cwd=None, timeout=20):
    """Runs `egressd --check ...` (or any arguments) to completion."""
    proc = subprocess.run([str(egressd_binary())] + [str(a) for a in args],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, cwd=cwd, timeout=timeout)
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), \
        proc.stderr.decode("utf-8", "replace")
