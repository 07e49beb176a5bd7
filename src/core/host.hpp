// Host name normalisation: the one place where a client-supplied host becomes the name
// that rules see and that is later resolved and contacted.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/ip_address.hpp"
#include "core/result.hpp"

namespace egressd::core {

// A normalised host: `name` is what rules match and what the resolver is asked for.
// For IP literals `name` is the canonical text of `ip` (IPv6 without brackets).
struct Host {
  std::string name;
  std::optional<IpAddress> ip;

  bool is_ip() const { return ip.has_value(); }
  friend bool operator==(const Host&, const Host&) = default;
};

// Normalises the host part of a URI authority or CONNECT target.
// Accepts:
//  - a DNS name: ASCII letters, digits, '-' and '_' in dot-separated labels of 1..63
//    characters, at most 253 characters in all after removing one trailing dot;
//    lower-cased. A label may not start or end with '-'.
//  - an IPv4 literal in canonical dotted-quad form;
//  - an IPv6 literal in brackets ("[::1]"), returned without brackets in RFC 5952 form.
// Rejects (Error with a short reason suitable for a 400 page): empty input, empty labels
// (".", "a..b"), more than one trailing dot, percent-encoding, non-ASCII or control
// characters, spaces, userinfo, IPv6 without brackets or with a zone id, and every name
// whose last label is all digits or starts with "0x" (numeric IPv4 tricks such as
// "2130706433", "127.1", "0x7f.1", "017700000001", "1.2.3.04").
Result<Host> normalize_host(std::string_view raw);

}  // namespace egressd::core
