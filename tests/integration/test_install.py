"""`make install` into a staging folder: the files, their modes, units that systemd
accepts, and the installed egressd accepting the installed configs. Also the manual pages
(they render without a warning and name every option and verb the --help texts list) and
the bash completion of egressctl."""

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from helpers.proxy import egressd_binary

REPO = Path(__file__).resolve().parents[2]
DOC = "usr/share/doc/egressd"
EXPECTED = {
    # path under DESTDIR: mode
    "usr/sbin/egressd": 0o755,
    "usr/sbin/egressctl": 0o755,
    "usr/lib/systemd/system/egressd.service": 0o644,
    "usr/lib/systemd/system/egressd-qubes.service": 0o644,
    "usr/lib/systemd/system/egress-proxy.socket": 0o644,
    "usr/lib/systemd/system/egress-proxy@.service": 0o644,
    DOC + "/examples/30-egress.policy": 0o644,
    "etc/qubes/qubes-firewall.d/50-egressd": 0o755,
    "etc/egressd/egressd.toml": 0o644,
    "etc/egressd/qubes.toml": 0o644,
    DOC + "/README.md": 0o644,
    DOC + "/examples/egressd.toml": 0o644,
    DOC + "/examples/qubes.toml": 0o644,
    DOC + "/examples/rules/work.10.137.0.12": 0o644,
    "usr/share/man/man8/egressd.8": 0o644,
    "usr/share/man/man8/egressctl.8": 0o644,
    "usr/share/man/man5/egressd.toml.5": 0o644,
    "usr/share/man/man5/egressd-rules.5": 0o644,
    "usr/share/bash-completion/completions/egressctl": 0o644,
}
# Every page in docs/ is installed (a new page needs a line in cmake/install.cmake).
EXPECTED.update({DOC + "/" + p.name: 0o644 for p in (REPO / "docs").glob("*.md")})


def build_dir():
    """The CMake build folder of the egressd under test (build/dev by default)."""
    return egressd_binary().resolve().parent


