// egressctl's verbs: each one talks to egressd (control_client) or to this machine
// (firewall, routes, rules files) and prints for people or, with --json, for scripts.
#include "ctl/verbs.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "core/config.hpp"
#include "core/rules.hpp"
#include "core/suggest.hpp"
#include "ctl/control_client.hpp"
#include "ctl/firewall.hpp"
#include "ctl/public_suffix.hpp"
#include "ctl/routes.hpp"
#include "ctl/rule_tools.hpp"
#include "ctl/show_table.hpp"
#include "ctl/system.hpp"
#include "ctl/tinyproxy_import.hpp"

namespace egressd::ctl {
namespace {

using nlohmann::json;
namespace ctl = egressd::ctl;

constexpr std::uint16_t kDefaultPort = 8100;

// "90s", "15m", "2h", "1d" before now, as Unix time; nullopt when malformed.
std::optional<double> since_to_unix(const std::string& text) {
  if (text.size() < 2) return std::nullopt;
  const char unit = text.back();
  const std::string digits = text.substr(0, text.size() - 1);
  if (digits.find_first_not_of("0123456789") != std::string::npos || digits.size() > 9) {
    return std::nullopt;
  }
  double seconds = std::stod(digits);
  switch (unit) {
    case 's': break;
    case 'm': seconds *= 60; break;
    case 'h': seconds *= 3600; break;
    case 'd': seconds *= 86400; break;
    default: return std::nullopt;
  }
  const auto now = std::chrono::duration<double>(
      std::chrono::system_clock::now().time_since_epoch());
  return now.count() - seconds;
}

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
      // As egressd does: a relative rules folder is relative to the config file.
      const std::filesystem::path rules(config_->rules_dir);
      if (rules.is_relative()) {
        config_->rules_dir =
            (std::filesystem::path(options_.config_path).parent_path() / rules).lexically_normal();
      }
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
      std::cout << ctl::format_show_notes(merged);
    }
    return kExitOk;
  }

  int reload() {
    return simple({{"command", "reload"}}, [](const json& a) { return reload_summary(a); });
  }

  int check() {
    json answer;
    const int rc =
        call({{"command", "check"}, {"client", options_.client}, {"target", options_.target}},
             answer);
    if (options_.json && !answer.is_null()) std::cout << answer.dump(2) << '\n';
    if (rc != kExitOk) return rc;
    if (!options_.json) std::cout << ctl::format_check(answer);
    return all_allowed(answer) ? kExitOk : kExitFailed;
  }

  int blocked() {
    json request = {{"command", "blocked"}, {"client", options_.client}};
    if (!options_.since.empty()) {
      const auto since = since_to_unix(options_.since);
      if (!since) {
        std::cerr << "egressctl: --since wants a duration like 90s, 15m, 2h or 1d\n";
        return kExitUsage;
      }
      request["since"] = *since;
    }
    return simple(request, [](const json& a) {
      std::string text = ctl::format_blocked(a);
      if (text.find('\n') == text.size() - 1) text += "(nothing refused in the kept history)\n";
      return text.substr(0, text.size() - 1);
    });
  }

  int learn() {
    if (options_.on_off != "on" && options_.on_off != "off") {
      std::cerr << "egressctl: learn wants on or off\n";
      return kExitUsage;
    }
    const bool on = options_.on_off == "on";
    return simple({{"command", "learn"}, {"clients", {options_.client}}, {"on", on}},
                  [&](const json& a) {
                    const auto who = fmt::format("{}", fmt::join(names(a), ", "));
                    return on ? fmt::format("LEARNING: {}: requests its rules deny are now "
                                            "ALLOWED and recorded; see them with egressctl "
                                            "suggest {}, end with egressctl learn {} off",
                                            who, options_.client, options_.client)
                              : fmt::format("learning off: {}", who);
                  });
  }

  int suggest() {
    json answer;
    const int rc = call({{"command", "suggest"}, {"client", options_.client}}, answer);
    if (rc != kExitOk) {
      if (options_.json && !answer.is_null()) std::cout << answer.dump(2) << '\n';
      return rc;
    }
    // A port the config already allows needs no ":PORT" on the rule: it counts as the
    // kind's default port.
    const auto configured = [&](const char* key, int port) {
      const auto ports = answer.value(key, json::array());
      return std::find(ports.begin(), ports.end(), json(port)) != ports.end();
    };
    std::vector<egressd::core::LearnedRequest> learned;
    for (const auto& r : answer.value("requests", json::array())) {
      const bool connect = r.value("connect", false);
      int port = r.value("port", 0);
      if (configured(connect ? "connect_ports" : "http_ports", port)) port = connect ? 443 : 80;
      learned.push_back({r.value("host", std::string()), static_cast<std::uint16_t>(port),
                         connect, r.value("count", std::uint64_t{0})});
    }
    ctl::PublicSuffixList suffixes;
    const auto rules = egressd::core::suggest_rules(
        learned, [&](std::string_view host) { return suffixes.registrable_domain(host); });
    if (options_.json) {
      json list = json::array();
      for (const auto& r : rules) {
        list.push_back({{"rule", r.rule}, {"hosts", r.hosts}, {"requests", r.requests},
                        {"note", r.note}});
      }
      answer["suggestions"] = std::move(list);
      std::cout << answer.dump(2) << '\n';
      return kExitOk;
    }
    if (answer.value("mode", std::string()) == "block-list") {
      std::cerr << fmt::format("egressctl: {} is a block-list client: these are the hosts it "
                               "reached in learning mode, as allow rules; its rules file "
                               "names what to deny\n",
                               options_.client);
    }
    if (!suffixes.loaded()) {
      std::cerr << "egressctl: no public suffix list (package publicsuffix): hosts are not "
                   "grouped by domain\n";
    }
    if (rules.empty()) {
      std::cerr << fmt::format("egressctl: nothing learned for {} (turn learning on with "
                               "egressctl learn {} on, then use the client)\n",
                               options_.client, options_.client);
      return kExitOk;
    }
    std::cout << egressd::core::render_suggestions(rules);
    if (answer.value("dropped", 0) > 0) {
      std::cerr << fmt::format("egressctl: {} more requests were not recorded (egressd keeps "
                               "at most 4096 different hosts and ports per client)\n",
                               answer.value("dropped", 0));
    }
    if (answer.value("learning", false)) {
      std::cerr << fmt::format("egressctl: {} is still learning (egressctl learn {} off)\n",
                               options_.client, options_.client);
    }
    return kExitOk;
  }

  int watch() {
    if (socket_off_) return kExitUnreachable;
    json request = {{"command", "watch"}};
    if (!options_.client.empty()) request["client"] = options_.client;
    json answer;
    const int rc = call(request, answer);
    if (rc != kExitOk) return rc;
    std::cerr << fmt::format("watching {} (^C to stop)\n",
                             options_.client.empty() ? "every client" : options_.client);
    for (;;) {
      auto outcome = client_->receive();
      if (outcome.status != ctl::ControlOutcome::Status::answered) {
        std::cerr << "egressctl: " << outcome.error << '\n';
        return kExitFailed;
      }
      std::cout << (options_.json ? outcome.answer.dump() : ctl::format_event(outcome.answer))
                << std::endl;
    }
  }

  // allow / deny: append the rule to the client's file, reload, and check the result.
  int add_rule(bool allow) {
    const auto rule =
        egressd::core::rule_for_host(options_.target, options_.subdomains, options_.rule_port);
    if (!rule) {
      std::cerr << "egressctl: " << rule.error().message << '\n';
      return kExitUsage;
    }
    json shown;
    int rc = call({{"command", "show"}}, shown);
    if (rc != kExitOk) return rc;
    const json* client = find_client(shown, options_.client);
    if (client == nullptr || !(*client)["rules_file"].is_string()) {
      std::cerr << fmt::format("egressctl: {} has no rules file in {}: create <label>.<address> "
                               "there first\n",
                               options_.client, shown.value("rules_dir", std::string("?")));
      return kExitFailed;
    }
    const auto path = (*client)["rules_file"].get<std::string>();
    const auto mode = client->value("mode", std::string());
    const std::string target = options_.rule_port != 0
                                   ? fmt::format("{}:{}", options_.target, options_.rule_port)
                                   : options_.target;
    if ((mode == "allow-list") != allow) {
      json checked;
      call({{"command", "check"}, {"client", options_.client}, {"target", target}}, checked);
      std::cerr << fmt::format(
          "egressctl: {} is {} {} client: its rules name what is {}, so a rule cannot be "
          "added for this; edit {} instead. What it gets now:\n{}",
          options_.client, mode == "allow-list" ? "an" : "a", mode,
          mode == "allow-list" ? "allowed" : "denied", path, ctl::format_check(checked));
      return kExitFailed;
    }
    const auto appended = ctl::append_rule(path, *rule);
    if (!appended.error.empty()) {
      std::cerr << "egressctl: " << appended.error << '\n';
      return kExitFailed;
    }
    json reloaded;
    rc = call({{"command", "reload"}}, reloaded);
    // Errors in other files are printed above; the rule added here is in force.
    if (rc == kExitFailed && reloaded.value("applied", false)) rc = kExitOk;
    json checked;
    const int check_rc =
        call({{"command", "check"}, {"client", options_.client}, {"target", target}}, checked);
    if (options_.json) {
      std::cout << json{{"ok", rc == kExitOk && check_rc == kExitOk},
                        {"rule", *rule},
                        {"file", path},
                        {"line", appended.line},
                        {"added", appended.added},
                        {"reload", reloaded},
                        {"check", checked}}
                       .dump(2)
                << '\n';
    } else {
      std::cout << fmt::format("{} {}:{}: {}\n", appended.added ? "added to" : "already in", path,
                               appended.line, *rule);
      if (rc == kExitOk) std::cout << reload_summary(reloaded) << '\n';
      if (check_rc == kExitOk) std::cout << ctl::format_check(checked);
    }
    if (rc != kExitOk) return rc;
    if (check_rc != kExitOk) return check_rc;
    return verify_rule(checked, allow);
  }

  int lint() {
    std::string folder = options_.rules_dir;
    if (folder.empty() && config_) folder = config_->rules_dir;
    if (folder.empty() && !socket_off_) {
      // The daemon knows its folder; quietly fall back when it is not running.
      if (!client_) client_.emplace(options_.socket);
      auto outcome = client_->request({{"command", "show"}});
      if (outcome.status == ctl::ControlOutcome::Status::answered) {
        folder = outcome.answer.value("rules_dir", std::string());
      }
    }
    if (folder.empty()) folder = "/etc/egressd/rules";
    std::string error;
    const auto files = ctl::lint_targets(folder, options_.client, error);
    if (!error.empty()) {
      std::cerr << "egressctl: " << error << '\n';
      return kExitFailed;
    }
    std::size_t errors = 0;
    std::size_t warnings = 0;
    json report = json::array();
    for (const auto& file : files) {
      for (const auto& problem : ctl::lint_file(file)) {
        const bool is_error = problem.severity == egressd::core::Problem::Severity::error;
        ++(is_error ? errors : warnings);
        if (options_.json) {
          report.push_back({{"file", problem.file}, {"line", problem.line},
                            {"severity", is_error ? "error" : "warning"},
                            {"message", problem.message}});
        } else {
          std::cout << problem.to_string() << '\n';
        }
      }
    }
    if (options_.json) {
      std::cout << json{{"ok", errors + warnings == 0}, {"files", files.size()},
                        {"problems", report}}.dump(2)
                << '\n';
    } else {
      std::cerr << fmt::format("egressctl: {} file{}: {} error{}, {} warning{}\n", files.size(),
                               files.size() == 1 ? "" : "s", errors, errors == 1 ? "" : "s",
                               warnings, warnings == 1 ? "" : "s");
    }
    return errors + warnings == 0 ? kExitOk : kExitFailed;
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

  // After allow/deny: every checked request whose port the config allows must now get
  // the wanted verdict; a port the config does not allow is only mentioned.
  int verify_rule(const json& checked, bool allow) const {
    bool decided = false;
    for (const auto& c : checked.value("checks", json::array())) {
      const auto reason = c.value("reason", std::string());
      if (reason == "port-not-allowed") {
        std::cerr << fmt::format("egressctl: note: port {} is not in the config's {} for {}\n",
                                 c.value("port", 0),
                                 c.value("method", "") == "CONNECT" ? "connect_ports"
                                                                    : "http_ports",
                                 c.value("host", ""));
        continue;
      }
      if ((c.value("verdict", "") == "allow") != allow) {
        std::cerr << fmt::format("egressctl: {} is still {} for {}: see the line that decides "
                                 "above\n",
                                 options_.target, allow ? "denied" : "allowed", options_.client);
        return kExitFailed;
      }
      decided = true;
    }
    return decided ? kExitOk : kExitFailed;
  }

  static bool all_allowed(const json& answer) {
    const auto checks = answer.find("checks");
    if (checks == answer.end() || !checks->is_array() || checks->empty()) return false;
    return std::all_of(checks->begin(), checks->end(), [](const json& c) {
      return c.is_object() && c.value("verdict", std::string()) == "allow";
    });
  }

  // The row of `show` for a label or an address.
  static const json* find_client(const json& shown, const std::string& name) {
    const auto clients = shown.find("clients");
    if (clients == shown.end() || !clients->is_array()) return nullptr;
    for (const auto& c : *clients) {
      if (!c.is_object()) continue;
      if ((c.contains("label") && c["label"] == name) || c.value("address", "") == name) {
        return &c;
      }
    }
    return nullptr;
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

 public:
  // import-tinyproxy DIR --output OUT: converts, reports, and writes OUT only when
  // nothing stopped the import; OUT must not exist yet.
  int import_tinyproxy() {
    namespace fs = std::filesystem;
    constexpr std::uintmax_t kMaxFile = 16U << 20;
    const fs::path from(options_.target);
    const fs::path to(options_.output);
    std::error_code ec;
    std::vector<ctl::ImportFile> files;
    for (fs::directory_iterator it(from, ec), end; !ec && it != end; it.increment(ec)) {
      std::error_code fec;
      if (!it->is_regular_file(fec) || it->is_symlink(fec)) continue;
      if (it->file_size(fec) > kMaxFile) {
        std::cerr << fmt::format("egressctl: {}: larger than 16 MiB, not read\n",
                                 it->path().string());
        continue;
      }
      std::ifstream in(it->path(), std::ios::binary);
      std::ostringstream content;
      content << in.rdbuf();
      if (!in) {
        std::cerr << fmt::format("egressctl: cannot read {}\n", it->path().string());
        return kExitFailed;
      }
      files.push_back({it->path().filename().string(), content.str()});
    }
    if (ec) {
      std::cerr << fmt::format("egressctl: cannot read folder {}: {}\n", from.string(),
                               ec.message());
      return kExitFailed;
    }
    std::sort(files.begin(), files.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    const auto result = ctl::import_tinyproxy(from.string(), files);
    for (const auto& problem : result.problems) std::cout << problem.to_string() << '\n';
    if (egressd::core::has_errors(result.problems)) {
      std::cout << "egressctl: nothing written: fix the errors above\n";
      return kExitFailed;
    }
    if (fs::exists(to, ec) || ec) {
      std::cerr << fmt::format("egressctl: {} exists already: name a new folder\n",
                               to.string());
      return kExitFailed;
    }
    fs::create_directories(to / "rules");
    // The config may hold an upstream's password: readable by its owner only.
    write_file(to / "egressd.toml", result.config, fs::perms::owner_read | fs::perms::owner_write);
    for (const auto& rules : result.rules) {
      write_file(to / "rules" / rules.name, rules.content,
                 fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                     fs::perms::others_read);
    }
    for (const auto& note : result.notes) std::cout << "imported: " << note << '\n';
    std::cout << fmt::format(
        "written: {} and {} rules file(s) in {}\ncheck it with: egressd --check --config {}\n",
        (to / "egressd.toml").string(), result.rules.size(), (to / "rules").string(),
        (to / "egressd.toml").string());
    return kExitOk;
  }

 private:
  static void write_file(const std::filesystem::path& path, const std::string& content,
                         std::filesystem::perms perms) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    out.close();
    if (!out) throw std::runtime_error("cannot write " + path.string());
    std::filesystem::permissions(path, perms);
  }

  Options options_;
  std::optional<egressd::core::Config> config_;
  std::optional<ctl::ControlClient> client_;
  bool socket_off_ = false;
};

}  // namespace

