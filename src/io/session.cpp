// One client connection: read requests, decide, then forward, tunnel or refuse.
//
// The session does the I/O; what to answer comes from the pure core (decide(), the page
// renderers). Every read has a deadline and every message head a size limit.
#include "io/session.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "core/decision_log.hpp"
#include "core/pages.hpp"
#include "core/parent_protocol.hpp"
#include "core/policy.hpp"
#include "core/request_target.hpp"
#include "core/tinyproxy_mode.hpp"
#include "io/http_headers.hpp"
#include "io/join.hpp"
#include "io/parent_connect.hpp"
#include "io/tunnel.hpp"
#include "io/upstream.hpp"

namespace egressd::io {
namespace {

constexpr std::size_t kBodyChunk = ChunkPool::kSize;  // the pieces bodies move in
// What a request head is first read into: most heads fit, a longer one grows the buffer.
constexpr std::size_t kHeadChunk = 4 * 1024;

// The origin connection a session keeps while its client asks the same origin again.
struct Upstream {
  explicit Upstream(const asio::any_io_executor& executor) : stream(executor) {}
  explicit Upstream(tcp::socket socket) : stream(std::move(socket)) {}
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  std::string host;
  std::uint16_t port = 0;
  tcp::endpoint peer;  // the address it is connected to
};

enum class RelayEnd { complete, source_failed, destination_failed };

struct RelayOutcome {
  RelayEnd end = RelayEnd::complete;
  error_code ec;
};

// Streams the body of the message `parser` is reading from `source` to `destination`
// through `serializer` (which sends the head first if it has not been written yet). Holds
// one chunk of the worker's pool while it runs.
template <bool isRequest>
awaitable<RelayOutcome> relay_body(beast::tcp_stream& source, beast::flat_buffer& source_buffer,
                                   http::parser<isRequest, http::buffer_body>& parser,
                                   beast::tcp_stream& destination,
                                   http::serializer<isRequest, http::buffer_body>& serializer,
                                   std::chrono::seconds idle, ChunkPool& pool) {
  auto chunk = pool.take();
  auto& body = parser.get().body();
  do {
    if (!parser.is_done()) {
      body.data = chunk.data();
      body.size = chunk.size();
      error_code ec;
      source.expires_after(idle);
      co_await http::async_read(source, source_buffer, parser, with_ec(ec));
      if (ec == http::error::need_buffer) ec = {};
      if (ec) co_return RelayOutcome{RelayEnd::source_failed, ec};
      body.size = chunk.size() - body.size;
      body.data = chunk.data();
      body.more = !parser.is_done();
    } else {
      body.data = nullptr;
      body.size = 0;
      body.more = false;
    }
    error_code ec;
    destination.expires_after(idle);
    co_await http::async_write(destination, serializer, with_ec(ec));
    if (ec == http::error::need_buffer) ec = {};
    if (ec) co_return RelayOutcome{RelayEnd::destination_failed, ec};
  } while (!parser.is_done() && !serializer.is_done());
  co_return RelayOutcome{};
}

// Waits for the first bytes of a request on a connection with nothing buffered, without
// holding a buffer while it waits (an idle connection holds none; the buffer is released
// after each request that leaves nothing behind). What has already arrived is taken at
// once through the worker's scratch space (one read); otherwise a one-byte read waits,
// under the stream's deadline. Returns http::error::end_of_stream on a clean close.
awaitable<error_code> read_first_bytes(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                       std::span<char> scratch) {
  error_code ec;
  const auto room = std::min<std::size_t>(kHeadChunk, buffer.max_size());
  // The socket is in non-blocking mode: this returns would_block when nothing is there.
  std::size_t n = stream.socket().read_some(asio::buffer(scratch.data(), scratch.size()), ec);
  if (ec == asio::error::would_block) {
    char first = 0;
    ec = {};
    n = co_await stream.async_read_some(asio::buffer(&first, 1), with_ec(ec));
    if (!ec) buffer.commit(asio::buffer_copy(buffer.prepare(room), asio::buffer(&first, n)));
  } else if (!ec) {
    buffer.commit(asio::buffer_copy(buffer.prepare(room), asio::buffer(scratch.data(), n)));
  }
  if (ec == asio::error::eof) co_return http::error::end_of_stream;
  co_return ec;
}

// Reads one message head into `parser`. take_head() does the checking and parsing; this
// loop reads until the whole head is in the buffer, so that head_problem() can refuse what
// Beast would accept but another parser could read differently (obsolete line folding,
// which Beast joins silently, whitespace before a colon, control characters...), and so
// that an over-long request line or head is refused as soon as it is one. Reads are
// bounded by limits.header_bytes and by the stream's deadline.
//
// A chunked body gets `chunks` as its chunk-header callback (extension length), and its
// first chunk header is parsed before read_head() returns, so that a bad one is refused
// before anything is relayed: for a request, only if it is already buffered (a client
// may wait for 100 Continue before sending its body); for a response, by reading until
// it has arrived.
//
// On a clean end of stream before any byte, returns http::error::end_of_stream. Sets
// `problem` and `status` for refusals of our own (and `problem` for a refused chunk).
template <bool isRequest>
awaitable<error_code> read_head(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                http::parser<isRequest, http::buffer_body>& parser,
                                const core::Limits& limits, ChunkExtensionCheck& chunks,
                                std::string& problem, HeadStatus& status) {
  error_code ec;
  for (;;) {
    const std::string_view bytes(static_cast<const char*>(buffer.data().data()), buffer.size());
    std::size_t used = 0;
    const auto progress = take_head(bytes, parser, limits, used, problem, status, ec);
    if (progress == HeadProgress::refused) co_return ec;
    if (progress == HeadProgress::parsed) {
      buffer.consume(used);
      break;
    }
    const auto room = std::min<std::size_t>(isRequest ? kHeadChunk : kBodyChunk,
                                            buffer.max_size() - buffer.size());
    if (room == 0) co_return http::error::header_limit;
    const auto n = co_await stream.async_read_some(buffer.prepare(room), with_ec(ec));
    buffer.commit(n);
    if (ec == asio::error::eof)
      co_return buffer.size() == 0 ? http::error::end_of_stream : http::error::partial_message;
    if (ec) co_return ec;
  }

  if (!parser.chunked() || parser.is_done()) co_return error_code{};
  chunks.reset(limits.chunk_extension_bytes);
  parser.on_chunk_header(chunks);
  // With no body buffer, the parser stops after the chunk header (need_buffer at the
  // latest), before any chunk data. If that chunk is the last one, the (empty) body is
  // parsed whole and the parser is done: callers still frame a chunked body then.
  auto& body = parser.get().body();
  body.data = nullptr;
  body.size = 0;
  if (buffer.size() > 0) {
    const auto used = parser.put(buffer.data(), ec);
    buffer.consume(used);
    if (ec == http::error::need_buffer) ec = {};
    if (ec != http::error::need_more) {
      if (ec && !chunks.problem().empty()) problem = chunks.problem();
      co_return ec;
    }
    ec = {};
  }
  if (isRequest) co_return error_code{};
  co_await http::async_read_some(stream, buffer, parser, with_ec(ec));
  if (ec == http::error::need_buffer) ec = {};
  if (ec && !chunks.problem().empty()) problem = chunks.problem();
  co_return ec;
}

class Session final : public Abortable {
 public:
  Session(WorkerContext& context, tcp::socket socket, const tcp::endpoint& peer,
          std::string_view early)
      : context_(context),
        timeouts_(context.settings.timeouts),
        client_(std::move(socket)),
        buffer_(context.settings.limits.header_bytes + kBodyChunk),
        client_address_(to_core(peer.address()).unmapped()),
        client_text_(client_address_.to_string()) {
    if (!early.empty()) {
      buffer_.commit(asio::buffer_copy(buffer_.prepare(early.size()),
                                       asio::buffer(early.data(), early.size())));
    }
  }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  ~Session() {
    if (registered_) context_.activity.connection_closed(client_address_, *this);
  }

