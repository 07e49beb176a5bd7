// Waiting for coroutines spawned on the same single-threaded executor to finish.
#pragma once

#include <chrono>
#include <functional>

#include "io/asio.hpp"

namespace egressd::io {

// Counts spawned coroutines and lets the spawner await them all. Boost 1.74 has no
// awaitable operators or channels, so completion is signalled by cancelling a timer.
// Single-threaded use only (one worker's io_context).
class Join {
 public:
  explicit Join(const asio::any_io_executor& executor)
      : timer_(executor, asio::steady_timer::time_point::max()) {}

  // Spawns `task` on the executor; wait() returns once it and every other one has ended.
  // Exceptions escaping a task are swallowed here: tasks report errors in their state.
  void spawn(awaitable<void> task) {
    ++pending_;
    asio::co_spawn(timer_.get_executor(), std::move(task), [this](std::exception_ptr) {
      if (--pending_ == 0) timer_.cancel();
    });
  }

  awaitable<void> wait() {
    while (pending_ > 0) {
      error_code ec;
      timer_.expires_at(asio::steady_timer::time_point::max());
      co_await timer_.async_wait(with_ec(ec));
    }
  }

  bool done() const { return pending_ == 0; }

 private:
  asio::steady_timer timer_;
  int pending_ = 0;
};

}  // namespace egressd::io
