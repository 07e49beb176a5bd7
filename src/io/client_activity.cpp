// Per-worker client bookkeeping and the shared client sets (stopped, learning).
#include "io/client_activity.hpp"

#include <algorithm>

namespace egressd::io {

void ClientStats::merge(const ClientStats& other) {
  active_connections += other.active_connections;
  allowed += other.allowed;
  denied += other.denied;
  if (other.last_denied && (!last_denied || *other.last_denied > *last_denied)) {
    last_denied = other.last_denied;
    last_denied_host = other.last_denied_host;
  }
  if (other.last_seen && (!last_seen || *other.last_seen > *last_seen)) {
    last_seen = other.last_seen;
  }
}

ClientActivity::Entry& ClientActivity::entry(const core::IpAddress& client) {
  auto it = clients_.find(client);
  if (it != clients_.end()) return it->second;
  forget_oldest_idle();
  return clients_[client];
}

void ClientActivity::forget_oldest_idle() {
  std::size_t idle = 0;
  auto oldest = clients_.end();
  for (auto it = clients_.begin(); it != clients_.end(); ++it) {
    if (!it->second.connections.empty()) continue;
    ++idle;
    if (oldest == clients_.end() || it->second.stats.last_seen < oldest->second.stats.last_seen) {
      oldest = it;
    }
  }
  if (idle >= max_idle_clients_ && oldest != clients_.end()) clients_.erase(oldest);
}

void ClientActivity::connection_opened(const core::IpAddress& client, Abortable& connection,
                                       SystemTime now) {
  Entry& e = entry(client);
  e.connections.insert(&connection);
  e.stats.last_seen = now;
}

void ClientActivity::connection_closed(const core::IpAddress& client, Abortable& connection) {
  const auto it = clients_.find(client);
  if (it != clients_.end()) it->second.connections.erase(&connection);
}

void ClientActivity::record_decision(const core::IpAddress& client, bool allowed,
                                     std::string_view host, std::uint16_t port,
                                     bool is_connect, SystemTime now) {
  Entry& e = entry(client);
  e.stats.last_seen = now;
  if (allowed) {
    ++e.stats.allowed;
    return;
  }
  ++e.stats.denied;
  e.stats.last_denied_host.assign(host);
  e.stats.last_denied = now;
  if (denied_capacity_ == 0) return;
  DeniedRequest record{client, std::string(host), port, is_connect, now};
  if (denied_.size() < denied_capacity_) {
    denied_.push_back(std::move(record));
  } else {
    denied_[denied_next_] = std::move(record);
    denied_next_ = (denied_next_ + 1) % denied_capacity_;
  }
}

std::vector<DeniedRequest> ClientActivity::denied(const core::IpAddress& client,
                                                  std::optional<SystemTime> since) const {
  std::vector<DeniedRequest> out;
  // Once full, the oldest entry is the one the next refusal overwrites.
  for (std::size_t i = 0; i < denied_.size(); ++i) {
    const DeniedRequest& d = denied_[(denied_next_ + i) % denied_.size()];
    if (d.client == client && (!since || d.time >= *since)) out.push_back(d);
  }
  return out;
}

void ClientActivity::record_learned(const core::IpAddress& client, std::string_view host,
                                    std::uint16_t port, bool is_connect) {
  Learned& learned = learned_[client];
  std::string key = is_connect ? "C " : "H ";
  key += host;
  key += ' ';
  key += std::to_string(port);
  auto it = learned.requests.find(key);
  if (it == learned.requests.end()) {
    if (learned.requests.size() >= kLearnedPerClient) {
      ++learned.dropped;
      return;
    }
    it = learned.requests
             .emplace(std::move(key), LearnedRequest{std::string(host), port, is_connect, 0})
             .first;
  }
  ++it->second.count;
}

std::vector<LearnedRequest> ClientActivity::learned(const core::IpAddress& client) const {
  std::vector<LearnedRequest> out;
  const auto it = learned_.find(client);
  if (it == learned_.end()) return out;
  for (const auto& [key, request] : it->second.requests) out.push_back(request);
  return out;
}

std::uint64_t ClientActivity::learned_dropped(const core::IpAddress& client) const {
  const auto it = learned_.find(client);
  return it == learned_.end() ? 0 : it->second.dropped;
}

void ClientActivity::clear_learned(const core::IpAddress& client) { learned_.erase(client); }

namespace {

// abort() must not change the set while we walk it, but copying first makes that moot.
std::size_t abort_each(const std::unordered_set<Abortable*>& connections) {
  const std::vector<Abortable*> copy(connections.begin(), connections.end());
  for (Abortable* connection : copy) connection->abort();
  return copy.size();
}

}  // namespace

std::size_t ClientActivity::abort_client(const core::IpAddress& client) {
  const auto it = clients_.find(client);
  if (it == clients_.end()) return 0;
  return abort_each(it->second.connections);
}

std::size_t ClientActivity::abort_all() {
  std::vector<Abortable*> all;
  for (const auto& [address, e] : clients_)
    all.insert(all.end(), e.connections.begin(), e.connections.end());
  for (Abortable* connection : all) connection->abort();
  return all.size();
}

std::size_t ClientActivity::abort_not_allowed(const core::PolicySnapshot& snapshot) {
  std::vector<Abortable*> denied;
  for (const auto& [address, e] : clients_) {
    for (Abortable* connection : e.connections) {
      if (!connection->allowed_under(snapshot)) denied.push_back(connection);
    }
  }
  for (Abortable* connection : denied) connection->abort();
  return denied.size();
}

std::unordered_map<core::IpAddress, ClientStats> ClientActivity::stats() const {
  std::unordered_map<core::IpAddress, ClientStats> out;
  out.reserve(clients_.size());
  for (const auto& [address, e] : clients_) {
    ClientStats s = e.stats;
    s.active_connections = e.connections.size();
    out.emplace(address, std::move(s));
  }
  return out;
}

void ClientSet::set(const std::vector<core::IpAddress>& clients, bool in) {
  const std::lock_guard<std::mutex> lock(writer_);
  auto next = std::make_shared<Set>(*current());
  for (const auto& client : clients) {
    if (in) {
      next->insert(client);
    } else {
      next->erase(client);
    }
  }
  set_.store(std::move(next), std::memory_order_release);
}

}  // namespace egressd::io
