// Reading the host's interface addresses with getifaddrs.
#include "io/local_addresses.hpp"

#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace egressd::io {

std::vector<core::IpAddress> read_local_addresses(std::string& error) {
  std::vector<core::IpAddress> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) {
    error = std::generic_category().message(errno);
    return out;
  }
  for (const ifaddrs* entry = list; entry != nullptr; entry = entry->ifa_next) {
    const sockaddr* address = entry->ifa_addr;
    if (address == nullptr) continue;
    if (address->sa_family == AF_INET) {
      sockaddr_in in{};
      std::memcpy(&in, address, sizeof in);
      std::array<std::uint8_t, 4> bytes{};
      std::memcpy(bytes.data(), &in.sin_addr, 4);
      out.push_back(core::IpAddress::v4(bytes));
    } else if (address->sa_family == AF_INET6) {
      sockaddr_in6 in6{};
      std::memcpy(&in6, address, sizeof in6);
      std::array<std::uint8_t, 16> bytes{};
      std::memcpy(bytes.data(), &in6.sin6_addr, 16);
      out.push_back(core::IpAddress::v6(bytes).unmapped());
    }
  }
  ::freeifaddrs(list);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace egressd::io