  awaitable<void> run();

  // Closes every socket the session holds (client, kept origin, an origin being
  // connected, both ends of a tunnel); each pending operation then fails and the
  // session coroutine ends without sending anything more.
  void abort() override;
  // An open tunnel re-decides its CONNECT under `snapshot` (reload with recheck_tunnels).
  bool allowed_under(const core::PolicySnapshot& snapshot) override;

 private:
  using RequestParser = http::request_parser<http::buffer_body>;
  using ResponseParser = http::response_parser<http::buffer_body>;
  using Headers = std::vector<std::pair<std::string, std::string>>;

  awaitable<bool> handle(RequestParser& parser);
  awaitable<bool> handle_connect(RequestParser& parser);
  awaitable<bool> forward(RequestParser& parser, const core::AbsoluteTarget& target);
  awaitable<void> relay_request_body(RequestParser& parser, Upstream& up,
                                     http::serializer<true, http::buffer_body>& writer,
                                     RelayOutcome& outcome, bool& finished);
  // A connection over a cap: answers its first request with 503 (closes a CONNECT).
  awaitable<void> refuse_over_cap();
  awaitable<void> answer_read_error(const error_code& ec, const RequestParser& parser,
                                    const std::string& problem, HeadStatus refusal);

  // Sends a response of our own. Returns whether the client connection may be reused.
  awaitable<bool> send(http::status status, std::string_view content_type, std::string body,
                       bool keep_alive, Headers extra = {}, std::string_view reason = {});
  awaitable<bool> send_error(http::status status, std::string_view detail, bool keep_alive);
  // tinyproxy mode: a page from the config's templates with tinyproxy's reason phrase
  // (`cause`); the connection is closed afterwards, as tinyproxy does.
  awaitable<bool> send_tinyproxy(const core::TinyproxyBehaviour& behaviour, http::status status,
                                 std::string_view cause, std::string_view detail,
                                 Headers extra = {});
  // tinyproxy mode's checks before the decision, in tinyproxy's order: Allow/Deny, then
  // BasicAuth, then the StatHost page. Sets `answered` when one of them answered.
  awaitable<bool> tinyproxy_checks(const core::PolicySnapshot& snapshot,
                                   const http::request<http::buffer_body>& request,
                                   const core::Host& host, bool is_connect, bool& answered);
  // tinyproxy mode's answer to a denied request: 403 "Filtered", "Access violation" (port)
  // or "Access denied" (Allow/Deny), with tinyproxy's log line.
  awaitable<bool> tinyproxy_refusal(const core::TinyproxyBehaviour& behaviour,
                                    const core::Decision& decision, const core::Host& host,
                                    std::uint16_t port, bool is_connect);
  // What tinyproxy mode's pages and URL filters see of the request being served.
  void note_request(const core::PolicySnapshot& snapshot, std::string_view method,
                    std::string_view target) {
    tinyproxy_ = snapshot.tinyproxy;
    if (!tinyproxy_) return;
    request_url_.assign(target);
    request_line_.assign(method);
    request_line_ += ' ';
    request_line_.append(target);
    request_line_ += client_version_ == 10 ? " HTTP/1.0" : " HTTP/1.1";
  }

