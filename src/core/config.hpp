// egressd's configuration: the TOML file's keys, their defaults, and their validation.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/ip_address.hpp"
#include "core/network.hpp"
#include "core/parent_proxy.hpp"
#include "core/problem.hpp"
#include "core/result.hpp"

namespace egressd::core {

// allow-list: only hosts matching a rule pass. block-list: hosts matching a rule are refused.
enum class ListMode { allow_list, block_list };
std::string_view to_string(ListMode mode);

// What a client without a rules file gets.
enum class UnknownClients { deny, allow };
std::string_view to_string(UnknownClients policy);

// An address and port to listen on or to send DNS queries to.
struct Endpoint {
  IpAddress address;
  std::uint16_t port = 0;

  // "127.0.0.1:8100" or "[::1]:8100".
  std::string to_string() const;
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

// Whether `text` is a non-empty RFC 9110 token, as a Via pseudonym must be.
bool is_http_token(std::string_view text);

// Decimal 0..65535 without sign, spaces or leading zeros ("0" itself is fine).
std::optional<std::uint16_t> parse_port(std::string_view text);

// Parses "a.b.c.d:port" or "[v6]:port" (port 0..65535, decimal). Port 0 means "any
// free port" when listening. Error message says what is wrong with the text.
Result<Endpoint> parse_endpoint(std::string_view text);

// A DNS server: "ADDRESS" (port 53), "a.b.c.d:PORT" or "[v6]:PORT" (port 1..65535).
Result<Endpoint> parse_dns_server(std::string_view text);

struct Timeouts {
  std::chrono::seconds request_head{30};   // accept to end of the first request head (slow clients)
  std::chrono::seconds idle_client{60};    // keep-alive wait for the next request
  std::chrono::seconds dns{10};            // one name resolution
  std::chrono::seconds connect{10};        // TCP connect to the origin, all addresses
  std::chrono::seconds response_head{60};  // request sent to end of response head
  std::chrono::seconds body_idle{60};      // no progress while relaying a body
  std::chrono::seconds tunnel_idle{900};   // no byte in either direction of a CONNECT tunnel
  std::chrono::seconds idle_origin{30};    // an origin connection kept for the client's next
                                           // connection (0: closed with the client's)

  friend bool operator==(const Timeouts&, const Timeouts&) = default;
};

struct Limits {
  std::size_t header_bytes = 65536;        // request or response line plus header fields
  std::size_t request_line_bytes = 8192;   // the request line alone (414 beyond)
  std::size_t header_count = 100;          // header fields of one message head (431 beyond)
  std::size_t chunk_extension_bytes = 256; // one chunk's extensions (400 beyond)
  std::size_t connections = 10000;         // open client connections in all (0: no cap)
  std::size_t connections_per_client = 256;  // open connections of one client (0: no cap)

  friend bool operator==(const Limits&, const Limits&) = default;
};

struct ClientSettings {
  ListMode mode = ListMode::allow_list;
  std::vector<Network> allow_destinations;  // internal networks this client may reach
};

struct Config {
  std::vector<Endpoint> listen{Endpoint{IpAddress::v4({127, 0, 0, 1}), 8100}};
  std::string rules_dir = "/etc/egressd/rules";
  bool watch = true;            // reload when the config file or the rules folder changes
  bool recheck_tunnels = true;  // a reload closes open tunnels the new rules deny
  bool sandbox = true;          // Landlock and seccomp once listening (server/sandbox)
  // Networks every client may reach although they are internal (loopback, private...).
  std::vector<Network> allow_destinations;
  std::string user;      // run as this user once listening ("": stay who we are)
  unsigned workers = 0;  // 0: one per core
  ListMode default_mode = ListMode::allow_list;
  UnknownClients unknown_clients = UnknownClients::deny;
  std::map<std::string, ClientSettings> clients;  // by label, from [clients.LABEL]
  std::vector<std::uint16_t> http_ports{80};      // ports plain HTTP may go to
  std::vector<std::uint16_t> connect_ports{443};  // ports CONNECT may go to
  std::vector<Endpoint> dns_servers;              // empty: the system's resolv.conf
  std::chrono::seconds dns_cache_max_ttl{60};     // answers kept at most this long; 0: none
  std::string via_name = "egressd";               // pseudonym in the Via header
  // Unix socket of the control protocol (docs/control-protocol.md); empty: no socket.
  std::string control_socket = "/run/egressd/control.sock";
  // Unix socket of the qrexec service egress.Proxy (identity by qube name: core/qrexec);
  // empty: none. With it, a rules file named after a qube (no address) is that qube's.
  std::string qrexec_socket;
  Timeouts timeouts;
  Limits limits;
  // Parent proxies ([upstreams.NAME]) and the [[routes]] that choose them; no route:
  // every request goes straight to its origin.
  Routing routing;
};

struct ParsedConfig {
  Config config;      // defaults where the file says nothing; meaningful only without errors
  Problems problems;  // every problem found, each with file:line
};

// The settings a reload cannot change, which `reloaded` has changed from `running`: their
// names as the config writes them ("listen", "timeouts", "limits", "user", ...). They take
// effect at the next start.
std::vector<std::string> settings_needing_restart(const Config& running, const Config& reloaded);

// Parses a TOML config file. Unknown keys, wrong types and invalid values are errors
// with the line they are on; parsing continues to report as many problems as possible.
// The keys are documented in docs/configuration.md.
ParsedConfig parse_config(std::string_view file_path, std::string_view content);

}  // namespace egressd::core
