// Host name normalisation: one spelling per host before any rule sees it.
//
// Anything a resolver might read in more than one way is refused rather than guessed at:
// getaddrinfo turns "127.1", "0x7f.1" or "2130706433" into 127.0.0.1, so a rule for
// "127.0.0.1" (or a deny of loopback by name) could be sidestepped by another spelling.
#include "core/host.hpp"

#include <cstddef>

namespace egressd::core {
namespace {

constexpr std::size_t kMaxNameLength = 253;
constexpr std::size_t kMaxLabelLength = 63;

constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
constexpr bool is_label_char(char c) { return is_lower(c) || is_digit(c) || c == '-' || c == '_'; }

constexpr char to_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

Error fail(const char* reason) { return Error{reason}; }

// "[v6]" as in RFC 3986 IP-literal; IPvFuture and zone ids (RFC 6874) are refused.
Result<Host> normalize_ip_literal(std::string_view raw) {
  if (raw.size() < 2 || raw.back() != ']') return fail("unterminated IPv6 address in host");
  const std::string_view inner = raw.substr(1, raw.size() - 2);
  if (inner.find('%') != std::string_view::npos) {
    return fail("IPv6 zone ids are not allowed in host");
  }
  auto ip = IpAddress::parse(inner);
  if (!ip || !ip->is_v6()) return fail("invalid IPv6 address in host");
  return Host{ip->to_string(), ip};
}

// Reasons for bytes that never belong in a host, bracketed or not; nullptr if fine.
const char* bad_byte_reason(unsigned char c) {
  if (c >= 0x80) return "non-ASCII characters in host name (use the punycode form)";
  if (c < 0x20 || c == 0x7f) return "control characters in host name";
  if (c == ' ') return "spaces in host name";
  return nullptr;
}

// Reports the first character that can never appear in a host name, with a reason that
// tells the user what they did rather than just "invalid".
const char* bad_character_reason(std::string_view raw) {
  for (char ch : raw) {
    const auto c = static_cast<unsigned char>(ch);
    if (const char* reason = bad_byte_reason(c)) return reason;
    if (c == '%') return "percent-encoding is not allowed in host name";
    if (c == '@') return "user names are not allowed in host";
    if (c == ':') return "IPv6 addresses must be in brackets, ports do not belong in the host";
    if (c == '[' || c == ']') return "misplaced bracket in host";
  }
  return nullptr;
}

bool all_digits(std::string_view s) {
  for (char c : s) {
    if (!is_digit(c)) return false;
  }
  return !s.empty();
}

}  // namespace

Result<Host> normalize_host(std::string_view raw) {
  if (raw.empty()) return fail("empty host name");
  if (raw.front() == '[') {
    // Check for bytes that would otherwise only show up as "invalid IPv6".
    for (char ch : raw) {
      if (const char* reason = bad_byte_reason(static_cast<unsigned char>(ch))) {
        return fail(reason);
      }
    }
    return normalize_ip_literal(raw);
  }
  if (const char* reason = bad_character_reason(raw)) return fail(reason);

  std::string name;
  name.reserve(raw.size());
  for (char c : raw) name.push_back(to_lower(c));

  // One trailing dot marks an absolute name and means the same host; more is not a name.
  if (name.back() == '.') name.pop_back();
  if (name.empty()) return fail("empty host name");
  if (name.size() > kMaxNameLength) return fail("host name longer than 253 characters");

  std::string_view last_label;
  std::size_t start = 0;
  while (true) {
    const std::size_t dot = name.find('.', start);
    const std::size_t end = dot == std::string::npos ? name.size() : dot;
    const std::string_view label = std::string_view(name).substr(start, end - start);
    if (label.empty()) return fail("empty label in host name");
    if (label.size() > kMaxLabelLength) return fail("host name label longer than 63 characters");
    for (char c : label) {
      if (!is_label_char(c)) return fail("invalid character in host name");
    }
    if (label.front() == '-' || label.back() == '-') {
      return fail("host name label starts or ends with '-'");
    }
    last_label = label;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }

  // A name whose last label is numeric is an IPv4 address to every resolver, possibly in
  // a disguise (octal, hex, fewer than four parts); only the canonical form is accepted.
  if (all_digits(last_label) || last_label.starts_with("0x")) {
    auto ip = IpAddress::parse(name);
    if (!ip || !ip->is_v4()) {
      return fail("numeric host name that is not a canonical IPv4 address");
    }
    return Host{ip->to_string(), ip};
  }
  return Host{std::move(name), std::nullopt};
}

}  // namespace egressd::core
