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

struct TinyproxyBehaviour;  // core/tinyproxy_mode.hpp

// Whether a client's rules are those of its file as it is now.
enum class RulesState : std::uint8_t {
  current,   // the file as it is now
  previous,  // the file has errors now: the rules of the last good version stay in force
  unusable,  // the file has errors and no good version was ever loaded: nothing is allowed
};

// One client's compiled rules. Immutable once built.
struct ClientPolicy {
  std::string label;
  IpAddress address;
  std::string rules_path;  // the file the rules came from
  ListMode mode = ListMode::allow_list;
  // Shared: a client whose file broke keeps the matcher of the snapshot before.
  std::shared_ptr<const HostMatcher> matcher = std::make_shared<const HostMatcher>();
  std::vector<Network> allow_destinations;  // [clients.LABEL] allow_destinations
  RulesState state = RulesState::current;
  // The rules are matched against the request's URL rather than its host (tinyproxy's
  // FilterURLs): "http://host/path", or "host:port" for CONNECT.
  bool match_urls = false;
  Problems errors;  // why the file as it is now was not loaded (state != current)
};

// An Allow or Deny line of a tinyproxy config: whether clients in `network` may use the
// proxy at all.
struct AccessRule {
  Network network;
  bool allow = true;
  int line = 0;
};

// Whether `client` may use the proxy: the first rule whose network holds it decides;
// with rules but none that holds it, no; with no rules, yes (tinyproxy's Allow/Deny).
bool admitted(const std::vector<AccessRule>& access, const IpAddress& client);

// Everything a decision needs, built at once and never modified afterwards; workers
// share it through a shared_ptr and a request keeps the snapshot it started with.
struct PolicySnapshot {
  std::unordered_map<IpAddress, std::shared_ptr<const ClientPolicy>> clients;
  UnknownClients unknown_clients = UnknownClients::deny;
  std::vector<std::uint16_t> http_ports;
  std::vector<std::uint16_t> connect_ports;
  std::string rules_dir;
  bool watch = true;            // from the config: see Config
  bool recheck_tunnels = true;  // from the config: see Config
  std::vector<Network> allow_destinations;  // for every client, from the config
  Routing routing;                          // upstreams and routes, from the config
  // tinyproxy mode (core/tinyproxy_mode): who may use the proxy at all (empty: every
  // client); the rules of every client without a rules file of its own (nullptr: none,
  // unknown_clients decides); plain HTTP and CONNECT to any port; how requests are
  // answered. Outside tinyproxy mode these stay empty, false and nullptr.
  std::vector<AccessRule> access;
  std::shared_ptr<const ClientPolicy> everyone;
  bool any_http_port = false;
  bool any_connect_port = false;
  std::shared_ptr<const TinyproxyBehaviour> tinyproxy;
  std::uint64_t generation = 0;
  Problems problems;  // every error and warning of the build, in file order

  // The client whose rules file names `address` (already unmapped), or nullptr.
  const ClientPolicy* find(const IpAddress& address) const;
};

// A rules file as read from the rules folder.
struct SourceFile {
  std::string name;  // file name without directory
  std::string path;  // full path, used in messages and pages
  std::string content;
  std::string read_error{};  // non-empty when the file could not be read (content empty)
};

struct SnapshotBuild {
  // nullptr only when the whole build failed (the config or the folder could not be
  // read); a snapshot with per-file errors is still published.
  std::shared_ptr<const PolicySnapshot> snapshot;
  Problems problems;
};

// Builds a snapshot from the config and the rules folder's files. Loading is
// all-or-nothing per file: a file with any error (a bad pattern or line, file:line; a
// read error; a second file for an address or label already taken, naming both files)
// is not loaded. Its client keeps the rules it has in `previous` (same file name), with
// state `previous`; without those, the client gets state `unusable` and every request
// of it is denied, whatever its list mode, so an error never opens anything.
// Warnings: a file whose name is not "<label>.<ip>" and not ignorable (it is skipped),
// a [clients.LABEL] config section without a rules file.
SnapshotBuild build_snapshot(const Config& config, const std::vector<SourceFile>& files,
                             std::uint64_t generation,
                             const PolicySnapshot* previous = nullptr);

struct DecisionRequest {
  std::string_view method;
  const Host& host;
  std::uint16_t port = 0;
  bool is_connect = false;
  // The request's URL, for rules matched against it (ClientPolicy::match_urls).
  std::string_view url{};
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
  rules_unusable,          // the client's rules file has errors and never loaded
  learning,                // would be denied, allowed because the client is learning
  not_admitted,            // the client's address is refused by Allow/Deny (tinyproxy mode)
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
// port explicitly ("host:NAME:PORT", "domain:NAME:PORT") matches the host. A client
// whose rules are unusable is denied everything.
// Runtime switches of a client, kept outside the snapshot (they survive reloads).
struct ClientFlags {
  bool stopped = false;   // egressctl stop: everything is denied (reason client_stopped)
  bool learning = false;  // egressctl learn on
};

// With `flags.stopped`, everything is denied with reason `client_stopped`. With
// `flags.learning`, a request that would be denied for a client with a usable rules file
// (ports included) is allowed with reason `learning`; the rule, if one decided, is kept so that logs still
// say which rule would have denied it. This is the one decision of the data path and of
// `egressctl check`.
Decision decide(const PolicySnapshot& snapshot, const IpAddress& client,
                const DecisionRequest& request, ClientFlags flags = {});

// Short machine-friendly name for logs ("allow-rule", "no-allow-rule", ...).
std::string_view reason_code(Reason reason);
// One sentence for people ("no rule in the allow-list matches this host").
std::string_view reason_text(Reason reason);

}  // namespace egressd::core
