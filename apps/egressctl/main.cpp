// egressctl: parses the command line and calls into src/ctl (control socket, route table,
// firewall); what each verb prints and how it exits is in docs/egressctl.md.
#include <csignal>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "core/config.hpp"
#include "ctl/control_client.hpp"
#include "ctl/firewall.hpp"
#include "ctl/routes.hpp"
#include "ctl/show_table.hpp"
#include "ctl/system.hpp"

namespace {

using nlohmann::json;
namespace ctl = egressd::ctl;

// Exit codes: part of the interface scripts rely on.
constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;       // the daemon refused or failed; a firewall step failed
constexpr int kExitUsage = 2;        // bad command line or --config file
constexpr int kExitUnreachable = 3;  // no daemon at the control socket

constexpr const char* kDefaultSocket = "/run/egressd/control.sock";
constexpr std::uint16_t kDefaultPort = 8100;

constexpr const char* kFooter =
    "Exit status: 0 success; 1 egressd refused or failed the command, or a firewall step "
    "failed; 2 usage error; 3 egressd is not running (cannot connect to its socket).\n"
    "See docs/egressctl.md.";

struct Options {
  std::string socket;
  std::string config_path;
  bool json = false;
  std::vector<std::uint16_t> ports;
  std::vector<std::string> clients;
};

// Everything a verb needs: options, the config (when --config was given), the client.
class Ctl {
 public:
  explicit Ctl(Options options) : options_(std::move(options)) {}

  // Reads --config and settles the socket path. Returns an exit code on failure.
  std::optional<int> prepare() {
    if (!options_.config_path.empty()) {
      std::ifstream file(options_.config_path, std::ios::binary);
      if (!file) {
        std::cerr << fmt::format("egressctl: cannot read config file {}: {}\n",
                                 options_.config_path, std::strerror(errno));
        return kExitUsage;
      }
      std::ostringstream content;
      content << file.rdbuf();
      auto parsed = egressd::core::parse_config(options_.config_path, content.str());
      for (const auto& problem : parsed.problems) std::cerr << problem.to_string() << '\n';
      if (egressd::core::has_errors(parsed.problems)) {
        std::cerr << fmt::format("egressctl: config file {} has errors, see above\n",
                                 options_.config_path);
        return kExitUsage;
      }
      config_ = std::move(parsed.config);
    }
    if (options_.socket.empty()) {
      options_.socket = config_ ? config_->control_socket : kDefaultSocket;
      if (options_.socket.empty()) {
        std::cerr << fmt::format(
            "egressctl: the control socket is turned off in {} (control_socket = \"\")\n",
            options_.config_path);
        socket_off_ = true;
      }
    }
    return std::nullopt;
  }

  // --port, else the distinct ports of `listen` in --config, else 8100.
  std::vector<std::uint16_t> firewall_ports() const {
    if (!options_.ports.empty()) return options_.ports;
    std::set<std::uint16_t> ports;
    if (config_) {
      for (const auto& endpoint : config_->listen) {
        if (endpoint.port != 0) ports.insert(endpoint.port);
      }
    }
    if (ports.empty()) ports.insert(kDefaultPort);
    return {ports.begin(), ports.end()};
  }

  // Sends one command. Returns kExitOk with the answer in `answer` when egressd said ok;
  // otherwise prints why (unless --json, where the answer is printed by the caller) and
  // returns kExitFailed or kExitUnreachable.
  int call(const json& request, json& answer) {
    if (socket_off_) return kExitUnreachable;
    if (!client_) client_.emplace(options_.socket);
    auto outcome = client_->request(request);
    switch (outcome.status) {
      case ctl::ControlOutcome::Status::cannot_connect:
        if (outcome.connect_errno == EACCES || outcome.connect_errno == EPERM) {
          std::cerr << fmt::format("egressctl: {} (the control socket is for root only)\n",
                                   outcome.error);
        } else {
          std::cerr << fmt::format("egressctl: egressd is not running ({})\n", outcome.error);
        }
        return kExitUnreachable;
      case ctl::ControlOutcome::Status::failed:
        std::cerr << "egressctl: " << outcome.error << '\n';
        return kExitFailed;
      case ctl::ControlOutcome::Status::answered:
        break;
    }
    answer = std::move(outcome.answer);
    print_problems(answer);
    auto ok = answer.find("ok");
    if (ok != answer.end() && ok->is_boolean() && ok->get<bool>()) return kExitOk;
    auto error = answer.find("error");
    std::cerr << "egressctl: "
              << (error != answer.end() && error->is_string() ? error->get<std::string>()
                                                              : "egressd did not say ok")
              << '\n';
    return kExitFailed;
  }

