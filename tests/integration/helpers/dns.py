"""A tiny authoritative UDP DNS server for tests: A/AAAA answers from dicts, NODATA for
the other type of a known name, NXDOMAIN for everything else."""

import socket
import struct
import threading

TYPE_A = 1
TYPE_AAAA = 28
RCODE_OK = 0
RCODE_FORMERR = 1
RCODE_NXDOMAIN = 3
RCODE_NOTIMP = 4


class DnsServer:
    """Answers queries on 127.0.0.1:<free port> from a background thread.

    `a` and `aaaa` map lower-case names (no trailing dot) to lists of address strings;
    they may be changed while the server runs. Every query is recorded in `queries` as
    (name, qtype).
    """

    def __init__(self, a=None, aaaa=None, host="127.0.0.1"):
        self.a = {k.lower(): list(v) for k, v in (a or {}).items()}
        self.aaaa = {k.lower(): list(v) for k, v in (aaaa or {}).items()}
        self.queries = []
        self._lock = threading.Lock()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, 0))
        self._sock.settimeout(0.2)
        self.address = self._sock.getsockname()  # (host, port)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="dns", daemon=True)

    @property
    def port(self):
        return self.address[1]

    @property
    def endpoint(self):
        return "%s:%d" % self.address

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def queried(self, name):
        """Query types asked for `name` so far."""
        with self._lock:
            return [t for n, t in self.queries if n == name.lower()]

    def _serve(self):
        while not self._stop.is_set():
            try:
                data, peer = self._sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            reply = self.answer(data)
            if reply is not None:
                try:
                    self._sock.sendto(reply, peer)
                except OSError:
                    pass

    def answer(self, query):
        """The reply to one query datagram, or None to stay silent."""
        if len(query) < 12:
            return None
        qid, flags, qdcount = struct.unpack("!HHH", query[:6])
        if flags & 0x8000:
            return None  # a response, not a query
        opcode = (flags >> 11) & 0xF
        rd = flags & 0x0100

        def reply(rcode, question=b"", answers=()):
            out_flags = 0x8000 | (opcode << 11) | 0x0400 | rd | 0x0080 | rcode
            header = struct.pack("!HHHHHH", qid, out_flags, 1 if question else 0,
                                 len(answers), 0, 0)
            return header + question + b"".join(answers)

        if opcode != 0 or qdcount != 1:
            return reply(RCODE_NOTIMP)
        pos = 12
        labels = []
        for _ in range(128):
            if pos >= len(query):
                return reply(RCODE_FORMERR)
            length = query[pos]
            pos += 1
            if length == 0:
                break
            if length & 0xC0 or pos + length > len(query):
                return reply(RCODE_FORMERR)
            labels.append(query[pos:pos + length])
            pos += length
        else:
            return reply(RCODE_FORMERR)
        if pos + 4 > len(query):
            return reply(RCODE_FORMERR)
        qtype, qclass = struct.unpack("!HH", query[pos:pos + 4])
        pos += 4
        question = query[12:pos]  # echoed exactly, letter case included
        name = b".".join(labels).decode("ascii", "replace").lower()
        with self._lock:
            self.queries.append((name, qtype))
            known = name in self.a or name in self.aaaa
            records = []
            if qclass == 1 and qtype == TYPE_A:
                records = [socket.inet_pton(socket.AF_INET, ip) for ip in self.a.get(name, [])]
            elif qclass == 1 and qtype == TYPE_AAAA:
                records = [socket.inet_pton(socket.AF_INET6, ip)
                           for ip in self.aaaa.get(name, [])]
        if not known:
            return reply(RCODE_NXDOMAIN, question)
        answers = [b"\xc0\x0c" + struct.pack("!HHIH", qtype, 1, 30, len(r)) + r
                   for r in records]
        return reply(RCODE_OK, question, answers)  # no records: NODATA


def build_query(name, qtype=TYPE_A, qid=0x1234):
    """A standard recursive query datagram for `name` (used by self-checks)."""
    question = b"".join(bytes([len(p)]) + p.encode("ascii") for p in name.split(".") if p)
    return (struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question + b"\x00"
            + struct.pack("!HH", qtype, 1))


def parse_reply(data):
    """(id, rcode, [rdata bytes of each answer]) of a reply datagram."""
    qid, flags, qd, an = struct.unpack("!HHHH", data[:8])
    pos = 12
    for _ in range(qd):
        while data[pos] != 0:
            pos += 1 + data[pos]
        pos += 5
    answers = []
    for _ in range(an):
        if data[pos] & 0xC0:
            pos += 2
        else:
            while data[pos] != 0:
                pos += 1 + data[pos]
            pos += 1
        _type, _cls, _ttl, rdlen = struct.unpack("!HHIH", data[pos:pos + 10])
        pos += 10
        answers.append(data[pos:pos + rdlen])
        pos += rdlen
    return qid, flags & 0xF, answers


def query(server_address, name, qtype=TYPE_A, timeout=2.0):
    """Sends one query and returns parse_reply() of the answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(build_query(name, qtype), server_address)
        data, _ = s.recvfrom(4096)
    return parse_reply(data)
