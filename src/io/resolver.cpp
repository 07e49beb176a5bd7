// c-ares on the worker's io_context: sockets watched with stream_descriptor, retransmits
// driven by a steady_timer, and an overall deadline per name enforced by us.
#include "io/resolver.hpp"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace egressd::io {

namespace {

void init_library_once() {
  // ares_library_init is not thread-safe and only needs to run once per process; its
  // result is re-checked by ares_init_options, which then fails with ARES_ENOTINITIALIZED.
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
}

// Per-try timeout handed to c-ares. c-ares doubles it on each round over the servers, so
// a quarter of the overall budget leaves room for about three attempts before our own
// deadline; the clamp keeps tiny budgets from flooding and large ones from idling.
int per_try_timeout_ms(std::chrono::seconds overall) {
  const auto quarter = std::chrono::duration_cast<std::chrono::milliseconds>(overall).count() / 4;
  return static_cast<int>(std::clamp<std::chrono::milliseconds::rep>(quarter, 250, 2000));
}

// Names each worker's cache keeps at most.
constexpr std::size_t kCacheNames = 4096;

// What a finished ares_getaddrinfo() means for the caller.
ResolveResult to_result(int status, const ares_addrinfo* info) {
  ResolveResult result;
  switch (status) {
    case ARES_SUCCESS:
      break;
    case ARES_ENOTFOUND:
    case ARES_ENODATA:
      result.status = ResolveResult::Status::not_found;
      result.error = ares_strerror(status);
      return result;
    case ARES_ETIMEOUT:
      result.status = ResolveResult::Status::timeout;
      result.error = ares_strerror(status);
      return result;
    case ARES_EDESTRUCTION:
    case ARES_ECANCELLED:
      result.status = ResolveResult::Status::failure;
      result.error = "resolver shut down";
      return result;
    default:
      result.status = ResolveResult::Status::failure;
      result.error = ares_strerror(status);
      return result;
  }

  // c-ares lists A and AAAA answers in the order the two responses arrived.
  std::vector<core::IpAddress> v4;
  std::vector<core::IpAddress> mapped;
  std::vector<core::IpAddress> v6;
  int ttl = -1;
  for (const ares_addrinfo_node* node = info ? info->nodes : nullptr; node; node = node->ai_next) {
    if (ttl < 0 || node->ai_ttl < ttl) ttl = std::max(node->ai_ttl, 0);
    if (node->ai_family == AF_INET && node->ai_addrlen >= sizeof(sockaddr_in)) {
      sockaddr_in sin{};
      std::memcpy(&sin, node->ai_addr, sizeof sin);
      std::array<std::uint8_t, 4> bytes{};
      std::memcpy(bytes.data(), &sin.sin_addr, bytes.size());
      v4.push_back(core::IpAddress::v4(bytes));
    } else if (node->ai_family == AF_INET6 && node->ai_addrlen >= sizeof(sockaddr_in6)) {
      sockaddr_in6 sin6{};
      std::memcpy(&sin6, node->ai_addr, sizeof sin6);
      std::array<std::uint8_t, 16> bytes{};
      std::memcpy(bytes.data(), &sin6.sin6_addr, bytes.size());
      // A v4-mapped answer reaches the IPv4 host it names; returning it in that form keeps
      // destination checks from seeing, say, loopback dressed up as IPv6.
      const core::IpAddress address = core::IpAddress::v6(bytes).unmapped();
      (address.is_v4() ? mapped : v6).push_back(address);
    }
  }
  for (const auto* list : {&v4, &mapped, &v6}) {
    for (const core::IpAddress& address : *list) {
      if (std::find(result.addresses.begin(), result.addresses.end(), address) ==
          result.addresses.end()) {
        result.addresses.push_back(address);
      }
    }
  }
  result.ttl = std::chrono::seconds(std::max(ttl, 0));
  if (result.addresses.empty()) {
    result.status = ResolveResult::Status::not_found;
    result.error = "no A or AAAA records";
  } else {
    result.status = ResolveResult::Status::ok;
  }
  return result;
}

// One resolve() in flight. c-ares owns one reference until its callback has run (it runs
// exactly once, with ARES_EDESTRUCTION at the latest); the deadline timer only observes.
// Whichever of the two comes first delivers the result, the other finds `done_` set.
class PendingQuery {
 public:
  explicit PendingQuery(asio::io_context& io) : deadline_(io) {}
  virtual ~PendingQuery() = default;
  PendingQuery(const PendingQuery&) = delete;
  PendingQuery& operator=(const PendingQuery&) = delete;

