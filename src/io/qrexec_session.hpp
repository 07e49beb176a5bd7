// A connection from the qrexec service egress.Proxy: the descriptor first, then the
// client's HTTP as on any other connection, with the caller's qube as its identity.
#pragma once

#include "io/asio.hpp"
#include "io/session.hpp"

namespace egressd::io {

// Reads the descriptor ("egress.Proxy[+ARG] SOURCE\0", at most
// core::kMaxQrexecDescriptor bytes, within timeouts.request_head) from `client`, a
// connection accepted on the qrexec unix socket, then serves it as run_session() does,
// with core::qube_address() of the caller (its argument, else its qube) as the client's
// address. A descriptor that is missing, too long or malformed closes the connection
// unanswered (qrexec wrote it, not the client: something is wrong). Bytes after the
// descriptor are the start of the client's stream; nothing in that stream is ever read
// as a descriptor. Never throws.
awaitable<void> run_qrexec_session(WorkerContext& context, tcp::socket client);

}  // namespace egressd::io
