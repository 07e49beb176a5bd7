// Classification and parsing of HTTP request targets (RFC 9112 section 3.2).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/host.hpp"
#include "core/result.hpp"

namespace egressd::core {

enum class TargetForm { origin, absolute, authority, asterisk, invalid };

// Classifies a request target by its shape alone: "/..." is origin-form, "*" asterisk,
// "scheme://..." absolute-form, "host:port" authority-form. Anything else is invalid.
TargetForm classify_target(std::string_view target);

// An absolute-form target, split and normalised.
struct AbsoluteTarget {
  std::string scheme;  // lower case; only "http" is accepted
  Host host;
  std::uint16_t port = 80;        // explicit port or the scheme's default
  bool port_explicit = false;
  std::string origin_form;        // path and query as sent upstream, "/" when empty

  // The Host header value to send upstream: name, "[v6]" for IPv6, ":port" when not 80.
  std::string host_header() const;
};

// Parses "http://host[:port][/path][?query]".
// Errors: a scheme other than http (https in absolute-form is refused: clients must use
// CONNECT), userinfo ("user@host"), a fragment, an invalid host (see normalize_host),
// an empty, non-numeric, zero-padded, zero or > 65535 port, characters not allowed in a
// URI (anything but visible ASCII). The path and query are kept byte for byte.
Result<AbsoluteTarget> parse_absolute_target(std::string_view target);

// A CONNECT target.
struct AuthorityTarget {
  Host host;
  std::uint16_t port = 0;
};

// Parses "host:port" / "[v6]:port" as sent with CONNECT. The port is required, 1..65535,
// in decimal digits without sign or leading zeros.
Result<AuthorityTarget> parse_authority_target(std::string_view target);

}  // namespace egressd::core
