// connect_load: a small load generator for the benchmark suite (bench/run).
//
// Modes:
//   connect  Each transaction opens a new TCP connection. Through a proxy (--proxy) it
//            sends "CONNECT <target> HTTP/1.1", expects a 2xx answer, then sends
//            "GET <path> HTTP/1.1" with "Connection: close" inside the tunnel; without
//            --proxy it sends the same GET straight to the target. The response must be
//            200 with exactly --expect-length body bytes (Content-Length and bytes read
//            agree), then the peer must close. --concurrency transactions run at once,
//            until --duration seconds or --max-count transactions, whichever is first.
//   idle     Opens --count connections to --proxy (or the target) and keeps them open.
//            With --request, each connection first sends one keep-alive GET (absolute
//            form through a proxy) and reads its response completely. Prints
//            "READY <n>" when every connection is established (and answered), then holds
//            them until standard input closes or --hold seconds pass, whichever is first.
//
// The result is one JSON line on stdout. Exit status 0 when it ran (errors are counted
// in the JSON), 2 on bad arguments or setup failure.

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
  sockaddr_in addr{};
};

bool parse_endpoint(const std::string& text, Endpoint& out) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos) return false;
  out.host = text.substr(0, colon);
  long port = std::strtol(text.c_str() + colon + 1, nullptr, 10);
  if (port <= 0 || port > 65535) return false;
  out.port = static_cast<std::uint16_t>(port);
  out.addr.sin_family = AF_INET;
  out.addr.sin_port = htons(out.port);
  return inet_pton(AF_INET, out.host.c_str(), &out.addr.sin_addr) == 1;
}

struct Options {
  std::string mode;
  Endpoint proxy;
  bool use_proxy = false;
  Endpoint target;
  std::string path = "/1k";
  long expect_length = 1024;
  int concurrency = 64;
  double duration = 5.0;
  long max_count = 10'000'000;
  int count = 10000;
  double hold = 60.0;
  bool request = false;
  int max_pending_connects = 256;
};

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "connect_load: %s\n"
               "usage: connect_load connect --target IP:PORT [--proxy IP:PORT] [--path P]\n"
               "         [--expect-length N] [--concurrency N] [--duration S] [--max-count N]\n"
               "       connect_load idle --target IP:PORT [--proxy IP:PORT] [--count N]\n"
               "         [--hold S] [--request --path P --expect-length N]\n",
               why);
  std::exit(2);
}

Options parse_options(int argc, char** argv) {
  if (argc < 2) usage("no mode");
  Options o;
  o.mode = argv[1];
  if (o.mode != "connect" && o.mode != "idle") usage("mode must be connect or idle");
  bool have_target = false;
  for (int i = 2; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage("missing value");
      return argv[++i];
    };
    if (a == "--proxy") {
      if (!parse_endpoint(value(), o.proxy)) usage("bad --proxy (IPv4:PORT)");
      o.use_proxy = true;
    } else if (a == "--target") {
      if (!parse_endpoint(value(), o.target)) usage("bad --target (IPv4:PORT)");
      have_target = true;
    } else if (a == "--path") {
      o.path = value();
    } else if (a == "--expect-length") {
      o.expect_length = std::strtol(value().c_str(), nullptr, 10);
    } else if (a == "--concurrency") {
      o.concurrency = std::atoi(value().c_str());
    } else if (a == "--duration") {
      o.duration = std::strtod(value().c_str(), nullptr);
    } else if (a == "--max-count") {
      o.max_count = std::strtol(value().c_str(), nullptr, 10);
    } else if (a == "--count") {
      o.count = std::atoi(value().c_str());
    } else if (a == "--hold") {
      o.hold = std::strtod(value().c_str(), nullptr);
    } else if (a == "--request") {
      o.request = true;
    } else {
      usage("unknown option");
    }
  }
  if (!have_target) usage("--target is required");
  if (o.concurrency < 1 || o.concurrency > 100000) usage("bad --concurrency");
  if (o.duration <= 0 || o.duration > 3600) usage("bad --duration (0..3600 s)");
  if (o.count < 1 || o.count > 1000000) usage("bad --count");
  if (o.hold <= 0 || o.hold > 3600) usage("bad --hold (0..3600 s)");
  return o;
}