int run_verb(const Options& options, Verb verb) {
  Ctl tool(options);
  if (auto rc = tool.prepare()) return *rc;
  try {
    switch (verb) {
      case Verb::show: return tool.show();
      case Verb::update: return tool.update();
      case Verb::start: return tool.start_stop("start");
      case Verb::stop: return tool.start_stop("stop");
      case Verb::restart: return tool.restart();
      case Verb::kill_all: return tool.kill_all(false);
      case Verb::kill_all_and_restart: return tool.kill_all(true);
      case Verb::reload: return tool.reload();
      case Verb::firewall_open: return tool.firewall(FirewallAction::open);
      case Verb::firewall_close: return tool.firewall(FirewallAction::close);
      case Verb::firewall_status: return tool.firewall(FirewallAction::status);
      case Verb::check: return tool.check();
      case Verb::lint: return tool.lint();
      case Verb::blocked: return tool.blocked();
      case Verb::allow: return tool.add_rule(true);
      case Verb::deny: return tool.add_rule(false);
      case Verb::watch: return tool.watch();
      case Verb::learn: return tool.learn();
      case Verb::suggest: return tool.suggest();
      case Verb::import_tinyproxy: return tool.import_tinyproxy();
    }
  } catch (const std::exception& e) {
    std::cerr << "egressctl: " << e.what() << '\n';
    return kExitFailed;
  }
  return kExitUsage;
}

}  // namespace egressd::ctl
