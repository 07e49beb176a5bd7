// The one-line, key=value record of every decision (the timestamp is added by the logger).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/ip_address.hpp"
#include "core/policy.hpp"

namespace egressd::core {

// "decision client=work addr=127.0.0.2 method=GET host=example.com port=80 verdict=allow
//  reason=allow-rule rule=/etc/egressd/rules/work.127.0.0.2:3"
// An unknown client is logged as client=-. Values containing spaces, quotes, '=' or
// control characters are double-quoted with \" \\ and \xNN escapes, so a line always
// parses back into the same fields.
std::string format_decision_log(const IpAddress& client, std::string_view method,
                                std::string_view host, std::uint16_t port,
                                const Decision& decision);

// Quotes a value for a key=value log line when needed (see above).
std::string log_value(std::string_view value);

}  // namespace egressd::core