void raise_fd_limit(rlim_t wanted) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur >= wanted) return;
  rlimit next = rl;
  next.rlim_cur = wanted;
  if (next.rlim_max < wanted) next.rlim_max = wanted;  // works as root
  if (setrlimit(RLIMIT_NOFILE, &next) != 0) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

// A response head and body being read. Knows the status, the Content-Length and how
// many body bytes arrived.
struct ResponseReader {
  std::string head;
  bool head_done = false;
  int status = 0;
  long content_length = -1;
  long body_bytes = 0;

  void reset() {
    head.clear();
    head_done = false;
    status = 0;
    content_length = -1;
    body_bytes = 0;
  }

  // Feeds bytes; returns false on a malformed head.
  bool feed(const char* data, std::size_t n) {
    if (head_done) {
      body_bytes += static_cast<long>(n);
      return true;
    }
    head.append(data, n);
    auto end = head.find("\r\n\r\n");
    if (end == std::string::npos) return head.size() < 65536;
    head_done = true;
    body_bytes = static_cast<long>(head.size() - (end + 4));
    head.resize(end + 2);
    if (head.compare(0, 7, "HTTP/1.") != 0 || head.size() < 12) return false;
    status = std::atoi(head.c_str() + 9);
    // Content-Length, case-insensitively.
    std::size_t pos = 0;
    while ((pos = head.find("\r\n", pos)) != std::string::npos) {
      pos += 2;
      static constexpr std::string_view name = "content-length:";
      if (head.size() - pos < name.size()) break;
      bool match = true;
      for (std::size_t k = 0; k < name.size(); ++k) {
        char c = head[pos + k];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != name[k]) {
          match = false;
          break;
        }
      }
      if (match) content_length = std::strtol(head.c_str() + pos + name.size(), nullptr, 10);
    }
    return true;
  }
};

enum class Phase { connecting, send_connect, read_connect, send_get, read_response, idle };

struct Conn {
  int fd = -1;
  Phase phase = Phase::connecting;
  std::string out;
  std::size_t out_done = 0;
  ResponseReader reader;
  bool in_use = false;
};

struct Counters {
  long ok = 0;
  std::map<std::string, long> errors;
  long error_total() const {
    long n = 0;
    for (auto& [k, v] : errors) n += v;
    return n;
  }
};

std::string json_errors(const Counters& c) {
  std::string s = "{";
  bool first = true;
  for (auto& [k, v] : c.errors) {
    if (!first) s += ",";
    first = false;
    s += "\"" + k + "\":" + std::to_string(v);
  }
  return s + "}";
}

class Loop {
 public:
  explicit Loop(const Options& o) : o_(o) {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    if (ep_ < 0) {
      std::perror("epoll_create1");
      std::exit(2);
    }
  }

  int open_socket() {
    const Endpoint& to = o_.use_proxy ? o_.proxy : o_.target;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = connect(fd, reinterpret_cast<const sockaddr*>(&to.addr), sizeof to.addr);
    if (rc != 0 && errno != EINPROGRESS) {
      close(fd);
      return -1;
    }
    return fd;
  }

