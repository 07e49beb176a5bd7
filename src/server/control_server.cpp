// The control socket: JSON lines over a unix socket, one coroutine per connection, and the
// dispatch of each command to the ControlActions it acts on.
#include "server/control_server.hpp"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>

#include "core/decision_log.hpp"

namespace egressd::server {

using nlohmann::json;
namespace asio = io::asio;
using io::error_code;
using local_protocol = asio::local::stream_protocol;

std::string format_utc(io::SystemTime time) {
  const std::time_t t = std::chrono::system_clock::to_time_t(time);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  const auto n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(text, n);
}

namespace {

json failure(std::string message) {
  return json{{"ok", false}, {"error", std::move(message)}};
}

json problem_list(const core::Problems& problems) {
  json out = json::array();
  for (const auto& problem : problems) out.push_back(problem.to_string());
  return out;
}

json reload_answer(const ReloadResult& result) {
  if (!result.ok) {
    json out = failure("reload failed: the previous rules stay in force");
    out["problems"] = problem_list(result.problems);
    return out;
  }
  json changed{{"added", result.changed.added},
               {"removed", result.changed.removed},
               {"modified", result.changed.modified}};
  return json{{"ok", true},
              {"generation", result.generation},
              {"clients", result.clients},
              {"problems", problem_list(result.problems)},
              {"changed", std::move(changed)}};
}

// The clients a command names, resolved against the rules in force.
struct NamedClients {
  std::vector<core::IpAddress> addresses;
  std::vector<std::string> names;  // label when the address has a rules file, else address
  std::optional<std::string> error;
};

NamedClients resolve_clients(const json& request, const core::PolicySnapshot& snapshot) {
  NamedClients out;
  const auto it = request.find("clients");
  if (it == request.end() || !it->is_array() || it->empty() ||
      !std::all_of(it->begin(), it->end(), [](const json& v) { return v.is_string(); })) {
    out.error = "invalid request: \"clients\" must be a non-empty list of client names";
    return out;
  }
  std::map<std::string, const core::ClientPolicy*> by_label;
  for (const auto& [address, client] : snapshot.clients)
    by_label.emplace(client->label, client.get());
  for (const json& value : *it) {
    const auto& name = value.get_ref<const std::string&>();
    std::optional<core::IpAddress> address;
    if (const auto label = by_label.find(name); label != by_label.end()) {
      address = label->second->address;
    } else if (const auto parsed = core::IpAddress::parse(name)) {
      address = parsed->unmapped();
    }
    if (!address) {
      out.error = "unknown client: " + name;
      return out;
    }
    if (std::find(out.addresses.begin(), out.addresses.end(), *address) != out.addresses.end()) {
      continue;
    }
    const core::ClientPolicy* client = snapshot.find(*address);
    out.addresses.push_back(*address);
    out.names.push_back(client != nullptr ? client->label : address->to_string());
  }
  return out;
}

json nullable(const std::optional<std::string>& text) {
  return text ? json(*text) : json(nullptr);
}

json client_row(const core::IpAddress& address, const core::ClientPolicy* client,
                const io::ClientStats& stats, bool stopped) {
  json row;
  row["label"] = client != nullptr ? json(client->label) : json(nullptr);
  row["address"] = address.to_string();
  row["known"] = client != nullptr;
  row["rules_file"] = client != nullptr ? json(client->rules_path) : json(nullptr);
  row["mode"] =
      client != nullptr ? json(std::string(core::to_string(client->mode))) : json(nullptr);
  row["state"] = stopped ? "stopped" : "serving";
  row["active_connections"] = stats.active_connections;
  row["allowed"] = stats.allowed;
  row["denied"] = stats.denied;
  row["last_denied_host"] =
      stats.last_denied_host.empty() ? json(nullptr) : json(stats.last_denied_host);
  std::optional<std::string> seen;
  if (stats.last_seen) seen = format_utc(*stats.last_seen);
  row["last_seen"] = nullable(seen);
  return row;
}

json show(ControlActions& actions) {
  const auto snapshot = actions.policy();
  const auto activity = actions.activity();
  const auto stopped = actions.stopped();
  const io::ClientStats none;
  const auto stats_of = [&](const core::IpAddress& address) -> const io::ClientStats& {
    const auto it = activity.find(address);
    return it == activity.end() ? none : it->second;
  };

  std::vector<const core::ClientPolicy*> known;
  for (const auto& [address, client] : snapshot->clients) known.push_back(client.get());
  std::sort(known.begin(), known.end(),
            [](const auto* a, const auto* b) { return a->label < b->label; });
  // Addresses without a rules file that connected, or that were stopped by address.
  std::vector<core::IpAddress> unknown;
  for (const auto& [address, stats] : activity) {
    if (snapshot->find(address) == nullptr) unknown.push_back(address);
  }
  for (const auto& address : *stopped) {
    if (snapshot->find(address) == nullptr && activity.find(address) == activity.end()) {
      unknown.push_back(address);
    }
  }
  std::sort(unknown.begin(), unknown.end());

  json clients = json::array();
  for (const auto* client : known) {
    clients.push_back(client_row(client->address, client, stats_of(client->address),
                                 stopped->count(client->address) > 0));
  }
  for (const auto& address : unknown) {
    clients.push_back(client_row(address, nullptr, stats_of(address), stopped->count(address) > 0));
  }
  return json{{"ok", true},
              {"generation", snapshot->generation},
              {"rules_dir", snapshot->rules_dir},
              {"listen", actions.listen_addresses()},
              {"workers", actions.worker_count()},
              {"clients", std::move(clients)}};
}

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& name : names) {
    if (!out.empty()) out += ',';
    out += name;
  }
  return out;
}

}  // namespace

