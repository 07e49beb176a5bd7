// A worker's idle origin connections (see origin_pool.hpp).
#include "io/origin_pool.hpp"

#include <sys/socket.h>

#include <cerrno>

#include "io/upstream.hpp"

namespace egressd::io {
namespace {

// Whether a kept connection can carry another request: the origin has not closed it, not
// reset it and not sent anything (what an idle origin sends is no answer to a request not
// yet made). Does not block and consumes nothing.
bool still_quiet(tcp::socket& socket) {
  char byte = 0;
  const auto n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

OriginPool::OriginPool(const asio::any_io_executor& executor, Limits limits)
    : limits_(limits), timer_(executor) {}

std::string OriginPool::key(const core::IpAddress& client, std::string_view host,
                            std::uint16_t port) {
  std::string k;
  k.reserve(client.bytes().size() + host.size() + 4);
  k.append(reinterpret_cast<const char*>(client.bytes().data()), client.bytes().size());
  k.push_back(client.is_v4() ? '4' : '6');
  k.push_back(static_cast<char>(port >> 8));
  k.push_back(static_cast<char>(port & 0xff));
  k.append(host);
  return k;
}

void OriginPool::put(const core::IpAddress& client, std::string_view host, std::uint16_t port,
                     tcp::socket socket, const tcp::endpoint& peer) {
  error_code ignored;
  if (size_ >= limits_.max_idle || limits_.idle <= std::chrono::steady_clock::duration::zero()) {
    socket.close(ignored);
    return;
  }
  auto& queue = kept_[key(client, host, port)];
  if (queue.size() >= limits_.max_per_origin) {
    socket.close(ignored);
    return;
  }
  queue.push_back(Entry{std::move(socket), peer, std::chrono::steady_clock::now()});
  ++size_;
  schedule_expiry();
}

std::optional<tcp::socket> OriginPool::take(const core::IpAddress& client, std::string_view host,
                                            std::uint16_t port,
                                            const core::DestinationRules& destinations,
                                            tcp::endpoint& peer) {
  if (size_ == 0) return std::nullopt;
  const auto it = kept_.find(key(client, host, port));
  if (it == kept_.end()) return std::nullopt;
  auto& queue = it->second;
  const auto deadline = std::chrono::steady_clock::now() - limits_.idle;
  std::optional<tcp::socket> found;
  while (!queue.empty() && !found) {
    Entry entry = std::move(queue.back());
    queue.pop_back();
    --size_;
    const bool usable =
        entry.kept > deadline && still_quiet(entry.socket) && may_reach(entry.peer, destinations);
    if (usable) {
      peer = entry.peer;
      found.emplace(std::move(entry.socket));
    } else {
      error_code ignored;
      entry.socket.close(ignored);
    }
  }
  if (queue.empty()) kept_.erase(it);
  return found;
}

void OriginPool::clear() {
  for (auto& [k, queue] : kept_) {
    for (auto& entry : queue) {
      error_code ignored;
      entry.socket.close(ignored);
    }
  }
  kept_.clear();
  size_ = 0;
  timer_.cancel();
}

void OriginPool::expire() {
  const auto deadline = std::chrono::steady_clock::now() - limits_.idle;
  for (auto it = kept_.begin(); it != kept_.end();) {
    auto& queue = it->second;
    while (!queue.empty() && queue.front().kept <= deadline) {
      error_code ignored;
      queue.front().socket.close(ignored);
      queue.pop_front();
      --size_;
    }
    it = queue.empty() ? kept_.erase(it) : std::next(it);
  }
}

void OriginPool::schedule_expiry() {
  if (timer_armed_ || size_ == 0) return;
  timer_armed_ = true;
  // A kept connection lives between `idle` and 1.5 × `idle`: one timer for all of them.
  timer_.expires_after(limits_.idle / 2);
  timer_.async_wait([this](const error_code& ec) {
    timer_armed_ = false;
    if (ec) return;
    expire();
    schedule_expiry();
  });
}

}  // namespace egressd::io