  void watch(int fd, std::uint32_t events, std::size_t index, bool add) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = index;
    epoll_ctl(ep_, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev);
  }

  std::string get_request(bool keep_alive) const {
    std::string target_text = o_.target.host + ":" + std::to_string(o_.target.port);
    std::string host_header =
        o_.target.port == 80 ? o_.target.host : target_text;
    std::string uri = o_.path;
    if (o_.mode == "idle" && o_.use_proxy) uri = "http://" + host_header + o_.path;
    std::string req = "GET " + uri + " HTTP/1.1\r\nHost: " + host_header +
                      "\r\nUser-Agent: egressd-bench\r\nAccept: */*\r\n";
    if (!keep_alive) req += "Connection: close\r\n";
    return req + "\r\n";
  }

  // ---- connect mode ---------------------------------------------------------------

  int run_connect() {
    std::vector<Conn> conns(static_cast<std::size_t>(o_.concurrency));
    const std::string connect_req = "CONNECT " + o_.target.host + ":" +
                                    std::to_string(o_.target.port) + " HTTP/1.1\r\nHost: " +
                                    o_.target.host + ":" + std::to_string(o_.target.port) +
                                    "\r\n\r\n";
    const std::string get_req = get_request(false);
    long started = 0;
    auto t0 = Clock::now();
    auto deadline = t0 + std::chrono::duration<double>(o_.duration);
    bool stopping = false;

    auto start_one = [&](std::size_t i) {
      Conn& c = conns[i];
      c = Conn{};
      if (stopping || started >= o_.max_count) return;
      c.fd = open_socket();
      if (c.fd < 0) {
        ++counters_.errors["socket"];
        return;
      }
      ++started;
      c.in_use = true;
      c.phase = Phase::connecting;
      watch(c.fd, EPOLLOUT, i, true);
    };
    auto finish = [&](std::size_t i, const char* error) {
      Conn& c = conns[i];
      if (c.fd >= 0) close(c.fd);
      c.fd = -1;
      c.in_use = false;
      if (error)
        ++counters_.errors[error];
      else
        ++counters_.ok;
      start_one(i);
    };

    for (std::size_t i = 0; i < conns.size(); ++i) start_one(i);

    std::vector<epoll_event> events(1024);
    char buf[65536];
    for (;;) {
      auto now = Clock::now();
      if (!stopping && now >= deadline) stopping = true;
      bool any = false;
      for (auto& c : conns) any = any || c.in_use;
      if (!any) break;
      // Transactions still running at the deadline get 2 s to finish, then count as
      // "unfinished".
      if (stopping && now >= deadline + std::chrono::seconds(2)) {
        for (auto& c : conns) {
          if (c.in_use) {
            close(c.fd);
            c.in_use = false;
            ++counters_.errors["unfinished"];
          }
        }
        break;
      }
      int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 50);
      for (int k = 0; k < n; ++k) {
        std::size_t i = events[k].data.u64;
        Conn& c = conns[i];
        if (!c.in_use) continue;
        if (c.phase == Phase::connecting) {
          int err = 0;
          socklen_t len = sizeof err;
          getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
          if (err != 0) {
            finish(i, "connect");
            continue;
          }
          c.phase = o_.use_proxy ? Phase::send_connect : Phase::send_get;
          c.out = o_.use_proxy ? connect_req : get_req;
          c.out_done = 0;
        }
        if (c.phase == Phase::send_connect || c.phase == Phase::send_get) {
          ssize_t w = send(c.fd, c.out.data() + c.out_done, c.out.size() - c.out_done,
                           MSG_NOSIGNAL);
          if (w < 0 && errno != EAGAIN) {
            finish(i, "write");
            continue;
          }
          if (w > 0) c.out_done += static_cast<std::size_t>(w);
          if (c.out_done < c.out.size()) {
            watch(c.fd, EPOLLOUT, i, false);
            continue;
          }
          c.phase = c.phase == Phase::send_connect ? Phase::read_connect : Phase::read_response;
          c.reader.reset();
          watch(c.fd, EPOLLIN, i, false);
          continue;
        }
        // Reading.
        bool closed = false;
        const char* error = nullptr;
        for (;;) {
          ssize_t r = recv(c.fd, buf, sizeof buf, 0);
          if (r == 0) {
            closed = true;
            break;
          }
          if (r < 0) {
            if (errno != EAGAIN) error = "read";
            break;
          }
          if (!c.reader.feed(buf, static_cast<std::size_t>(r))) {
            error = "bad-head";
            break;
          }
          if (c.phase == Phase::read_connect && c.reader.head_done) {
            if (c.reader.status < 200 || c.reader.status > 299) {
              error = "connect-status";
              break;
            }
            if (c.reader.body_bytes != 0) {
              error = "bytes-after-connect-answer";
              break;
            }
            c.phase = Phase::send_get;
            c.out = get_req;
            c.out_done = 0;
            watch(c.fd, EPOLLOUT, i, false);
            break;
          }
        }
        if (error) {
          finish(i, error);
          continue;
        }
        if (c.phase == Phase::read_response && closed) {
          if (!c.reader.head_done)
            finish(i, "closed-before-head");
          else if (c.reader.status != 200)
            finish(i, "status");
          else if (c.reader.content_length != o_.expect_length ||
                   c.reader.body_bytes != o_.expect_length)
            finish(i, "length");
          else
            finish(i, nullptr);
          continue;
        }
        if (closed) finish(i, "closed-early");
      }
    }
    double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf(
        "{\"mode\":\"connect\",\"ok\":%ld,\"errors\":%ld,\"error_kinds\":%s,"
        "\"elapsed\":%.6f,\"rate\":%.1f}\n",
        counters_.ok, counters_.error_total(), json_errors(counters_).c_str(), elapsed,
        elapsed > 0 ? static_cast<double>(counters_.ok) / elapsed : 0.0);
    return 0;
  }

  // ---- idle mode ------------------------------------------------------------------

  int run_idle() {
    std::vector<Conn> conns(static_cast<std::size_t>(o_.count));
    const std::string req = get_request(true);
    int opened = 0;
    int pending = 0;  // connects (and requests) not yet finished
    int ready = 0;
    auto t0 = Clock::now();
    auto setup_deadline = t0 + std::chrono::seconds(60);
    std::vector<epoll_event> events(1024);
    char buf[65536];
    long closed_by_peer = 0;

    auto fail = [&](std::size_t i, const char* error) {
      Conn& c = conns[i];
      if (c.fd >= 0) close(c.fd);
      c.fd = -1;
      c.in_use = false;
      ++counters_.errors[error];
      --pending;
    };

    while (ready + static_cast<int>(counters_.error_total() + closed_by_peer) < o_.count) {
      if (Clock::now() >= setup_deadline) {
        ++counters_.errors["setup-timeout"];
        break;
      }
      while (opened < o_.count && pending < o_.max_pending_connects) {
        Conn& c = conns[static_cast<std::size_t>(opened)];
        c.fd = open_socket();
        if (c.fd < 0) {
          ++counters_.errors["socket"];
          ++opened;
          continue;
        }
        c.in_use = true;
        c.phase = Phase::connecting;
        watch(c.fd, EPOLLOUT, static_cast<std::size_t>(opened), true);
        ++opened;
        ++pending;
      }
      int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 50);
      for (int k = 0; k < n; ++k) {
        std::size_t i = events[k].data.u64;
        Conn& c = conns[i];
        if (!c.in_use) continue;
        if (c.phase == Phase::connecting) {
          int err = 0;
          socklen_t len = sizeof err;
          getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
          if (err != 0) {
            fail(i, "connect");
            continue;
          }
          if (!o_.request) {
            c.phase = Phase::idle;
            watch(c.fd, EPOLLIN | EPOLLRDHUP, i, false);
            --pending;
            ++ready;
            continue;
          }
          c.phase = Phase::send_get;
          c.out = req;
          c.out_done = 0;
        }
        if (c.phase == Phase::send_get) {
          ssize_t w = send(c.fd, c.out.data() + c.out_done, c.out.size() - c.out_done,
                           MSG_NOSIGNAL);
          if (w < 0 && errno != EAGAIN) {
            fail(i, "write");
            continue;
          }
          if (w > 0) c.out_done += static_cast<std::size_t>(w);
          if (c.out_done < c.out.size()) {
            watch(c.fd, EPOLLOUT, i, false);
            continue;
          }
          c.phase = Phase::read_response;
          c.reader.reset();
          watch(c.fd, EPOLLIN | EPOLLRDHUP, i, false);
          continue;
        }
        if (c.phase == Phase::read_response) {
          const char* error = nullptr;
          bool closed = false;
          for (;;) {
            ssize_t r = recv(c.fd, buf, sizeof buf, 0);
            if (r == 0) {
              closed = true;
              break;
            }
            if (r < 0) {
              if (errno != EAGAIN) error = "read";
              break;
            }
            if (!c.reader.feed(buf, static_cast<std::size_t>(r))) {
              error = "bad-head";
              break;
            }
          }
          if (!error && c.reader.head_done && c.reader.status != 200) error = "status";
          if (!error && c.reader.head_done && c.reader.body_bytes > o_.expect_length)
            error = "length";
          if (!error && c.reader.head_done && c.reader.body_bytes == o_.expect_length) {
            if (c.reader.content_length != o_.expect_length) {
              error = "length";
            } else if (closed) {
              error = "not-kept-alive";
            } else {
              c.phase = Phase::idle;
              --pending;
              ++ready;
              continue;
            }
          }
          if (!error && closed) error = "closed-early";
          if (error) fail(i, error);
          continue;
        }
        if (c.phase == Phase::idle) {
          // Anything readable on an idle connection is the peer closing it (or bytes we
          // did not ask for): either way it is no longer an idle connection.
          ssize_t r = recv(c.fd, buf, sizeof buf, 0);
          if (r <= 0 && !(r < 0 && errno == EAGAIN)) {
            ++closed_by_peer;
            close(c.fd);
            c.fd = -1;
            c.in_use = false;
            --ready;
          } else if (r > 0) {
            ++counters_.errors["unexpected-bytes"];
          }
        }
      }
    }
    double setup_time = std::chrono::duration<double>(Clock::now() - t0).count();
    std::printf("READY %d\n", ready);
    std::fflush(stdout);

    // Hold until stdin closes or the hold time ends; keep noticing peer closes.
    auto hold_deadline = Clock::now() + std::chrono::duration<double>(o_.hold);
    watch(0, EPOLLIN, SIZE_MAX, true);
    bool stdin_closed = false;
    while (!stdin_closed && Clock::now() < hold_deadline) {
      int n = epoll_wait(ep_, events.data(), static_cast<int>(events.size()), 100);
      for (int k = 0; k < n; ++k) {
        std::size_t i = events[k].data.u64;
        if (i == SIZE_MAX) {
          ssize_t r = read(0, buf, sizeof buf);
          if (r <= 0) stdin_closed = true;
          continue;
        }
        Conn& c = conns[i];
        if (!c.in_use) continue;
        ssize_t r = recv(c.fd, buf, sizeof buf, 0);
        if (r <= 0 && !(r < 0 && errno == EAGAIN)) {
          ++closed_by_peer;
          close(c.fd);
          c.fd = -1;
          c.in_use = false;
          --ready;
        }
      }
    }
    for (auto& c : conns) {
      if (c.in_use && c.fd >= 0) close(c.fd);
    }
    std::printf(
        "{\"mode\":\"idle\",\"open_at_end\":%d,\"closed_by_peer\":%ld,\"errors\":%ld,"
        "\"error_kinds\":%s,\"setup_seconds\":%.3f}\n",
        ready, closed_by_peer, counters_.error_total(), json_errors(counters_).c_str(),
        setup_time);
    return 0;
  }

 private:
  const Options& o_;
  int ep_ = -1;
  Counters counters_;
};

}  // namespace

int main(int argc, char** argv) {
  Options o = parse_options(argc, argv);
  raise_fd_limit(static_cast<rlim_t>(o.mode == "idle" ? o.count : o.concurrency) + 1024);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  Loop loop(o);
  return o.mode == "connect" ? loop.run_connect() : loop.run_idle();
}
