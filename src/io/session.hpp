// One client connection: read requests, decide, then forward, tunnel or refuse.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "io/asio.hpp"
#include "io/chunk_pool.hpp"
#include "io/client_activity.hpp"
#include "io/connection_limits.hpp"
#include "io/decision_feed.hpp"
#include "io/local_addresses.hpp"
#include "io/origin_pool.hpp"
#include "io/policy_store.hpp"
#include "io/resolver.hpp"

namespace egressd::io {

struct SessionSettings {
  core::Timeouts timeouts;
  core::Limits limits;
  std::string via_name = "egressd";
  std::vector<core::Endpoint> listen{};  // as bound: a request to one of these is a loop
};

// What a worker lends to each of its sessions. Everything here outlives the worker's
// io_context (sessions deregister from `activity` in their destructor), and is only
// touched from the worker's thread (PolicyStore and ClientSet excepted, which are
// thread-safe).
struct WorkerContext {
  Resolver& resolver;
  const PolicyStore& policies;
  const SessionSettings& settings;
  ClientActivity& activity;
  const ClientSet& stopped;
  const ClientSet& learning;
  DecisionFeed& feed;
  const LocalAddresses& local_addresses;
  ConnectionLimits& limits;
  ChunkPool& chunks;  // the pieces bodies are relayed through
  OriginPool& origins;  // idle origin connections, per client
  // Space for what a read copies out at once (read_first_bytes()); used without suspending.
  std::span<char> scratch;
};

// Serves one accepted client connection until it ends. Never throws: errors end the
// session after answering the client where that is still possible. The session is
// registered in context.activity while it runs, so that the worker can abort it; a
// client in context.stopped gets 503 and the "stopped" page for every request; a client in
// context.learning has what its rules deny allowed and recorded. `peer` is the client's
// address as accept() returned it; `client` should have TCP_NODELAY set (accepted sockets
// inherit it from the listener).
// `early`: bytes of the client's stream already read (after a qrexec descriptor).
awaitable<void> run_session(WorkerContext& context, tcp::socket client, tcp::endpoint peer,
                            std::string early = {});

}  // namespace egressd::io
