// Policy snapshots built from the rules folder, and the decision for one request.
#include "core/policy.hpp"

#include <algorithm>
#include <map>
#include <numeric>
#include <utility>

#include "core/client_file.hpp"

namespace egressd::core {

const ClientPolicy* PolicySnapshot::find(const IpAddress& address) const {
  const auto it = clients.find(address);
  return it == clients.end() ? nullptr : it->second.get();
}

SnapshotBuild build_snapshot(const Config& config, const std::vector<SourceFile>& files,
                             std::uint64_t generation) {
  SnapshotBuild out;
  auto snapshot = std::make_shared<PolicySnapshot>();
  snapshot->unknown_clients = config.unknown_clients;
  snapshot->http_ports = config.http_ports;
  snapshot->connect_ports = config.connect_ports;
  snapshot->rules_dir = config.rules_dir;
  snapshot->generation = generation;

  // Directory order is arbitrary; by name, "already given by" names the same file each time.
  std::vector<std::size_t> order(files.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return files[a].name < files[b].name; });

  std::map<std::string, const SourceFile*> by_label;
  std::map<IpAddress, const SourceFile*> by_address;
  for (const std::size_t index : order) {
    const SourceFile& file = files[index];
    if (is_ignored_file_name(file.name)) continue;
    const auto name = parse_client_file_name(file.name);
    if (!name) {
      out.problems.push_back(Problem{Problem::Severity::warning, file.path, 0,
                                     "not a rules file name (expected <label>.<ip>); skipped"});
      continue;
    }
    const IpAddress address = name->address.unmapped();

    bool duplicate = false;
    if (const auto it = by_address.find(address); it != by_address.end()) {
      out.problems.push_back(Problem{Problem::Severity::error, file.path, 0,
                                     "a second rules file for " + address.to_string() + ": " +
                                         it->second->path +
                                         " already has this address (one file per client)"});
      duplicate = true;
    }
    if (const auto it = by_label.find(name->label); it != by_label.end()) {
      out.problems.push_back(Problem{Problem::Severity::error, file.path, 0,
                                     "a second rules file for label \"" + name->label +
                                         "\": " + it->second->path +
                                         " already uses this label (one file per client)"});
      duplicate = true;
    }
    by_address.emplace(address, &file);
    by_label.emplace(name->label, &file);

    ParsedRules parsed = parse_rules(file.path, file.content);
    out.problems.insert(out.problems.end(), parsed.problems.begin(), parsed.problems.end());
    HostMatcher::Compiled compiled = HostMatcher::compile(file.path, std::move(parsed.rules));
    out.problems.insert(out.problems.end(), compiled.problems.begin(), compiled.problems.end());
    if (duplicate || !parsed.problems.empty() || !compiled.problems.empty()) continue;

    auto client = std::make_shared<ClientPolicy>();
    client->label = name->label;
    client->address = address;
    client->rules_path = file.path;
    const auto settings = config.clients.find(name->label);
    client->mode = settings != config.clients.end() ? settings->second.mode : config.default_mode;
    client->matcher = std::move(compiled.matcher);
    snapshot->clients.emplace(address, std::move(client));
  }

  for (const auto& [label, settings] : config.clients) {
    if (by_label.find(label) == by_label.end()) {
      std::string message = "the config has [clients.";
      message += label;
      message += "] but there is no rules file ";
      message += label;
      message += ".<ip> in this folder";
      out.problems.push_back(
          Problem{Problem::Severity::warning, config.rules_dir, 0, std::move(message)});
    }
  }

  if (!has_errors(out.problems)) out.snapshot = std::move(snapshot);
  return out;
}

namespace {

bool contains(const std::vector<std::uint16_t>& ports, std::uint16_t port) {
  return std::find(ports.begin(), ports.end(), port) != ports.end();
}

}  // namespace

Decision decide(const PolicySnapshot& snapshot, const IpAddress& client,
                const DecisionRequest& request) {
  Decision decision;
  decision.client = snapshot.find(client);

  const auto& ports = request.is_connect ? snapshot.connect_ports : snapshot.http_ports;
  if (!contains(ports, request.port)) {
    // An allow-list rule that names this port ("host:NAME:PORT", "domain:NAME:PORT")
    // opens it for the hosts it matches; nothing else does.
    if (decision.client != nullptr && decision.client->mode == ListMode::allow_list &&
        request.port != 0) {
      const HostMatcher& matcher = decision.client->matcher;
      if (const auto match = matcher.first_match(request.host, request.port, true)) {
        decision.verdict = Verdict::allow;
        decision.reason = Reason::allow_rule_matched;
        decision.rule = &matcher.rules()[*match];
        return decision;
      }
    }
    decision.verdict = Verdict::deny;
    decision.reason = Reason::port_not_allowed;
    return decision;
  }

  if (decision.client == nullptr) {
    const bool allow = snapshot.unknown_clients == UnknownClients::allow;
    decision.verdict = allow ? Verdict::allow : Verdict::deny;
    decision.reason = allow ? Reason::unknown_client_allowed : Reason::unknown_client_denied;
    return decision;
  }

  const ClientPolicy& policy = *decision.client;
  const auto match = policy.matcher.first_match(request.host, request.port);
  if (match) decision.rule = &policy.matcher.rules()[*match];
  if (policy.mode == ListMode::allow_list) {
    decision.verdict = match ? Verdict::allow : Verdict::deny;
    decision.reason = match ? Reason::allow_rule_matched : Reason::no_allow_rule_matched;
  } else {
    decision.verdict = match ? Verdict::deny : Verdict::allow;
    decision.reason = match ? Reason::block_rule_matched : Reason::no_block_rule_matched;
  }
  return decision;
}

std::string_view reason_code(Reason reason) {
  switch (reason) {
    case Reason::allow_rule_matched:
      return "allow-rule";
    case Reason::no_allow_rule_matched:
      return "no-allow-rule";
    case Reason::block_rule_matched:
      return "block-rule";
    case Reason::no_block_rule_matched:
      return "no-block-rule";
    case Reason::unknown_client_allowed:
      return "unknown-client-allowed";
    case Reason::unknown_client_denied:
      return "unknown-client-denied";
    case Reason::port_not_allowed:
      return "port-not-allowed";
    case Reason::client_stopped:
      return "client-stopped";
  }
  return "unknown";
}

std::string_view reason_text(Reason reason) {
  switch (reason) {
    case Reason::allow_rule_matched:
      return "a rule in the allow-list matches this host";
    case Reason::no_allow_rule_matched:
      return "no rule in the allow-list matches this host";
    case Reason::block_rule_matched:
      return "a rule in the block-list matches this host";
    case Reason::no_block_rule_matched:
      return "no rule in the block-list matches this host";
    case Reason::unknown_client_allowed:
      return "this client has no rules file, and unknown clients are allowed";
    case Reason::unknown_client_denied:
      return "this client has no rules file, and unknown clients are denied";
    case Reason::port_not_allowed:
      return "this port is not allowed";
    case Reason::client_stopped:
      return "egressd is stopped for this client";
  }
  return "unknown reason";
}

}  // namespace egressd::core
