// The one include for Asio and Beast, with the Boost 1.74 + g++ 12 workarounds in one place.
#pragma once

#include <utility>  // must precede boost/asio/awaitable.hpp with g++ 12 and Boost 1.74

#include <boost/asio.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace egressd::io {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using error_code = boost::system::error_code;

template <class T = void>
using awaitable = boost::asio::awaitable<T>;

// Completion token for `co_await op(..., with_ec(ec))`: errors land in `ec` instead of
// being thrown, since errors on the data path are values.
inline auto with_ec(error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

}  // namespace egressd::io
