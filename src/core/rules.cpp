// Rule files: the compatible one-regex-per-line format, compiled with RE2 into one set.
#include "core/rules.hpp"

#include "core/network.hpp"

#include <re2/re2.h>
#include <re2/set.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>

namespace egressd::core {

namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is invalid
// (overlong forms, surrogates and code points above U+10FFFF are invalid).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) return 1;
  std::size_t len = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;  // overlong
    if (b0 == 0xED) hi = 0x9F;  // surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;  // overlong
    if (b0 == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  }
  return len;
}

bool is_valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t len = utf8_sequence_length(s, i);
    if (len == 0) return false;
    i += len;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  const auto blank = [](char c) { return c == ' ' || c == '\t'; };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

// Host names are at most 253 bytes, so the DFA's working set is small; the budget is
// generous so that large but legitimate rule files (thousands of lines) still compile.
constexpr std::int64_t kPatternMaxMem = 64 << 20;
constexpr std::int64_t kSetMaxMem = 512 << 20;

RE2::Options rule_options(std::int64_t max_mem) {
  RE2::Options options;
  options.set_posix_syntax(true);   // POSIX extended regular expressions, as before
  options.set_perl_classes(true);   // \d \s \w: commonly written, harmless to accept
  options.set_word_boundary(true);  // \b \B: GNU regcomp accepted them too
  options.set_one_line(true);       // ^ and $ match only at the ends of the name
  options.set_case_sensitive(false);
  options.set_never_capture(true);
  options.set_log_errors(false);
  options.set_max_mem(max_mem);
  return options;
}

// "1".."65535" without leading zeros, or nullopt.
std::optional<std::uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5 || text.front() == '0') return std::nullopt;
  unsigned value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value == 0 || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

// The kinds written with a prefix; nullopt for a regex line.
std::optional<RuleKind> prefixed_kind(std::string_view line, std::string_view& rest) {
  constexpr std::pair<std::string_view, RuleKind> kPrefixes[] = {
      {"domain:", RuleKind::domain}, {"host:", RuleKind::host}, {"ip:", RuleKind::ip}};
  for (const auto& [prefix, kind] : kPrefixes) {
    if (line.substr(0, prefix.size()) == prefix) {
      rest = line.substr(prefix.size());
      return kind;
    }
  }
  return std::nullopt;
}

// Fills the literal fields of a domain:/host: rule from `rest`; an error message or "".
std::string classify_name(Rule& rule, std::string_view rest) {
  const std::string_view form = rule.kind == RuleKind::domain ? "domain:" : "host:";
  std::string_view name = rest;
  if (const auto colon = rest.find(':'); colon != std::string_view::npos) {
    name = rest.substr(0, colon);
    const std::string_view port_text = rest.substr(colon + 1);
    const auto port = parse_port(port_text);
    if (!port) {
      return std::string("invalid port \"") + std::string(port_text) + "\" on a " +
             std::string(form) + " line (expected 1-65535, no leading zeros; IPv6 " +
             "addresses belong on ip: lines)";
    }
    rule.port = *port;
  }
  if (name.empty()) return "missing name after " + std::string(form);
  auto host = normalize_host(name);
  if (!host) {
    return "invalid name \"" + std::string(name) + "\" on a " + std::string(form) +
           " line: " + host.error().message;
  }
  if (host->is_ip()) {
    return "\"" + std::string(name) + "\" is an IP address; write ip:" + host->name + " instead";
  }
  rule.name = std::move(host->name);
  return {};
}

// Fills the network of an ip: rule from `rest`; an error message or "".
std::string classify_ip(Rule& rule, std::string_view rest) {
  auto network = parse_network(rest);
  if (!network) {
    std::string message = network.error().message;
    // Keep the messages saying where the text came from.
    if (message.rfind("invalid ", 0) == 0) message += " on an ip: line";
    return message;
  }
  rule.network = network->address;
  rule.prefix_length = network->prefix_length;
  return {};
}