  // Decides with the client's learning mode, then logs and records the decision.
  core::Decision decide_and_log(const core::PolicySnapshot& snapshot, std::string_view method,
                                const core::Host& host, std::uint16_t port, bool is_connect,
                                std::string_view url = {});
  // Logs a decision, counts it, keeps a refusal for `blocked`, a learned request for
  // `suggest`, and hands it to `watch` when someone watches.
  void record(std::string_view method, std::string_view host, std::uint16_t port,
              bool is_connect, const core::Decision& decision);
  // Answers a request of a stopped client (a decision with reason client_stopped) with
  // 503 and the "stopped" page. Returns false: the connection is closed afterwards.
  awaitable<bool> refuse_stopped(const core::Decision& decision, std::string_view method,
                                 const core::Host& host, std::uint16_t port, bool is_connect);
  core::ClientFlags flags() const {
    return {context_.stopped.contains(client_address_),
            context_.learning.contains(client_address_)};
  }
  void close_upstream() { upstream_.reset(); }
  // Sets parent_ to the upstream the config's routes choose for this request, if any.
  void choose_parent(const core::PolicySnapshot& snapshot, const core::Host& host,
                     const core::ClientPolicy* client) {
    parent_.reset();
    if (snapshot.routing.empty()) return;
    const auto choice = core::choose_route(snapshot.routing, host, client_address_,
                                           client != nullptr ? client->label : "");
    if (choice.parent != nullptr) parent_ = *choice.parent;
  }
  // What a kept connection for `target` is filed under: the origin's name and port when
  // direct; through a SOCKS parent, that name "via" the parent's URL; through an HTTP
  // parent, the parent's URL alone (it carries requests for any host). Host names
  // contain no spaces, and a reload that moves a parent elsewhere changes its URL.
  std::pair<std::string, std::uint16_t> upstream_key(const core::AbsoluteTarget& target) const {
    if (!parent_) return {target.host.name, target.port};
    if (parent_->kind == core::ParentKind::http) return {"via " + parent_->display(), 0};
    return {target.host.name + " via " + parent_->display(), target.port};
  }
  // The rules a kept connection's address is checked against: a parent's address is the
  // config's choice, not the client's.
  const core::DestinationRules& reach_rules() const {
    return parent_ ? any_destination() : destinations_;
  }
  // Hands a kept origin connection that can carry another request to the worker's pool
  // (for this client's next connection), or closes it.
  void park_upstream();
  // Whether the kept origin connection is the one filed under `key` (upstream_key()), at
  // an address reach_rules() still allows.
  bool upstream_serves(const std::pair<std::string, std::uint16_t>& key) const;
  // The destination check of this client under `snapshot` (see core::destination_refusal).
  // Fills destinations_ for a request decided under `snapshot`, in place: the vectors keep
  // their capacity, so a connection's later requests allocate nothing here.
  void set_destinations(const core::PolicySnapshot& snapshot) {
    auto& rules = destinations_;
    rules.allowed.assign(snapshot.allow_destinations.begin(), snapshot.allow_destinations.end());
    if (const auto* client = snapshot.find(client_address_)) {
      rules.allowed.insert(rules.allowed.end(), client->allow_destinations.begin(),
                           client->allow_destinations.end());
    }
    const auto own = context_.local_addresses.current();
    rules.own_addresses.assign(own->begin(), own->end());
    rules.listen.assign(context_.settings.listen.begin(), context_.settings.listen.end());
  }
  // The status for a failed connect, logged: 403 for a refused destination, 504 for a
  // timeout, 502 otherwise.
  http::status upstream_status(const ConnectOutcome& outcome, std::string_view host,
                               std::uint16_t port) const {
    if (outcome.status == ConnectOutcome::Status::destination_refused) {
      spdlog::info("destination refused addr={} host={} port={} reason={}", client_text_, host,
                   port, core::log_value(outcome.detail));
      return http::status::forbidden;
    }
    log_upstream_error(host, port, outcome.detail);
    if (outcome.status == ConnectOutcome::Status::parent_refused) {
      return static_cast<http::status>(outcome.parent_status);
    }
    return outcome.is_timeout() ? http::status::gateway_timeout : http::status::bad_gateway;
  }
  void log_upstream_error(std::string_view host, std::uint16_t port,
                          std::string_view detail) const {
    spdlog::warn("upstream error addr={} host={} port={} error={}", client_text_, host, port,
                 core::log_value(detail));
  }

