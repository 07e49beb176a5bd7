// Request-target parsing: splits what a client asked for into a normalised host, a port
// and the exact path it wants, refusing anything that could be read two ways.
#include "core/request_target.hpp"

#include <cstddef>
#include <optional>

namespace egressd::core {
namespace {

constexpr bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
constexpr bool is_visible(char c) { return c >= 0x21 && c <= 0x7e; }

constexpr char to_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

// RFC 3986: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
bool is_scheme(std::string_view s) {
  if (s.empty() || !is_alpha(s.front())) return false;
  for (char c : s) {
    if (!is_alpha(c) && !is_digit(c) && c != '+' && c != '-' && c != '.') return false;
  }
  return true;
}

// Length of "scheme://" at the start of `target`, or 0 if there is none.
std::size_t scheme_prefix_length(std::string_view target) {
  const std::size_t sep = target.find("://");
  if (sep == std::string_view::npos || !is_scheme(target.substr(0, sep))) return 0;
  return sep + 3;
}

bool all_visible(std::string_view s) {
  for (char c : s) {
    if (!is_visible(c)) return false;
  }
  return true;
}

// Decimal 1..65535 with no sign and no leading zeros, so each port has one spelling.
Result<std::uint16_t> parse_port(std::string_view text) {
  if (text.empty()) return Error{"empty port"};
  for (char c : text) {
    if (!is_digit(c)) return Error{"port is not a number"};
  }
  if (text.front() == '0') {
    return Error{text.size() == 1 ? "port 0 is not allowed" : "port with leading zeros"};
  }
  if (text.size() > 5) return Error{"port out of range (1-65535)"};
  unsigned value = 0;
  for (char c : text) value = value * 10 + static_cast<unsigned>(c - '0');
  if (value > 65535) return Error{"port out of range (1-65535)"};
  return static_cast<std::uint16_t>(value);
}

struct HostPort {
  std::string_view host;
  std::optional<std::string_view> port;  // text after ':', present even if empty
};

// Splits "host[:port]" / "[v6][:port]". An IPv6 host without brackets is left for
// normalize_host to refuse with its own message.
std::optional<HostPort> split_host_port(std::string_view authority) {
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return HostPort{authority, std::nullopt};
    HostPort hp{authority.substr(0, close + 1), std::nullopt};
    const std::string_view rest = authority.substr(close + 1);
    if (rest.empty()) return hp;
    if (rest.front() != ':') return std::nullopt;
    hp.port = rest.substr(1);
    return hp;
  }
  const std::size_t colon = authority.rfind(':');
  if (colon == std::string_view::npos) return HostPort{authority, std::nullopt};
  return HostPort{authority.substr(0, colon), authority.substr(colon + 1)};
}

}  // namespace

TargetForm classify_target(std::string_view target) {
  if (target.empty()) return TargetForm::invalid;
  if (target == "*") return TargetForm::asterisk;
  if (target.front() == '/') return TargetForm::origin;
  if (scheme_prefix_length(target) != 0) return TargetForm::absolute;
  // Anything else with a colon and no path, query or fragment has the shape of
  // "host:port"; parse_authority_target decides whether it is a valid one.
  if (target.find(':') != std::string_view::npos &&
      target.find_first_of("/?#") == std::string_view::npos) {
    return TargetForm::authority;
  }
  return TargetForm::invalid;
}

std::string AbsoluteTarget::host_header() const {
  std::string out;
  const bool bracket = host.ip && host.ip->is_v6();
  if (bracket) out.push_back('[');
  out += host.name;
  if (bracket) out.push_back(']');
  if (port != 80) {
    out.push_back(':');
    out += std::to_string(port);
  }
  return out;
}

Result<AbsoluteTarget> parse_absolute_target(std::string_view target) {
  const std::size_t prefix = scheme_prefix_length(target);
  if (prefix == 0) return Error{"request target is not an absolute URL"};

  AbsoluteTarget out;
  for (char c : target.substr(0, prefix - 3)) out.scheme.push_back(to_lower(c));
  if (out.scheme == "https") {
    return Error{"https URLs must be requested with CONNECT, not as a plain proxy request"};
  }
  if (out.scheme != "http") return Error{"only http:// URLs can be proxied"};

  if (!all_visible(target)) return Error{"characters not allowed in a URL"};
  if (target.find('#') != std::string_view::npos) {
    return Error{"fragments ('#') are not allowed in a request URL"};
  }

  const std::string_view rest = target.substr(prefix);
  const std::size_t authority_end = rest.find_first_of("/?");
  const std::string_view authority = rest.substr(0, authority_end);
  const std::string_view path = authority_end == std::string_view::npos
                                    ? std::string_view{}
                                    : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) {
    return Error{"user names and passwords are not allowed in a request URL"};
  }

  auto hp = split_host_port(authority);
  if (!hp) return Error{"unexpected characters after the IPv6 address"};
  auto host = normalize_host(hp->host);
  if (!host) return host.error();
  out.host = std::move(host).value();
  if (hp->port) {
    auto port = parse_port(*hp->port);
    if (!port) return port.error();
    out.port = *port;
    out.port_explicit = true;
  }

  if (path.empty()) {
    out.origin_form = "/";
  } else if (path.front() == '?') {
    out.origin_form.reserve(path.size() + 1);
    out.origin_form = "/";
    out.origin_form += path;
  } else {
    out.origin_form = std::string(path);
  }
  return out;
}

Result<AuthorityTarget> parse_authority_target(std::string_view target) {
  if (target.empty()) return Error{"empty CONNECT target"};
  if (!all_visible(target)) return Error{"characters not allowed in a CONNECT target"};
  if (target.find('@') != std::string_view::npos) {
    return Error{"user names are not allowed in a CONNECT target"};
  }
  if (target.find_first_of("/?#") != std::string_view::npos) {
    return Error{"a CONNECT target is host:port, without path, query or fragment"};
  }

  auto hp = split_host_port(target);
  if (!hp) return Error{"unexpected characters after the IPv6 address"};
  auto host = normalize_host(hp->host);
  if (!host) return host.error();
  if (!hp->port) return Error{"a CONNECT target needs a port (host:port)"};
  auto port = parse_port(*hp->port);
  if (!port) return port.error();
  return AuthorityTarget{std::move(host).value(), *port};
}

}  // namespace egressd::core