json dispatch_control_request(const json& request, ControlActions& actions) {
  if (!request.is_object() || !request.contains("command") || !request["command"].is_string()) {
    return failure("invalid request: expected a JSON object with a \"command\" string");
  }
  const auto& command = request["command"].get_ref<const std::string&>();

  if (command == "show") return show(actions);
  if (command == "reload") return reload_answer(actions.reload());
  if (command == "kill-all") {
    const auto closed = actions.close_all_connections();
    spdlog::info("control: closed every connection closed_connections={}", closed);
    return json{{"ok", true}, {"closed_connections", closed}};
  }
  if (command == "kill-all-and-restart") {
    const auto closed = actions.close_all_connections();
    spdlog::info("control: closed every connection closed_connections={}", closed);
    json answer = reload_answer(actions.reload());
    answer["closed_connections"] = closed;
    return answer;
  }
  if (command != "stop" && command != "start" && command != "restart") {
    return failure("unknown command: " + command);
  }

  // Commands that name clients: resolve every name before doing anything.
  const auto named = resolve_clients(request, *actions.policy());
  if (named.error) return failure(*named.error);
  const auto names = json(named.names);
  if (command == "restart") {
    const auto result = actions.reload();
    json answer = reload_answer(result);
    if (!result.ok) return answer;
    const auto closed = actions.close_connections(named.addresses);
    spdlog::info("control: restarted clients={} closed_connections={}",
                 core::log_value(joined(named.names)), closed);
    answer["closed_connections"] = closed;
    return answer;
  }
  const bool stop = command == "stop";
  // Stopped first, then closed: a connection opened in between is refused, not missed.
  actions.set_stopped(named.addresses, stop);
  const std::size_t closed = stop ? actions.close_connections(named.addresses) : 0;
  spdlog::info("control: {} clients={} closed_connections={}", stop ? "stopped" : "started",
               core::log_value(joined(named.names)), closed);
  return json{{"ok", true}, {"clients", names}, {"closed_connections", closed}};
}

ControlAnswer answer_control_line(std::string_view line, ControlActions& actions) {
  json request = json::parse(line.begin(), line.end(), nullptr, false);
  if (request.is_discarded()) {
    return {failure("invalid request: not valid JSON"), true};
  }
  if (!request.is_object()) {
    return {failure("invalid request: expected a JSON object with a \"command\" string"), true};
  }
  try {
    return {dispatch_control_request(request, actions), false};
  } catch (const std::exception& e) {
    // A failure of our own (out of memory, a worker gone): the client hears about it.
    spdlog::error("control: command failed: {}", e.what());
    return {failure(std::string("internal error: ") + e.what()), false};
  }
}

// ---- the socket ---------------------------------------------------------------------

ControlServer::ControlServer(asio::io_context& io, ControlActions& actions,
                             std::chrono::seconds idle_timeout)
    : io_(io), actions_(actions), idle_timeout_(idle_timeout), acceptor_(io) {}

ControlServer::~ControlServer() {
  close();
}

namespace {

std::string system_error(int err) {
  return std::strerror(err);
}

// Creates the missing folders of `dir` with mode 0755 (as umask allows).
bool make_folders(const std::string& dir, std::string& error) {
  for (std::size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    const std::string prefix = dir.substr(0, pos);
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      error = "cannot create the folder " + prefix + ": " + system_error(errno);
      return false;
    }
  }
  return true;
}

