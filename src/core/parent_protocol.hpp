// What egressd says to a parent proxy and how it reads the answers, as bytes: the HTTP
// CONNECT request and Basic credentials, the SOCKS5 (RFC 1928, RFC 1929) and SOCKS4a
// messages. No I/O here: io/parent_connect sends and receives them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/host.hpp"
#include "core/parent_proxy.hpp"

namespace egressd::core {

// Standard base64 (RFC 4648, with padding).
std::string base64(std::string_view bytes);

// "Basic <base64(user:password)>" for an HTTP parent with credentials, "" otherwise.
std::string proxy_authorization(const ParentProxy& parent);

// "HOST:PORT" as a request target and Host value ("[v6]:PORT" for IPv6).
std::string authority(const Host& host, std::uint16_t port);

// The CONNECT request that opens a tunnel to host:port through an HTTP parent, with
// Proxy-Authorization when the parent has credentials.
std::string http_connect_request(const ParentProxy& parent, const Host& host, std::uint16_t port);

// Why a parent that answered 407 (`status_text`, e.g. "407 Proxy Authentication
// Required") did not take the request: its credentials were refused, or none are set.
std::string credentials_refusal(const ParentProxy& parent, std::string_view status_text);

// ---- SOCKS5 -------------------------------------------------------------------------

// The greeting: "no authentication", plus "username/password" when the parent has
// credentials.
std::string socks5_greeting(const ParentProxy& parent);
// The username/password sub-negotiation (RFC 1929).
std::string socks5_credentials(const ParentProxy& parent);
// CONNECT to host:port: a name as a name (the parent resolves it), an IP literal as an
// address.
std::string socks5_connect(const Host& host, std::uint16_t port);

constexpr std::uint8_t kSocks5NoAuth = 0x00;
constexpr std::uint8_t kSocks5UserPass = 0x02;

// Reads the server's method choice (2 bytes). The chosen method, or what is wrong.
Result<std::uint8_t> socks5_method(std::string_view reply, const ParentProxy& parent);
// Reads the answer to the credentials (2 bytes). nullopt: accepted.
std::optional<std::string> socks5_credentials_problem(std::string_view reply);
// The length of the whole CONNECT reply, known from its first 5 bytes; an error when
// those do not start a SOCKS5 reply.
Result<std::size_t> socks5_reply_length(std::string_view first5);
// The CONNECT reply (whole). nullopt: the tunnel is open; otherwise why not, in words
// (RFC 1928's reply codes).
std::optional<std::string> socks5_reply_problem(std::string_view reply);
// Whether a refused SOCKS CONNECT says the rules of the parent forbid it (reply 0x02),
// rather than that the destination could not be reached.
bool socks5_refused_by_rules(std::string_view reply);

// ---- SOCKS4a ------------------------------------------------------------------------

// CONNECT to host:port with the parent's username as user id: an IPv4 literal as an
// address, a name for the parent to resolve. An IPv6 literal cannot be sent (error).
Result<std::string> socks4a_connect(const ParentProxy& parent, const Host& host,
                                    std::uint16_t port);
constexpr std::size_t kSocks4ReplyLength = 8;
// The reply (8 bytes). nullopt: granted.
std::optional<std::string> socks4_reply_problem(std::string_view reply);

}  // namespace egressd::core