  void finish(ResolveResult result) {
    if (done_) return;
    done_ = true;
    deadline_.cancel();
    deliver(std::move(result));
  }

  void start_deadline(const std::shared_ptr<PendingQuery>& self, std::chrono::seconds timeout) {
    deadline_.expires_after(timeout);
    deadline_.async_wait([weak = std::weak_ptr<PendingQuery>(self), timeout](error_code ec) {
      if (ec) return;
      if (auto query = weak.lock()) {
        ResolveResult result;
        result.status = ResolveResult::Status::timeout;
        result.error = "no answer within " + std::to_string(timeout.count()) + " s";
        query->finish(std::move(result));
      }
    });
  }

 protected:
  // Hands the result to the caller through its executor, never inline: finish() may run
  // inside ares_process_fd(), ares_getaddrinfo() or ares_destroy().
  virtual void deliver(ResolveResult result) = 0;

 private:
  asio::steady_timer deadline_;
  bool done_ = false;
};

template <class Handler>
class PendingQueryFor final : public PendingQuery {
 public:
  PendingQueryFor(asio::io_context& io, Handler handler)
      : PendingQuery(io), io_executor_(io.get_executor()), handler_(std::move(handler)) {}

 private:
  void deliver(ResolveResult result) override {
    auto executor = asio::get_associated_executor(handler_, io_executor_);
    asio::post(executor, [handler = std::move(handler_), result = std::move(result)]() mutable {
      std::move(handler)(std::move(result));
    });
  }

  asio::io_context::executor_type io_executor_;
  Handler handler_;
};

// A socket c-ares opened, watched for the directions it asked for. The descriptor never
// owns the fd for good: it is released before c-ares closes it.
struct WatchedSocket {
  explicit WatchedSocket(asio::io_context& io) : descriptor(io) {}
  asio::posix::stream_descriptor descriptor;
  bool want_read = false;
  bool want_write = false;
  bool reading = false;  // an async_wait(wait_read) is outstanding
  bool writing = false;
  bool closed = false;  // c-ares has dropped the fd; late completions must not touch it
};

}  // namespace

struct Resolver::Impl {
  Impl(asio::io_context& io_context, const std::vector<core::Endpoint>& servers,
       std::chrono::seconds overall_timeout)
      : io(io_context), timeout(overall_timeout), retransmit_timer(io_context) {
    init_library_once();

    ares_options options{};
    int mask = 0;
    // No search list and no HOSTALIASES: the name that was checked is the name resolved.
    // ares_getaddrinfo() ignores ARES_FLAG_NOSEARCH in c-ares 1.18, so the search list
    // from resolv.conf and LOCALDOMAIN is also emptied explicitly.
    options.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
    mask |= ARES_OPT_FLAGS;
    options.ndomains = 0;
    options.domains = nullptr;
    mask |= ARES_OPT_DOMAINS;
    // /etc/hosts first, then DNS, whatever /etc/host.conf says.
    char lookups[] = "fb";
    options.lookups = lookups;
    mask |= ARES_OPT_LOOKUPS;
    options.timeout = per_try_timeout_ms(timeout);
    mask |= ARES_OPT_TIMEOUTMS;
    options.tries = 3;
    mask |= ARES_OPT_TRIES;
    options.sock_state_cb = &Impl::on_socket_state;
    options.sock_state_cb_data = this;
    mask |= ARES_OPT_SOCK_STATE_CB;

    int status = ares_init_options(&channel, &options, mask);
    if (status != ARES_SUCCESS) {
      init_error = std::string("cannot initialise DNS resolver: ") + ares_strerror(status);
      channel = nullptr;
      return;
    }
    if (!servers.empty()) {
      status = set_servers(servers);
      if (status != ARES_SUCCESS) {
        init_error = std::string("cannot use the configured DNS servers: ") + ares_strerror(status);
        ares_destroy(channel);
        channel = nullptr;
      }
    }
  }

