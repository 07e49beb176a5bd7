// Merging `show` with the route table and laying it out as a table.
#include "ctl/show_table.hpp"

#include <algorithm>
#include <array>
#include <set>

#include "core/ip_address.hpp"

namespace egressd::ctl {
namespace {

using nlohmann::json;

std::string canonical_address(const std::string& text) {
  auto ip = core::IpAddress::parse(text);
  return ip ? ip->unmapped().to_string() : text;
}

std::string printable(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) c = '?';
  }
  return out;
}

// A string field as shown: the string, a number as decimal, anything else "-".
std::string cell(const json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return "-";
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    return s.empty() ? "-" : printable(s);
  }
  if (it->is_number_integer() || it->is_number_unsigned()) return it->dump();
  if (it->is_boolean()) return it->get<bool>() ? "yes" : "no";
  return "-";
}

}  // namespace

json merge_show_with_routes(const json& show_answer, const VifRoutes* routes) {
  json merged = show_answer;
  std::set<std::string> listed;
  auto clients = merged.find("clients");
  if (clients != merged.end() && clients->is_array()) {
    for (auto& client : *clients) {
      if (!client.is_object()) continue;
      auto address = client.find("address");
      std::string canonical;
      if (address != client.end() && address->is_string()) {
        canonical = canonical_address(address->get<std::string>());
        listed.insert(canonical);
      }
      if (routes == nullptr) {
        client["interface"] = nullptr;
        client["connected"] = nullptr;
        continue;
      }
      auto route = routes->find(canonical);
      if (route != routes->end()) {
        client["interface"] = route->second;
        client["connected"] = true;
      } else {
        client["interface"] = nullptr;
        client["connected"] = false;
      }
    }
  }
  json unlisted = json::array();
  if (routes != nullptr) {
    for (const auto& [address, device] : *routes) {
      if (!listed.contains(address)) {
        unlisted.push_back({{"address", address}, {"interface", device}});
      }
    }
  }
  merged["unlisted_vif_routes"] = std::move(unlisted);
  return merged;
}

std::vector<ShowRow> show_rows(const json& merged) {
  std::vector<ShowRow> rows;
  auto clients = merged.find("clients");
  if (clients != merged.end() && clients->is_array()) {
    for (const auto& client : *clients) {
      if (!client.is_object()) continue;
      ShowRow row;
      row.label = cell(client, "label");
      row.address = cell(client, "address");
      row.interface = cell(client, "interface");
      auto connected = client.find("connected");
      row.connected = connected == client.end() || !connected->is_boolean()
                          ? "?"
                          : (connected->get<bool>() ? "yes" : "no");
      row.state = cell(client, "state");
      // Loud on purpose: a learning client gets what its rules deny.
      if (row.state == "serving" && client.value("learning", false)) row.state = "LEARNING";
      row.connections = cell(client, "active_connections");
      row.allowed = cell(client, "allowed");
      row.denied = cell(client, "denied");
      row.last_denied = cell(client, "last_denied_host");
      rows.push_back(std::move(row));
    }
  }
  auto unlisted = merged.find("unlisted_vif_routes");
  if (unlisted != merged.end() && unlisted->is_array()) {
    for (const auto& route : *unlisted) {
      if (!route.is_object()) continue;
      rows.push_back(ShowRow{"-", cell(route, "address"), cell(route, "interface"), "yes", "-",
                             "-", "-", "-", "-"});
    }
  }
  return rows;
}

std::string format_show_table(const std::vector<ShowRow>& rows) {
  constexpr std::size_t kColumns = 9;
  constexpr std::array<const char*, kColumns> kHeader{
      "LABEL", "ADDRESS", "INTERFACE", "CONNECTED", "STATE", "CONNS", "ALLOWED", "DENIED",
      "LAST-DENIED"};
  constexpr std::array<bool, kColumns> kRightAligned{false, false, false, false, false,
                                                     true,  true,  true,  false};
  auto cells = [](const ShowRow& r) {
    return std::array<const std::string*, kColumns>{&r.label,       &r.address, &r.interface,
                                                    &r.connected,   &r.state,   &r.connections,
                                                    &r.allowed,     &r.denied,  &r.last_denied};
  };
  std::array<std::size_t, kColumns> width{};
  for (std::size_t c = 0; c < kColumns; ++c) width[c] = std::string_view(kHeader[c]).size();
  for (const auto& row : rows) {
    auto r = cells(row);
    for (std::size_t c = 0; c < kColumns; ++c) width[c] = std::max(width[c], r[c]->size());
  }

  std::string out;
  auto emit = [&](const std::array<std::string_view, kColumns>& line) {
    std::string text;
    for (std::size_t c = 0; c < kColumns; ++c) {
      if (c > 0) text += "  ";
      std::size_t pad = width[c] - line[c].size();
      if (kRightAligned[c]) text.append(pad, ' ');
      text += line[c];
      if (!kRightAligned[c]) text.append(pad, ' ');
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out += text;
    out += '\n';
  };
  std::array<std::string_view, kColumns> header{};
  for (std::size_t c = 0; c < kColumns; ++c) header[c] = kHeader[c];
  emit(header);
  for (const auto& row : rows) {
    auto r = cells(row);
    std::array<std::string_view, kColumns> line{};
    for (std::size_t c = 0; c < kColumns; ++c) line[c] = *r[c];
    emit(line);
  }
  return out;
}

std::string format_show_notes(const nlohmann::json& merged) {
  std::string out;
  const auto clients = merged.find("clients");
  if (clients == merged.end() || !clients->is_array()) return out;
  for (const auto& client : *clients) {
    if (!client.is_object()) continue;
    const auto errors = client.find("rules_errors");
    if (errors == client.end() || !errors->is_array() || errors->empty()) continue;
    const std::string state = cell(client, "rules_state");
    out += cell(client, "label") + ": ";
    out += state == "previous" ? "its rules file has errors; the rules loaded before stay in force"
                               : "its rules file has errors and never loaded; nothing is allowed";
    out += ":\n";
    for (const auto& e : *errors) {
      if (e.is_string()) out += "  " + printable(e.get<std::string>()) + "\n";
    }
  }
  return out;
}

}  // namespace egressd::ctl