  WorkerContext& context_;
  const core::Timeouts& timeouts_;
  beast::tcp_stream client_;
  beast::flat_buffer buffer_;
  core::IpAddress client_address_;
  std::string client_text_;
  unsigned client_version_ = 11;
  bool head_request_ = false;  // the request being answered is a HEAD
  std::optional<Upstream> upstream_;
  bool registered_ = false;  // in context_.activity
  bool aborted_ = false;
  // Sockets that live in a coroutine frame while they are in use, for abort().
  beast::tcp_stream* connecting_ = nullptr;  // origin of a CONNECT being connected
  tcp::socket* tunnel_client_ = nullptr;
  tcp::socket* tunnel_origin_ = nullptr;
  std::optional<core::AuthorityTarget> tunnel_target_;  // while a tunnel is open
  core::DestinationRules destinations_;  // of the request being served
  std::optional<core::ParentProxy> parent_;  // the upstream of the request being served
  ConnectionLimits::Slot slot_;  // this connection's place under the connection caps
  bool closed_by_reload_ = false;
  ChunkExtensionCheck request_chunks_;  // the chunk-header callback of the current request
  // tinyproxy mode (nullptr otherwise): how the request being served is answered, its
  // URL ("host:port" for CONNECT) and request line, for pages and URL filters.
  std::shared_ptr<const core::TinyproxyBehaviour> tinyproxy_;
  std::string request_url_;
  std::string request_line_;
};

void Session::park_upstream() {
  if (upstream_ && !aborted_ && upstream_->stream.socket().is_open() &&
      upstream_->buffer.size() == 0) {
    context_.origins.put(client_address_, upstream_->host, upstream_->port,
                         upstream_->stream.release_socket(), upstream_->peer);
  }
  upstream_.reset();
}

bool Session::upstream_serves(const std::pair<std::string, std::uint16_t>& key) const {
  return upstream_ && upstream_->host == key.first && upstream_->port == key.second &&
         upstream_->stream.socket().is_open() && may_reach(upstream_->peer, reach_rules());
}

void Session::abort() {
  aborted_ = true;
  error_code ignored;
  client_.close();
  if (upstream_) upstream_->stream.close();
  if (connecting_ != nullptr) connecting_->close();
  if (tunnel_client_ != nullptr) tunnel_client_->close(ignored);
  if (tunnel_origin_ != nullptr) tunnel_origin_->close(ignored);
}

awaitable<void> Session::run() {
  error_code ec;
  // TCP_NODELAY comes from the listening socket (Linux copies it to accepted ones).
  client_.socket().non_blocking(true, ec);  // for read_first_bytes(); async ops do not mind
  context_.activity.connection_opened(client_address_, *this, std::chrono::system_clock::now());
  registered_ = true;
  slot_ = context_.limits.acquire(client_address_);
  if (slot_.refusal() != ConnectionLimits::Refusal::none) {
    co_await refuse_over_cap();
    co_return;
  }

  bool first = true;
  while (!aborted_) {
    RequestParser parser;
    prepare_parser(parser, context_.settings.limits);
    // The first request must arrive promptly; later ones may wait for the idle deadline.
    client_.expires_after(first ? timeouts_.request_head : timeouts_.idle_client);
    std::string problem;
    HeadStatus refusal = HeadStatus::ok;
    if (buffer_.size() == 0) ec = co_await read_first_bytes(client_, buffer_, context_.scratch);
    if (!ec) {
      ec = co_await read_head<true>(client_, buffer_, parser, context_.settings.limits,
                                    request_chunks_, problem, refusal);
    }
    if (ec) {
      // A refused head was not parsed: its first bytes say whether it was a HEAD.
      const std::string_view raw(static_cast<const char*>(buffer_.data().data()),
                                 buffer_.size());
      head_request_ = raw.substr(0, 5) == "HEAD ";
      co_await answer_read_error(ec, parser, problem, refusal);
      break;
    }
    first = false;
    client_version_ = parser.get().version();
    head_request_ = parser.get().method() == http::verb::head;
    if (!co_await handle(parser)) break;
    if (buffer_.size() == 0) buffer_.shrink_to_fit();  // idle connections hold no buffer
  }
  park_upstream();
  client_.socket().shutdown(tcp::socket::shutdown_both, ec);
  client_.close();
}

awaitable<void> Session::refuse_over_cap() {
  const bool global = slot_.refusal() == ConnectionLimits::Refusal::global;
  const std::size_t cap =
      global ? context_.limits.global_cap() : context_.limits.client_cap();
  context_.limits.refused.fetch_add(1, std::memory_order_relaxed);
  spdlog::warn("connection refused addr={} reason={} limit={}", client_text_,
               global ? "connections" : "connections-per-client", cap);
  // The request says how to answer: a CONNECT client cannot show a page, it is closed.
  RequestParser parser;
  prepare_parser(parser, context_.settings.limits);
  client_.expires_after(timeouts_.request_head);
  error_code ec;
  co_await http::async_read_header(client_, buffer_, parser, with_ec(ec));
  if (ec || parser.get().method() == http::verb::connect) co_return;
  client_version_ = parser.get().version();
  head_request_ = parser.get().method() == http::verb::head;
  const std::string detail =
      global ? "egressd has too many open connections (limit " + std::to_string(cap) +
                   "); try again later"
             : "this client has too many open connections (limit " + std::to_string(cap) +
                   "); close some and try again";
  co_await send_error(http::status::service_unavailable, detail, false);
}

awaitable<void> Session::answer_read_error(const error_code& ec, const RequestParser& parser,
                                           const std::string& problem, HeadStatus refusal) {
  if (ec == http::error::end_of_stream || ec == asio::error::eof ||
      ec == asio::error::connection_reset || ec == asio::error::operation_aborted) {
    co_return;  // the client went away between requests
  }
  if (ec == beast::error::timeout) {
    // The stream has closed the socket on its deadline; a head that stalled half-way is
    // worth a log line, silence between requests is not.
    if (parser.got_some() || buffer_.size() > 0) {
      spdlog::info("request head timed out addr={}", client_text_);
    }
    co_return;
  }
  // Each refusal closes the connection: what follows the refused head cannot be trusted
  // to start the next request.
  if (refusal == HeadStatus::uri_too_long) {
    spdlog::info("bad request addr={} error={}", client_text_, core::log_value(problem));
    co_await send_error(http::status::uri_too_long, problem, false);
    co_return;
  }
  if (refusal == HeadStatus::fields_too_large || ec == http::error::header_limit) {
    std::string detail = problem;
    if (detail.empty()) detail = "the request head is larger than the configured limit";
    spdlog::info("bad request addr={} error={}", client_text_, core::log_value(detail));
    co_await send_error(http::status::request_header_fields_too_large, detail, false);
    co_return;
  }
  const std::string detail = "malformed request: " + (problem.empty() ? ec.message() : problem);
  spdlog::info("bad request addr={} error={}", client_text_, core::log_value(detail));
  co_await send_error(http::status::bad_request, detail, false);
}

core::Decision Session::decide_and_log(const core::PolicySnapshot& snapshot,
                                       std::string_view method, const core::Host& host,
                                       std::uint16_t port, bool is_connect, std::string_view url) {
  const core::DecisionRequest request{method, host, port, is_connect, url};
  const auto decision = core::decide(snapshot, client_address_, request, flags());
  if (tinyproxy_) {
    // For the statistics page only: shared counters stay off the path of egressd's own mode.
    context_.limits.requests.fetch_add(1, std::memory_order_relaxed);
    if (!decision.allowed()) context_.limits.denied.fetch_add(1, std::memory_order_relaxed);
  }
  record(method, host.name, port, is_connect, decision);
  return decision;
}

void Session::record(std::string_view method, std::string_view host, std::uint16_t port,
                     bool is_connect, const core::Decision& decision) {
  const auto line = core::format_decision_log(client_address_, method, host, port, decision);
  const auto now = std::chrono::system_clock::now();
  if (decision.reason == core::Reason::learning) {
    // Loud on purpose: the rules said no and the request went through.
    spdlog::warn(line);
    context_.activity.record_learned(client_address_, host, port, is_connect);
  } else {
    spdlog::info(line);
  }
  context_.activity.record_decision(client_address_, decision.allowed(), host, port,
                                    is_connect, now);
  if (context_.feed.active()) {
    DecisionEvent event{now, client_address_, {}, std::string(method), std::string(host), port,
                        decision.allowed(), std::string(core::reason_code(decision.reason)), {}};
    if (decision.client != nullptr) {
      event.label = decision.client->label;
      if (decision.rule != nullptr) {
        event.rule = decision.client->rules_path + ":" + std::to_string(decision.rule->line);
      }
    }
    context_.feed.publish(std::move(event));
  }
}

bool Session::allowed_under(const core::PolicySnapshot& snapshot) {
  if (!tunnel_target_ || aborted_) return true;
  const core::DecisionRequest request{"CONNECT", tunnel_target_->host, tunnel_target_->port,
                                      true, request_url_};
  const auto decision = core::decide(snapshot, client_address_, request, flags());
  if (decision.allowed()) return true;
  spdlog::info("tunnel denied by new rules addr={} host={} port={} reason={}", client_text_,
               tunnel_target_->host.name, tunnel_target_->port,
               core::reason_code(decision.reason));
  closed_by_reload_ = true;
  return false;
}

awaitable<bool> Session::refuse_stopped(const core::Decision& decision, std::string_view method,
                                        const core::Host& host, std::uint16_t port,
                                        bool is_connect) {
  core::StoppedInfo info;
  if (decision.client != nullptr) info.client_label = decision.client->label;
  info.client_address = client_text_;
  info.method = std::string(method);
  info.host = host.name;
  info.port = port;
  Headers headers;
  headers.emplace_back("X-Egressd-Reason", std::string(core::reason_code(decision.reason)));
  std::string body;
  std::string_view content_type = "text/html; charset=utf-8";
  if (is_connect) {
    body = core::render_stopped_text(info);
    content_type = "text/plain; charset=utf-8";
  } else {
    body = core::render_stopped_html(info);
  }
  co_await send(http::status::service_unavailable, content_type, std::move(body), false,
                std::move(headers));
  co_return false;
}

awaitable<bool> Session::handle(RequestParser& parser) {
  auto& request = parser.get();
  const bool keep_alive = request.keep_alive();
  const bool has_body = !parser.is_done();

  // (Versions other than 1.0 and 1.1 never get here: head_problem() refuses them.)
  if (const auto problem = framing_problem(request); !problem.empty()) {
    co_return co_await send_error(http::status::bad_request,
                                  "ambiguous message framing: " + problem, false);
  }
  if (request.method() == http::verb::connect) co_return co_await handle_connect(parser);

  const auto raw_target = request.target();
  const auto form = core::classify_target({raw_target.data(), raw_target.size()});
  if (form != core::TargetForm::absolute) {
    co_return co_await send_error(
        http::status::bad_request,
        "egressd is a forward proxy: requests must name the full URL (http://host/path), or use "
        "CONNECT for HTTPS",
        false);
  }
  auto target = core::parse_absolute_target({raw_target.data(), raw_target.size()});
  if (!target) {
    co_return co_await send_error(http::status::bad_request,
                                  "invalid request target: " + target.error().message, false);
  }

  // The decision keeps this snapshot whatever a reload publishes meanwhile.
  auto snapshot = context_.policies.current();
  const auto method = request.method_string();
  note_request(*snapshot, {method.data(), method.size()}, {raw_target.data(), raw_target.size()});
  if (tinyproxy_) {
    bool answered = false;
    const bool keep =
        co_await tinyproxy_checks(*snapshot, request, target->host, false, answered);
    if (answered) co_return keep;
  }
  const std::string_view url = tinyproxy_ ? std::string_view(request_url_) : std::string_view();
  const auto decision = decide_and_log(*snapshot, {method.data(), method.size()}, target->host,
                                       target->port, false, url);
  if (decision.reason == core::Reason::client_stopped) {
    co_return co_await refuse_stopped(decision, {method.data(), method.size()}, target->host,
                                      target->port, false);
  }
  if (!decision.allowed() && tinyproxy_) {
    co_return co_await tinyproxy_refusal(*tinyproxy_, decision, target->host, target->port,
                                         false);
  }
  if (!decision.allowed()) {
    const core::DecisionRequest dr{
        {method.data(), method.size()}, target->host, target->port, false};
    auto page =
        core::render_deny_html(core::make_deny_info(*snapshot, client_address_, dr, decision));
    // An unread request body would be taken for the next request: close instead.
    co_return co_await send(http::status::forbidden, "text/html; charset=utf-8", std::move(page),
                            keep_alive && !has_body);
  }
  set_destinations(*snapshot);
  choose_parent(*snapshot, target->host, decision.client);
  // Decided: a long transfer does not keep replaced rules in memory.
  snapshot.reset();
  co_return co_await forward(parser, *target);
}

awaitable<bool> Session::forward(RequestParser& parser, const core::AbsoluteTarget& target) {
  auto& request = parser.get();
  const bool client_keep_alive = request.keep_alive();
  // A chunked body always has something to send, its last chunk at least, even when
  // read_head() has already parsed all of it.
  const bool has_body = !parser.is_done() || parser.chunked();
  const bool is_head = request.method() == http::verb::head;
  const bool request_chunked = parser.chunked();
  const auto request_length = parser.content_length();
  const auto executor = co_await asio::this_coro::executor;

  // Rewrite the head in place for the origin: origin-form target, our Host, no
  // hop-by-hop fields, framing re-established from what the parser saw.
  std::string_view via_name = context_.settings.via_name;
  if (tinyproxy_) via_name = tinyproxy_->via ? std::string_view(tinyproxy_->via_name) : "";
  rewrite_request_head(request, target.origin_form, target.host_header(), via_name,
                       request_chunked, request_length);
  if (tinyproxy_) {
    if (tinyproxy_->xtinyproxy) request.set("X-Tinyproxy", client_text_);
    for (const auto& [name, value] : tinyproxy_->add_headers) request.insert(name, value);
  }
  const bool via_http_parent = parent_ && parent_->kind == core::ParentKind::http;
  if (via_http_parent) {
    // The parent gets the absolute form, and our credentials (the client's were removed
    // with the other hop-by-hop fields).
    request.target("http://" + target.host_header() + target.origin_form);
    if (parent_->has_credentials()) {
      request.set(http::field::proxy_authorization, core::proxy_authorization(*parent_));
    }
  }
  if (parent_ && target.host.ip) {
    // A parent resolves names itself; an address the client names is checked here, also
    // for a request on a kept connection to the parent.
    if (auto why = core::destination_refusal(*target.host.ip, target.port, destinations_)) {
      ConnectOutcome refused;
      refused.status = ConnectOutcome::Status::destination_refused;
      refused.detail = "destination not allowed: " + *why;
      co_return co_await send_error(upstream_status(refused, target.host.name, target.port),
                                    refused.detail, client_keep_alive && !has_body);
    }
  }
  const auto key = upstream_key(target);

  for (int attempt = 0;; ++attempt) {
    if (aborted_) co_return false;
    bool reused = upstream_serves(key);
    if (!reused && attempt == 0) {  // a retry gets a fresh connection
      park_upstream();
      tcp::endpoint kept_peer;
      if (auto kept = context_.origins.take(client_address_, key.first, key.second,
                                            reach_rules(), kept_peer)) {
        upstream_.emplace(std::move(*kept));
        upstream_->peer = kept_peer;
        reused = true;
      }
    }
    if (!reused) {
      upstream_.emplace(executor);
      ConnectOutcome outcome;
      if (parent_) {
        outcome = co_await connect_through_parent(
            context_.resolver, *parent_, target.host, target.port, false, timeouts_.connect,
            timeouts_.response_head, destinations_, upstream_->stream, upstream_->buffer);
      } else {
        outcome = co_await connect_upstream(context_.resolver, target.host, target.port,
                                            timeouts_.connect, destinations_, upstream_->stream);
      }
      if (aborted_) {
        // The resolver is not cancelled by abort(): do not go on once it answers.
        close_upstream();
        co_return false;
      }
      if (!outcome.ok()) {
        close_upstream();
        co_return co_await send_error(upstream_status(outcome, target.host.name, target.port),
                                      outcome.detail, client_keep_alive && !has_body);
      }
      upstream_->peer = outcome.endpoint;
    }
    upstream_->host = key.first;
    upstream_->port = key.second;
    Upstream& up = *upstream_;

    // 1. The request head.
    http::serializer<true, http::buffer_body> request_writer{request};
    error_code ec;
    up.stream.expires_after(timeouts_.body_idle);
    co_await http::async_write_header(up.stream, request_writer, with_ec(ec));
    if (ec) {
      close_upstream();
      if (reused && attempt == 0) continue;  // the origin closed the idle connection: retry once
      co_return co_await send_error(http::status::bad_gateway,
                                    "sending the request to the origin failed: " + ec.message(),
                                    client_keep_alive && !has_body);
    }

    // 2. The request body, concurrently with reading the response: an origin may answer
    //    100 Continue before the body, or a final status without reading the body at all.
    RelayOutcome body_outcome;
    bool body_finished = !has_body;
    Join body_relay(executor);
    if (has_body) {
      body_relay.spawn(relay_request_body(parser, up, request_writer, body_outcome, body_finished));
    }
    // Stops the body relay (if still running) and waits for it.
    auto stop_body_relay = [&]() -> awaitable<void> {
      if (!body_relay.done()) {
        error_code ignored;
        client_.socket().cancel(ignored);
        up.stream.socket().cancel(ignored);
        co_await body_relay.wait();
      }
    };

    // 3. The response head, forwarding interim (1xx) responses to HTTP/1.1 clients.
    ChunkExtensionCheck response_chunks;  // outlives response_parser, which refers to it
    std::string response_problem;         // why head_problem() or the chunk check refused
    HeadStatus response_refusal = HeadStatus::ok;
    std::optional<ResponseParser> response_parser;
    for (;;) {
      response_parser.emplace();
      prepare_parser(*response_parser, context_.settings.limits);
      if (is_head) response_parser->skip(true);
      if (body_finished) up.stream.expires_after(timeouts_.response_head);
      ec = co_await read_head<false>(up.stream, up.buffer, *response_parser,
                                     context_.settings.limits, response_chunks, response_problem,
                                     response_refusal);
      if (ec) break;
      const auto status = response_parser->get().result_int();
      if (status < 100 || status >= 200) break;
      if (status == 101) {
        ec = http::error::bad_version;  // we never ask for an upgrade; refuse the switch
        break;
      }
      if (client_version_ >= 11) {
        http::response<http::empty_body> interim{response_parser->get().result(), 11};
        for (const auto& field : response_parser->get()) {
          interim.insert(field.name_string(), field.value());
        }
        strip_hop_by_hop(interim);
        error_code wec;
        client_.expires_after(timeouts_.body_idle);
        co_await http::async_write(client_, interim, with_ec(wec));
        if (wec) {
          co_await stop_body_relay();
          close_upstream();
          co_return false;
        }
      }
    }
    if (ec) {
      const bool nothing_received = !response_parser->got_some() && up.buffer.size() == 0;
      co_await stop_body_relay();
      close_upstream();
      if (reused && attempt == 0 && !has_body && nothing_received &&
          (ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
           ec == asio::error::eof)) {
        continue;  // a kept connection the origin had closed: retry once on a fresh one
      }
      if (body_finished && body_outcome.end == RelayEnd::source_failed &&
          is_malformed(body_outcome.ec)) {
        // The client's body broke its framing; relay_request_body() closed the origin
        // connection, which ended the wait for a response.
        std::string detail = "malformed request body: ";
        detail += request_chunks_.problem().empty() ? body_outcome.ec.message()
                                                    : request_chunks_.problem();
        spdlog::info("bad request addr={} error={}", client_text_, core::log_value(detail));
        co_return co_await send_error(http::status::bad_request, detail, false);
      }
      // Named locals, not temporaries in the co_await expression: g++ 12 destroys a
      // conditional's temporary twice there.
      const bool timed_out = ec == beast::error::timeout;
      std::string detail = "the origin did not answer in time";
      if (!timed_out) {
        detail = "the origin sent no valid response: ";
        detail += response_problem.empty() ? ec.message() : response_problem;
      }
      log_upstream_error(target.host.name, target.port, detail);
      // After a malformed response the client connection is closed too: nothing that
      // followed it on the origin connection may reach the client, and the client gets
      // no chance to build on a half-understood exchange.
      const bool malformed = is_malformed(ec) || !response_problem.empty();
      const bool client_body_done = body_finished && body_outcome.end == RelayEnd::complete;
      const auto status = timed_out ? http::status::gateway_timeout : http::status::bad_gateway;
      co_return co_await send_error(status, detail,
                                    client_keep_alive && client_body_done && !malformed);
    }

    // 4. The final response head, rewritten for the client.
    auto& response = response_parser->get();
    const auto status = response.result_int();
    if (via_http_parent && status == 407) {
      // The parent wants credentials: the client has none to give it (a browser would
      // ask its user for the parent's password), so this is the parent's failure.
      co_await stop_body_relay();
      close_upstream();
      const std::string detail = core::credentials_refusal(*parent_, "407");
      log_upstream_error(target.host.name, target.port, detail);
      co_return co_await send_error(http::status::bad_gateway, detail, false);
    }
    const bool upstream_keep_alive = response.keep_alive();
    // A chunked response that read_head() has already parsed whole still gets framing.
    const bool no_body = is_head || status == 204 || status == 304 ||
                         (response_parser->is_done() && !response_parser->chunked());
    const auto response_length = response_parser->content_length();
    const bool close_delimited = !no_body && !response_parser->chunked() && !response_length;
    if (const auto problem = framing_problem(response); !problem.empty()) {
      co_await stop_body_relay();
      close_upstream();
      const std::string detail = "the origin's response has ambiguous framing: " + problem;
      log_upstream_error(target.host.name, target.port, detail);
      co_return co_await send_error(http::status::bad_gateway, detail, false);
    }

    bool keep_alive = client_keep_alive;
    strip_hop_by_hop(response);
    append_via(response, response.version(), via_name);
    response.version(11);
    if (!no_body) {
      if (response_length) {
        response.content_length(*response_length);
      } else if (client_version_ >= 11) {
        response.chunked(true);
      } else {
        keep_alive = false;  // an HTTP/1.0 client learns the end of the body from the close
      }
    }
    if (!body_finished) keep_alive = false;  // the origin answered before the body was sent
    if (!keep_alive) {
      response.set(http::field::connection, "close");
    } else if (client_version_ == 10) {
      response.set(http::field::connection, "keep-alive");
    }

    http::serializer<false, http::buffer_body> response_writer{response};
    // When the whole body is already here (a small response), the head goes out with it
    // in one write: the body relay writes what the serializer has not sent yet, and
    // cannot fail for want of the origin. Otherwise the head goes first, so that a client
    // waiting for a slow body has it, and sees the cut if the origin fails mid-body.
    const bool body_here =
        response_length && !response_parser->chunked() && up.buffer.size() >= *response_length;
    if (no_body || !body_here) {
      client_.expires_after(timeouts_.body_idle);
      co_await http::async_write_header(client_, response_writer, with_ec(ec));
      if (ec) {
        co_await stop_body_relay();
        close_upstream();
        co_return false;
      }
    }

    // 5. The response body.
    bool upstream_reusable = upstream_keep_alive && !close_delimited;
    if (!no_body) {
      const auto outcome = co_await relay_body<false>(
          up.stream, up.buffer, *response_parser, client_, response_writer, timeouts_.body_idle,
          context_.chunks);
      if (outcome.end != RelayEnd::complete) {
        // The head is out: all we can do is end the connection so the client sees it cut.
        if (outcome.end == RelayEnd::source_failed) {
          log_upstream_error(target.host.name, target.port,
                             "response body cut: " + outcome.ec.message());
        }
        co_await stop_body_relay();
        close_upstream();
        co_return false;
      }
    }

    if (!body_finished) {
      keep_alive = false;
      upstream_reusable = false;
    }
    co_await stop_body_relay();
    if (body_outcome.end != RelayEnd::complete) {
      keep_alive = false;
      upstream_reusable = false;
    }
    if (!upstream_reusable) {
      close_upstream();
    } else if (up.buffer.size() == 0) {
      up.buffer.shrink_to_fit();  // a kept origin connection holds no buffer while idle
    }
    co_return keep_alive;
  }
}

// Runs beside the response reading in forward(); a plain member coroutine rather than a
// lambda so that nothing it uses lives in a temporary closure.
awaitable<void> Session::relay_request_body(RequestParser& parser, Upstream& up,
                                            http::serializer<true, http::buffer_body>& writer,
                                            RelayOutcome& outcome, bool& finished) {
  // The head was read in small pieces; a body is read in large ones.
  if (buffer_.capacity() < kBodyChunk) buffer_.reserve(kBodyChunk);
  outcome =
      co_await relay_body<true>(client_, buffer_, parser, up.stream, writer, timeouts_.body_idle,
                                context_.chunks);
  finished = true;
  // The response deadline starts once the whole request is out.
  if (outcome.end == RelayEnd::complete) up.stream.expires_after(timeouts_.response_head);
  // A body that breaks its framing (bad chunk size or extension): the origin has a
  // truncated request and must not wait for the rest, and the wait for its response
  // ends here, so that forward() answers 400.
  if (outcome.end == RelayEnd::source_failed && is_malformed(outcome.ec)) up.stream.close();
}

awaitable<bool> Session::handle_connect(RequestParser& parser) {
  auto& request = parser.get();
  const auto raw_target = request.target();
  if (!parser.is_done()) {
    co_return co_await send_error(http::status::bad_request, "a CONNECT request has no body",
                                  false);
  }
  auto target = core::parse_authority_target({raw_target.data(), raw_target.size()});
  if (!target) {
    co_return co_await send_error(http::status::bad_request,
                                  "invalid CONNECT target: " + target.error().message, false);
  }

  auto snapshot = context_.policies.current();
  note_request(*snapshot, "CONNECT", {raw_target.data(), raw_target.size()});
  if (tinyproxy_) {
    bool answered = false;
    const bool keep = co_await tinyproxy_checks(*snapshot, request, target->host, true, answered);
    if (answered) co_return keep;
  }
  const std::string_view url = tinyproxy_ ? std::string_view(request_url_) : std::string_view();
  const auto decision =
      decide_and_log(*snapshot, "CONNECT", target->host, target->port, true, url);
  if (decision.reason == core::Reason::client_stopped) {
    co_return co_await refuse_stopped(decision, "CONNECT", target->host, target->port, true);
  }
  if (!decision.allowed() && tinyproxy_) {
    co_return co_await tinyproxy_refusal(*tinyproxy_, decision, target->host, target->port, true);
  }
  if (!decision.allowed()) {
    const core::DecisionRequest dr{"CONNECT", target->host, target->port, true};
    const auto info = core::make_deny_info(*snapshot, client_address_, dr, decision);
    Headers headers;
    headers.emplace_back("X-Egressd-Client", info.client_label.empty() ? "-" : info.client_label);
    headers.emplace_back("X-Egressd-Reason", core::reason_code(decision.reason));
    headers.emplace_back("X-Egressd-Rule-To-Add", info.rule_to_add);
    co_return co_await send(http::status::forbidden, "text/plain; charset=utf-8",
                            core::render_deny_text(info), request.keep_alive(), std::move(headers));
  }

  park_upstream();  // a tunnel never reuses a kept connection; the next request may
  beast::tcp_stream origin(co_await asio::this_coro::executor);
  connecting_ = &origin;
  set_destinations(*snapshot);
  choose_parent(*snapshot, target->host, decision.client);
  // Decided: an open tunnel does not keep replaced rules in memory (a reload that
  // re-checks tunnels hands them the new snapshot).
  snapshot.reset();
  beast::flat_buffer from_parent;  // what a parent sent after its answer: the tunnel's start
  ConnectOutcome outcome;
  if (parent_) {
    outcome = co_await connect_through_parent(context_.resolver, *parent_, target->host,
                                              target->port, true, timeouts_.connect,
                                              timeouts_.response_head, destinations_, origin,
                                              from_parent);
  } else {
    outcome = co_await connect_upstream(context_.resolver, target->host, target->port,
                                        timeouts_.connect, destinations_, origin);
  }
  if (aborted_) {
    // The resolver is not cancelled by abort(): do not go on once it answers.
    connecting_ = nullptr;
    co_return false;
  }
  if (!outcome.ok()) {
    connecting_ = nullptr;
    const auto status = upstream_status(outcome, target->host.name, target->port);
    if (status == http::status::forbidden) {
      // Like a refused CONNECT: plain text a terminal shows, and a reason to match on.
      Headers headers;
      headers.emplace_back("X-Egressd-Reason", "destination-not-allowed");
      std::string body = "egressd refused this CONNECT: " + outcome.detail + "\n";
      co_return co_await send(status, "text/plain; charset=utf-8", std::move(body), false,
                              std::move(headers));
    }
    co_return co_await send_error(status, outcome.detail, false);
  }

  static constexpr std::string_view kEstablished = "HTTP/1.1 200 Connection established\r\n\r\n";
  error_code ec;
  client_.expires_after(timeouts_.body_idle);
  const std::array<asio::const_buffer, 2> established{
      asio::buffer(kEstablished.data(), kEstablished.size()), from_parent.data()};
  co_await asio::async_write(client_, established, with_ec(ec));
  if (ec || aborted_) {
    connecting_ = nullptr;
    co_return false;
  }

  // Bytes the client sent right after its CONNECT head belong to the tunnel.
  std::string early(static_cast<const char*>(buffer_.data().data()), buffer_.size());
  buffer_.consume(buffer_.size());
  client_.expires_never();
  origin.expires_never();
  tcp::socket client_socket = client_.release_socket();
  tcp::socket origin_socket = origin.release_socket();
  connecting_ = nullptr;
  tunnel_client_ = &client_socket;
  tunnel_origin_ = &origin_socket;
  tunnel_target_ = *target;
  const auto result =
      co_await run_tunnel(client_socket, origin_socket, std::move(early), timeouts_.tunnel_idle);
  tunnel_client_ = nullptr;
  tunnel_origin_ = nullptr;
  tunnel_target_.reset();
  std::string ending = result.idle_timeout ? " idle-timeout" : "";
  if (closed_by_reload_) {
    ending += " closed-by-reload";
  } else if (aborted_) {
    ending += " closed-by-control";
  }
  if (!result.error.empty()) ending += " error=" + core::log_value(result.error);
  if (parent_) ending += " via=" + parent_->name;
  spdlog::info("tunnel closed addr={} host={} port={} sent={} received={}{}", client_text_,
               target->host.name, target->port, result.client_to_origin, result.origin_to_client,
               ending);
  co_return false;
}

awaitable<bool> Session::send(http::status status, std::string_view content_type, std::string body,
                              bool keep_alive, Headers extra, std::string_view reason) {
  if (!client_.socket().is_open()) co_return false;
  http::response<http::string_body> response{status, 11};
  if (!reason.empty()) response.reason(reason);
  response.set(http::field::content_type, content_type);
  response.set(http::field::cache_control, "no-store");
  for (const auto& [name, value] : extra) {
    if (!value.empty()) response.set(name, value);
  }
  response.body() = std::move(body);
  response.prepare_payload();
  if (!keep_alive) {
    response.set(http::field::connection, "close");
  } else if (client_version_ == 10) {
    response.set(http::field::connection, "keep-alive");
  }
  error_code ec;
  client_.expires_after(timeouts_.body_idle);
  if (head_request_) {
    // The answer to HEAD has the length of the page but not the page: bytes after the
    // head would be read as the start of the next response.
    http::response_serializer<http::string_body> head_only{response};
    co_await http::async_write_header(client_, head_only, with_ec(ec));
  } else {
    co_await http::async_write(client_, response, with_ec(ec));
  }
  co_return keep_alive && !ec;
}

awaitable<bool> Session::send_error(http::status status, std::string_view detail, bool keep_alive) {
  const auto reason = http::obsolete_reason(status);
  // A refusal before any request was decided (a malformed head) still looks like the
  // mode egressd runs in.
  auto behaviour = tinyproxy_ ? tinyproxy_ : context_.policies.current()->tinyproxy;
  if (behaviour) {
    const std::string_view cause(reason.data(), reason.size());
    co_return co_await send_tinyproxy(*behaviour, status, cause, detail);
  }
  co_return co_await send(status, "text/html; charset=utf-8",
                          core::render_error_html(static_cast<unsigned>(status),
                                                  {reason.data(), reason.size()}, detail),
                          keep_alive);
}

awaitable<bool> Session::send_tinyproxy(const core::TinyproxyBehaviour& behaviour,
                                        http::status status, std::string_view cause,
                                        std::string_view detail, Headers extra) {
  core::TinyproxyPage page;
  page.status = static_cast<unsigned>(status);
  page.cause = std::string(cause);
  page.detail = std::string(detail);
  page.url = request_url_;
  page.client_ip = client_text_;
  page.request = request_line_;
  std::string body = core::render_tinyproxy_page(behaviour, page);
  co_return co_await send(status, "text/html", std::move(body), false, std::move(extra), cause);
}

awaitable<bool> Session::tinyproxy_checks(const core::PolicySnapshot& snapshot,
                                          const http::request<http::buffer_body>& request,
                                          const core::Host& host, bool is_connect,
                                          bool& answered) {
  const core::TinyproxyBehaviour& behaviour = *snapshot.tinyproxy;
  answered = true;
  if (!core::admitted(snapshot.access, client_address_)) {
    core::Decision refused;
    refused.reason = core::Reason::not_admitted;
    co_return co_await tinyproxy_refusal(behaviour, refused, host, 0, is_connect);
  }
  const auto credentials = request[http::field::proxy_authorization];
  if (!core::tinyproxy_credentials_ok(behaviour, {credentials.data(), credentials.size()})) {
    spdlog::info("proxy authentication {} addr={}",
                 credentials.empty() ? "missing" : "failed", client_text_);
    Headers headers;
    headers.emplace_back("Proxy-Authenticate", "Basic realm=\"Tinyproxy\"");
    co_return co_await send_tinyproxy(behaviour, http::status::proxy_authentication_required,
                                      "Proxy Authentication Required",
                                      "This proxy requires authentication.", std::move(headers));
  }
  if (!is_connect && !behaviour.stat_host.empty() && host.name == behaviour.stat_host) {
    core::TinyproxyStats stats;
    stats.open_connections = context_.limits.open_connections();
    stats.requests = context_.limits.requests.load(std::memory_order_relaxed);
    stats.denied = context_.limits.denied.load(std::memory_order_relaxed);
    stats.refused_high_load = context_.limits.refused.load(std::memory_order_relaxed);
    spdlog::info("statistics page addr={}", client_text_);
    std::string body = core::render_tinyproxy_stats(stats);
    co_return co_await send(http::status::ok, "text/html", std::move(body), false);
  }
  answered = false;
  co_return true;
}

awaitable<bool> Session::tinyproxy_refusal(const core::TinyproxyBehaviour& behaviour,
                                           const core::Decision& decision, const core::Host& host,
                                           std::uint16_t port, bool is_connect) {
  if (decision.reason == core::Reason::port_not_allowed) {
    spdlog::info("Refused {} method on port {}", is_connect ? "CONNECT" : "HTTP", port);
    const std::string detail = is_connect
                                   ? "The CONNECT method not allowed with the port you tried to use."
                                   : "Requests to this port are not allowed.";
    co_return co_await send_tinyproxy(behaviour, http::status::forbidden, "Access violation",
                                      detail);
  }
  if (decision.reason == core::Reason::not_admitted) {
    context_.limits.denied.fetch_add(1, std::memory_order_relaxed);
    spdlog::info("Unauthorized connection from \"{}\".", client_text_);
    co_return co_await send_tinyproxy(
        behaviour, http::status::forbidden, "Access denied",
        "The administrator of this proxy has not configured it to service requests from your "
        "host.");
  }
  if (behaviour.filter_urls) {
    spdlog::info("Proxying refused on filtered url \"{}\"", request_url_);
  } else {
    spdlog::info("Proxying refused on filtered domain \"{}\"", host.name);
  }
  co_return co_await send_tinyproxy(behaviour, http::status::forbidden, "Filtered",
                                    "The request you made has been filtered");
}

}  // namespace

awaitable<void> run_session(WorkerContext& context, tcp::socket client, tcp::endpoint peer,
                            std::string early) {
  try {
    Session session(context, std::move(client), peer, early);
    co_await session.run();
  } catch (const std::exception& e) {
    spdlog::error("session ended by an internal error: {}", e.what());
  }
}

}  // namespace egressd::io
