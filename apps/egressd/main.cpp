// egressd: parses the command line, loads config and rules, and hands over to the server.
#include <CLI/CLI.hpp>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <syslog.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/text.hpp"
#include "core/tinyproxy_mode.hpp"
#include "io/log_sink.hpp"
#include "server/daemon.hpp"
#include "server/policy_loader.hpp"
#include "server/privileges.hpp"
#include "server/sandbox.hpp"
#include "server/server.hpp"

namespace {

using egressd::core::Config;
using egressd::core::ParsedConfig;
using egressd::core::Problem;
using egressd::core::Problems;

struct Options {
  std::string config_path;
  std::vector<std::string> listen;
  std::string rules_dir;
  std::optional<unsigned> workers;
  std::optional<std::string> control_socket;
  std::vector<std::string> allow_destinations;
  std::optional<std::string> user;
  bool no_sandbox = false;
  bool check = false;
  std::vector<std::string> dns_servers;
  // tinyproxy-compatible mode: the tinyproxy config (--tinyproxy-config, or a -c file
  // that reads as one), and -d (stay in the foreground).
  std::string tinyproxy_config;
  bool foreground = false;
};

// The config file (or the defaults) with the command line's overrides on top. In
// tinyproxy mode, `tinyproxy` receives the tinyproxy config as parsed.
ParsedConfig load_config(const Options& options,
                         egressd::core::TinyproxyConfig* tinyproxy = nullptr) {
  ParsedConfig parsed;
  if (tinyproxy != nullptr) {
    auto load = egressd::server::load_tinyproxy_config_file(options.tinyproxy_config);
    *tinyproxy = std::move(load.tinyproxy);
    parsed = std::move(load.parsed);
    if (!options.rules_dir.empty()) {
      parsed.problems.push_back(Problem{Problem::Severity::error, "--rules", 0,
                                        "a tinyproxy config has no rules folder: its Filter "
                                        "line names the filter file"});
    }
  } else if (!options.config_path.empty()) {
    parsed = egressd::server::load_config_file(options.config_path);
  }
  if (!options.dns_servers.empty()) {
    parsed.config.dns_servers.clear();
    for (const auto& text : options.dns_servers) {
      auto server = egressd::core::parse_dns_server(text);
      if (!server) {
        parsed.problems.push_back(Problem{Problem::Severity::error, "--dns-server", 0,
                                          text + ": " + server.error().message});
        continue;
      }
      parsed.config.dns_servers.push_back(*server);
    }
  }
  if (!options.listen.empty()) {
    parsed.config.listen.clear();
    for (const auto& text : options.listen) {
      auto endpoint = egressd::core::parse_endpoint(text);
      if (!endpoint) {
        parsed.problems.push_back(
            Problem{Problem::Severity::error, "--listen", 0, text + ": " + endpoint.error().message});
        continue;
      }
      parsed.config.listen.push_back(*endpoint);
    }
  }
  if (!options.rules_dir.empty() && tinyproxy == nullptr) {
    parsed.config.rules_dir = options.rules_dir;
  }
  if (options.user) parsed.config.user = *options.user;
  if (options.no_sandbox) parsed.config.sandbox = false;
  for (const auto& text : options.allow_destinations) {
    auto network = egressd::core::parse_network(text);
    if (!network) {
      parsed.problems.push_back(Problem{Problem::Severity::error, "--allow-destination", 0,
                                        text + ": " + network.error().message});
      continue;
    }
    parsed.config.allow_destinations.push_back(*network);
  }
  if (options.workers) parsed.config.workers = *options.workers;
  if (options.control_socket) {
    const std::string& path = *options.control_socket;
    if (!path.empty() && path.front() != '/') {
      parsed.problems.push_back(Problem{Problem::Severity::error, "--control-socket", 0,
                                        path + ": must be an absolute path (or \"\" for none)"});
    } else {
      parsed.config.control_socket = path;
    }
  }
  return parsed;
}

void print_problems(const Problems& problems) {
  for (const auto& problem : problems) std::cerr << problem.to_string() << '\n';
}

// The snapshot of the config as it is on disk now (the rules folder, or in tinyproxy
// mode the files the tinyproxy config names).
egressd::core::SnapshotBuild load_snapshot(const ParsedConfig& parsed,
                                           const egressd::core::TinyproxyConfig* tinyproxy,
                                           std::uint64_t generation,
                                           const egressd::core::PolicySnapshot* previous) {
  if (tinyproxy != nullptr) {
    return egressd::server::load_tinyproxy_policy(*tinyproxy, parsed.config, generation);
  }
  return egressd::server::load_policy(parsed.config, generation, previous);
}

// tinyproxy mode's log: tinyproxy's line layout, to LogFile (appended) or syslog or
// standard error, from LogLevel on. Returns "" or why the log could not be opened.
std::string set_up_tinyproxy_log(const egressd::core::TinyproxyConfig& tinyproxy) {
  std::shared_ptr<spdlog::sinks::sink> sink;
  if (!tinyproxy.log_file.empty()) {
    const int fd = ::open(tinyproxy.log_file.c_str(),
                          O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd < 0) return "cannot open the LogFile " + tinyproxy.log_file + ": " + std::strerror(errno);
    sink = std::make_shared<egressd::io::LogSink>(fd);
  } else if (tinyproxy.syslog) {
    sink = std::make_shared<spdlog::sinks::syslog_sink_mt>("egressd", LOG_PID | LOG_NDELAY,
                                                            LOG_DAEMON, true);
  } else {
    sink = std::make_shared<egressd::io::LogSink>(STDERR_FILENO);
  }
  auto logger = std::make_shared<spdlog::logger>("egressd", sink);
  if (!tinyproxy.syslog || !tinyproxy.log_file.empty()) {
    logger->set_formatter(egressd::io::tinyproxy_log_formatter());
  } else {
    logger->set_pattern("%v");  // syslog stamps the time and the level itself
  }
  const std::string level = egressd::core::ascii_lower(tinyproxy.log_level);
  if (level == "critical") {
    logger->set_level(spdlog::level::critical);
  } else if (level == "error") {
    logger->set_level(spdlog::level::err);
  } else if (level == "warning") {
    logger->set_level(spdlog::level::warn);
  } else {
    logger->set_level(spdlog::level::info);  // Notice, Connect, Info
  }
  spdlog::set_default_logger(logger);
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  egressd::server::block_reload_signals();
  CLI::App app{"egressd: an egress-filtering HTTP/HTTPS forward proxy with per-client allow-lists"};
  Options options;
  app.add_option("-c,--config", options.config_path,
                 "TOML config file (default: built-in defaults); a tinyproxy config here "
                 "means --tinyproxy-config");
  app.add_option("--tinyproxy-config", options.tinyproxy_config,
                 "run in tinyproxy-compatible mode with this tinyproxy config (see "
                 "docs/tinyproxy-mode.md); egressd goes to the background unless -d");
  app.add_flag("-d", options.foreground,
               "tinyproxy mode: stay in the foreground (egressd's own mode always does)");
  app.add_option("--dns-server", options.dns_servers,
                 "DNS server to ask, repeatable: 10.139.1.1 (port 53) or 127.0.0.1:5353 "
                 "(overrides config; default: /etc/resolv.conf)");
  app.add_option("-l,--listen", options.listen,
                 "address to listen on, repeatable: 127.0.0.1:8100, [::1]:8100 (overrides config)");
  app.add_option("-r,--rules", options.rules_dir, "rules folder (overrides config)");
  app.add_option("-w,--workers", options.workers, "worker threads, 0 = one per core (overrides config)")
      ->check(CLI::Range(0u, 256u));
  app.add_option("--control-socket", options.control_socket,
                 "control socket path, \"\" for none (overrides config; default "
                 "/run/egressd/control.sock)");
  app.add_option("--user", options.user,
                 "once listening, run as this user (egressd must start as root); the rules "
                 "and the config must be readable by it for reloads");
  app.add_option("--allow-destination", options.allow_destinations,
                 "let every client reach this internal network (CIDR, e.g. 10.1.0.0/16); "
                 "repeatable, added to allow_destinations of the config");
  app.add_flag("--no-sandbox", options.no_sandbox,
               "do not enter the Landlock and seccomp sandbox (overrides config)");
  app.add_flag("--check", options.check,
               "validate config and every rules file, print all problems, exit 0 if valid");
  app.set_version_flag("-V,--version", std::string("egressd ") + EGRESSD_VERSION);
  CLI11_PARSE(app, argc, argv);

  auto logger = std::make_shared<spdlog::logger>(
      "egressd", std::make_shared<egressd::io::LogSink>(STDERR_FILENO));
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %l %v");
  spdlog::set_default_logger(logger);

  if (options.tinyproxy_config.empty() && !options.config_path.empty() &&
      egressd::server::is_tinyproxy_config_file(options.config_path)) {
    options.tinyproxy_config = options.config_path;
  }
  const bool tinyproxy_mode = !options.tinyproxy_config.empty();
  if (tinyproxy_mode && !options.config_path.empty() &&
      options.config_path != options.tinyproxy_config) {
    std::cerr << "egressd: -c and --tinyproxy-config name two different configs: give one\n";
    return 1;
  }
  const std::string config_path = tinyproxy_mode ? options.tinyproxy_config : options.config_path;
  egressd::core::TinyproxyConfig tinyproxy;
  egressd::core::TinyproxyConfig* tp = tinyproxy_mode ? &tinyproxy : nullptr;

  auto parsed = load_config(options, tp);
  Problems problems = parsed.problems;
  std::shared_ptr<const egressd::core::PolicySnapshot> snapshot;
  if (!egressd::core::has_errors(problems)) {
    auto build = load_snapshot(parsed, tp, 1, nullptr);
    problems.insert(problems.end(), build.problems.begin(), build.problems.end());
    snapshot = std::move(build.snapshot);
  }

  if (options.check) {
    print_problems(problems);
    if (egressd::core::has_errors(problems) || !snapshot) {
      std::cerr << "egressd --check: problems found, see above\n";
      return 1;
    }
    if (tinyproxy_mode) {
      std::cout << "egressd --check: tinyproxy config "
                << (tinyproxy.filter.empty() ? "(no filter)" : "and filter " + tinyproxy.filter)
                << " are valid\n";
      return 0;
    }
    std::cout << "egressd --check: config and " << snapshot->clients.size()
              << " rules file(s) are valid\n";
    return 0;
  }

  for (const auto& problem : problems) {
    if (problem.severity == Problem::Severity::error) {
      spdlog::error("{}", problem.to_string());
    } else {
      spdlog::warn("{}", problem.to_string());
    }
  }
  // A config error or an unreadable rules folder stops the start. A rules file with
  // errors does not: that one client gets nothing allowed until it is fixed, the others
  // are served.
  if (!snapshot) {
    spdlog::error("not starting: fix the problems above (egressd --check lists them)");
    return 1;
  }
  std::optional<egressd::server::Detached> detached;
  if (tinyproxy_mode) {
    if (const auto why = set_up_tinyproxy_log(tinyproxy); !why.empty()) {
      spdlog::error("not starting: {}", why);
      return 1;
    }
    spdlog::info("tinyproxy mode: config {}", config_path);
    // Like tinyproxy: in the background unless -d. Before any thread starts.
    if (!options.foreground) detached.emplace(egressd::server::Detached::detach());
    if (!tinyproxy.pid_file.empty()) {
      if (const auto why = egressd::server::write_pid_file(tinyproxy.pid_file); !why.empty()) {
        spdlog::error("not starting: {}", why);
        return 1;
      }
    }
  }
  for (const auto& [address, client] : snapshot->clients) {
    if (client->state == egressd::core::RulesState::unusable) {
      spdlog::error("client {} gets nothing allowed until {} is fixed", client->label,
                    client->rules_path);
    }
  }

  // What the sandbox lets egressd read, once it is in it (set before any thread starts).
  auto sandboxed = std::make_shared<std::optional<egressd::server::SandboxPaths>>();
  auto reloader = [options, config_path, tinyproxy_mode, sandboxed, running = parsed.config,
                   running_tinyproxy = tinyproxy](std::uint64_t generation,
                                                  const egressd::core::PolicySnapshot* previous) {
    egressd::core::TinyproxyConfig retinyproxy;
    egressd::core::TinyproxyConfig* rtp = tinyproxy_mode ? &retinyproxy : nullptr;
    auto reparsed = load_config(options, rtp);
    if (!egressd::core::has_errors(reparsed.problems)) {
      auto changed = egressd::core::settings_needing_restart(running, reparsed.config);
      if (rtp != nullptr) {
        std::erase(changed, "via_name");  // part of the snapshot in tinyproxy mode
        if (rtp->log_file != running_tinyproxy.log_file) changed.emplace_back("LogFile");
        if (rtp->syslog != running_tinyproxy.syslog) changed.emplace_back("Syslog");
        if (rtp->log_level != running_tinyproxy.log_level) changed.emplace_back("LogLevel");
        if (rtp->pid_file != running_tinyproxy.pid_file) changed.emplace_back("PidFile");
      }
      for (const auto& name : changed) {
        reparsed.problems.push_back(Problem{Problem::Severity::warning, config_path, 0,
                                            name + " changed: it takes effect when egressd "
                                                   "restarts"});
      }
    }
    std::vector<std::string> needed{reparsed.config.rules_dir};
    if (rtp != nullptr) needed = egressd::core::tinyproxy_files(*rtp);
    for (const auto& path : needed) {
      if (*sandboxed && !path.empty() && !egressd::server::sandbox_allows(**sandboxed, path)) {
        reparsed.problems.push_back(Problem{
            Problem::Severity::error, config_path, 0,
            path + " is outside the folders the sandbox lets egressd read: restart egressd to "
                   "use it"});
      }
    }
    if (egressd::core::has_errors(reparsed.problems)) {
      egressd::core::SnapshotBuild failed;
      failed.problems = std::move(reparsed.problems);
      return failed;
    }
    auto build = load_snapshot(reparsed, rtp, generation, previous);
    build.problems.insert(build.problems.begin(), reparsed.problems.begin(),
                          reparsed.problems.end());
    return build;
  };
  egressd::server::Server server(parsed.config, std::move(snapshot), reloader,
                                 tinyproxy_mode ? std::string() : config_path);
  std::string error;
  if (!server.listen(error)) {
    spdlog::error("{}", error);
    return 1;
  }
  if (!parsed.config.user.empty()) {
    // Everything that needs root is done: the listeners and the control socket are open.
    if (const auto why = egressd::server::drop_privileges(parsed.config.user); !why.empty()) {
      spdlog::error("not starting: {}", why);
      return 1;
    }
    spdlog::info("running as user={} uid={}", parsed.config.user, ::getuid());
  }
  if (parsed.config.sandbox) {
    auto paths = egressd::server::sandbox_paths(config_path, parsed.config.rules_dir);
    if (tinyproxy_mode) {
      // The folders of the files the config names (the filter's came with rules_dir).
      for (const auto& file : egressd::core::tinyproxy_files(tinyproxy)) {
        const auto folder = std::filesystem::absolute(file).parent_path().lexically_normal();
        paths.folders.push_back(folder.string());
      }
      if (!tinyproxy.pid_file.empty()) {
        if (const auto why = egressd::server::add_pid_file_folder(paths, tinyproxy.pid_file);
            !why.empty()) {
          spdlog::warn("{}", why);
        }
      }
    }
    egressd::server::SandboxState state;
    if (const auto why = egressd::server::enter_sandbox(paths, state); !why.empty()) {
      spdlog::error("not starting: {} (sandbox = false in the config turns the sandbox off)", why);
      return 1;
    }
    spdlog::info("{}", state.summary());
    *sandboxed = std::move(paths);
  } else {
    spdlog::warn("sandbox: off (sandbox = false or --no-sandbox)");
  }
  if (detached) detached->ready();
  const int status = server.run();
  if (tinyproxy_mode && !tinyproxy.pid_file.empty()) {
    if (const auto why = egressd::server::remove_pid_file(tinyproxy.pid_file); !why.empty()) {
      spdlog::warn("{}", why);
    }
  }
  return status;
}
