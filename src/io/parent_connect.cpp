// Opening a byte stream to host:port through a parent proxy.
#include "io/parent_connect.hpp"

#include <string_view>
#include <utility>

#include "core/parent_protocol.hpp"

namespace egressd::io {

namespace {

using Status = ConnectOutcome::Status;

// The most a parent's answer to CONNECT may take (status line and header fields).
constexpr std::size_t kParentHeadLimit = 16 * 1024;

ConnectOutcome refused(unsigned status, std::string detail) {
  ConnectOutcome out;
  out.status = Status::parent_refused;
  out.parent_status = status;
  out.detail = std::move(detail);
  return out;
}

// A parent that broke off or did not follow its protocol: 502, or 504 on the deadline.
ConnectOutcome broken(const core::ParentProxy& parent, const error_code& ec,
                      std::string_view while_doing) {
  if (ec == beast::error::timeout) {
    ConnectOutcome out;
    out.status = Status::connect_timeout;
    out.detail = parent.title() + " did not answer " + std::string(while_doing) + " in time";
    return out;
  }
  return refused(502, parent.title() + " failed " + std::string(while_doing) + ": " + ec.message());
}

awaitable<error_code> send_bytes(beast::tcp_stream& stream, const std::string& bytes) {
  error_code ec;
  co_await asio::async_write(stream, asio::buffer(bytes), with_ec(ec));
  co_return ec;
}

// Reads exactly `n` bytes: a SOCKS answer has a known length, and what follows it is the
// destination's.
awaitable<error_code> receive_bytes(beast::tcp_stream& stream, std::string& out, std::size_t n) {
  out.assign(n, '\0');
  error_code ec;
  co_await asio::async_read(stream, asio::buffer(out), with_ec(ec));
  co_return ec;
}

awaitable<ConnectOutcome> http_tunnel(const core::ParentProxy& parent, const core::Host& host,
                                      std::uint16_t port, beast::tcp_stream& stream,
                                      beast::flat_buffer& early) {
  const std::string target = core::authority(host, port);
  // Named locals, not temporaries in co_await expressions (g++ 12).
  const std::string request = core::http_connect_request(parent, host, port);
  error_code ec = co_await send_bytes(stream, request);
  if (ec) co_return broken(parent, ec, "the CONNECT request for " + target);
  http::response_parser<http::empty_body> parser;
  parser.header_limit(kParentHeadLimit);
  parser.skip(true);  // an answer to CONNECT has no body; a refusal's body is not read
  co_await http::async_read_header(stream, early, parser, with_ec(ec));
  if (ec) co_return broken(parent, ec, "to answer CONNECT " + target);
  const auto& response = parser.get();
  const unsigned status = response.result_int();
  if (status >= 200 && status < 300) co_return ConnectOutcome{Status::connected, {}, {}, {}, 0};
  const auto reason = response.reason();
  const std::string said = std::to_string(status) + " " + std::string(reason.data(), reason.size());
  if (status == 407) co_return refused(502, core::credentials_refusal(parent, said));
  // Its status is passed on when it is an error status; anything else is no answer.
  const unsigned pass_on = status >= 400 && status < 600 ? status : 502;
  co_return refused(pass_on, parent.title() + " refused CONNECT " + target + ": " + said);
}

awaitable<ConnectOutcome> socks5(const core::ParentProxy& parent, const core::Host& host,
                                 std::uint16_t port, beast::tcp_stream& stream) {
  const std::string target = core::authority(host, port);
  std::string reply;
  const std::string greeting = core::socks5_greeting(parent);
  error_code ec = co_await send_bytes(stream, greeting);
  if (!ec) ec = co_await receive_bytes(stream, reply, 2);
  if (ec) co_return broken(parent, ec, "the SOCKS5 greeting");
  const auto method = core::socks5_method(reply, parent);
  if (!method) co_return refused(502, parent.title() + ": " + method.error().message);
  if (*method == core::kSocks5UserPass) {
    const std::string credentials = core::socks5_credentials(parent);
    ec = co_await send_bytes(stream, credentials);
    if (!ec) ec = co_await receive_bytes(stream, reply, 2);
    if (ec) co_return broken(parent, ec, "the SOCKS5 authentication");
    if (const auto problem = core::socks5_credentials_problem(reply)) {
      co_return refused(502, parent.title() + ": " + *problem);
    }
  }
  const std::string connect = core::socks5_connect(host, port);
  ec = co_await send_bytes(stream, connect);
  if (!ec) ec = co_await receive_bytes(stream, reply, 5);
  if (ec) co_return broken(parent, ec, "to answer SOCKS5 CONNECT " + target);
  const auto length = core::socks5_reply_length(reply);
  if (!length) co_return refused(502, parent.title() + ": " + length.error().message);
  std::string rest;
  ec = co_await receive_bytes(stream, rest, *length - 5);
  if (ec) co_return broken(parent, ec, "to answer SOCKS5 CONNECT " + target);
  reply += rest;
  if (const auto problem = core::socks5_reply_problem(reply)) {
    const unsigned status = core::socks5_refused_by_rules(reply) ? 403 : 502;
    co_return refused(status, parent.title() + " could not open " + target + ": " + *problem);
  }
  co_return ConnectOutcome{Status::connected, {}, {}, {}, 0};
}

awaitable<ConnectOutcome> socks4a(const core::ParentProxy& parent, const core::Host& host,
                                  std::uint16_t port, beast::tcp_stream& stream) {
  const std::string target = core::authority(host, port);
  const auto request = core::socks4a_connect(parent, host, port);
  if (!request) co_return refused(502, parent.title() + ": " + request.error().message);
  std::string reply;
  error_code ec = co_await send_bytes(stream, *request);
  if (!ec) ec = co_await receive_bytes(stream, reply, core::kSocks4ReplyLength);
  if (ec) co_return broken(parent, ec, "to answer SOCKS4a CONNECT " + target);
  if (const auto problem = core::socks4_reply_problem(reply)) {
    co_return refused(502, parent.title() + " could not open " + target + ": " + *problem);
  }
  co_return ConnectOutcome{Status::connected, {}, {}, {}, 0};
}

}  // namespace

const core::DestinationRules& any_destination() {
  static const core::DestinationRules rules{
      {*core::parse_network("0.0.0.0/0"), *core::parse_network("::/0")}, {}, {}};
  return rules;
}

awaitable<ConnectOutcome> connect_through_parent(
    Resolver& resolver, const core::ParentProxy& parent, const core::Host& host, std::uint16_t port,
    bool handshake, std::chrono::seconds connect_timeout, std::chrono::seconds handshake_timeout,
    const core::DestinationRules& destinations, beast::tcp_stream& stream,
    beast::flat_buffer& early) {
  if (host.ip) {
    if (auto why = core::destination_refusal(*host.ip, port, destinations)) {
      co_return ConnectOutcome{
          Status::destination_refused, "destination not allowed: " + std::move(*why), {}, {}, 0};
    }
  }
  auto outcome = co_await connect_upstream(resolver, parent.host, parent.port, connect_timeout,
                                           any_destination(), stream);
  if (!outcome.ok()) {
    outcome.detail = parent.title() + ": " + outcome.detail;
    co_return outcome;
  }
  if (!handshake && parent.kind == core::ParentKind::http) co_return outcome;

  stream.expires_after(handshake_timeout);
  ConnectOutcome answer;
  switch (parent.kind) {
    case core::ParentKind::http:
      answer = co_await http_tunnel(parent, host, port, stream, early);
      break;
    case core::ParentKind::socks5:
      answer = co_await socks5(parent, host, port, stream);
      break;
    case core::ParentKind::socks4a:
      answer = co_await socks4a(parent, host, port, stream);
      break;
  }
  stream.expires_never();
  if (!answer.ok()) {
    error_code ignored;
    stream.socket().close(ignored);
    co_return answer;
  }
  co_return outcome;
}

}  // namespace egressd::io
