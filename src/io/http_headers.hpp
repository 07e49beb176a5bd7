// Header rules for relaying HTTP/1.x messages: hop-by-hop removal, Via, framing checks.
#pragma once

#include <string>
#include <string_view>

#include "io/asio.hpp"

namespace egressd::io {

// Removes the hop-by-hop fields of RFC 9110 §7.6.1 (Connection, Keep-Alive,
// Proxy-Connection, Proxy-Authenticate, Proxy-Authorization, TE, Trailer,
// Transfer-Encoding, Upgrade) and every field named in a Connection header.
// Framing is re-established by the caller from what the parser learnt.
void strip_hop_by_hop(http::fields& fields);

// Appends "<major>.<minor> <via_name>" to the Via field (one comma-separated list).
void append_via(http::fields& fields, unsigned version, std::string_view via_name);

// Checks the framing fields of a message before anything is relayed. Returns an empty
// string when the framing is unambiguous; otherwise why it is refused: Transfer-Encoding
// together with Content-Length, more than one Content-Length (or a list value), or a
// Transfer-Encoding other than exactly "chunked".
std::string framing_problem(const http::fields& fields);

// True when a raw message head (start line and fields, without the final empty line)
// continues a field value on the next line (obsolete line folding, RFC 9112 §5.2).
// Beast would join such lines silently; a proxy must not pass on what another parser
// could read differently.
bool has_obs_fold(std::string_view head);

// True when the Expect field asks for 100-continue.
bool expects_continue(const http::fields& fields);

}  // namespace egressd::io
