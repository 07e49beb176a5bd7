// The live stream of decisions: bounded hand-over from workers to the control thread.
#include "io/decision_feed.hpp"

#include <utility>
#include <vector>

namespace egressd::io {

void DecisionFeed::publish(DecisionEvent event) {
  if (pending_.fetch_add(1, std::memory_order_relaxed) >= kMaxPending) {
    pending_.fetch_sub(1, std::memory_order_relaxed);
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  asio::post(control_, [this, event = std::move(event)] {
    pending_.fetch_sub(1, std::memory_order_relaxed);
    // A subscriber may unsubscribe (itself or another) while being called.
    std::vector<std::uint64_t> ids;
    ids.reserve(subscribers_.size());
    for (const auto& [id, subscriber] : subscribers_) ids.push_back(id);
    for (const auto id : ids) {
      const auto it = subscribers_.find(id);
      if (it != subscribers_.end()) it->second(event);
    }
  });
}

std::uint64_t DecisionFeed::subscribe(Subscriber subscriber) {
  const auto id = next_id_++;
  subscribers_.emplace(id, std::move(subscriber));
  subscribers_count_.store(subscribers_.size(), std::memory_order_relaxed);
  return id;
}

void DecisionFeed::unsubscribe(std::uint64_t id) {
  subscribers_.erase(id);
  subscribers_count_.store(subscribers_.size(), std::memory_order_relaxed);
}

}  // namespace egressd::io