  ~Impl() {
    alive.reset();
    // Runs every outstanding callback with ARES_EDESTRUCTION (completing the callers with
    // failure) and reports each socket closed through on_socket_state().
    if (channel) ares_destroy(channel);
    for (auto& [fd, socket] : sockets) forget(*socket);
    sockets.clear();
  }

  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // Built as nodes rather than a "[addr]:port" string so that no text is re-parsed.
  int set_servers(const std::vector<core::Endpoint>& servers) {
    std::vector<ares_addr_port_node> nodes(servers.size());
    for (std::size_t i = 0; i < servers.size(); ++i) {
      const core::Endpoint& server = servers[i];
      ares_addr_port_node& node = nodes[i];
      node.next = i + 1 < servers.size() ? &nodes[i + 1] : nullptr;
      if (server.address.is_v4()) {
        node.family = AF_INET;
        std::memcpy(&node.addr.addr4, server.address.bytes().data(), 4);
      } else {
        node.family = AF_INET6;
        std::memcpy(&node.addr.addr6, server.address.bytes().data(), 16);
      }
      node.udp_port = server.port;
      node.tcp_port = server.port;
    }
    return ares_set_servers_ports(channel, nodes.data());
  }

  template <class Handler>
  void start(const std::string& name, Handler handler) {
    auto query = std::make_shared<PendingQueryFor<Handler>>(io, std::move(handler));
    if (!channel) {
      ResolveResult result;
      result.error = init_error;
      query->finish(std::move(result));
      return;
    }
    query->start_deadline(query, timeout);

    ares_addrinfo_hints hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;  // one node per address instead of one per socket type
    hints.ai_flags = ARES_AI_NOSORT;  // ordering is ours: IPv4 first, then IPv6
    // The callback may run before ares_getaddrinfo() returns (/etc/hosts, bad names).
    ares_getaddrinfo(channel, name.c_str(), nullptr, &hints, &Impl::on_addrinfo,
                     new std::shared_ptr<PendingQuery>(std::move(query)));
    schedule_retransmit();
  }

  static void on_addrinfo(void* arg, int status, int /*timeouts*/, ares_addrinfo* info) {
    std::unique_ptr<std::shared_ptr<PendingQuery>> query(
        static_cast<std::shared_ptr<PendingQuery>*>(arg));
    (*query)->finish(to_result(status, info));
    if (info) ares_freeaddrinfo(info);
  }

  // c-ares tells us which directions to watch on each of its sockets; (fd, 0, 0) means it
  // is about to close the fd, so asio must let go of it first.
  static void on_socket_state(void* data, ares_socket_t fd, int readable, int writable) {
    auto& self = *static_cast<Impl*>(data);
    auto found = self.sockets.find(fd);
    if (!readable && !writable) {
      if (found == self.sockets.end()) return;
      self.forget(*found->second);
      self.sockets.erase(found);
      return;
    }
    if (found == self.sockets.end()) {
      auto socket = std::make_shared<WatchedSocket>(self.io);
      error_code ec;
      // Nothing may be thrown through c-ares. A socket we cannot watch still gets its
      // retransmits and, at worst, ends in a timeout.
      socket->descriptor.assign(fd, ec);
      if (ec) return;
      found = self.sockets.emplace(fd, std::move(socket)).first;
    }
    const std::shared_ptr<WatchedSocket>& socket = found->second;
    socket->want_read = readable != 0;
    socket->want_write = writable != 0;
    self.watch(socket);
  }

  void forget(WatchedSocket& socket) {
    socket.closed = true;
    error_code ignored;
    socket.descriptor.cancel(ignored);
    socket.descriptor.release();
  }

