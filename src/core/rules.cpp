// Rule files: the compatible one-regex-per-line format, compiled with RE2 into one set.
#include "core/rules.hpp"

#include "core/network.hpp"

#include <re2/re2.h>
#include <re2/set.h>

#include <algorithm>
#include <bitset>
#include <charconv>
#include <cstdint>
#include <functional>
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

constexpr char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// Literal regular expressions: the lines the block page and `egressctl allow` write,
// "^www\.example\.com$" (exactly that host) and "(^|\.)example\.com$" (the name and its
// subdomains), also with alternatives in groups ("^(www|api)\.example\.com$"). They
// name hosts, so they are looked up in the hash tables of host: and domain: lines
// instead of joining the RE2 set: files of thousands of them then compile in a fraction
// of the time. The grammar is a small subset of what RE2 accepts, and every pattern it
// takes compiles to a small program, so nothing RE2 would refuse is taken.
struct LiteralRegex {
  bool subdomains = false;         // "(^|\.)NAME$" rather than "^NAME$"
  std::vector<std::string> names;  // every name the alternatives spell, lower case
};

// Longer patterns, deeper groups and more alternatives stay regular expressions. The
// limits keep the expansion small, and any pattern taken far below what RE2 could refuse
// for its size (kPatternMaxMem), so taking a line never hides an error with its line.
constexpr std::size_t kLiteralMaxBytes = 1024;
constexpr int kLiteralMaxDepth = 8;
constexpr std::size_t kLiteralMaxNames = 64;

// Characters that stand for themselves in a literal regex: letters, digits and the other
// characters of host names and IPv6 literals. Letters match without case, as in RE2.
bool is_literal_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == ':';
}

// sequence := item+
// item     := literal-char | "\." | "(" sequence ("|" sequence)* ")"
// Expands a sequence into the names it spells; nullopt for anything else (an empty
// sequence or alternative included).
class LiteralParser {
 public:
  explicit LiteralParser(std::string_view text) : text_(text) {}

  std::optional<std::vector<std::string>> parse() {
    auto names = sequence(0);
    if (!names || pos_ != text_.size()) return std::nullopt;
    return names;
  }

 private:
  std::optional<std::vector<std::string>> sequence(int depth) {
    std::vector<std::string> names{std::string()};
    bool empty = true;
    while (pos_ < text_.size() && text_[pos_] != '|' && text_[pos_] != ')') {
      const char c = text_[pos_];
      if (c != '(') {
        char literal = 0;
        if (c == '\\' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '.') {
          literal = '.';
          pos_ += 2;
        } else if (is_literal_char(c)) {
          literal = ascii_lower(c);
          ++pos_;
        } else {
          return std::nullopt;
        }
        for (auto& name : names) name += literal;
        empty = false;
        continue;
      }
      if (depth == kLiteralMaxDepth) return std::nullopt;
      ++pos_;
      std::vector<std::string> alternatives;
      for (;;) {
        auto alternative = sequence(depth + 1);
        if (!alternative) return std::nullopt;
        for (auto& name : *alternative) alternatives.push_back(std::move(name));
        if (alternatives.size() > kLiteralMaxNames) return std::nullopt;
        if (pos_ == text_.size()) return std::nullopt;  // no ")"
        if (text_[pos_++] == ')') break;
      }
      if (names.size() * alternatives.size() > kLiteralMaxNames) return std::nullopt;
      std::vector<std::string> product;
      product.reserve(names.size() * alternatives.size());
      for (const auto& head : names) {
        for (const auto& tail : alternatives) product.push_back(head + tail);
      }
      names = std::move(product);
      empty = false;
    }
    if (empty) return std::nullopt;
    return names;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

std::optional<LiteralRegex> literal_regex(std::string_view pattern) {
  if (pattern.size() > kLiteralMaxBytes) return std::nullopt;
  LiteralRegex out;
  constexpr std::string_view kSubdomains = "(^|\\.)";
  if (pattern.substr(0, kSubdomains.size()) == kSubdomains) {
    out.subdomains = true;
    pattern.remove_prefix(kSubdomains.size());
  } else if (!pattern.empty() && pattern.front() == '^') {
    pattern.remove_prefix(1);
  } else {
    return std::nullopt;
  }
  // An escaped "\$" at the end leaves a lone backslash, which the parser refuses.
  if (pattern.empty() || pattern.back() != '$') return std::nullopt;
  pattern.remove_suffix(1);
  auto names = LiteralParser(pattern).parse();
  if (!names) return std::nullopt;
  out.names = std::move(*names);
  return out;
}

// RE2 compares the letters of a pattern without case by Unicode's simple case folding.
// Besides the other ASCII case, two characters fold to ASCII letters: U+017F (long s)
// to "s" and U+212A (Kelvin sign) to "k". A name without upper case and bytes above
// 0x7F (every normalised host) is its own folded form; any other text is folded here, so
// that the hash tables answer for the literal regexes exactly as RE2 would.
constexpr std::string_view kLongS = "\xC5\xBF";
constexpr std::string_view kKelvin = "\xE2\x84\xAA";

bool needs_folding(std::string_view name) {
  return std::any_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || static_cast<unsigned char>(c) >= 0x80;
  });
}