  // A verb that only sends `request` and prints `say(answer)` on success.
  template <class Say>
  int simple(const json& request, Say say) {
    json answer;
    int rc = call(request, answer);
    if (options_.json && rc != kExitUnreachable && !answer.is_null()) {
      std::cout << answer.dump(2) << '\n';
    } else if (rc == kExitOk) {
      std::cout << say(answer) << '\n';
    }
    return rc;
  }

  int show() {
    json answer;
    int rc = call({{"command", "show"}}, answer);
    if (rc != kExitOk) {
      if (options_.json && !answer.is_null()) std::cout << answer.dump(2) << '\n';
      return rc;
    }
    auto routes = read_routes();
    json merged = ctl::merge_show_with_routes(answer, routes ? &*routes : nullptr);
    if (options_.json) {
      std::cout << merged.dump(2) << '\n';
    } else {
      auto rows = ctl::show_rows(merged);
      std::cout << ctl::format_show_table(rows);
      if (rows.empty()) {
        std::cout << fmt::format("(no clients: no rules files in {} and no connections yet)\n",
                                 merged.value("rules_dir", std::string("the rules folder")));
      }
    }
    return kExitOk;
  }

  int reload() {
    return simple({{"command", "reload"}}, [](const json& a) { return reload_summary(a); });
  }

  int start_stop(const std::string& verb) {
    return simple({{"command", verb}, {"clients", options_.clients}}, [&](const json& a) {
      std::string text = fmt::format("{}: {}", verb == "stop" ? "stopped" : "started",
                                     fmt::join(names(a), ", "));
      if (verb == "stop") text += fmt::format(" ({})", closed_text(a));
      return text;
    });
  }

  int restart() {
    return simple({{"command", "restart"}, {"clients", options_.clients}}, [&](const json& a) {
      return fmt::format("restarted: {} ({}); {}", fmt::join(options_.clients, ", "),
                         closed_text(a), reload_summary(a));
    });
  }

  int kill_all(bool and_restart) {
    json request = {{"command", and_restart ? "kill-all-and-restart" : "kill-all"}};
    return simple(request, [&](const json& a) {
      std::string text = closed_text(a);
      if (and_restart) text += "; " + reload_summary(a);
      return text;
    });
  }

  int firewall(ctl::FirewallAction action) {
    auto report = ctl::run_firewall(action, firewall_ports(), ctl::find_firewall_tools(),
                                    ctl::system_runner());
    if (options_.json) {
      std::cout << report.to_json().dump(2) << '\n';
    } else {
      print_firewall(report);
    }
    if (!report.ok) std::cerr << "egressctl: firewall: " << report.error << '\n';
    return report.ok ? kExitOk : kExitFailed;
  }

  // reload, then firewall open; the worst exit code of the two.
  int update() {
    json answer;
    int reload_rc = call({{"command", "reload"}}, answer);
    auto report = ctl::run_firewall(ctl::FirewallAction::open, firewall_ports(),
                                    ctl::find_firewall_tools(), ctl::system_runner());
    if (!report.ok) std::cerr << "egressctl: firewall: " << report.error << '\n';
    int firewall_rc = report.ok ? kExitOk : kExitFailed;
    int rc = std::max(reload_rc, firewall_rc);
    if (options_.json) {
      json out = {{"ok", rc == kExitOk},
                  {"reload", answer.is_null() ? json(nullptr) : answer},
                  {"firewall", report.to_json()}};
      std::cout << out.dump(2) << '\n';
    } else {
      if (reload_rc == kExitOk) std::cout << reload_summary(answer) << '\n';
      print_firewall(report);
    }
    return rc;
  }

 private:
  static void print_problems(const json& answer) {
    auto problems = answer.find("problems");
    if (problems == answer.end() || !problems->is_array()) return;
    for (const auto& problem : *problems) {
      if (problem.is_string()) std::cerr << problem.get<std::string>() << '\n';
    }
  }