  void watch(const std::shared_ptr<WatchedSocket>& socket) {
    if (socket->want_read && !socket->reading) {
      socket->reading = true;
      socket->descriptor.async_wait(asio::posix::stream_descriptor::wait_read,
                                    [this, socket](error_code ec) { on_ready(socket, ec, true); });
    }
    if (socket->want_write && !socket->writing) {
      socket->writing = true;
      socket->descriptor.async_wait(asio::posix::stream_descriptor::wait_write,
                                    [this, socket](error_code ec) { on_ready(socket, ec, false); });
    }
  }

  void on_ready(const std::shared_ptr<WatchedSocket>& socket, error_code ec, bool read) {
    (read ? socket->reading : socket->writing) = false;
    // `closed` is checked before touching `this`: a socket is marked closed before the
    // Impl that watched it goes away.
    if (socket->closed || ec == asio::error::operation_aborted) return;
    // Other errors are left to c-ares, which sees them when it reads or writes the fd.
    const ares_socket_t fd = socket->descriptor.native_handle();
    ares_process_fd(channel, read ? fd : ARES_SOCKET_BAD, read ? ARES_SOCKET_BAD : fd);
    if (!socket->closed) watch(socket);
    schedule_retransmit();
  }

  // Keeps the retransmit timer on the earliest c-ares deadline, or idle with no queries.
  void schedule_retransmit() {
    timeval buffer{};
    const timeval* next = ares_timeout(channel, nullptr, &buffer);
    if (!next) {
      retransmit_timer.cancel();
      return;
    }
    retransmit_timer.expires_after(std::chrono::seconds(next->tv_sec) +
                                   std::chrono::microseconds(next->tv_usec));
    retransmit_timer.async_wait([this, token = std::weak_ptr<char>(alive)](error_code ec) {
      // The timer may have fired already when the Impl is destroyed; the token tells.
      if (ec || token.expired()) return;
      ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      schedule_retransmit();
    });
  }

  asio::io_context& io;
  std::chrono::seconds timeout;
  ares_channel channel = nullptr;
  std::string init_error;
  std::unordered_map<ares_socket_t, std::shared_ptr<WatchedSocket>> sockets;
  asio::steady_timer retransmit_timer;
  std::shared_ptr<char> alive = std::make_shared<char>();
};

Resolver::Resolver(asio::io_context& io, const std::vector<core::Endpoint>& servers,
                   std::chrono::seconds timeout, std::chrono::seconds cache_max_ttl)
    : impl_(std::make_unique<Impl>(io, servers, timeout)),
      cache_(std::make_unique<core::DnsCache>(cache_max_ttl, kCacheNames)) {}

Resolver::~Resolver() = default;

awaitable<ResolveResult> Resolver::resolve(std::string name) {
  // The initiation captures only pointers: g++ 12 miscompiles the by-value hand-over of a
  // closure that owns a std::string into Asio's initiating coroutine (freeing an SSO
  // buffer). `name` lives in this frame until the result is back.
  Impl* impl = impl_.get();
  core::DnsCache* cache = cache_.get();
  auto cached = cache->find(name, std::chrono::steady_clock::now().time_since_epoch());
  if (cached) {
    ResolveResult hit;
    hit.status = ResolveResult::Status::ok;
    hit.addresses = std::move(*cached);
    co_return hit;
  }
  // The Resolver may be gone when the answer is delivered (see the destructor).
  const std::weak_ptr<char> alive = impl->alive;
  const std::string* name_in_frame = &name;
  ResolveResult result =
      co_await asio::async_initiate<decltype(asio::use_awaitable), void(ResolveResult)>(
          [impl, name_in_frame](auto handler) { impl->start(*name_in_frame, std::move(handler)); },
          asio::use_awaitable);
  if (result.status == ResolveResult::Status::ok && !alive.expired()) {
    cache->insert(name, result.addresses, result.ttl,
                  std::chrono::steady_clock::now().time_since_epoch());
  }
  co_return result;
}

}  // namespace egressd::io
