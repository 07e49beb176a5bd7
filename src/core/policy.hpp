// Policy snapshots and decisions: which client is asking, and may it reach this host:port.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/config.hpp"
#include "core/host.hpp"
#include "core/ip_address.hpp"
#include "core/problem.hpp"
#include "core/rules.hpp"

namespace egressd::core {

// One client's compiled rules. Immutable once built.
struct ClientPolicy {
  std::string label;
  IpAddress address;
  std::string rules_path;  // the file the rules came from
  ListMode mode = ListMode::allow_list;
  HostMatcher matcher;
};

// Everything a decision needs, built at once and never modified afterwards; workers
// share it through a shared_ptr and a request keeps the snapshot it started with.
struct PolicySnapshot {
  std::unordered_map<IpAddress, std::shared_ptr<const ClientPolicy>> clients;
  UnknownClients unknown_clients = UnknownClients::deny;
  std::vector<std::uint16_t> http_ports;
  std::vector<std::uint16_t> connect_ports;
  std::string rules_dir;
  std::uint64_t generation = 0;

  // The client whose rules file names `address` (already unmapped), or nullptr.
  const ClientPolicy* find(const IpAddress& address) const;
};

// A rules file as read from the rules folder.
struct SourceFile {
  std::string name;  // file name without directory
  std::string path;  // full path, used in messages and pages
  std::string content;
};

struct SnapshotBuild {
  std::shared_ptr<const PolicySnapshot> snapshot;  // nullptr when problems has errors
  Problems problems;
};

// Builds a snapshot from the config and the rules folder's files.
// Errors (no snapshot): a rules file with a bad pattern or line (file:line), two files
// for the same address or the same label (the message names both files).
// Warnings: a file whose name is not "<label>.<ip>" and not ignorable (it is skipped),
// a [clients.LABEL] config section without a rules file.
SnapshotBuild build_snapshot(const Config& config, const std::vector<SourceFile>& files,
                             std::uint64_t generation);

struct DecisionRequest {
  std::string_view method;
  const Host& host;
  std::uint16_t port = 0;
  bool is_connect = false;
};

enum class Verdict { allow, deny };

enum class Reason {
  allow_rule_matched,      // allow-list client, a rule matched
  no_allow_rule_matched,   // allow-list client, nothing matched
  block_rule_matched,      // block-list client, a rule matched
  no_block_rule_matched,   // block-list client, nothing matched
  unknown_client_allowed,  // no rules file, unknown_clients = "allow"
  unknown_client_denied,   // no rules file, unknown_clients = "deny"
  port_not_allowed,        // port not in http_ports / connect_ports
  client_stopped,          // serving this client is suspended (egressctl stop)
};

struct Decision {
  Verdict verdict = Verdict::deny;
  Reason reason = Reason::unknown_client_denied;
  const ClientPolicy* client = nullptr;  // nullptr for an unknown client
  const Rule* rule = nullptr;            // the rule that decided, if one did

  bool allowed() const { return verdict == Verdict::allow; }
};

// Decides one request. Pointers in the Decision point into `snapshot`, so they are
// valid as long as the caller holds it. Ports are checked first: a port outside the
// allowed set is denied, except for an allow-list client whose first rule naming that
// port explicitly ("host:NAME:PORT", "domain:NAME:PORT") matches the host.
Decision decide(const PolicySnapshot& snapshot, const IpAddress& client,
                const DecisionRequest& request);

// Short machine-friendly name for logs ("allow-rule", "no-allow-rule", ...).
std::string_view reason_code(Reason reason);
// One sentence for people ("no rule in the allow-list matches this host").
std::string_view reason_text(Reason reason);

}  // namespace egressd::core
