// egressd: parses the command line, loads config and rules, and hands over to the server.
#include <CLI/CLI.hpp>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "io/log_sink.hpp"
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
};

// The config file (or the defaults) with the command line's overrides on top.
ParsedConfig load_config(const Options& options) {
  ParsedConfig parsed;
  if (!options.config_path.empty()) parsed = egressd::server::load_config_file(options.config_path);
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
  if (!options.rules_dir.empty()) parsed.config.rules_dir = options.rules_dir;
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"egressd: an egress-filtering HTTP/HTTPS forward proxy with per-client allow-lists"};
  Options options;
  app.add_option("-c,--config", options.config_path, "TOML config file (default: built-in defaults)");
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

  auto parsed = load_config(options);
  Problems problems = parsed.problems;
  std::shared_ptr<const egressd::core::PolicySnapshot> snapshot;
  if (!egressd::core::has_errors(problems)) {
    auto build = egressd::server::load_policy(parsed.config, 1);
    problems.insert(problems.end(), build.problems.begin(), build.problems.end());
    snapshot = std::move(build.snapshot);
  }

  if (options.check) {
    print_problems(problems);
    if (egressd::core::has_errors(problems)) {
      std::cerr << "egressd --check: problems found, see above\n";
      return 1;
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
  for (const auto& [address, client] : snapshot->clients) {
    if (client->state == egressd::core::RulesState::unusable) {
      spdlog::error("client {} gets nothing allowed until {} is fixed", client->label,
                    client->rules_path);
    }
  }

  // What the sandbox lets egressd read, once it is in it (set before any thread starts).
  auto sandboxed = std::make_shared<std::optional<egressd::server::SandboxPaths>>();
  auto reloader = [options, sandboxed](std::uint64_t generation,
                                       const egressd::core::PolicySnapshot* previous) {
    auto reparsed = load_config(options);
    if (*sandboxed && !egressd::server::sandbox_allows(**sandboxed, reparsed.config.rules_dir)) {
      reparsed.problems.push_back(Problem{
          Problem::Severity::error, options.config_path, 0,
          "rules_dir " + reparsed.config.rules_dir +
              " is outside the folders the sandbox lets egressd read: restart egressd to use it"});
    }
    if (egressd::core::has_errors(reparsed.problems)) {
      egressd::core::SnapshotBuild failed;
      failed.problems = std::move(reparsed.problems);
      return failed;
    }
    auto build = egressd::server::load_policy(reparsed.config, generation, previous);
    build.problems.insert(build.problems.begin(), reparsed.problems.begin(),
                          reparsed.problems.end());
    return build;
  };
  egressd::server::Server server(parsed.config, std::move(snapshot), reloader,
                                 options.config_path);
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
    auto paths = egressd::server::sandbox_paths(options.config_path, parsed.config.rules_dir);
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
  return server.run();
}
