// Header rules for relaying HTTP/1.x messages: hop-by-hop removal, Via, framing checks.
#include "io/http_headers.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <vector>

namespace egressd::io {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Splits a comma-separated field value into trimmed, non-empty elements.
std::vector<std::string> split_list(std::string_view value) {
  std::vector<std::string> out;
  while (!value.empty()) {
    const auto comma = value.find(',');
    const auto item = trim(value.substr(0, comma));
    if (!item.empty()) out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace

void strip_hop_by_hop(http::fields& fields) {
  std::vector<std::string> named;
  for (auto it = fields.find(http::field::connection); it != fields.end() &&
                                                       it->name() == http::field::connection;
       ++it) {
    for (auto& token : split_list(it->value())) named.push_back(std::move(token));
  }
  for (const auto& name : named) fields.erase(name);

  static constexpr std::array kHopByHop = {
      http::field::connection,         http::field::keep_alive,
      http::field::proxy_connection,   http::field::proxy_authenticate,
      http::field::proxy_authorization, http::field::te,
      http::field::trailer,            http::field::transfer_encoding,
      http::field::upgrade,
  };
  for (const auto f : kHopByHop) fields.erase(f);
}

void append_via(http::fields& fields, unsigned version, std::string_view via_name) {
  std::string entry = std::to_string(version / 10) + "." + std::to_string(version % 10) + " ";
  entry.append(via_name);
  std::string value;
  for (auto it = fields.find(http::field::via);
       it != fields.end() && it->name() == http::field::via; ++it) {
    if (!value.empty()) value += ", ";
    value.append(it->value());
  }
  if (!value.empty()) value += ", ";
  value += entry;
  fields.set(http::field::via, value);
}

std::string framing_problem(const http::fields& fields) {
  const auto cl_count = fields.count(http::field::content_length);
  const auto te_count = fields.count(http::field::transfer_encoding);
  if (cl_count > 0 && te_count > 0) return "Transfer-Encoding together with Content-Length";
  if (cl_count > 1) return "more than one Content-Length";
  if (cl_count == 1) {
    const auto value = trim(fields[http::field::content_length]);
    if (value.empty() ||
        !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return "invalid Content-Length";
    }
  }
  if (te_count > 1) return "more than one Transfer-Encoding";
  if (te_count == 1 && !iequals(trim(fields[http::field::transfer_encoding]), "chunked")) {
    return "a Transfer-Encoding other than chunked";
  }
  return {};
}

bool has_obs_fold(std::string_view head) {
  for (auto pos = head.find("\r\n"); pos != std::string_view::npos;
       pos = head.find("\r\n", pos + 2)) {
    if (pos + 2 < head.size() && (head[pos + 2] == ' ' || head[pos + 2] == '\t')) return true;
  }
  return false;
}

bool expects_continue(const http::fields& fields) {
  const auto it = fields.find(http::field::expect);
  return it != fields.end() && iequals(trim(it->value()), "100-continue");
}

}  // namespace egressd::io
