// Policy snapshots built from the rules folder, and the decision for one request.
#include "core/policy.hpp"

#include "core/qrexec.hpp"
#include <algorithm>
#include <map>
#include <numeric>
#include <utility>

#include "core/client_file.hpp"
#include "core/qrexec.hpp"

namespace egressd::core {

const ClientPolicy* PolicySnapshot::find(const IpAddress& address) const {
  const auto it = clients.find(address);
  return it == clients.end() ? nullptr : it->second.get();
}

namespace {

// The client of a file that is not loaded now: its rules from `previous` when that
// snapshot loaded the same file, else no rules at all (unusable).
std::shared_ptr<ClientPolicy> failed_client(const ClientFileName& name, const IpAddress& address,
                                            const SourceFile& file, Problems errors,
                                            const PolicySnapshot* previous) {
  std::shared_ptr<ClientPolicy> client;
  const ClientPolicy* before = previous != nullptr ? previous->find(address) : nullptr;
  if (before != nullptr && before->rules_path == file.path && before->label == name.label &&
      before->state != RulesState::unusable) {
    client = std::make_shared<ClientPolicy>(*before);
    client->state = RulesState::previous;
  } else {
    client = std::make_shared<ClientPolicy>();
    client->label = name.label;
    client->address = address;
    client->rules_path = file.path;
    client->state = RulesState::unusable;
  }
  client->errors = std::move(errors);
  return client;
}

}  // namespace

SnapshotBuild build_snapshot(const Config& config, const std::vector<SourceFile>& files,
                             std::uint64_t generation, const PolicySnapshot* previous) {
  SnapshotBuild out;
  auto snapshot = std::make_shared<PolicySnapshot>();
  snapshot->unknown_clients = config.unknown_clients;
  snapshot->http_ports = config.http_ports;
  snapshot->connect_ports = config.connect_ports;
  snapshot->rules_dir = config.rules_dir;
  snapshot->watch = config.watch;
  snapshot->recheck_tunnels = config.recheck_tunnels;
  snapshot->allow_destinations = config.allow_destinations;
  snapshot->routing = config.routing;
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
    auto name = parse_client_file_name(file.name);
    // With qrexec, a file named after a qube (or a profile) is that caller's.
    if (!name && !config.qrexec_socket.empty() && is_qube_name(file.name)) {
      name = ClientFileName{file.name, qube_address(file.name)};
    }
    if (!name) {
      out.problems.push_back(Problem{
          Problem::Severity::warning, file.path, 0,
          config.qrexec_socket.empty()
              ? "not a rules file name (expected <label>.<ip>; a file named after a qube needs "
                "qrexec_socket); skipped"
              : "not a rules file name (expected <label>.<ip> or a qube's name); skipped"});
      continue;
    }
    const IpAddress address = name->address.unmapped();

    // A second file for an address or a label is an error of that file alone: the first
    // one (by name) keeps the client.
    Problems errors;
    if (const auto it = by_address.find(address); it != by_address.end()) {
      errors.push_back(Problem{Problem::Severity::error, file.path, 0,
                               "a second rules file for " + address.to_string() + ": " +
                                   it->second->path +
                                   " already has this address (one file per client)"});
    }
    if (const auto it = by_label.find(name->label); it != by_label.end()) {
      errors.push_back(Problem{Problem::Severity::error, file.path, 0,
                               "a second rules file for label \"" + name->label + "\": " +
                                   it->second->path +
                                   " already uses this label (one file per client)"});
    }
    const bool duplicate = !errors.empty();
    by_address.emplace(address, &file);
    by_label.emplace(name->label, &file);

    HostMatcher::Compiled compiled;
    if (!file.read_error.empty()) {
      errors.push_back(Problem{Problem::Severity::error, file.path, 0,
                               "cannot read rules file: " + file.read_error});
    } else {
      ParsedRules parsed = parse_rules(file.path, file.content);
      errors.insert(errors.end(), parsed.problems.begin(), parsed.problems.end());
      if (parsed.problems.empty()) {
        compiled = HostMatcher::compile(file.path, std::move(parsed.rules));
        errors.insert(errors.end(), compiled.problems.begin(), compiled.problems.end());
      }
    }
    out.problems.insert(out.problems.end(), errors.begin(), errors.end());
    if (duplicate) continue;  // the address or label belongs to the first file

    std::shared_ptr<ClientPolicy> client;
    if (has_errors(errors)) {
      client = failed_client(*name, address, file, std::move(errors), previous);
    } else {
      client = std::make_shared<ClientPolicy>();
      client->label = name->label;
      client->address = address;
      client->rules_path = file.path;
      client->matcher = std::make_shared<const HostMatcher>(std::move(compiled.matcher));
    }
    const auto settings = config.clients.find(name->label);
    client->mode = settings != config.clients.end() ? settings->second.mode : config.default_mode;
    client->allow_destinations = settings != config.clients.end()
                                     ? settings->second.allow_destinations
                                     : std::vector<Network>{};
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

  snapshot->problems = out.problems;
  out.snapshot = std::move(snapshot);
  return out;
}

namespace {

bool contains(const std::vector<std::uint16_t>& ports, std::uint16_t port) {
  return std::find(ports.begin(), ports.end(), port) != ports.end();
}

Decision decide_by_rules(const PolicySnapshot& snapshot, const IpAddress& client,
                         const DecisionRequest& request) {
  Decision decision;
  if (!admitted(snapshot.access, client)) {
    decision.verdict = Verdict::deny;
    decision.reason = Reason::not_admitted;
    return decision;
  }
  decision.client = snapshot.find(client);
  if (decision.client == nullptr) decision.client = snapshot.everyone.get();

  const auto& ports = request.is_connect ? snapshot.connect_ports : snapshot.http_ports;
  const bool any_port = request.is_connect ? snapshot.any_connect_port : snapshot.any_http_port;
  if (!any_port && !contains(ports, request.port)) {
    // An allow-list rule that names this port ("host:NAME:PORT", "domain:NAME:PORT")
    // opens it for the hosts it matches; nothing else does.
    if (decision.client != nullptr && decision.client->mode == ListMode::allow_list &&
        request.port != 0) {
      const HostMatcher& matcher = *decision.client->matcher;
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
  if (policy.state == RulesState::unusable) {
    decision.verdict = Verdict::deny;
    decision.reason = Reason::rules_unusable;
    return decision;
  }
  const auto match = policy.match_urls && !request.url.empty()
                         ? policy.matcher->first_match(request.url)
                         : policy.matcher->first_match(request.host, request.port);
  if (match) decision.rule = &policy.matcher->rules()[*match];
  if (policy.mode == ListMode::allow_list) {
    decision.verdict = match ? Verdict::allow : Verdict::deny;
    decision.reason = match ? Reason::allow_rule_matched : Reason::no_allow_rule_matched;
  } else {
    decision.verdict = match ? Verdict::deny : Verdict::allow;
    decision.reason = match ? Reason::block_rule_matched : Reason::no_block_rule_matched;
  }
  return decision;
}

}  // namespace

bool admitted(const std::vector<AccessRule>& access, const IpAddress& client) {
  if (access.empty()) return true;
  for (const auto& rule : access) {
    if (rule.network.contains(client)) return rule.allow;
  }
  return false;
}

Decision decide(const PolicySnapshot& snapshot, const IpAddress& client,
                const DecisionRequest& request, ClientFlags flags) {
  if (flags.stopped) {
    Decision decision;
    decision.verdict = Verdict::deny;
    decision.reason = Reason::client_stopped;
    decision.client = snapshot.find(client);
    return decision;
  }
  Decision decision = decide_by_rules(snapshot, client, request);
  // A broken file that never loaded stays closed, learning or not.
  if (flags.learning && !decision.allowed() && decision.client != nullptr &&
      decision.reason != Reason::rules_unusable) {
    decision.verdict = Verdict::allow;
    decision.reason = Reason::learning;
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
    case Reason::rules_unusable:
      return "rules-unusable";
    case Reason::learning:
      return "learning";
    case Reason::not_admitted:
      return "not-admitted";
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
    case Reason::rules_unusable:
      return "this client's rules file has errors and no good version of it was loaded, so "
             "nothing is allowed until it is fixed";
    case Reason::learning:
      return "the rules deny this host, but the client is in learning mode: allowed and "
             "recorded";
    case Reason::not_admitted:
      return "this client's address may not use the proxy (Allow/Deny)";
  }
  return "unknown reason";
}

}  // namespace egressd::core
