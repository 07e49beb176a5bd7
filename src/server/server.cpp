// Process wiring: listeners, worker threads with their own event loops, reload and shutdown.
#include "server/server.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <array>
#include <future>
#include <map>
#include <tuple>
#include <thread>

#include "core/decision_log.hpp"
#include "core/policy_diff.hpp"

#include "io/asio.hpp"
#include "io/log_sink.hpp"
#include "io/qrexec_session.hpp"
#include "io/resolver.hpp"
#include "io/session.hpp"
#include "io/upstream.hpp"

namespace egressd::server {

using io::asio::ip::tcp;
namespace asio = io::asio;
using io::error_code;
using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

// Idle origin connections a worker keeps at most, in all and for one client, host and port.
constexpr std::size_t kKeptOrigins = 512;
constexpr std::size_t kKeptPerOrigin = 64;

struct Server::Worker {
  Worker(const core::Config& config, const io::PolicyStore& policies,
         const io::ClientSet& stopped, const io::ClientSet& learning, io::DecisionFeed& feed,
         const io::LocalAddresses& local_addresses, io::ConnectionLimits& limits)
      : io(1),
        resolver(io, config.dns_servers, config.timeouts.dns, config.dns_cache_max_ttl),
        origins(io.get_executor(), {config.timeouts.idle_origin, kKeptOrigins, kKeptPerOrigin}),
        settings{config.timeouts, config.limits, config.via_name, {}},
        context{resolver, policies, settings, activity, stopped, learning, feed,
                local_addresses, limits, chunks, origins, read_scratch} {}

  // Declared before io: sessions still pending when io is destroyed deregister here.
  io::ClientActivity activity;
  io::ChunkPool chunks;
  std::array<char, 4096> read_scratch;
  asio::io_context io;
  io::Resolver resolver;
  io::OriginPool origins;  // after io: its sockets and timer belong to io
  io::SessionSettings settings;
  io::WorkerContext context;
  std::vector<tcp::acceptor> acceptors;
  std::thread thread;
};

namespace {

// Accepts connections on one listener of one worker; each session stays on this worker.
io::awaitable<void> accept_loop(tcp::acceptor& acceptor, io::WorkerContext& context) {
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer backoff(executor);
  for (;;) {
    error_code ec;
    tcp::endpoint peer;  // from accept() itself: no getpeername() per connection
    tcp::socket socket = co_await acceptor.async_accept(peer, io::with_ec(ec));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // Out of file descriptors (or a similar transient failure): pause instead of
      // spinning; connections wait in the backlog until descriptors free up.
      spdlog::warn("accept failed: {}; pausing 100 ms", ec.message());
      backoff.expires_after(std::chrono::milliseconds(100));
      co_await backoff.async_wait(io::with_ec(ec));
      continue;
    }
    asio::co_spawn(executor, io::run_session(context, std::move(socket), peer), asio::detached);
  }
}

bool open_acceptor(tcp::acceptor& acceptor, const tcp::endpoint& endpoint, std::string& error) {
  error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec && endpoint.address().is_v6()) acceptor.set_option(asio::ip::v6_only(true), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.set_option(reuse_port(true), ec);
  // Accepted connections inherit TCP_NODELAY on Linux: one system call per listener
  // instead of one per connection.
  if (!ec) acceptor.set_option(tcp::no_delay(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) error = ec.message();
  return !ec;
}

// SO_REUSEPORT would let us join a group another egressd of the same user already
// listens in; a plain bind first makes "address in use" an error as users expect.
bool address_is_free(const tcp::endpoint& endpoint, std::string& error) {
  if (endpoint.port() == 0) return true;
  asio::io_context probe_io;
  tcp::acceptor probe(probe_io);
  error_code ec;
  probe.open(endpoint.protocol(), ec);
  if (!ec && endpoint.address().is_v6()) probe.set_option(asio::ip::v6_only(true), ec);
  if (!ec) probe.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) probe.bind(endpoint, ec);
  if (ec) error = ec.message();
  return !ec;
}

}  // namespace

Server::Server(core::Config config, io::SnapshotPtr initial, Reloader reloader,
               std::string config_path)
    : config_(std::move(config)),
      config_path_(std::move(config_path)),
      limits_(config_.limits.connections, config_.limits.connections_per_client),
      policies_(std::move(initial)),
      reloader_(std::move(reloader)) {
  unsigned count = config_.workers;
  if (count == 0) count = std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < count; ++i) {
    workers_.push_back(std::make_unique<Worker>(config_, policies_, stopped_, learning_, feed_,
                                                local_addresses_, limits_));
  }
}

Server::~Server() {
  for (auto& worker : workers_) worker->io.stop();
  for (auto& worker : workers_) {
    if (worker->thread.joinable()) worker->thread.join();
  }
}

