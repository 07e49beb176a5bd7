// The control commands: what each JSON request does to the ControlActions it acts on.
#include "server/control_commands.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <tuple>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>

#include "core/decision_log.hpp"
#include "core/request_target.hpp"

namespace egressd::server {

using nlohmann::json;

std::string format_utc(io::SystemTime time) {
  const std::time_t t = std::chrono::system_clock::to_time_t(time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  const auto n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(text, n);
}

json control_failure(std::string message) {
  return json{{"ok", false}, {"error", std::move(message)}};
}

namespace {

json failure(std::string message) { return control_failure(std::move(message)); }

json problem_list(const core::Problems& problems) {
  json out = json::array();
  for (const auto& problem : problems) out.push_back(problem.to_string());
  return out;
}

json reload_answer(const ReloadResult& result) {
  if (!result.applied) {
    json out = failure("reload failed: the previous rules stay in force");
    out["applied"] = false;
    out["problems"] = problem_list(result.problems);
    return out;
  }
  json changed{{"added", result.changed.added},
               {"removed", result.changed.removed},
               {"modified", result.changed.modified}};
  json out{{"ok", result.ok},
           {"applied", true},
           {"generation", result.generation},
           {"clients", result.clients},
           {"problems", problem_list(result.problems)},
           {"changed", std::move(changed)},
           {"tunnels_closed", result.tunnels_closed}};
  if (!result.ok) {
    out["error"] =
        "reloaded, but some rules files have errors: their clients keep the rules they had "
        "(or, never loaded, get nothing allowed) until the files are fixed";
  }
  return out;
}

// The clients a command names, resolved against the rules in force.
struct NamedClients {
  std::vector<core::IpAddress> addresses;
  std::vector<std::string> names;  // label when the address has a rules file, else address
  std::optional<std::string> error;
};

NamedClients resolve_clients(const json& request, const core::PolicySnapshot& snapshot) {
  NamedClients out;
  const auto it = request.find("clients");
  if (it == request.end() || !it->is_array() || it->empty() ||
      !std::all_of(it->begin(), it->end(), [](const json& v) { return v.is_string(); })) {
    out.error = "invalid request: \"clients\" must be a non-empty list of client names";
    return out;
  }
  std::map<std::string, const core::ClientPolicy*> by_label;
  for (const auto& [address, client] : snapshot.clients)
    by_label.emplace(client->label, client.get());
  for (const json& value : *it) {
    const auto& name = value.get_ref<const std::string&>();
    std::optional<core::IpAddress> address;
    if (const auto label = by_label.find(name); label != by_label.end()) {
      address = label->second->address;
    } else if (const auto parsed = core::IpAddress::parse(name)) {
      address = parsed->unmapped();
    }
    if (!address) {
      out.error = "unknown client: " + name;
      return out;
    }
    if (std::find(out.addresses.begin(), out.addresses.end(), *address) != out.addresses.end()) {
      continue;
    }
    const core::ClientPolicy* client = snapshot.find(*address);
    out.addresses.push_back(*address);
    out.names.push_back(client != nullptr ? client->label : address->to_string());
  }
  return out;
}

json nullable(const std::optional<std::string>& text) {
  return text ? json(*text) : json(nullptr);
}

std::string_view to_string(core::RulesState state) {
  switch (state) {
    case core::RulesState::current:
      return "current";
    case core::RulesState::previous:
      return "previous";
    case core::RulesState::unusable:
      return "unusable";
  }
  return "unknown";
}

json client_row(const core::IpAddress& address, const core::ClientPolicy* client,
                const io::ClientStats& stats, bool stopped, bool learning) {
  json row;
  row["label"] = client != nullptr ? json(client->label) : json(nullptr);
  row["address"] = address.to_string();
  row["known"] = client != nullptr;
  row["rules_file"] = client != nullptr ? json(client->rules_path) : json(nullptr);
  row["mode"] =
      client != nullptr ? json(std::string(core::to_string(client->mode))) : json(nullptr);
  row["state"] = stopped ? "stopped" : "serving";
  row["learning"] = learning;
  row["rules_state"] = client != nullptr ? json(std::string(to_string(client->state))) : json(nullptr);
  row["rules_errors"] = client != nullptr ? problem_list(client->errors) : json::array();
  row["active_connections"] = stats.active_connections;
  row["allowed"] = stats.allowed;
  row["denied"] = stats.denied;
  row["last_denied_host"] =
      stats.last_denied_host.empty() ? json(nullptr) : json(stats.last_denied_host);
  std::optional<std::string> seen;
  if (stats.last_seen) seen = format_utc(*stats.last_seen);
  row["last_seen"] = nullable(seen);
  return row;
}

json show(ControlActions& actions) {
  const auto snapshot = actions.policy();
  const auto activity = actions.activity();
  const auto stopped = actions.stopped();
  const auto learning = actions.learning();
  const io::ClientStats none;
  const auto stats_of = [&](const core::IpAddress& address) -> const io::ClientStats& {
    const auto it = activity.find(address);
    return it == activity.end() ? none : it->second;
  };

  std::vector<const core::ClientPolicy*> known;
  for (const auto& [address, client] : snapshot->clients) known.push_back(client.get());
  std::sort(known.begin(), known.end(),
            [](const auto* a, const auto* b) { return a->label < b->label; });
  // Addresses without a rules file that connected, or that were stopped by address.
  std::vector<core::IpAddress> unknown;
  for (const auto& [address, stats] : activity) {
    if (snapshot->find(address) == nullptr) unknown.push_back(address);
  }
  for (const auto& address : *stopped) {
    if (snapshot->find(address) == nullptr && activity.find(address) == activity.end()) {
      unknown.push_back(address);
    }
  }
  std::sort(unknown.begin(), unknown.end());

  json clients = json::array();
  for (const auto* client : known) {
    clients.push_back(client_row(client->address, client, stats_of(client->address),
                                 stopped->count(client->address) > 0,
                                 learning->count(client->address) > 0));
  }
  for (const auto& address : unknown) {
    clients.push_back(client_row(address, nullptr, stats_of(address), stopped->count(address) > 0,
                                 false));
  }
  return json{{"ok", true},
              {"generation", snapshot->generation},
              {"rules_dir", snapshot->rules_dir},
              {"problems", problem_list(snapshot->problems)},
              {"listen", actions.listen_addresses()},
              {"workers", actions.worker_count()},
              {"clients", std::move(clients)}};
}

// The one client a command names in "client" (a label or an address).
struct NamedClient {
  core::IpAddress address;
  std::string name;
  std::optional<std::string> error;
};

NamedClient resolve_client(const json& request, const core::PolicySnapshot& snapshot) {
  const auto it = request.find("client");
  if (it == request.end() || !it->is_string()) {
    return {{}, {}, "invalid request: \"client\" must be a client name"};
  }
  const auto named = resolve_clients(json{{"clients", json::array({*it})}}, snapshot);
  if (named.error) return {{}, {}, named.error};
  return {named.addresses.front(), named.names.front(), std::nullopt};
}

// A target as a user writes it, turned into the requests a client would send for it.
struct CheckRequest {
  std::string method;
  core::Host host;
  std::uint16_t port = 0;
  bool is_connect = false;
};

// "http://host[:port]/path" is a plain HTTP request; "https://host[:port]/..." the CONNECT
// a browser sends for it; "host:port" (or "[v6]:port") a CONNECT; a bare "host" both
// "GET http://host/" and "CONNECT host:443". The same parsers as the data path.
core::Result<std::vector<CheckRequest>> check_requests(std::string_view target) {
  using core::Problem;
  constexpr std::string_view kHttps = "https://";
  std::vector<CheckRequest> out;
  const bool https = target.size() > kHttps.size() &&
                     std::equal(kHttps.begin(), kHttps.end(), target.begin(),
                                [](char a, char b) { return a == std::tolower(b); });
  if (https || target.find("://") != std::string_view::npos) {
    std::string url(target);
    if (https) url = "http://" + url.substr(kHttps.size());
    auto parsed = core::parse_absolute_target(url);
    if (!parsed) return parsed.error();
    if (https) {
      out.push_back({"CONNECT", parsed->host, parsed->port_explicit ? parsed->port : std::uint16_t{443},
                     true});
    } else {
      out.push_back({"GET", parsed->host, parsed->port, false});
    }
    return out;
  }
  if (auto authority = core::parse_authority_target(target)) {
    out.push_back({"CONNECT", authority->host, authority->port, true});
    return out;
  }
  auto host = core::normalize_host(target);
  if (!host) return host.error();
  out.push_back({"GET", *host, 80, false});
  out.push_back({"CONNECT", *host, 443, true});
  return out;
}

// Which way a request for `host` goes (null when the config has no [[routes]]): the
// upstream's name and URL, never its credentials, and the route's line in the config.
json route_json(const core::PolicySnapshot& snapshot, const core::Host& host,
                const core::IpAddress& address, const core::ClientPolicy* policy) {
  if (snapshot.routing.empty()) return nullptr;
  const auto choice =
      core::choose_route(snapshot.routing, host, address, policy != nullptr ? policy->label : "");
  return json{{"via", choice.parent != nullptr ? choice.parent->name : "direct"},
              {"upstream", choice.parent != nullptr ? json(choice.parent->display()) : json(nullptr)},
              {"line", choice.route != nullptr ? json(choice.route->line) : json(nullptr)}};
}

json check(const json& request, ControlActions& actions) {
  const auto snapshot = actions.policy();
  const auto client = resolve_client(request, *snapshot);
  if (client.error) return failure(*client.error);
  const auto target = request.find("target");
  if (target == request.end() || !target->is_string()) {
    return failure("invalid request: \"target\" must be a URL or HOST[:PORT]");
  }
  const auto requests = check_requests(target->get_ref<const std::string&>());
  if (!requests) return failure("invalid target: " + requests.error().message);
  const core::ClientFlags flags{actions.stopped()->count(client.address) > 0,
                                actions.learning()->count(client.address) > 0};
  const auto* policy = snapshot->find(client.address);
  json checks = json::array();
  for (const auto& r : *requests) {
    const core::DecisionRequest dr{r.method, r.host, r.port, r.is_connect};
    const auto decision = core::decide(*snapshot, client.address, dr, flags);
    json rule = nullptr;
    if (decision.rule != nullptr && decision.client != nullptr) {
      rule = json{{"file", decision.client->rules_path},
                  {"line", decision.rule->line},
                  {"pattern", decision.rule->pattern}};
    }
    checks.push_back(json{{"method", r.method},
                          {"host", r.host.name},
                          {"port", r.port},
                          {"verdict", decision.allowed() ? "allow" : "deny"},
                          {"reason", core::reason_code(decision.reason)},
                          {"reason_text", core::reason_text(decision.reason)},
                          {"rule", std::move(rule)},
                          {"route", route_json(*snapshot, r.host, client.address, policy)}});
  }
  return json{{"ok", true},
              {"client", policy != nullptr ? json(policy->label) : json(nullptr)},
              {"address", client.address.to_string()},
              {"generation", snapshot->generation},
              {"checks", std::move(checks)}};
}

json blocked(const json& request, ControlActions& actions) {
  const auto snapshot = actions.policy();
  const auto client = resolve_client(request, *snapshot);
  if (client.error) return failure(*client.error);
  std::optional<io::SystemTime> since;
  if (const auto it = request.find("since"); it != request.end() && !it->is_null()) {
    if (!it->is_number()) return failure("invalid request: \"since\" must be a Unix time");
    since = io::SystemTime{} + std::chrono::duration_cast<io::SystemTime::duration>(
                                   std::chrono::duration<double>(it->get<double>()));
  }
  struct Host {
    std::uint64_t count = 0;
    io::SystemTime first;
    io::SystemTime last;
    std::vector<std::uint16_t> ports;
  };
  std::map<std::string, Host> hosts;
  for (const auto& d : actions.denied(client.address, since)) {
    auto [it, added] = hosts.try_emplace(d.host);
    Host& h = it->second;
    if (added || d.time < h.first) h.first = d.time;
    if (added || d.time > h.last) h.last = d.time;
    ++h.count;
    if (std::find(h.ports.begin(), h.ports.end(), d.port) == h.ports.end()) h.ports.push_back(d.port);
  }
  std::vector<std::pair<std::string, Host>> sorted(hosts.begin(), hosts.end());
  // Most frequent first; then the most recent; then by name, so the order is stable.
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    if (a.second.count != b.second.count) return a.second.count > b.second.count;
    if (a.second.last != b.second.last) return a.second.last > b.second.last;
    return a.first < b.first;
  });
  json list = json::array();
  for (auto& [name, h] : sorted) {
    std::sort(h.ports.begin(), h.ports.end());
    list.push_back(json{{"host", name},
                        {"count", h.count},
                        {"ports", h.ports},
                        {"first", format_utc(h.first)},
                        {"last", format_utc(h.last)}});
  }
  const auto* policy = snapshot->find(client.address);
  return json{{"ok", true},
              {"client", policy != nullptr ? json(policy->label) : json(nullptr)},
              {"address", client.address.to_string()},
              {"hosts", std::move(list)}};
}

json suggest(const json& request, ControlActions& actions) {
  const auto snapshot = actions.policy();
  const auto client = resolve_client(request, *snapshot);
  if (client.error) return failure(*client.error);
  std::uint64_t dropped = 0;
  auto learned = actions.learned(client.address, dropped);
  std::sort(learned.begin(), learned.end(), [](const auto& a, const auto& b) {
    return std::tie(a.host, a.port, a.is_connect) < std::tie(b.host, b.port, b.is_connect);
  });
  json list = json::array();
  for (const auto& l : learned) {
    list.push_back(json{{"host", l.host}, {"port", l.port}, {"connect", l.is_connect},
                        {"count", l.count}});
  }
  const auto* policy = snapshot->find(client.address);
  return json{{"ok", true},
              {"client", policy != nullptr ? json(policy->label) : json(nullptr)},
              {"address", client.address.to_string()},
              {"learning", actions.learning()->count(client.address) > 0},
              {"mode", policy != nullptr ? json(std::string(core::to_string(policy->mode)))
                                         : json(nullptr)},
              {"rules_file", policy != nullptr ? json(policy->rules_path) : json(nullptr)},
              {"http_ports", snapshot->http_ports},
              {"connect_ports", snapshot->connect_ports},
              {"requests", std::move(list)},
              {"dropped", dropped}};
}

json watch_answer(const json& request, ControlActions& actions) {
  if (!request.contains("client") || request["client"].is_null()) {
    return json{{"ok", true}, {"watching", nullptr}};
  }
  const auto client = resolve_client(request, *actions.policy());
  if (client.error) return failure(*client.error);
  return json{{"ok", true}, {"watching", client.name}, {"address", client.address.to_string()}};
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) {
    if (!out.empty()) out += ',';
    out += name;
  }
  return out;
}

}  // namespace

