"""Names, addresses and small utilities shared by the test files."""

import hashlib
import socket

# Names the DNS fixture knows; all point at the loopback origins.
DNS_NAMES = ["allowed.test", "other.test", "blocked.test", "notallowed.test",
             "www.example.com", "a-b.test", "tls.test", "tunnel.test", "slow.test",
             "refused.test", "unknown-ok.test"]
NXDOMAIN_NAME = "nonexistent.test"  # allowed by rules that want it, unknown to DNS

# Client source addresses: each has its own rules file in the tests that use it.
ALICE = "127.0.0.2"
BOB = "127.0.0.3"
CAROL = "127.0.0.4"
STRANGER = "127.0.0.9"  # never has a rules file

BIG_SIZE = 64 << 20


def anchored(host):
    """The rule line that allows exactly `host`: ^www\\.example\\.com$."""
    return "^" + host.replace(".", "\\.") + "$"


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for _ in range(1 << 16):
            block = f.read(1 << 20)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def ipv6_loopback_available():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


ALICE_FILE = "alice." + ALICE
BOB_FILE = "bob." + BOB
# alice's allow rule is on line 2, bob's on line 3: decisions must name those lines.
ALICE_RULES = "# alice may reach allowed.test only\n^allowed\\.test$\n"
BOB_RULES = "# bob\n\n^other\\.test$\n"


def two_clients():
    """Rules files of alice (allowed.test) and bob (other.test)."""
    return {ALICE_FILE: ALICE_RULES, BOB_FILE: BOB_RULES}
