// egressctl: parses the command line and runs the verb (src/ctl/verbs); what each verb
// prints and how it exits is in docs/egressctl.md.
#include <csignal>
#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>

#include "ctl/verbs.hpp"

namespace {

namespace ctl = egressd::ctl;
using ctl::kDefaultSocket;
using ctl::kExitOk;
using ctl::kExitUsage;

constexpr const char* kFooter =
    "Exit status: 0 success; 1 egressd refused or failed the command, or a firewall step "
    "failed; 2 usage error; 3 egressd is not running (cannot connect to its socket).\n"
    "See docs/egressctl.md.";

}  // namespace

int main(int argc, char** argv) {
  // A child (nft, ip) that exits early must not kill us through a pipe we write to.
  std::signal(SIGPIPE, SIG_IGN);

  ctl::Options options;
  CLI::App app{"egressctl: control egressd (clients, rules reload) and open the Qubes firewall "
               "for it."};
  app.set_version_flag("--version", "egressctl " EGRESSD_VERSION);
  app.footer(kFooter);
  app.fallthrough();  // global options are accepted after the verb too
  app.require_subcommand(1, 1);
  app.add_option("--socket", options.socket,
                 std::string("egressd's control socket (default: control_socket of --config, "
                             "else ") + kDefaultSocket + ")");
  app.add_option("--config", options.config_path,
                 "egressd's TOML config file: gives the socket and the firewall ports")
      ->check(CLI::ExistingFile);
  app.add_flag("--json", options.json, "print JSON for scripts instead of text");

  auto add_json = [&](CLI::App* verb) {
    verb->add_flag("--json", options.json, "print JSON for scripts instead of text");
  };
  auto add_clients = [&](CLI::App* verb) {
    verb->add_option("NAME", options.clients, "client label (e.g. work) or address")
        ->required();
  };
  auto add_ports = [&](CLI::App* verb) {
    verb->add_option("--port", options.ports,
                     "port egressd listens on; repeatable (default: the ports of `listen` in "
                     "--config, else 8100)")
        ->check(CLI::Range(1, 65535));
  };

  auto* show = app.add_subcommand(
      "show", "list clients: label, address, vif interface, connected, state, counts");
  auto* update = app.add_subcommand(
      "update", "reload rules and open the firewall (what `proxyctl.py update` did)");
  auto* start = app.add_subcommand("start", "resume serving clients");
  auto* stop = app.add_subcommand(
      "stop", "suspend serving clients: close their connections, refuse new requests");
  auto* restart =
      app.add_subcommand("restart", "reload rules, then close these clients' connections");
  auto* kill_all = app.add_subcommand("kill-all", "close every open client connection");
  auto* kill_all_and_restart =
      app.add_subcommand("kill-all-and-restart", "close every connection, then reload rules");
  auto* reload = app.add_subcommand(
      "reload", "re-read config rules settings and rules files; on errors the old rules stay");
  auto* firewall = app.add_subcommand(
      "firewall", "open, close or show the Qubes firewall opening for egressd's ports");
  firewall->require_subcommand(1, 1);
  auto* fw_open = firewall->add_subcommand(
      "open", "accept new TCP connections from downstream qubes to the ports (idempotent)");
  auto* fw_close = firewall->add_subcommand("close", "remove exactly what `open` added");
  auto* fw_status = firewall->add_subcommand("status", "say what `open` added that exists now");

  auto* check = app.add_subcommand(
      "check", "the verdict egressd gives a client now for a URL or HOST[:PORT], and the rule");
  auto* lint = app.add_subcommand(
      "lint", "warn about risky or useless rules (unanchored, unescaped dots, duplicates...)");
  auto* blocked =
      app.add_subcommand("blocked", "hosts refused for a client, most frequent first");
  auto* allow = app.add_subcommand("allow", "add a rule allowing HOST to a client, and reload");
  auto* deny = app.add_subcommand("deny", "add a rule denying HOST to a block-list client");
  auto* watch = app.add_subcommand("watch", "print decisions as they happen, until ^C");
  auto* learn = app.add_subcommand(
      "learn", "learning mode on|off: what the rules deny is allowed and recorded");
  auto* suggest =
      app.add_subcommand("suggest", "rules that would allow what learning mode recorded");
  auto* import_tinyproxy = app.add_subcommand(
      "import-tinyproxy", "convert an old tinyproxy setup (template and <name>.<ip> filters)");
  auto one_client = [&](CLI::App* verb, bool required) {
    auto* option = verb->add_option("NAME", options.client, "client label (e.g. work) or address");
    if (required) option->required();
  };
  for (auto* verb : {check, blocked, allow, deny, learn, suggest}) one_client(verb, true);
  one_client(watch, false);
  one_client(lint, false);
  check->add_option("TARGET", options.target, "http://host/path, https://host/, host:port or host")
      ->required();
  for (auto* verb : {allow, deny}) {
    verb->add_option("HOST", options.target, "host name or IP address")->required();
    verb->add_flag("--subdomains", options.subdomains, "also every subdomain of HOST");
    verb->add_option("--port", options.rule_port, "only this port, which the rule opens")
        ->check(CLI::Range(1, 65535));
  }
  learn->add_option("STATE", options.on_off, "on or off")->required();
  import_tinyproxy->add_option("DIR", options.target, "folder of the old setup")->required();
  import_tinyproxy->add_option("--output", options.output, "new folder for egressd.toml and rules/")
      ->required();
  blocked->add_option("--since", options.since, "only the last 90s, 15m, 2h, 1d...");
  lint->add_option("--rules", options.rules_dir,
                   "rules folder (default: rules_dir of --config, else egressd's, else "
                   "/etc/egressd/rules)");

  for (auto* verb : {show, update, start, stop, restart, kill_all, kill_all_and_restart, reload,
                     firewall, fw_open, fw_close, fw_status, check, lint, blocked, allow, deny,
                     watch, learn, suggest}) {
    add_json(verb);
  }
  for (auto* verb : {start, stop, restart}) add_clients(verb);
  for (auto* verb : {update, fw_open, fw_close, fw_status}) add_ports(verb);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }

  const std::pair<CLI::App*, ctl::Verb> verbs[] = {
      {show, ctl::Verb::show},
      {update, ctl::Verb::update},
      {start, ctl::Verb::start},
      {stop, ctl::Verb::stop},
      {restart, ctl::Verb::restart},
      {kill_all, ctl::Verb::kill_all},
      {kill_all_and_restart, ctl::Verb::kill_all_and_restart},
      {reload, ctl::Verb::reload},
      {fw_open, ctl::Verb::firewall_open},
      {fw_close, ctl::Verb::firewall_close},
      {fw_status, ctl::Verb::firewall_status},
      {check, ctl::Verb::check},
      {lint, ctl::Verb::lint},
      {blocked, ctl::Verb::blocked},
      {allow, ctl::Verb::allow},
      {deny, ctl::Verb::deny},
      {watch, ctl::Verb::watch},
      {learn, ctl::Verb::learn},
      {suggest, ctl::Verb::suggest},
      {import_tinyproxy, ctl::Verb::import_tinyproxy},
  };
  for (const auto& [command, verb] : verbs) {
    if (*command) return ctl::run_verb(options, verb);
  }
  return kExitUsage;
}