json dispatch_control_request(const json& request, ControlActions& actions) {
  if (!request.is_object() || !request.contains("command") || !request["command"].is_string()) {
    return failure("invalid request: expected a JSON object with a \"command\" string");
  }
  const auto& command = request["command"].get_ref<const std::string&>();

  if (command == "show") return show(actions);
  if (command == "reload") return reload_answer(actions.reload());
  if (command == "kill-all") {
    const auto closed = actions.close_all_connections();
    spdlog::info("control: closed every connection closed_connections={}", closed);
    return json{{"ok", true}, {"closed_connections", closed}};
  }
  if (command == "kill-all-and-restart") {
    const auto closed = actions.close_all_connections();
    spdlog::info("control: closed every connection closed_connections={}", closed);
    json answer = reload_answer(actions.reload());
    answer["closed_connections"] = closed;
    return answer;
  }
  if (command == "check") return check(request, actions);
  if (command == "blocked") return blocked(request, actions);
  if (command == "suggest") return suggest(request, actions);
  if (command == "watch") return watch_answer(request, actions);
  if (command != "stop" && command != "start" && command != "restart" && command != "learn") {
    return failure("unknown command: " + command);
  }

  // Commands that name clients: resolve every name before doing anything.
  const auto named = resolve_clients(request, *actions.policy());
  if (named.error) return failure(*named.error);
  const auto names = json(named.names);
  if (command == "restart") {
    const auto result = actions.reload();
    json answer = reload_answer(result);
    if (!result.applied) return answer;
    // A client whose own file has errors keeps its old rules: closing its connections
    // would change nothing but its user's day.
    const auto snapshot = actions.policy();
    for (const auto& address : named.addresses) {
      const auto* client = snapshot->find(address);
      if (client != nullptr && client->state != core::RulesState::current) {
        answer["ok"] = false;
        answer["error"] = "not restarted: the rules file of " + client->label +
                          " has errors (" + client->rules_path + "); nothing was closed";
        return answer;
      }
    }
    // Other clients' broken files are reported in "problems"; these clients restarted.
    answer["ok"] = true;
    answer.erase("error");
    const auto closed = actions.close_connections(named.addresses);
    spdlog::info("control: restarted clients={} closed_connections={}",
                 core::log_value(joined(named.names)), closed);
    answer["closed_connections"] = closed;
    return answer;
  }
  if (command == "learn") {
    const auto on = request.find("on");
    if (on == request.end() || !on->is_boolean()) {
      return failure("invalid request: \"on\" must be true or false");
    }
    const auto policy = actions.policy();
    for (std::size_t i = 0; i < named.addresses.size(); ++i) {
      if (policy->find(named.addresses[i]) == nullptr) {
        return failure(named.names[i] +
                       " has no rules file: learning mode records what its rules would deny, "
                       "so it needs one (it may be empty)");
      }
    }
    actions.set_learning(named.addresses, on->get<bool>());
    if (on->get<bool>()) {
      spdlog::warn("control: LEARNING MODE ON clients={}: requests their rules deny are "
                   "allowed and recorded",
                   core::log_value(joined(named.names)));
    } else {
      spdlog::info("control: learning mode off clients={}", core::log_value(joined(named.names)));
    }
    return json{{"ok", true}, {"clients", names}, {"learning", on->get<bool>()}};
  }
  const bool stop = command == "stop";
  // Stopped first, then closed: a connection opened in between is refused, not missed.
  actions.set_stopped(named.addresses, stop);
  const std::size_t closed = stop ? actions.close_connections(named.addresses) : 0;
  spdlog::info("control: {} clients={} closed_connections={}", stop ? "stopped" : "started",
               core::log_value(joined(named.names)), closed);
  return json{{"ok", true}, {"clients", names}, {"closed_connections", closed}};
}

ControlAnswer answer_control_line(std::string_view line, ControlActions& actions) {
  json request = json::parse(line.begin(), line.end(), nullptr, false);
  if (request.is_discarded()) {
    return {failure("invalid request: not valid JSON"), true};
  }
  if (!request.is_object()) {
    return {failure("invalid request: expected a JSON object with a \"command\" string"), true};
  }
  try {
    ControlAnswer out{dispatch_control_request(request, actions), false};
    if (request["command"] == "watch" && out.answer.value("ok", false)) {
      out.watch = true;
      if (out.answer.contains("address")) {
        out.watch_client = core::IpAddress::parse(out.answer["address"].get<std::string>());
      }
    }
    return out;
  } catch (const std::exception& e) {
    // A failure of our own (out of memory, a worker gone): the client hears about it.
    spdlog::error("control: command failed: {}", e.what());
    return {failure(std::string("internal error: ") + e.what()), false};
  }
}

}  // namespace egressd::server
