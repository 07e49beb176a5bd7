"""Fixtures of the integration tests: a DNS server, origin servers, TLS material, a big
file, and an egressd launcher that writes config and rules into the test's tmp_path and
shows the egressd log tail when a test fails."""

import hashlib
import os
import socket
import subprocess
from pathlib import Path

import pytest

from helpers.common import BIG_SIZE, DNS_NAMES
from helpers.dns import DnsServer
from helpers.origin import HttpOrigin, TcpServer, make_tls_context
from helpers.proxy import Egressd, to_toml, write_rules



def pytest_configure(config):
    config.addinivalue_line("markers", "ipv6: needs ::1 on the loopback interface")


@pytest.fixture(scope="session")
def dns_server():
    server = DnsServer(a={name: ["127.0.0.1"] for name in DNS_NAMES})
    server.start()
    yield server
    server.stop()


def _remember(request, attr, obj):
    items = getattr(request.node, attr, None)
    if items is None:
        items = []
        setattr(request.node, attr, items)
    items.append(obj)


@pytest.fixture
def make_origin(request):
    """make_origin(handler=None, tls=False, host="127.0.0.1") -> a started HttpOrigin.
    make_origin(raw=fn) -> a started TcpServer running fn(sock, conn_id) per connection."""
    started = []

    def make(handler=None, tls=False, host="127.0.0.1", raw=None, auto_continue=True):
        ctx = None
        if tls:
            cert, key = request.getfixturevalue("tls_cert")
            ctx = make_tls_context(cert, key)
        if raw is not None:
            server = TcpServer(raw, host=host, ssl_context=ctx, name="raw-origin")
        else:
            server = HttpOrigin(handler, host=host, ssl_context=ctx,
                                auto_continue=auto_continue)
        server.start()
        started.append(server)
        _remember(request, "_origins", server)
        return server

    try:
        yield make
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def origin(make_origin):
    """An echoing HTTP origin on 127.0.0.1."""
    return make_origin()


def _merge(base, extra):
    out = dict(base)
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


@pytest.fixture
def closed_port():
    """A port bound but not listening: connecting to it is refused at once."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    try:
        yield s.getsockname()[1]
    finally:
        s.close()


@pytest.fixture
def egressd(request, tmp_path, dns_server):
    """egressd(rules={file: text}, http_ports=[...], connect_ports=[...], config={...},
    listen=[...], args=None, use_config=True, rules_dir=None) -> a started Egressd.

    With use_config (the default) a TOML config is written with the given keys on top
    of: listen 127.0.0.1:0, the rules folder, 2 workers, the DNS fixture as server, a
    control socket in the instance's folder, watch = false, allow_destinations for
    loopback (pass config={"allow_destinations": []} to test the default).
    With use_config=False, `args` are passed as they are (e.g. --listen/--rules), with
    "{rules}" replaced by the rules folder."""
    started = []
    counter = [0]

    def start(rules=None, http_ports=(), connect_ports=(), config=None, listen=None,
              args=None, use_config=True, rules_dir=None, expected_listeners=None):
        counter[0] += 1
        name = "egressd%d" % counter[0]
        workdir = tmp_path / name
        workdir.mkdir()
        rules_dir = write_rules(rules_dir or workdir / "rules", rules)
        listen = list(listen or ["127.0.0.1:0"])
        if use_config:
            cfg = {
                "listen": listen,
                "rules_dir": str(rules_dir),
                "workers": 2,
                "http_ports": sorted(set(http_ports)) or [80],
                "connect_ports": sorted(set(connect_ports)) or [443],
                "dns": {"servers": [dns_server.endpoint]},
                # Its own control socket, never the system-wide default in /run.
                "control_socket": str(workdir / "control.sock"),
                # Reloads happen when a test asks for them, so that what each reload
                # changed is known; test_live_rules.py turns watching on.
                "watch": False,
                # The origins of the tests listen on loopback, which egressd refuses as
                # a destination by default; test_destinations.py tests that default.
                "allow_destinations": ["127.0.0.0/8", "::1/128"],
            }
            cfg = _merge(cfg, config)
            config_path = workdir / "egressd.toml"
            config_path.write_text(to_toml(cfg))
            argv = ["--config", config_path] + list(args or [])
        else:
            argv = [str(a).replace("{rules}", str(rules_dir)) for a in args or []]
        proxy = Egressd(workdir, argv, name=name)
        proxy.rules_dir = rules_dir
        if use_config and cfg.get("control_socket"):
            proxy.control_path = Path(cfg["control_socket"])
        started.append(proxy)
        _remember(request, "_egressd_instances", proxy)
        proxy.start(expected_listeners=expected_listeners or len(listen))
        return proxy

    problems = []
    try:
        yield start
    finally:
        for proxy in started:
            for p in proxy.stop():
                problems.append("%s: %s\nlog tail:\n%s" % (proxy.name, p, proxy.log_tail()))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    for proxy in getattr(item, "_egressd_instances", []):
        report.sections.append((
            "%s log tail (%s; %s)" % (proxy.name, proxy.log_path, proxy.command_line()),
            proxy.log_tail(80)))
    for server in getattr(item, "_origins", []):
        info = "port %d, %d connection(s)" % (server.port, server.connections)
        reqs = getattr(server, "requests", None)
        if reqs is not None:
            info += ", requests: %s" % [r.request_line for r in reqs]
        if server.errors:
            info += "\nerrors: %s" % server.errors
        report.sections.append(("origin", info))


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory):
    """(cert.pem, key.pem): a self-signed certificate for the test names, made with the
    openssl command."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", "/CN=tls.test",
         "-addext", "subjectAltName=DNS:tls.test,DNS:allowed.test,IP:127.0.0.1"],
        check=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        timeout=30)
    return str(cert), str(key)


@pytest.fixture(scope="session")
def big_file(tmp_path_factory):
    """(path, sha256 hex, size) of a 64 MiB file of random bytes."""
    path = tmp_path_factory.mktemp("big") / "big.bin"
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for _ in range(BIG_SIZE // (1 << 20)):
            block = os.urandom(1 << 20)
            h.update(block)
            f.write(block)
    return str(path), h.hexdigest(), BIG_SIZE
