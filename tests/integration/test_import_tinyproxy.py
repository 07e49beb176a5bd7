"""egressctl import-tinyproxy: an old per-AppVM tinyproxy folder (template config and
<name>.<ip> filter files) becomes a config and rules folder that egressd runs, with what
could not be carried over reported, and nothing written when the import cannot be done."""

import os

from helpers.client import curl
from helpers.common import ALICE
from helpers.ctl import FAILED, OK, run_ctl
from helpers.proxy import run_check

TEMPLATE = """# per-AppVM template
User tinyproxy
Group tinyproxy
Port 8100
Listen 127.0.0.1
Timeout 120
FilterType bre
FilterDefaultDeny Yes
ConnectPort 443
BasicAuth someone secret
"""

# A BRE: as an ERE, the backslashed group would be literal parentheses and match nothing.
ALICE_FILTER = "# alice\n^127\\.0\\.0\\.\\(1\\|9\\)$\n"


def old_setup(tmp_path, filter_text=ALICE_FILTER):
    old = tmp_path / "old"
    old.mkdir()
    (old / "tinyproxy.conf").write_text(TEMPLATE)
    (old / ("alice." + ALICE)).write_text(filter_text)
    (old / "notes.txt").write_text("how this was set up\n")
    return old


def test_an_imported_setup_runs_and_filters_as_before(tmp_path, egressd, origin):
    old = old_setup(tmp_path)
    new = tmp_path / "new"
    r = run_ctl("import-tinyproxy", old, "--output", new)
    assert r.returncode == OK, r.stdout + r.stderr
    assert "BasicAuth: not carried over" in r.stdout
    assert "%s/notes.txt: warning: neither a tinyproxy config" % old in r.stdout
    assert "imported: default_mode: allow-list (FilterDefaultDeny Yes)" in r.stdout
    assert "check it with: egressd --check --config %s/egressd.toml" % new in r.stdout
    assert os.stat(new / "egressd.toml").st_mode & 0o777 == 0o600
    rules = (new / "rules" / ("alice." + ALICE)).read_text()
    assert "^127\\.0\\.0\\.(1|9)$" in rules, rules

    code, out, err = run_check(["--check", "--config", new / "egressd.toml"])
    assert code == 0, out + err
    # The template allowed plain HTTP to any port; egressd's ports are listed (as the
    # report says), so the origin's port is added here.
    config = new / "egressd.toml"
    config.write_text("http_ports = [%d]\n" % origin.port + config.read_text())
    proxy = egressd(use_config=False,
                    args=["--config", config, "--listen", "127.0.0.1:0", "--control-socket",
                          "", "--allow-destination", "127.0.0.0/8"])
    r = curl(proxy.url(), "http://127.0.0.1:%d/ok" % origin.port, source=ALICE)
    assert r.status == 200, r.describe()
    r = curl(proxy.url(), "http://127.0.0.2:%d/no" % origin.port, source=ALICE)
    assert r.status == 403, r.describe()
    assert [q.target for q in origin.requests] == ["/ok"]


def test_nothing_is_written_when_the_import_cannot_be_done(tmp_path):
    old = old_setup(tmp_path, filter_text="ok\n\\(a\\)\\1\n")  # a back-reference
    new = tmp_path / "new"
    r = run_ctl("import-tinyproxy", old, "--output", new)
    assert r.returncode == FAILED
    assert "%s/alice.%s:2: error: back-references" % (old, ALICE) in r.stdout, r.stdout
    assert "nothing written" in r.stdout
    assert not new.exists()


def test_an_existing_output_folder_is_never_overwritten(tmp_path):
    old = old_setup(tmp_path)
    new = tmp_path / "new"
    new.mkdir()
    (new / "egressd.toml").write_text("# mine\n")
    r = run_ctl("import-tinyproxy", old, "--output", new)
    assert r.returncode == FAILED
    assert "exists already" in r.stderr
    assert (new / "egressd.toml").read_text() == "# mine\n"


def test_egressd_checks_a_tinyproxy_config_given_as_its_own_in_tinyproxy_mode(tmp_path):
    # -c with a tinyproxy config means --tinyproxy-config (test_tinyproxy_mode.py runs it).
    old = old_setup(tmp_path)
    code, out, err = run_check(["--check", "--config", old / "tinyproxy.conf"])
    assert code == 0, out + err
    assert "tinyproxy config" in out, out + err
