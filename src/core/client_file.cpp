// Rules file names: which client a file in the rules folder belongs to, and which files
// are editor or package-manager debris to skip.
#include "core/client_file.hpp"

#include <array>
#include <cstddef>

namespace egressd::core {
namespace {

bool is_label_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '_' || c == '.';
}

std::optional<ClientFileName> make(std::string_view label, std::string_view address,
                                   IpAddress::Family family) {
  if (label.empty()) return std::nullopt;
  for (char c : label) {
    if (!is_label_char(c)) return std::nullopt;
  }
  auto ip = IpAddress::parse(address);
  if (!ip || ip->family() != family) return std::nullopt;
  return ClientFileName{std::string(label), *ip};
}

}  // namespace

std::optional<ClientFileName> parse_client_file_name(std::string_view file_name) {
  const std::size_t first_colon = file_name.find(':');
  if (first_colon != std::string_view::npos) {
    // IPv6: labels never contain ':' and an IPv6 address has no '.' before its first
    // ':', so the address starts right after the last '.' before the first ':'.
    const std::size_t dot = file_name.rfind('.', first_colon);
    if (dot == std::string_view::npos) return std::nullopt;
    return make(file_name.substr(0, dot), file_name.substr(dot + 1), IpAddress::Family::v6);
  }
  // IPv4: the address is the last four dot-separated parts, the label everything before.
  std::size_t split = file_name.size();
  for (int dots = 0; dots < 4; ++dots) {
    if (split == 0) return std::nullopt;
    split = file_name.rfind('.', split - 1);
    if (split == std::string_view::npos) return std::nullopt;
  }
  return make(file_name.substr(0, split), file_name.substr(split + 1), IpAddress::Family::v4);
}

bool is_ignored_file_name(std::string_view file_name) {
  if (file_name.empty()) return false;
  if (file_name.front() == '.') return true;   // hidden, including "." and ".."
  if (file_name.back() == '~') return true;    // emacs, vim, many others
  if (file_name.size() >= 2 && file_name.front() == '#' && file_name.back() == '#') {
    return true;  // emacs auto-save
  }
  static constexpr std::array<std::string_view, 5> kSuffixes = {
      ".swp", ".bak", ".tmp", ".rpmnew", ".rpmsave"};
  for (std::string_view suffix : kSuffixes) {
    if (file_name.size() > suffix.size() && file_name.ends_with(suffix)) return true;
  }
  // dpkg leaves "x.dpkg-old", "x.dpkg-dist", "x.dpkg-new", "x.dpkg-tmp", ...
  const std::size_t dpkg = file_name.rfind(".dpkg-");
  return dpkg != std::string_view::npos && dpkg > 0;
}

}  // namespace egressd::core
