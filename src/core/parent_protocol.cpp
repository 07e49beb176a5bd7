#include "core/parent_protocol.hpp"

namespace egressd::core {

namespace {

std::uint8_t byte_at(std::string_view bytes, std::size_t i) {
  return static_cast<std::uint8_t>(bytes[i]);
}

void append_port(std::string& out, std::uint16_t port) {
  out += static_cast<char>(port >> 8);
  out += static_cast<char>(port & 0xff);
}

// 4 bytes for IPv4, 16 for IPv6, in network order.
void append_address(std::string& out, const IpAddress& ip) {
  const auto& bytes = ip.bytes();
  for (std::size_t i = 0; i < (ip.is_v4() ? 4U : 16U); ++i) out += static_cast<char>(bytes[i]);
}

std::string hex(std::uint8_t value) {
  constexpr std::string_view kDigits = "0123456789abcdef";
  return std::string("0x") + kDigits[value >> 4] + kDigits[value & 0xf];
}

}  // namespace

std::string base64(std::string_view bytes) {
  constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const std::uint32_t v = (std::uint32_t{byte_at(bytes, i)} << 16) |
                            (std::uint32_t{byte_at(bytes, i + 1)} << 8) | byte_at(bytes, i + 2);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest > 0) {
    std::uint32_t v = std::uint32_t{byte_at(bytes, i)} << 16;
    if (rest == 2) v |= std::uint32_t{byte_at(bytes, i + 1)} << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string proxy_authorization(const ParentProxy& parent) {
  if (parent.kind != ParentKind::http || !parent.has_credentials()) return {};
  return "Basic " + base64(parent.username + ":" + parent.password);
}

std::string authority(const Host& host, std::uint16_t port) {
  const bool v6 = host.ip && host.ip->is_v6();
  return (v6 ? "[" + host.name + "]" : host.name) + ":" + std::to_string(port);
}

std::string http_connect_request(const ParentProxy& parent, const Host& host, std::uint16_t port) {
  const std::string target = authority(host, port);
  std::string out = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n";
  if (const std::string credentials = proxy_authorization(parent); !credentials.empty()) {
    out += "Proxy-Authorization: " + credentials + "\r\n";
  }
  out += "\r\n";
  return out;
}

std::string credentials_refusal(const ParentProxy& parent, std::string_view status_text) {
  std::string out = parent.title() + " asks for credentials (" + std::string(status_text) + "): ";
  if (parent.has_credentials()) {
    out += "it refused the configured username and password";
  } else {
    out += "set username and password in [upstreams." + parent.name + "]";
  }
  return out;
}

// ---- SOCKS5 -------------------------------------------------------------------------

std::string socks5_greeting(const ParentProxy& parent) {
  std::string out{'\x05'};
  if (parent.has_credentials()) {
    out += '\x02';
    out += static_cast<char>(kSocks5NoAuth);
    out += static_cast<char>(kSocks5UserPass);
  } else {
    out += '\x01';
    out += static_cast<char>(kSocks5NoAuth);
  }
  return out;
}

std::string socks5_credentials(const ParentProxy& parent) {
  std::string out{'\x01'};
  out += static_cast<char>(parent.username.size());
  out += parent.username;
  out += static_cast<char>(parent.password.size());
  out += parent.password;
  return out;
}

std::string socks5_connect(const Host& host, std::uint16_t port) {
  std::string out{'\x05', '\x01', '\x00'};
  if (host.ip && host.ip->is_v4()) {
    out += '\x01';
    append_address(out, *host.ip);
  } else if (host.ip) {
    out += '\x04';
    append_address(out, *host.ip);
  } else {
    out += '\x03';
    out += static_cast<char>(host.name.size());  // at most 253 (normalize_host)
    out += host.name;
  }
  append_port(out, port);
  return out;
}

Result<std::uint8_t> socks5_method(std::string_view reply, const ParentProxy& parent) {
  if (reply.size() != 2 || byte_at(reply, 0) != 5) {
    return Error{"it does not speak SOCKS5 (unexpected answer to the greeting)"};
  }
  const std::uint8_t method = byte_at(reply, 1);
  if (method == kSocks5NoAuth) return method;
  if (method == kSocks5UserPass && parent.has_credentials()) return method;
  if (method == 0xff) {
    return Error{parent.has_credentials()
                     ? "it accepts neither no authentication nor username/password"
                     : "it wants authentication, and no username and password are configured"};
  }
  return Error{"it chose authentication method " + hex(method) + ", which was not offered"};
}

std::optional<std::string> socks5_credentials_problem(std::string_view reply) {
  if (reply.size() != 2 || byte_at(reply, 0) != 1) {
    return "unexpected answer to the username and password";
  }
  if (byte_at(reply, 1) != 0) return "it refused the username and password";
  return std::nullopt;
}

Result<std::size_t> socks5_reply_length(std::string_view first5) {
  if (first5.size() < 5 || byte_at(first5, 0) != 5 || byte_at(first5, 2) != 0) {
    return Error{"it does not speak SOCKS5 (unexpected answer to CONNECT)"};
  }
  switch (byte_at(first5, 3)) {
    case 1:
      return std::size_t{4 + 4 + 2};
    case 4:
      return std::size_t{4 + 16 + 2};
    case 3:
      return std::size_t{4 + 1} + byte_at(first5, 4) + 2;
    default:
      return Error{"its answer to CONNECT has an unknown address type " + hex(byte_at(first5, 3))};
  }
}

std::optional<std::string> socks5_reply_problem(std::string_view reply) {
  if (reply.size() < 2 || byte_at(reply, 0) != 5) return "unexpected answer to CONNECT";
  switch (byte_at(reply, 1)) {
    case 0x00:
      return std::nullopt;
    case 0x01:
      return "general SOCKS server failure";
    case 0x02:
      return "connection not allowed by its rules";
    case 0x03:
      return "network unreachable";
    case 0x04:
      return "host unreachable";
    case 0x05:
      return "connection refused";
    case 0x06:
      return "TTL expired";
    case 0x07:
      return "command not supported";
    case 0x08:
      return "address type not supported";
    default:
      return "unknown SOCKS5 reply " + hex(byte_at(reply, 1));
  }
}

bool socks5_refused_by_rules(std::string_view reply) {
  return reply.size() >= 2 && byte_at(reply, 0) == 5 && byte_at(reply, 1) == 0x02;
}

// ---- SOCKS4a ------------------------------------------------------------------------

Result<std::string> socks4a_connect(const ParentProxy& parent, const Host& host,
                                    std::uint16_t port) {
  if (host.ip && host.ip->is_v6()) {
    return Error{"SOCKS4a cannot carry an IPv6 address"};
  }
  std::string out{'\x04', '\x01'};
  append_port(out, port);
  if (host.ip) {
    append_address(out, *host.ip);
  } else {
    out.append({'\x00', '\x00', '\x00', '\x01'});  // 0.0.0.1: the name follows
  }
  out += parent.username;
  out += '\0';
  if (!host.ip) {
    out += host.name;
    out += '\0';
  }
  return out;
}

std::optional<std::string> socks4_reply_problem(std::string_view reply) {
  if (reply.size() != kSocks4ReplyLength || byte_at(reply, 0) != 0) {
    return "it does not speak SOCKS4 (unexpected answer to CONNECT)";
  }
  switch (byte_at(reply, 1)) {
    case 0x5a:
      return std::nullopt;
    case 0x5b:
      return "request rejected or failed";
    case 0x5c:
      return "request rejected: it cannot reach the identd of egressd's host";
    case 0x5d:
      return "request rejected: the user id did not match identd's answer";
    default:
      return "unknown SOCKS4 reply " + hex(byte_at(reply, 1));
  }
}

}  // namespace egressd::core
