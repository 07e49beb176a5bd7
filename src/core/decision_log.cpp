// The key=value line logged for every decision, quoted so that it always parses back.
#include "core/decision_log.hpp"

#include <algorithm>

namespace egressd::core {

namespace {

// Outside printable ASCII; such bytes are escaped so a log line stays one ASCII line.
bool needs_escape(unsigned char byte) {
  return byte < 0x20 || byte >= 0x7f;
}

}  // namespace

std::string log_value(std::string_view value) {
  const bool plain = !value.empty() && std::none_of(value.begin(), value.end(), [](char c) {
    return c == ' ' || c == '"' || c == '=' || c == '\\' ||
           needs_escape(static_cast<unsigned char>(c));
  });
  if (plain) return std::string(value);

  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (needs_escape(byte)) {
      out += "\\x";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string format_decision_log(const IpAddress& client, std::string_view method,
                                std::string_view host, std::uint16_t port,
                                const Decision& decision) {
  std::string out = "decision client=";
  if (decision.client == nullptr) {
    out += '-';
  } else if (decision.client->label == "-") {
    out += "\"-\"";  // a real label, not the unknown-client marker
  } else {
    out += log_value(decision.client->label);
  }
  out += " addr=" + log_value(client.to_string());
  out += " method=" + log_value(method);
  out += " host=" + log_value(host);
  out += " port=" + std::to_string(port);
  out += " verdict=";
  out += decision.allowed() ? "allow" : "deny";
  out += " reason=";
  out += reason_code(decision.reason);
  if (decision.rule != nullptr && decision.client != nullptr) {
    out += " rule=" +
           log_value(decision.client->rules_path + ":" + std::to_string(decision.rule->line));
  }
  return out;
}

}  // namespace egressd::core