bool in_network(const IpAddress& address, const Rule& rule) {
  return Network{rule.network, rule.prefix_length}.contains(address);
}

}  // namespace

ParsedRules parse_rules(std::string_view file_path, std::string_view content) {
  ParsedRules out;
  int line_number = 0;
  std::size_t pos = 0;
  while (pos < content.size()) {
    ++line_number;
    std::size_t end = content.find('\n', pos);
    if (end == std::string_view::npos) end = content.size();
    std::string_view line = content.substr(pos, end - pos);
    pos = end + 1;

    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const auto error = [&](std::string message) {
      out.problems.push_back(Problem{Problem::Severity::error, std::string(file_path), line_number,
                                     std::move(message)});
    };
    if (line.find('\0') != std::string_view::npos) {
      error("line contains a NUL byte");
      continue;
    }
    if (!is_valid_utf8(line)) {
      error("line is not valid UTF-8");
      continue;
    }
    line = trim(line);
    if (line.empty() || line.front() == '#') continue;
    out.rules.push_back(Rule{std::string(line), line_number});
  }
  return out;
}

struct HostMatcher::Impl {
  explicit Impl(const RE2::Options& options) : set(options, RE2::UNANCHORED) {}

  RE2::Set set;
  // The same patterns one by one: used only if the set's DFA runs out of memory, so
  // that a match is never missed.
  std::vector<std::unique_ptr<RE2>> each;
  // Index in rules() of each pattern of `set` (and of `each`), in file order.
  std::vector<std::size_t> regex_rule;
  // Literal names: the indexes in rules() of the host:/domain: lines for each name.
  std::unordered_map<std::string, std::vector<std::size_t>> hosts;
  std::unordered_map<std::string, std::vector<std::size_t>> domains;
  // Indexes in rules() of the ip: lines.
  std::vector<std::size_t> networks;
};

HostMatcher::HostMatcher() = default;
HostMatcher::~HostMatcher() = default;
HostMatcher::HostMatcher(HostMatcher&&) noexcept = default;
HostMatcher& HostMatcher::operator=(HostMatcher&&) noexcept = default;

HostMatcher::Compiled HostMatcher::compile(std::string_view file_path, std::vector<Rule> rules) {
  Compiled out;
  const RE2::Options pattern_options = rule_options(kPatternMaxMem);
  auto impl = std::make_unique<Impl>(rule_options(kSetMaxMem));
  bool ok = true;
  for (std::size_t index = 0; index < rules.size(); ++index) {
    Rule& rule = rules[index];
    std::string_view rest;
    if (const auto kind = prefixed_kind(rule.pattern, rest)) {
      rule.kind = *kind;
      const std::string message =
          rule.kind == RuleKind::ip ? classify_ip(rule, rest) : classify_name(rule, rest);
      if (!message.empty()) {
        out.problems.push_back(
            Problem{Problem::Severity::error, std::string(file_path), rule.line, message});
        ok = false;
        continue;
      }
      if (rule.kind == RuleKind::ip) {
        impl->networks.push_back(index);
      } else {
        auto& names = rule.kind == RuleKind::host ? impl->hosts : impl->domains;
        names[rule.name].push_back(index);
      }
      continue;
    }
    rule.kind = RuleKind::regex;
    // Each pattern alone first, so that an error names its own line with RE2's reason.
    auto re = std::make_unique<RE2>(rule.pattern, pattern_options);
    if (!re->ok()) {
      out.problems.push_back(Problem{Problem::Severity::error, std::string(file_path), rule.line,
                                     "invalid regular expression: " + re->error()});
      ok = false;
      continue;
    }
    std::string error;
    if (impl->set.Add(rule.pattern, &error) < 0) {
      out.problems.push_back(Problem{Problem::Severity::error, std::string(file_path), rule.line,
                                     "invalid regular expression: " + error});
      ok = false;
      continue;
    }
    impl->each.push_back(std::move(re));
    impl->regex_rule.push_back(index);
  }
  if (!ok) return out;
  if (!impl->each.empty() && !impl->set.Compile()) {
    out.problems.push_back(Problem{Problem::Severity::error, std::string(file_path), 0,
                                   "the rules are too large to compile together"});
    return out;
  }
  out.matcher.impl_ = std::move(impl);
  out.matcher.rules_ = std::move(rules);
  return out;
}

