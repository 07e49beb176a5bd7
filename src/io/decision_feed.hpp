// The live stream of decisions behind `egressctl watch`: workers publish, the control
// thread fans out to its subscribers.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "core/ip_address.hpp"
#include "io/asio.hpp"
#include "io/client_activity.hpp"

namespace egressd::io {

struct DecisionEvent {
  SystemTime time;
  core::IpAddress client;
  std::string label;  // empty for a client without a rules file
  std::string method;
  std::string host;
  std::uint16_t port = 0;
  bool allowed = false;
  std::string reason;  // core::reason_code()
  std::string rule;    // "file:line", empty when no rule decided
};

// Costs the data path one relaxed atomic load while nobody watches. With watchers, each
// published event is posted to the control thread; at most kMaxPending events wait there
// at once, and what comes beyond that is dropped (and counted), so a slow control thread
// cannot make memory grow.
class DecisionFeed {
 public:
  static constexpr std::size_t kMaxPending = 8192;
  using Subscriber = std::function<void(const DecisionEvent&)>;

  explicit DecisionFeed(asio::io_context& control) : control_(control) {}
  DecisionFeed(const DecisionFeed&) = delete;
  DecisionFeed& operator=(const DecisionFeed&) = delete;

  // Any thread.
  bool active() const { return subscribers_count_.load(std::memory_order_relaxed) > 0; }
  void publish(DecisionEvent event);
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

  // Control thread only. The subscriber is called on the control thread, once per event,
  // until unsubscribe().
  std::uint64_t subscribe(Subscriber subscriber);
  void unsubscribe(std::uint64_t id);

 private:
  asio::io_context& control_;
  std::atomic<std::size_t> subscribers_count_{0};
  std::atomic<std::size_t> pending_{0};
  std::atomic<std::uint64_t> dropped_{0};
  std::map<std::uint64_t, Subscriber> subscribers_;  // control thread only
  std::uint64_t next_id_ = 1;
};

}  // namespace egressd::io
