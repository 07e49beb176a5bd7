// A connection from the qrexec service egress.Proxy.
#include "io/qrexec_session.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <cstring>
#include <string>

#include "core/decision_log.hpp"
#include "core/qrexec.hpp"
#include "io/upstream.hpp"

namespace egressd::io {

awaitable<void> run_qrexec_session(WorkerContext& context, tcp::socket client) {
  std::array<char, core::kMaxQrexecDescriptor> bytes{};
  std::size_t filled = 0;
  const char* nul = nullptr;
  {
    beast::tcp_stream stream(std::move(client));
    stream.expires_after(context.settings.timeouts.request_head);
    while (nul == nullptr && filled < bytes.size()) {
      error_code ec;
      const std::size_t n = co_await stream.async_read_some(
          asio::buffer(bytes.data() + filled, bytes.size() - filled), with_ec(ec));
      if (ec) {
        spdlog::warn("qrexec: no descriptor, connection closed error={}",
                     core::log_value(ec.message()));
        co_return;
      }
      nul = static_cast<const char*>(std::memchr(bytes.data() + filled, '\0', n));
      filled += n;
    }
    if (nul == nullptr) {
      spdlog::warn("qrexec: descriptor longer than {} bytes, connection closed",
                   core::kMaxQrexecDescriptor);
      co_return;
    }
    stream.expires_never();
    client = stream.release_socket();
  }
  const std::string_view text(bytes.data(), static_cast<std::size_t>(nul - bytes.data()));
  const auto caller = core::parse_qrexec_descriptor(text);
  if (!caller) {
    spdlog::warn("qrexec: bad descriptor {}: {}, connection closed", core::log_value(text),
                 caller.error().message);
    co_return;
  }
  const auto address = core::qube_address(caller->client_name());
  spdlog::info("qrexec caller source={} argument={} addr={}", caller->source,
               caller->argument.empty() ? "-" : caller->argument, address.to_string());
  const char* const end = bytes.data() + filled;
  std::string early(nul + 1, end);
  // Named, not a temporary in the co_await expression (g++ 12).
  const tcp::endpoint peer(to_asio(address), 0);
  co_await run_session(context, std::move(client), peer, std::move(early));
}

}  // namespace egressd::io