std::optional<std::size_t> HostMatcher::first_match(std::string_view host) const {
  return first_match(Host{std::string(host), IpAddress::parse(host)});
}

std::optional<std::size_t> HostMatcher::first_match(const Host& host, std::uint16_t port,
                                                    bool explicit_port_only) const {
  if (!impl_ || rules_.empty()) return std::nullopt;
  std::optional<std::size_t> best;
  const auto consider = [&](std::size_t index) {
    if (!best || index < *best) best = index;
  };
  const auto port_fits = [&](const Rule& rule) {
    if (explicit_port_only) return rule.port != 0 && rule.port == port;
    return rule.port == 0 || port == 0 || rule.port == port;
  };
  const auto consider_named =
      [&](const std::unordered_map<std::string, std::vector<std::size_t>>& names,
          std::string_view name) {
        const auto it = names.find(std::string(name));
        if (it == names.end()) return;
        for (const std::size_t index : it->second) {
          if (port_fits(rules_[index])) {
            consider(index);
            return;  // indexes are in file order
          }
        }
      };

  if (!host.is_ip()) {
    consider_named(impl_->hosts, host.name);
    // domain: lines match the name itself and every parent name, at label boundaries.
    std::string_view suffix = host.name;
    while (!suffix.empty()) {
      consider_named(impl_->domains, suffix);
      const auto dot = suffix.find('.');
      if (dot == std::string_view::npos) break;
      suffix.remove_prefix(dot + 1);
    }
  }
  if (explicit_port_only) return best;

  if (host.ip) {
    for (const std::size_t index : impl_->networks) {
      if (best && index > *best) break;
      if (in_network(*host.ip, rules_[index])) {
        consider(index);
        break;
      }
    }
  }

  if (!impl_->each.empty()) {
    const re2::StringPiece text(host.name.data(), host.name.size());
    std::vector<int> matches;
    RE2::Set::ErrorInfo info{};
    if (impl_->set.Match(text, &matches, &info)) {
      const int first = *std::min_element(matches.begin(), matches.end());
      consider(impl_->regex_rule[static_cast<std::size_t>(first)]);
    } else if (info.kind != RE2::Set::kNoError) {
      for (std::size_t i = 0; i < impl_->each.size(); ++i) {
        if (best && impl_->regex_rule[i] > *best) break;
        if (RE2::PartialMatch(text, *impl_->each[i])) {
          consider(impl_->regex_rule[i]);
          break;
        }
      }
    }
  }
  return best;
}

std::string exact_host_rule(std::string_view host_name) {
  std::string out = "^";
  out.reserve(host_name.size() * 2 + 2);
  constexpr std::string_view kMeta = ".^$*+?()[]{}|\\";
  for (char c : host_name) {
    if (kMeta.find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  out += '$';
  return out;
}

}  // namespace egressd::core

namespace egressd::core {

Result<std::string> rule_for_host(std::string_view host, bool subdomains, std::uint16_t port) {
  auto normalized = normalize_host(host);
  if (!normalized) return normalized.error();
  const std::string& name = normalized->name;
  if (normalized->is_ip()) {
    if (subdomains) return Error{"an IP address has no subdomains: " + name};
    if (port != 0) {
      return Error{"a rule for an IP address cannot name a port (add " + std::to_string(port) +
                   " to connect_ports or http_ports in the config instead): " + name};
    }
    return exact_host_rule(name);
  }
  if (port != 0) {
    return std::string(subdomains ? "domain:" : "host:") + name + ":" + std::to_string(port);
  }
  if (subdomains) return "(^|\\.)" + exact_host_rule(name).substr(1);
  return exact_host_rule(name);
}

}  // namespace egressd::core