bool Server::listen(std::string& error) {
  // The control socket first: "another egressd is running" is best said before
  // anything else.
  if (!config_.control_socket.empty()) {
    ControlActions& actions = *this;
    control_ = std::make_unique<ControlServer>(control_io_, actions, std::chrono::seconds(60),
                                               &feed_);
    if (!control_->open(config_.control_socket, error)) {
      error += " (set control_socket to another path, or to \"\" to turn it off)";
      control_.reset();
      return false;
    }
  }
  if (!config_.qrexec_socket.empty()) {
    qrexec_ = std::make_unique<asio::local::stream_protocol::acceptor>(control_io_);
    std::string why;
    if (!open_private_socket(*qrexec_, config_.qrexec_socket, why)) {
      error = "cannot open the qrexec socket " + config_.qrexec_socket + ": " + why;
      qrexec_.reset();
      return false;
    }
    spdlog::info("qrexec socket path={}", core::log_value(config_.qrexec_socket));
  }
  for (const auto& listen : config_.listen) {
    tcp::endpoint endpoint(io::to_asio(listen.address), listen.port);
    std::string why;
    if (!address_is_free(endpoint, why)) {
      error = "cannot listen on " + listen.to_string() + ": " + why;
      return false;
    }
    for (auto& worker : workers_) {
      tcp::acceptor acceptor(worker->io);
      if (!open_acceptor(acceptor, endpoint, why)) {
        error = "cannot listen on " + listen.to_string() + ": " + why;
        return false;
      }
      // With port 0 the first worker's bind picks the port; the others join it.
      endpoint = acceptor.local_endpoint();
      worker->acceptors.push_back(std::move(acceptor));
    }
    const core::Endpoint bound{io::to_core(endpoint.address()), endpoint.port()};
    spdlog::info("listening address={}", bound.to_string());
    listening_.push_back(bound.to_string());
    // Sessions refuse requests to these: a request loop (workers do not run yet).
    for (auto& worker : workers_) worker->settings.listen.push_back(bound);
  }
  refresh_local_addresses();
  return true;
}

namespace {

std::string labels(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) {
    if (!out.empty()) out += ',';
    out += name;
  }
  return out.empty() ? "-" : core::log_value(out);
}

}  // namespace

ReloadResult Server::reload() {
  const auto generation = ++generation_;
  const auto before = policies_.current();
  auto build = reloader_(generation, before.get());
  for (const auto& problem : build.problems) {
    if (problem.severity == core::Problem::Severity::error) {
      spdlog::error("reload: {}", problem.to_string());
    } else {
      spdlog::warn("reload: {}", problem.to_string());
    }
  }
  ReloadResult result;
  result.problems = std::move(build.problems);
  if (!build.snapshot) {
    spdlog::error("reload failed: keeping the rules loaded before (generation {})",
                  before->generation);
    result.generation = before->generation;
    result.clients = before->clients.size();
    return result;
  }
  result.applied = true;
  result.ok = !core::has_errors(result.problems);
  result.generation = generation;
  result.clients = build.snapshot->clients.size();
  result.changed = core::diff_snapshots(*before, *build.snapshot);
  std::vector<std::string> kept;
  for (const auto& [address, client] : build.snapshot->clients) {
    if (client->state != core::RulesState::current) kept.push_back(client->label);
  }
  std::sort(kept.begin(), kept.end());
  spdlog::info("reloaded rules generation={} clients={} added={} removed={} modified={} "
               "with-errors={}",
               generation, result.clients, labels(result.changed.added),
               labels(result.changed.removed), labels(result.changed.modified), labels(kept));
  refresh_local_addresses();
  io::SnapshotPtr published = std::move(build.snapshot);
  policies_.publish(published);
  if (published->recheck_tunnels && !workers_.empty() && workers_.front()->thread.joinable()) {
    result.tunnels_closed = close_denied_tunnels(published);
  }
  update_watch(*published);
  schedule_snapshot_release(std::chrono::milliseconds(100));
  return result;
}

void Server::schedule_snapshot_release(std::chrono::milliseconds after) {
  if (release_scheduled_) return;
  release_scheduled_ = true;
  release_timer_.expires_after(after);
  release_timer_.async_wait([this](const error_code& ec) {
    release_scheduled_ = false;
    if (ec) return;
    policies_.release_retired();
    // A request that still holds one (a long download, a tunnel) may hold it for long.
    if (policies_.retired() > 0) schedule_snapshot_release(std::chrono::seconds(1));
  });
}

void Server::refresh_local_addresses() {
  std::string error;
  auto addresses = io::read_local_addresses(error);
  if (!error.empty()) spdlog::warn("cannot read this host's addresses: {}", error);
  local_addresses_.publish(std::move(addresses));
}