// True when something accepts connections on the unix socket at `path`.
bool socket_answers(const std::string& path) {
  asio::io_context probe_io;
  local_protocol::socket probe(probe_io);
  error_code ec;
  probe.connect(local_protocol::endpoint(path), ec);
  return !ec;
}

}  // namespace

bool ControlServer::open(const std::string& path, std::string& error) {
  const auto fail = [&](const std::string& why) {
    error = "cannot open the control socket " + path + ": " + why;
    return false;
  };
  const auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    std::string why;
    if (!make_folders(path.substr(0, slash), why)) return fail(why);
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return fail("the file exists and is not a socket");
    if (socket_answers(path)) return fail("another egressd is answering on it");
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return fail("cannot remove the stale socket: " + system_error(errno));
    }
  }

  error_code ec;
  acceptor_.open(local_protocol(), ec);
  if (ec) return fail(ec.message());
  // Nobody but the owner (root) may ever connect, not even between bind and chmod.
  const mode_t old_mask = ::umask(0177);
  acceptor_.bind(local_protocol::endpoint(path), ec);
  ::umask(old_mask);
  if (ec) {
    acceptor_.close();
    return fail(ec.message());
  }
  path_ = path;
  if (::chmod(path.c_str(), 0600) != 0) {
    const std::string why = system_error(errno);
    close();
    return fail(why);
  }
  acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    close();
    return fail(ec.message());
  }
  spdlog::info("control socket path={}", core::log_value(path));
  return true;
}

void ControlServer::start() {
  if (acceptor_.is_open()) asio::co_spawn(io_, accept_loop(), asio::detached);
}

void ControlServer::close() {
  error_code ignored;
  if (acceptor_.is_open()) acceptor_.close(ignored);
  for (Socket* socket : connections_) socket->close(ignored);
  if (!path_.empty()) {
    ::unlink(path_.c_str());
    path_.clear();
  }
}

io::awaitable<void> ControlServer::accept_loop() {
  for (;;) {
    error_code ec;
    Socket socket = co_await acceptor_.async_accept(io::with_ec(ec));
    if (!acceptor_.is_open()) co_return;
    if (ec) continue;  // e.g. out of descriptors: the client sees its connection closed
    if (connections_.size() >= kMaxConnections) {
      spdlog::warn("control: {} connections already open; refusing another", kMaxConnections);
      continue;
    }
    asio::co_spawn(io_, serve(std::move(socket)), asio::detached);
  }
}

namespace {

// The idle deadline of one control connection. Its handler holds the state, so it stays
// valid even when the connection's coroutine has already ended.
struct IdleDeadline {
  explicit IdleDeadline(asio::io_context& io) : timer(io) {}
  asio::steady_timer timer;
  local_protocol::socket* socket = nullptr;  // null once the connection has ended
};

void arm(const std::shared_ptr<IdleDeadline>& deadline, std::chrono::seconds idle) {
  deadline->timer.expires_after(idle);
  deadline->timer.async_wait([deadline](const error_code& ec) {
    if (ec || deadline->socket == nullptr) return;
    // A re-armed timer has a later expiry: this wait is then out of date.
    if (deadline->timer.expiry() > asio::steady_timer::clock_type::now()) return;
    error_code ignored;
    deadline->socket->close(ignored);
  });
}

std::string dump(const json& answer) {
  return answer.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace

io::awaitable<void> ControlServer::serve(Socket socket) {
  connections_.insert(&socket);
  auto deadline = std::make_shared<IdleDeadline>(io_);
  deadline->socket = &socket;
  std::string buffer;
  for (;;) {
    arm(deadline, idle_timeout_);
    error_code ec;
    const std::size_t n = co_await asio::async_read_until(
        socket, asio::dynamic_buffer(buffer, kMaxLine + 1), '\n', io::with_ec(ec));
    ControlAnswer reply;
    if (ec == asio::error::not_found) {
      reply = {failure("invalid request: the request line is longer than 64 KiB"), true};
    } else if (ec) {
      break;  // closed by the client, by the idle deadline or by close()
    } else {
      std::string_view line(buffer.data(), n - 1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.find_first_not_of(" \t") == std::string_view::npos) {
        buffer.erase(0, n);
        continue;  // blank lines are not requests
      }
      reply = answer_control_line(line, actions_);
      buffer.erase(0, n);
    }
    const std::string text = dump(reply.answer);
    co_await asio::async_write(socket, asio::buffer(text), io::with_ec(ec));
    if (ec || reply.close) break;
  }
  deadline->socket = nullptr;
  deadline->timer.cancel();
  connections_.erase(&socket);
  error_code ignored;
  socket.close(ignored);
}

}  // namespace egressd::server
