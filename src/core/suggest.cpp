// Learning mode: grouping learned requests into domain:/host:/ip: lines, and their text.
#include "core/suggest.hpp"

#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "core/host.hpp"
#include "core/ip_address.hpp"

namespace egressd::core {
namespace {

constexpr std::uint16_t kDefaultHttpPort = 80;
constexpr std::uint16_t kDefaultConnectPort = 443;
constexpr std::size_t kMaxListedHosts = 5;

void add_saturating(std::uint64_t& total, std::uint64_t count) {
  constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
  total = count > kMax - total ? kMax : total + count;
}

bool is_default_port(const LearnedRequest& request) {
  return request.port == (request.is_connect ? kDefaultConnectPort : kDefaultHttpPort);
}

// The host as rules see it. IP literals are tried first because normalize_host() wants
// IPv6 in brackets, and learned IPv6 hosts come without.
std::optional<Host> learned_host(std::string_view raw) {
  if (auto ip = IpAddress::parse(raw)) return Host{ip->to_string(), ip};
  auto host = normalize_host(raw);
  if (!host) return std::nullopt;
  return std::move(host).value();
}

// `registrable(name)` when it is `name` or a parent of it at a label boundary with at
// least two labels (one label plus a public suffix); otherwise "". This keeps a faulty
// lookup from ever producing a line such as "domain:com".
std::string checked_registrable(const RegistrableDomainFn& registrable, const std::string& name) {
  if (!registrable) return {};
  std::string domain = registrable(name);
  if (domain.empty() || domain.find('.') == std::string::npos) return {};
  if (domain == name) return domain;
  const bool parent = name.size() > domain.size() && name.ends_with(domain) &&
                      name[name.size() - domain.size() - 1] == '.';
  return parent ? domain : std::string();
}

std::string join_ports(const std::set<std::uint16_t>& ports) {
  std::string out;
  for (const std::uint16_t port : ports) {
    if (!out.empty()) out += ", ";
    out += std::to_string(port);
  }
  return out;
}

// "host:" + name + ":PORT" without the temporaries of operator+.
std::string named_rule(std::string_view form, std::string_view name, std::string_view port_suffix) {
  std::string rule;
  rule.reserve(form.size() + name.size() + port_suffix.size());
  rule.append(form).append(name).append(port_suffix);
  return rule;
}

// Requests to one IP literal, over all ports.
struct IpSeen {
  std::uint64_t count = 0;
  std::set<std::uint16_t> other_http_ports;
  std::set<std::uint16_t> other_connect_ports;
};

std::string ip_note(const IpSeen& seen) {
  if (seen.other_http_ports.empty() && seen.other_connect_ports.empty()) return {};
  std::string what;
  if (!seen.other_connect_ports.empty()) {
    what = join_ports(seen.other_connect_ports) + " to connect_ports";
  }
  if (!seen.other_http_ports.empty()) {
    if (!what.empty()) what += " and ";
    what += join_ports(seen.other_http_ports) + " to http_ports";
  }
  return "ip: lines cannot open ports; to allow the requests seen on other ports, also add " +
         what + " in the config";
}

// Collects rules by their text, so that equal lines are suggested once.
class RuleSet {
 public:
  SuggestedRule& add(const std::string& rule, const std::string& host, std::uint64_t count) {
    SuggestedRule& entry = rules_[rule];
    entry.rule = rule;
    entry.hosts.push_back(host);
    add_saturating(entry.requests, count);
    return entry;
  }

  std::vector<SuggestedRule> sorted() && {
    std::vector<SuggestedRule> out;
    out.reserve(rules_.size());
    for (auto& [text, entry] : rules_) {
      std::sort(entry.hosts.begin(), entry.hosts.end());
      entry.hosts.erase(std::unique(entry.hosts.begin(), entry.hosts.end()), entry.hosts.end());
      out.push_back(std::move(entry));
    }
    std::sort(out.begin(), out.end(), [](const SuggestedRule& a, const SuggestedRule& b) {
      if (a.requests != b.requests) return a.requests > b.requests;
      return a.rule < b.rule;
    });
    return out;
  }

 private:
  std::map<std::string, SuggestedRule> rules_;
};

// Printable on one comment line: control characters would end the comment early.
std::string one_line(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = '?';
  }
  return out;
}

}  // namespace

std::vector<SuggestedRule> suggest_rules(const std::vector<LearnedRequest>& learned,
                                         const RegistrableDomainFn& registrable,
                                         std::size_t min_hosts_for_domain) {
  // Names by port, port 0 standing for the default ports; ordered maps keep the result
  // independent of the input order.
  std::map<std::uint16_t, std::map<std::string, std::uint64_t>> names_by_port;
  std::map<std::string, IpSeen> ips;

  for (const LearnedRequest& request : learned) {
    if (request.port == 0) continue;
    auto host = learned_host(request.host);
    if (!host) continue;
    const bool default_port = is_default_port(request);
    if (host->is_ip()) {
      IpSeen& seen = ips[host->name];
      add_saturating(seen.count, request.count);
      if (!default_port) {
        (request.is_connect ? seen.other_connect_ports : seen.other_http_ports)
            .insert(request.port);
      }
      continue;
    }
    // A line naming a port matches plain HTTP and CONNECT alike, so ports are not split
    // further by method.
    const std::uint16_t bucket = default_port ? 0 : request.port;
    add_saturating(names_by_port[bucket][host->name], request.count);
  }

  RuleSet rules;
  for (const auto& [address, seen] : ips) {
    rules.add("ip:" + address, address, seen.count).note = ip_note(seen);
  }

  std::map<std::string, std::string> registrable_of;  // one lookup per distinct name
  const auto registrable_domain = [&](const std::string& name) -> const std::string& {
    auto it = registrable_of.find(name);
    if (it == registrable_of.end()) {
      it = registrable_of.emplace(name, checked_registrable(registrable, name)).first;
    }
    return it->second;
  };

  for (const auto& [port, names] : names_by_port) {
    const std::string port_suffix = port == 0 ? "" : ":" + std::to_string(port);
    std::map<std::string, std::vector<std::pair<std::string, std::uint64_t>>> by_domain;
    for (const auto& [name, count] : names) {
      const std::string& domain = registrable_domain(name);
      if (domain.empty()) {
        rules.add(named_rule("host:", name, port_suffix), name, count);
      } else {
        by_domain[domain].emplace_back(name, count);
      }
    }
    for (const auto& [domain, members] : by_domain) {
      const bool grouped = members.size() >= min_hosts_for_domain;
      for (const auto& [name, count] : members) {
        const std::string rule = grouped ? named_rule("domain:", domain, port_suffix)
                                         : named_rule("host:", name, port_suffix);
        rules.add(rule, name, count);
      }
    }
  }
  return std::move(rules).sorted();
}

std::string render_suggestions(const std::vector<SuggestedRule>& rules) {
  std::string out;
  for (const SuggestedRule& rule : rules) {
    out += "# " + std::to_string(rule.requests) + (rule.requests == 1 ? " request" : " requests");
    for (std::size_t i = 0; i < rule.hosts.size() && i < kMaxListedHosts; ++i) {
      out += i == 0 ? ": " : ", ";
      out += one_line(rule.hosts[i]);
    }
    if (rule.hosts.size() > kMaxListedHosts) {
      out += ", ... (+" + std::to_string(rule.hosts.size() - kMaxListedHosts) + " more)";
    }
    out += '\n';
    if (!rule.note.empty()) out += "# note: " + one_line(rule.note) + '\n';
    out += rule.rule + '\n';
  }
  return out;
}

}  // namespace egressd::core
