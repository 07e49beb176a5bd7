// One client connection: read requests, decide, then forward, tunnel or refuse.
#pragma once

#include <string>

#include "core/config.hpp"
#include "io/asio.hpp"
#include "io/policy_store.hpp"
#include "io/resolver.hpp"

namespace egressd::io {

struct SessionSettings {
  core::Timeouts timeouts;
  core::Limits limits;
  std::string via_name = "egressd";
};

// What a worker lends to each of its sessions. Everything here lives as long as the
// worker, and is only touched from the worker's thread (the PolicyStore excepted,
// which is thread-safe).
struct WorkerContext {
  Resolver& resolver;
  const PolicyStore& policies;
  const SessionSettings& settings;
};

// Serves one accepted client connection until it ends. Never throws: errors end the
// session after answering the client where that is still possible.
awaitable<void> run_session(WorkerContext& context, tcp::socket client);

}  // namespace egressd::io
