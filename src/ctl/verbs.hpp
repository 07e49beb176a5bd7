// egressctl's verbs: what each one asks egressd or does on this machine, what it prints
// and how it exits (docs/egressctl.md). The command line itself is parsed in main.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace egressd::ctl {

// Exit codes: part of the interface scripts rely on.
constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;       // the daemon refused or failed; a firewall step failed
constexpr int kExitUsage = 2;        // bad command line or --config file
constexpr int kExitUnreachable = 3;  // no daemon at the control socket

constexpr const char* kDefaultSocket = "/run/egressd/control.sock";

struct Options {
  std::string socket;
  std::string config_path;
  bool json = false;
  std::vector<std::uint16_t> ports;
  std::vector<std::string> clients;
  std::string client;  // the one NAME of check, blocked, allow, deny, watch, learn, suggest
  std::string target;  // check: URL or HOST[:PORT]; allow/deny: HOST
  bool subdomains = false;
  std::uint16_t rule_port = 0;
  std::string since;
  std::string on_off;
  std::string rules_dir;  // lint --rules
  std::string output;     // import-tinyproxy --output
};

enum class Verb {
  show, update, start, stop, restart, kill_all, kill_all_and_restart, reload,
  firewall_open, firewall_close, firewall_status,
  check, lint, blocked, allow, deny, watch, learn, suggest, import_tinyproxy,
};

// Reads --config (a file with errors is a usage error), settles the control socket and
// runs the verb. Returns the exit code; never throws.
int run_verb(const Options& options, Verb verb);

}  // namespace egressd::ctl