  static std::vector<std::string> names(const json& answer) {
    std::vector<std::string> out;
    auto clients = answer.find("clients");
    if (clients != answer.end() && clients->is_array()) {
      for (const auto& c : *clients) {
        if (c.is_string()) out.push_back(c.get<std::string>());
      }
    }
    return out;
  }

  static std::string closed_text(const json& answer) {
    auto n = answer.value("closed_connections", std::int64_t{0});
    return fmt::format("{} connection{} closed", n, n == 1 ? "" : "s");
  }

  static std::string list_or_dash(const json& changed, const char* key) {
    std::vector<std::string> out;
    auto it = changed.find(key);
    if (it != changed.end() && it->is_array()) {
      for (const auto& v : *it) {
        if (v.is_string()) out.push_back(v.get<std::string>());
      }
    }
    return out.empty() ? "-" : fmt::format("{}", fmt::join(out, ", "));
  }

  static std::string reload_summary(const json& answer) {
    std::string text = fmt::format("rules reloaded: generation {}, {} client{}",
                                   answer.value("generation", std::int64_t{0}),
                                   answer.value("clients", std::int64_t{0}),
                                   answer.value("clients", std::int64_t{0}) == 1 ? "" : "s");
    auto changed = answer.find("changed");
    if (changed == answer.end() || !changed->is_object()) return text;
    std::string added = list_or_dash(*changed, "added");
    std::string removed = list_or_dash(*changed, "removed");
    std::string modified = list_or_dash(*changed, "modified");
    if (added == "-" && removed == "-" && modified == "-") return text + "; no rules changed";
    return text + fmt::format("; added: {}; removed: {}; modified: {}", added, removed, modified);
  }

  static void print_firewall(const ctl::FirewallReport& report) {
    for (const auto& line : report.summary) std::cout << "firewall: " << line << '\n';
  }

  // The vif host routes, IPv4 and IPv6; nullopt (with a warning) when `ip` cannot be run.
  static std::optional<ctl::VifRoutes> read_routes() {
    auto ip = ctl::find_program("ip");
    if (!ip) {
      std::cerr << "egressctl: `ip` not found (package iproute2); INTERFACE and CONNECTED are "
                   "unknown\n";
      return std::nullopt;
    }
    ctl::VifRoutes routes;
    for (const char* family : {"-4", "-6"}) {
      auto result = ctl::run_command({*ip, family, "-json", "route"}, {}, std::chrono::seconds(10));
      if (!result.ok()) {
        if (std::string_view(family) == "-6") continue;  // IPv6 may be off entirely
        std::cerr << fmt::format("egressctl: cannot read the route table ({}); INTERFACE and "
                                 "CONNECTED are unknown\n",
                                 result.message());
        return std::nullopt;
      }
      auto parsed = ctl::parse_vif_routes(result.out);
      if (!parsed) {
        std::cerr << "egressctl: " << parsed.error().message << '\n';
        return std::nullopt;
      }
      ctl::merge_vif_routes(routes, *parsed);
    }
    return routes;
  }

  Options options_;
  std::optional<egressd::core::Config> config_;
  std::optional<ctl::ControlClient> client_;
  bool socket_off_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  // A child (nft, ip) that exits early must not kill us through a pipe we write to.
  std::signal(SIGPIPE, SIG_IGN);

  Options options;
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

  for (auto* verb : {show, update, start, stop, restart, kill_all, kill_all_and_restart, reload,
                     firewall, fw_open, fw_close, fw_status}) {
    add_json(verb);
  }
  for (auto* verb : {start, stop, restart}) add_clients(verb);
  for (auto* verb : {update, fw_open, fw_close, fw_status}) add_ports(verb);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }

  Ctl tool(options);
  if (auto rc = tool.prepare()) return *rc;
  try {
    if (*show) return tool.show();
    if (*update) return tool.update();
    if (*start) return tool.start_stop("start");
    if (*stop) return tool.start_stop("stop");
    if (*restart) return tool.restart();
    if (*kill_all) return tool.kill_all(false);
    if (*kill_all_and_restart) return tool.kill_all(true);
    if (*reload) return tool.reload();
    if (*fw_open) return tool.firewall(ctl::FirewallAction::open);
    if (*fw_close) return tool.firewall(ctl::FirewallAction::close);
    if (*fw_status) return tool.firewall(ctl::FirewallAction::status);
  } catch (const std::exception& e) {
    std::cerr << "egressctl: " << e.what() << '\n';
    return kExitFailed;
  }
  return kExitUsage;
}