def install(destdir, prefix="/usr"):
    env = dict(os.environ, DESTDIR=str(destdir))
    proc = subprocess.run(["cmake", "--install", str(build_dir()), "--prefix", prefix],
                          env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture
def staged(tmp_path):
    if not (build_dir() / "cmake_install.cmake").exists():
        pytest.skip("no CMake build folder at %s" % build_dir())
    if not (build_dir() / "egressctl").exists():
        pytest.skip("egressctl is not built in %s" % build_dir())
    destdir = tmp_path / "destdir"
    install(destdir)
    return destdir


def test_files_and_modes(staged):
    files = {str(p.relative_to(staged)): stat.S_IMODE(p.stat().st_mode)
             for p in staged.rglob("*") if not p.is_dir() and not p.is_symlink()}
    assert files == EXPECTED
    links = {str(p.relative_to(staged)): os.readlink(p)
             for p in staged.rglob("*") if p.is_symlink()}
    # The qrexec service egress.Proxy is the socket of qubes.toml's qrexec_socket.
    assert links == {"etc/qubes-rpc/egress.Proxy": "/run/egressd/qrexec.sock"}
    assert 'qrexec_socket = "/run/egressd/qrexec.sock"' in (
        staged / "etc/egressd/qubes.toml").read_text()
    rules = staged / "etc/egressd/rules"
    assert rules.is_dir() and not list(rules.iterdir())
    # Nothing was written outside DESTDIR (the configs use absolute /etc paths).
    assert {p.name for p in staged.iterdir()} == {"usr", "etc"}


def test_units_and_hook_name_the_installed_binaries(staged):
    qubes = (staged / "usr/lib/systemd/system/egressd-qubes.service").read_text()
    assert "ConditionPathExists=/run/qubes-service/egressd" in qubes
    assert ("ExecStartPre=+/usr/sbin/egressctl --config /etc/egressd/qubes.toml firewall open"
            in qubes)
    assert ("ExecStopPost=+/usr/sbin/egressctl --config /etc/egressd/qubes.toml firewall close"
            in qubes)
    assert "ExecStart=/usr/sbin/egressd --config /etc/egressd/qubes.toml" in qubes
    plain = (staged / "usr/lib/systemd/system/egressd.service").read_text()
    assert "ExecStart=/usr/sbin/egressd --config /etc/egressd/egressd.toml" in plain
    for unit in (qubes, plain):
        for line in ("DynamicUser=yes", "NoNewPrivileges=yes", "ProtectSystem=strict",
                     "PrivateTmp=yes", "CapabilityBoundingSet=\n", "RuntimeDirectory=egressd",
                     "ExecReload=/bin/kill -HUP $MAINPID",
                     "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX"):
            assert line in unit
    hook = (staged / "etc/qubes/qubes-firewall.d/50-egressd").read_text()
    assert hook.startswith("#!/bin/sh\n")
    assert "/run/qubes-service/egressd" in hook
    assert "/usr/sbin/egressctl --config /etc/egressd/qubes.toml firewall open" in hook


def test_other_prefix_is_written_into_units(tmp_path):
    if not (build_dir() / "egressctl").exists():
        pytest.skip("egressctl is not built in %s" % build_dir())
    destdir = tmp_path / "destdir"
    install(destdir, prefix="/opt/egressd")
    unit = (destdir / "opt/egressd/lib/systemd/system/egressd-qubes.service").read_text()
    assert "ExecStart=/opt/egressd/sbin/egressd " in unit
    assert "/usr/sbin" not in unit
    assert (destdir / "opt/egressd/sbin/egressd").exists()
    assert (destdir / "etc/egressd/qubes.toml").exists()


def test_installed_egressd_accepts_installed_configs(staged, tmp_path):
    rules = tmp_path / "rules"
    rules.mkdir()
    shutil.copy(staged / DOC / "examples/rules/work.10.137.0.12", rules)
    for config in ("qubes.toml", "egressd.toml"):
        proc = subprocess.run([str(staged / "usr/sbin/egressd"), "--config",
                               str(staged / "etc/egressd" / config), "--rules", str(rules),
                               "--check"], stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=30)
        assert proc.returncode == 0, (config, proc.stdout, proc.stderr)
        assert "1 rules file(s) are valid" in proc.stdout, proc.stdout
    assert (staged / "usr/sbin/egressctl").stat().st_mode & stat.S_IXUSR
    proc = subprocess.run([str(staged / "usr/sbin/egressctl"), "--help"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_existing_configs_are_kept(staged):
    config = staged / "etc/egressd/qubes.toml"
    config.write_text("# edited by the administrator\n")
    out = install(staged)
    assert config.read_text() == "# edited by the administrator\n"
    assert "Keeping: " in out


def test_units_pass_systemd_analyze_verify(staged, tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    # verify checks that ExecStart binaries exist: point the units at the staged ones.
    units = []
    for name in ("egressd.service", "egressd-qubes.service", "egress-proxy.socket",
                 "egress-proxy@.service"):
        text = (staged / "usr/lib/systemd/system" / name).read_text()
        unit = tmp_path / name
        # qrexec-client-vm exists in qubes only: any executable stands in for it here.
        unit.write_text(text.replace("/usr/sbin/", str(staged / "usr/sbin") + "/")
                        .replace("/usr/bin/qrexec-client-vm", shutil.which("cat")))
        units.append(str(unit))
    proc = subprocess.run([analyze, "verify"] + units, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stdout + proc.stderr


# --- Manual pages and bash completion -------------------------------------------------

MAN = REPO / "packaging" / "man"
PAGES = ["egressd.8", "egressctl.8", "egressd.toml.5", "egressd-rules.5"]
COMPLETION = REPO / "packaging" / "completion" / "egressctl.bash"


def egressctl_binary():
    path = build_dir() / "egressctl"
    if not path.exists():
        pytest.skip("egressctl is not built in %s" % build_dir())
    return path


def run_help(*argv):
    proc = subprocess.run([str(a) for a in argv] + ["--help"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def help_section(text, title):
    """The lines of one section of a CLI11 help text ("Options:", "Subcommands:")."""
    lines = text.splitlines()
    start = lines.index(title) + 1
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


def help_options(text):
    """Every option a --help text lists: {"-h", "--help", "-c", "--config", ...}."""
    options = set()
    for line in help_section(text, "Options:"):
        m = re.match(r"\s+(-\S+)", line)   # continuation lines start with a letter
        if m:
            options.update(o for o in m.group(1).split(",") if o.startswith("-"))
    return options


def help_subcommands(text):
    return [line.split()[0] for line in help_section(text, "Subcommands:")]


def page_tags(page):
    """The tags of the page's .TP paragraphs, roff escapes for '-' undone: the places
    where an option or a verb is documented."""
    lines = (MAN / page).read_text().splitlines()
    return [lines[i + 1].replace("\\-", "-") for i, line in enumerate(lines[:-1])
            if line == ".TP"]


def first_macro_argument(line):
    """`.BR "firewall open" " [" ...` -> `firewall open`; `.B show` -> `show`."""
    m = re.match(r'\.\w+\s+(?:"([^"]*)"|(\S+))', line)
    return re.sub(r"\\f[BIRP]", "", m.group(1) if m.group(1) is not None else m.group(2))


def tag_words(tags):
    words = set()
    for tag in tags:
        words.update(re.findall(r"(?<![\w-])-{1,2}[A-Za-z][\w-]*", tag))
    return words


def test_man_pages_are_installed_and_ascii():
    assert sorted(p.name for p in MAN.iterdir()) == sorted(PAGES)
    for page in PAGES:
        text = (MAN / page).read_bytes()
        assert text.isascii(), page   # special characters are written as roff escapes
        section = page.rsplit(".", 1)[1]
        assert re.search(r"^\.TH \S+ %s " % section, text.decode(), re.M), page
        assert "usr/share/man/man%s/%s" % (section, page) in EXPECTED


@pytest.mark.parametrize("page", PAGES)
def test_man_page_renders_without_warnings(page):
    groff = shutil.which("groff")
    if groff is None:
        pytest.skip("groff is not installed (scripts/install-deps.sh installs groff-base)")
    # -ww: every warning; -z: format, write nothing. Both the default device and a
    # terminal (line breaking differs).
    for device in ([], ["-Tutf8"]):
        proc = subprocess.run([groff, "-man", "-ww", "-z"] + device + [str(MAN / page)],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 0 and proc.stderr == "", (device, proc.stderr)
    man = shutil.which("man")
    if man is not None:
        proc = subprocess.run([man, "--warnings", "-l", str(MAN / page)],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=60, env=dict(os.environ, MANWIDTH="80"))
        assert proc.returncode == 0 and proc.stderr == "", proc.stderr
        text = re.sub(".\x08", "", proc.stdout)   # bold and underline by overstriking
        assert "\nNAME\n" in text and "\nSEE ALSO\n" in text, text[:500]


def test_egressd_page_lists_every_option():
    binary = egressd_binary()
    if not binary.exists():
        pytest.skip("egressd is not built at %s" % binary)
    options = help_options(run_help(binary))
    assert {"--config", "--tinyproxy-config", "--check", "-d"} <= options   # parsed right
    documented = tag_words(page_tags("egressd.8"))
    assert options - documented == set(), "options of egressd --help missing in egressd.8"


def test_egressctl_page_lists_every_verb_and_option():
    binary = egressctl_binary()
    top = run_help(binary)
    verbs = help_subcommands(top)
    assert {"show", "firewall", "import-tinyproxy"} <= set(verbs)   # parsed right
    tags = page_tags("egressctl.8")
    # A verb is documented by a .TP tag that starts with it (in bold).
    tag_starts = {first_macro_argument(t).split()[0]
                  for t in tags if t.startswith((".B ", ".BR ", ".BI "))}
    missing = [v for v in verbs if v not in tag_starts]
    assert missing == [], "verbs of egressctl --help missing in egressctl.8"
    firewall = help_subcommands(run_help(binary, "firewall"))
    assert firewall == ["open", "close", "status"]
    for sub in firewall:
        assert any(t.startswith('.BR "firewall %s"' % sub) for t in tags), sub
    # Every option of the tool and of each verb is documented somewhere in a tag.
    documented = tag_words(tags)
    options = help_options(top)
    for verb in verbs:
        options |= help_options(run_help(binary, verb))
    for sub in firewall:
        options |= help_options(run_help(binary, "firewall", sub))
    assert options - documented == set(), "options of egressctl missing in egressctl.8"


def complete(words, cwd=None, env=None):
    """Source the completion in a clean bash, set COMP_WORDS/COMP_CWORD to `words` (the
    last one being the word under the cursor), call the completion function and return
    COMPREPLY."""
    script = ('source "$COMPLETION" || exit 9\n'
              'complete -p egressctl >/dev/null || exit 8\n'
              'COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))\n'
              'COMPREPLY=(); _egressctl 2>/dev/null; printf "%s\\n" "${COMPREPLY[@]}"\n')
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", script, "bash"] + words,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=30, cwd=cwd,
                          env=dict(os.environ, COMPLETION=str(COMPLETION), **(env or {})))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return [w for w in proc.stdout.splitlines() if w]


@pytest.fixture
def completion_rules(tmp_path):
    """A rules folder with two clients and the names egressd skips or refuses, and a
    config that names it relatively."""
    rules = tmp_path / "rules"
    rules.mkdir()
    for name in ("work.10.137.0.12", "my.laptop.192.168.1.20", "dev.fd09:24ef::12",
                 "README", "10.137.0.12", "bad.010.0.0.1", ".hidden.10.0.0.1",
                 "old.10.0.0.2~", "new.10.0.0.3.dpkg-dist", "swap.10.0.0.4.swp"):
        (rules / name).write_text("host:example.org\n")
    (rules / "sub.10.0.0.5").mkdir()   # a folder, not a rules file
    config = tmp_path / "egressd.toml"
    config.write_text('listen = ["127.0.0.1:8100"]\n# rules_dir = "old"\n'
                      'rules_dir = "rules"\n\n[clients.work]\nmode = "allow-list"\n')
    return rules, config


def test_completion_offers_the_verbs():
    verbs = help_subcommands(run_help(egressctl_binary()))
    assert complete(["egressctl", ""]) == verbs
    assert complete(["egressctl", "--json", ""]) == verbs
    assert complete(["egressctl", "kill"]) == ["kill-all", "kill-all-and-restart"]
    assert complete(["egressctl", "firewall", ""]) == ["open", "close", "status"]
    assert complete(["egressctl", "learn", "work", ""]) == ["on", "off"]


def test_completion_offers_each_verbs_options():
    binary = egressctl_binary()
    assert set(complete(["egressctl", "-"])) == help_options(run_help(binary))
    for verb in help_subcommands(run_help(binary)):
        offered = set(complete(["egressctl", verb, "-"]))
        assert offered == help_options(run_help(binary, verb)), verb
    offered = set(complete(["egressctl", "firewall", "open", "-"]))
    assert offered == help_options(run_help(binary, "firewall", "open"))


def test_completion_offers_labels_from_the_rules_folder(completion_rules, tmp_path):
    rules, config = completion_rules
    labels = ["dev", "my.laptop", "work"]
    # lint --rules DIR
    assert sorted(complete(["egressctl", "lint", "--rules", str(rules), ""])) == labels
    assert sorted(complete(["egressctl", "lint", "--rules=" + str(rules), ""])) == labels
    # rules_dir of --config, relative to the config's folder, from another directory
    for verb in ("allow", "check", "stop", "blocked", "learn", "suggest", "watch"):
        got = complete(["egressctl", "--config", str(config), verb, ""], cwd="/")
        assert sorted(got) == labels, verb
    assert complete(["egressctl", "--config", str(config), "allow", "w"]) == ["work"]
    # the second argument of allow is a host, not a client
    assert complete(["egressctl", "--config", str(config), "allow", "work", ""]) == []
    # stop takes several clients: each is offered once
    got = complete(["egressctl", "--config", str(config), "stop", "work", ""])
    assert sorted(got) == ["dev", "my.laptop"]
    # a relative config path, and ~ in --rules
    assert sorted(complete(["egressctl", "--config", "egressd.toml", "check", ""],
                           cwd=tmp_path)) == labels
    assert sorted(complete(["egressctl", "lint", "--rules", "~/rules", ""],
                           env={"HOME": str(tmp_path)})) == labels


def test_completion_offers_qubes_when_the_config_has_qrexec(tmp_path):
    # A file named after a qube is a client only with qrexec_socket (then, as egressd does).
    rules = tmp_path / "rules"
    rules.mkdir()
    for name in ("work", "banking", "web.10.0.0.1", "notes~"):
        (rules / name).write_text("")
    plain = tmp_path / "plain.toml"
    plain.write_text('rules_dir = "rules"\n')
    qrexec = tmp_path / "qrexec.toml"
    qrexec.write_text('rules_dir = "rules"\nqrexec_socket = "/run/egressd/qrexec.sock"\n')
    assert complete(["egressctl", "--config", str(plain), "stop", ""]) == ["web"]
    assert sorted(complete(["egressctl", "--config", str(qrexec), "stop", ""])) == [
        "banking", "web", "work"]


def test_completion_default_rules_folder(tmp_path):
    # A config without rules_dir means /etc/egressd/rules (as egressctl lint reads it),
    # not the config's own folder.
    config = tmp_path / "egressd.toml"
    config.write_text('listen = ["127.0.0.1:8100"]\n\n[clients.near]\nmode = "allow-list"\n')
    (tmp_path / "near.10.0.0.1").write_text("")
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "near.10.0.0.1").write_text("")
    default = Path("/etc/egressd/rules")
    for words in (["egressctl", "--config", str(config), "check", ""],
                  ["egressctl", "check", ""]):
        got = complete(words, cwd=tmp_path)
        assert "near" not in got
        if not default.is_dir() or not any(default.iterdir()):
            assert got == []
