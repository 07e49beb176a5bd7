// Rules file names: "<label>.<ip>" says which client a file belongs to.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/ip_address.hpp"

namespace egressd::core {

struct ClientFileName {
  std::string label;
  IpAddress address;
};

// Splits a file name (no directory part) of the form "<label>.<ipv4>" or
// "<label>.<ipv6>" (e.g. "work.10.137.0.12", "work.fd00::12"). The label is non-empty
// and made of ASCII letters, digits, '-', '_' and '.'; the address must be a canonical
// literal (IpAddress::parse). Returns nullopt for any other name.
std::optional<ClientFileName> parse_client_file_name(std::string_view file_name);

// True for names a rules folder may hold that are not rules files and are skipped
// without comment: hidden files and editor or package-manager leftovers
// (".x", "x~", "#x#", "x.swp", "x.bak", "x.tmp", "x.dpkg-*", "x.rpmnew", "x.rpmsave").
bool is_ignored_file_name(std::string_view file_name);

}  // namespace egressd::core
