// A small cache of name lookups (see dns_cache.hpp).
#include "core/dns_cache.hpp"

#include <algorithm>

namespace egressd::core {

std::optional<std::vector<IpAddress>> DnsCache::find(const std::string& name, Time now) {
  const auto it = entries_.find(name);
  if (it == entries_.end()) return std::nullopt;
  if (it->second.expires <= now) {
    entries_.erase(it);
    return std::nullopt;
  }
  return it->second.addresses;
}

void DnsCache::insert(std::string_view name, std::vector<IpAddress> addresses,
                      std::chrono::seconds ttl, Time now) {
  const auto keep = std::min(ttl, max_ttl_);
  if (keep <= std::chrono::seconds::zero() || addresses.empty() || capacity_ == 0) return;
  std::string key(name);
  if (entries_.size() >= capacity_ && !entries_.contains(key)) {
    std::erase_if(entries_, [now](const auto& entry) { return entry.second.expires <= now; });
    if (entries_.size() >= capacity_) entries_.clear();
  }
  entries_.insert_or_assign(std::move(key), Entry{std::move(addresses), now + keep});
}

}  // namespace egressd::core
