// Parsing `ip -json route` into address -> vif interface.
#include "ctl/routes.hpp"

#include <nlohmann/json.hpp>

#include "core/ip_address.hpp"

namespace egressd::ctl {
namespace {

// "10.137.0.12", "10.137.0.12/32", "fd09::12/128" -> the canonical address; a wider prefix
// or anything else -> empty.
std::string host_address(std::string_view dst) {
  std::string_view address = dst;
  std::string_view prefix;
  if (auto slash = dst.find('/'); slash != std::string_view::npos) {
    address = dst.substr(0, slash);
    prefix = dst.substr(slash + 1);
  }
  auto ip = core::IpAddress::parse(address);
  if (!ip) return {};
  if (!prefix.empty() && prefix != (ip->is_v4() ? "32" : "128")) return {};
  return ip->to_string();
}

}  // namespace

core::Result<VifRoutes> parse_vif_routes(std::string_view ip_json) {
  auto routes = nlohmann::json::parse(ip_json, nullptr, /*allow_exceptions=*/false);
  if (routes.is_discarded() || !routes.is_array()) {
    return core::Error{"the output of `ip -json route` is not a JSON array"};
  }
  VifRoutes result;
  for (const auto& route : routes) {
    if (!route.is_object()) continue;
    auto dst = route.find("dst");
    auto dev = route.find("dev");
    if (dst == route.end() || dev == route.end() || !dst->is_string() || !dev->is_string()) {
      continue;
    }
    const auto& device = dev->get_ref<const std::string&>();
    if (device.rfind("vif", 0) != 0) continue;
    std::string address = host_address(dst->get_ref<const std::string&>());
    if (address.empty()) continue;
    result.emplace(std::move(address), device);
  }
  return result;
}

void merge_vif_routes(VifRoutes& routes, const VifRoutes& more) {
  for (const auto& [address, device] : more) routes.emplace(address, device);
}

}  // namespace egressd::ctl