std::string fold_case(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (std::size_t i = 0; i < name.size(); ++i) {
    if (name.substr(i, kKelvin.size()) == kKelvin) {
      out += 'k';
      i += kKelvin.size() - 1;
    } else if (name.substr(i, kLongS.size()) == kLongS) {
      out += 's';
      i += kLongS.size() - 1;
    } else {
      out += ascii_lower(name[i]);
    }
  }
  return out;
}

// Hash tables keyed by name, looked up with a string_view (no copy per lookup).
struct NameHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view name) const {
    return std::hash<std::string_view>{}(name);
  }
};

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

  // The lines that name one host (or one domain), each list in file order.
  struct Named {
    std::vector<std::size_t> lines;    // host:/domain: lines, for the name as given
    std::vector<std::size_t> regexes;  // literal regexes, for the name as RE2 folds it
  };
  // A decision looks up the host and each of its parent names; most of those lookups
  // find nothing. The lengths of the names present (the last bit standing for any
  // longer one) turn most of them away before any hashing, and parent names longer than
  // the longest name are not even looked for.
  struct NameTable {
    static constexpr std::size_t kLengths = 256;
    std::unordered_map<std::string, Named, NameHash, std::equal_to<>> names;
    std::bitset<kLengths> lengths;
    std::size_t max_length = 0;

    Named& add(std::string name) {
      lengths.set(std::min(name.size(), kLengths - 1));
      max_length = std::max(max_length, name.size());
      return names[std::move(name)];
    }
    const Named* find(std::string_view name) const {
      if (!lengths.test(std::min(name.size(), kLengths - 1))) return nullptr;
      const auto it = names.find(name);
      return it == names.end() ? nullptr : &it->second;
    }
    bool empty() const { return names.empty(); }
  };

  RE2::Set set;
  // The same patterns one by one: used only if the set's DFA runs out of memory, so
  // that a match is never missed.
  std::vector<std::unique_ptr<RE2>> each;
  // Index in rules() of each pattern of `set` (and of `each`), in file order.
  std::vector<std::size_t> regex_rule;
  // Literal names: host:/domain: lines, and the regexes that spell "^NAME$" or
  // "(^|\.)NAME$" (see literal_regex()).
  NameTable hosts;
  NameTable domains;
  bool has_literal_regexes = false;
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
        names.add(rule.name).lines.push_back(index);
      }
      continue;
    }
    rule.kind = RuleKind::regex;
    if (auto literal = literal_regex(rule.pattern)) {
      auto& names = literal->subdomains ? impl->domains : impl->hosts;
      for (auto& name : literal->names) {
        auto& regexes = names.add(std::move(name)).regexes;
        if (regexes.empty() || regexes.back() != index) regexes.push_back(index);
      }
      impl->has_literal_regexes = true;
      continue;
    }
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
  // One name looked up in a table: its host:/domain: lines (`lines`), its literal
  // regexes (`regexes`), or both.
  const auto consider_named = [&](const Impl::NameTable& names, std::string_view name, bool lines,
                                  bool regexes) {
    const Impl::Named* named = names.find(name);
    if (named == nullptr) return;
    if (lines) {
      for (const std::size_t index : named->lines) {
        if (port_fits(rules_[index])) {
          consider(index);
          break;  // indexes are in file order
        }
      }
    }
    // A regex names no port, so it fits any (explicit_port_only never asks for it).
    if (regexes && !named->regexes.empty()) consider(named->regexes.front());
  };
  // domain: lines and "(^|\.)NAME$" match the name itself and every parent name, at
  // label boundaries; host: lines and "^NAME$" the name only.
  // (No table holds an empty name, so the empty parent of a name ending in a dot needs
  // no special case.)
  const auto consider_name = [&](std::string_view name, bool lines, bool regexes) {
    consider_named(impl_->hosts, name, lines, regexes);
    const Impl::NameTable& domains = impl_->domains;
    if (domains.empty()) return;
    consider_named(domains, name, lines, regexes);
    // The parent name after a dot at `dot` has name.size() - dot - 1 bytes.
    const std::size_t from =
        name.size() > domains.max_length + 1 ? name.size() - domains.max_length - 1 : 0;
    for (auto dot = name.find('.', from); dot != std::string_view::npos;
         dot = name.find('.', dot + 1)) {
      consider_named(domains, name.substr(dot + 1), lines, regexes);
    }
  };

  // host:/domain: lines never match an IP literal; regexes, literal ones included, see
  // every host as text.
  const bool lines = !host.is_ip();
  const bool regexes = impl_->has_literal_regexes && !explicit_port_only;
  if (regexes && needs_folding(host.name)) {
    if (lines) consider_name(host.name, true, false);
    consider_name(fold_case(host.name), false, true);
  } else if (lines || regexes) {
    consider_name(host.name, lines, regexes);
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
