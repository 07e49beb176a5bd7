"""Running egressctl against one egressd: exit codes, text and --json."""

import json
import os
import subprocess
from pathlib import Path

from helpers.proxy import REPO

OK, FAILED, USAGE, UNREACHABLE = 0, 1, 2, 3


def egressctl_binary():
    return Path(os.environ.get("EGRESSCTL_BIN", REPO / "build" / "dev" / "egressctl"))


def run_ctl(*args, prefix=(), timeout=30):
    binary = egressctl_binary()
    if not binary.exists():
        raise RuntimeError("egressctl not found at %s (build it, or set EGRESSCTL_BIN)" % binary)
    return subprocess.run(list(prefix) + [str(binary)] + [str(a) for a in args],
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout)


class Ctl:
    """egressctl bound to one egressd's socket."""

    def __init__(self, socket_path, config_path=None):
        self.socket_path = socket_path
        self.config_path = config_path

    def __call__(self, *args, expect=OK, prefix=()):
        r = run_ctl("--socket", self.socket_path, *args, prefix=prefix)
        assert r.returncode == expect, "egressctl %s: exit %d (wanted %d)\nstdout: %s\n" \
            "stderr: %s" % (" ".join(map(str, args)), r.returncode, expect, r.stdout, r.stderr)
        return r

    def json(self, *args, expect=OK):
        return json.loads(self("--json", *args, expect=expect).stdout)

    def show(self):
        """The clients of `show --json`, by label (or address when unknown)."""
        return {c["label"] or c["address"]: c for c in self.json("show")["clients"]}
