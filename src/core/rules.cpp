// Rule files: the compatible one-regex-per-line format, compiled with RE2 into one set.
#include "core/rules.hpp"

#include <re2/re2.h>
#include <re2/set.h>

#include <algorithm>
#include <cstdint>
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
  for (const Rule& rule : rules) {
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
  }
  if (!ok) return out;
  if (!rules.empty() && !impl->set.Compile()) {
    out.problems.push_back(Problem{Problem::Severity::error, std::string(file_path), 0,
                                   "the rules are too large to compile together"});
    return out;
  }
  out.matcher.impl_ = std::move(impl);
  out.matcher.rules_ = std::move(rules);
  return out;
}

std::optional<std::size_t> HostMatcher::first_match(std::string_view host) const {
  if (!impl_ || rules_.empty()) return std::nullopt;
  const re2::StringPiece text(host.data(), host.size());
  std::vector<int> matches;
  RE2::Set::ErrorInfo info{};
  if (impl_->set.Match(text, &matches, &info)) {
    return static_cast<std::size_t>(*std::min_element(matches.begin(), matches.end()));
  }
  if (info.kind == RE2::Set::kNoError) return std::nullopt;
  for (std::size_t i = 0; i < impl_->each.size(); ++i) {
    if (RE2::PartialMatch(text, *impl_->each[i])) return i;
  }
  return std::nullopt;
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