void Server::schedule_address_refresh() {
  // Interfaces come and go (a vif per running qube): look again now and then.
  address_timer_.expires_after(std::chrono::seconds(10));
  address_timer_.async_wait([this](const error_code& ec) {
    if (ec) return;
    refresh_local_addresses();
    schedule_address_refresh();
  });
}

std::size_t Server::close_denied_tunnels(const io::SnapshotPtr& snapshot) {
  std::size_t closed = 0;
  for (const auto n : on_each_worker<std::size_t>(
           [&snapshot](Worker& w) { return w.activity.abort_not_allowed(*snapshot); })) {
    closed += n;
  }
  if (closed > 0) spdlog::info("reload: closed {} tunnel(s) the new rules deny", closed);
  return closed;
}

void Server::update_watch(const core::PolicySnapshot& snapshot) {
  std::vector<std::string> wanted;
  if (snapshot.watch) {
    if (!config_path_.empty()) wanted.push_back(config_path_);
    wanted.push_back(snapshot.rules_dir);
  }
  if (wanted == watched_ && (watcher_ != nullptr) == !wanted.empty()) return;
  watched_ = wanted;
  if (wanted.empty()) {
    if (watcher_) watcher_->stop();
    watcher_.reset();
    return;
  }
  if (!watcher_) {
    watcher_ = std::make_unique<FileWatcher>(control_io_, [this] {
      spdlog::info("rules or config changed: reloading");
      reload();
    });
  }
  std::vector<std::string> files;
  if (!config_path_.empty()) files.push_back(config_path_);
  std::string error;
  if (!watcher_->watch(files, {snapshot.rules_dir}, error)) {
    spdlog::error("cannot watch for changes ({}): reload with SIGHUP or egressctl reload",
                  error);
    watcher_.reset();
    return;
  }
  for (const auto& problem : watcher_->problems()) spdlog::warn("watch: {}", problem);
  spdlog::info("watching for changes config={} rules_dir={}",
               core::log_value(config_path_.empty() ? "-" : config_path_),
               core::log_value(snapshot.rules_dir));
}

template <class T>
std::vector<T> Server::on_each_worker(std::function<T(Worker&)> task) {
  std::vector<std::future<T>> answers;
  for (auto& worker : workers_) {
    auto promise = std::make_shared<std::promise<T>>();
    answers.push_back(promise->get_future());
    asio::post(worker->io, [promise, task, w = worker.get()] {
      try {
        promise->set_value(task(*w));
      } catch (...) {
        promise->set_exception(std::current_exception());
      }
    });
  }
  std::vector<T> out;
  for (auto& answer : answers) out.push_back(answer.get());
  return out;
}

std::unordered_map<core::IpAddress, io::ClientStats> Server::activity() {
  using Stats = std::unordered_map<core::IpAddress, io::ClientStats>;
  Stats merged;
  for (const auto& stats : on_each_worker<Stats>([](Worker& w) { return w.activity.stats(); })) {
    for (const auto& [address, s] : stats) merged[address].merge(s);
  }
  return merged;
}

void Server::set_stopped(const std::vector<core::IpAddress>& clients, bool stopped) {
  stopped_.set(clients, stopped);
}

std::size_t Server::close_connections(const std::vector<core::IpAddress>& clients) {
  std::size_t closed = 0;
  for (const auto n : on_each_worker<std::size_t>([&clients](Worker& w) {
         std::size_t count = 0;
         for (const auto& client : clients) count += w.activity.abort_client(client);
         return count;
       })) {
    closed += n;
  }
  return closed;
}

void Server::set_learning(const std::vector<core::IpAddress>& clients, bool on) {
  if (on) {
    // A fresh recording: what was learned before is forgotten.
    on_each_worker<bool>([&clients](Worker& w) {
      for (const auto& client : clients) w.activity.clear_learned(client);
      return true;
    });
  }
  learning_.set(clients, on);
  const auto snapshot = policies_.current();
  if (!on && snapshot->recheck_tunnels) close_denied_tunnels(snapshot);
}

std::vector<io::DeniedRequest> Server::denied(const core::IpAddress& client,
                                              std::optional<io::SystemTime> since) {
  std::vector<io::DeniedRequest> all;
  for (auto& part : on_each_worker<std::vector<io::DeniedRequest>>(
           [&](Worker& w) { return w.activity.denied(client, since); })) {
    all.insert(all.end(), std::make_move_iterator(part.begin()),
               std::make_move_iterator(part.end()));
  }
  std::stable_sort(all.begin(), all.end(),
                   [](const auto& a, const auto& b) { return a.time < b.time; });
  return all;
}

std::vector<io::LearnedRequest> Server::learned(const core::IpAddress& client,
                                                std::uint64_t& dropped) {
  struct Part {
    std::vector<io::LearnedRequest> requests;
    std::uint64_t dropped = 0;
  };
  std::map<std::tuple<std::string, std::uint16_t, bool>, io::LearnedRequest> merged;
  dropped = 0;
  for (auto& part : on_each_worker<Part>([&](Worker& w) {
         return Part{w.activity.learned(client), w.activity.learned_dropped(client)};
       })) {
    dropped += part.dropped;
    for (auto& r : part.requests) {
      auto [it, added] = merged.try_emplace({r.host, r.port, r.is_connect}, r);
      if (!added) it->second.count += r.count;
    }
  }
  std::vector<io::LearnedRequest> out;
  for (auto& [key, r] : merged) out.push_back(std::move(r));
  return out;
}

std::size_t Server::close_all_connections() {
  std::size_t closed = 0;
  for (const auto n :
       on_each_worker<std::size_t>([](Worker& w) {
         w.origins.clear();
         return w.activity.abort_all();
       })) {
    closed += n;
  }
  return closed;
}

io::awaitable<void> Server::qrexec_accept_loop() {
  for (;;) {
    error_code ec;
    auto connection = co_await qrexec_->async_accept(io::with_ec(ec));
    if (ec) {
      if (!qrexec_->is_open()) co_return;
      spdlog::warn("qrexec: accept failed error={}", core::log_value(ec.message()));
      continue;
    }
    // The session reads and writes bytes only, so the worker serves the unix socket
    // through a tcp::socket of its own event loop: the same session code for both.
    const int fd = ::dup(connection.native_handle());
    connection.close(ec);
    if (fd < 0) continue;
    Worker& worker = *workers_[next_qrexec_worker_++ % workers_.size()];
    asio::post(worker.io, [w = &worker, fd] {
      tcp::socket client(w->io);
      error_code assign_error;
      client.assign(tcp::v6(), fd, assign_error);
      if (assign_error) {
        ::close(fd);
        return;
      }
      asio::co_spawn(w->io, io::run_qrexec_session(w->context, std::move(client)),
                     asio::detached);
    });
  }
}

void block_reload_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

void unblock_reload_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

int Server::run() {
  std::signal(SIGPIPE, SIG_IGN);
  for (auto& worker : workers_) {
    for (auto& acceptor : worker->acceptors) {
      asio::co_spawn(worker->io, accept_loop(acceptor, worker->context), asio::detached);
    }
    worker->thread = std::thread([w = worker.get()] {
      io::gather_log_lines(w->io);
      w->io.run();
      io::stop_gathering_log_lines();
    });
  }
  spdlog::info("serving workers={} clients={}", workers_.size(),
               policies_.current()->clients.size());

  asio::signal_set signals(control_io_, SIGINT, SIGTERM, SIGHUP);
  signals.add(SIGUSR1);  // tinyproxy's reload signal; the same reload here
  bool stopping = false;
  std::function<void(const error_code&, int)> on_signal = [&](const error_code& ec, int signal) {
    if (ec) return;
    if (signal == SIGHUP || signal == SIGUSR1) {
      spdlog::info("{}: reloading", signal == SIGHUP ? "SIGHUP" : "SIGUSR1");
      reload();
      signals.async_wait(on_signal);
      return;
    }
    spdlog::info("signal {}: stopping", signal);
    stopping = true;
  };
  signals.async_wait(on_signal);
  // Held back since start (block_reload_signals()): one that came meanwhile is taken now.
  unblock_reload_signals();
  if (control_) control_->start();
  if (qrexec_) asio::co_spawn(control_io_, qrexec_accept_loop(), asio::detached);
  update_watch(*policies_.current());
  schedule_address_refresh();
  while (!stopping && control_io_.run_one() > 0) {
  }

  // Let the control connections' coroutines see their sockets closed and finish.
  if (watcher_) watcher_->stop();
  address_timer_.cancel();
  release_timer_.cancel();
  if (control_) control_->close();
  if (qrexec_) {
    error_code ignored;
    qrexec_->close(ignored);
    ::unlink(config_.qrexec_socket.c_str());
  }
  error_code cancel_error;
  signals.cancel(cancel_error);
  control_io_.restart();
  control_io_.run_for(std::chrono::seconds(1));

  for (auto& worker : workers_) {
    asio::post(worker->io, [w = worker.get()] {
      for (auto& acceptor : w->acceptors) {
        error_code ignored;
        acceptor.close(ignored);
      }
      w->io.stop();
    });
  }
  for (auto& worker : workers_) worker->thread.join();
  return 0;
}

}  // namespace egressd::server
