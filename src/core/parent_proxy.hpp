// Parent proxies ("upstreams") and the routes that send a request through one of them or
// straight to the origin. Declared in the config ([upstreams.NAME], [[routes]]); chosen per
// request after the rules have allowed it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/host.hpp"
#include "core/ip_address.hpp"
#include "core/network.hpp"
#include "core/result.hpp"

namespace egressd::core {

enum class ParentKind : std::uint8_t {
  http,     // plain requests in absolute form; CONNECT for tunnels
  socks5,   // RFC 1928, the name resolved by the parent; RFC 1929 username/password
  socks4a,  // the name resolved by the parent; the username is sent as the user id
};
std::string_view to_string(ParentKind kind);

struct ParentProxy {
  std::string name;  // the config's [upstreams.NAME]
  ParentKind kind = ParentKind::http;
  Host host;  // normalised name or IP literal
  std::uint16_t port = 0;
  // Never logged, never shown (display() leaves them out); empty: none.
  std::string username;
  std::string password;

  bool has_credentials() const { return !username.empty(); }
  // "http://proxy.example:3128", "socks5://127.0.0.1:9050": what logs and pages show.
  std::string display() const;
  // "upstream corp (http://proxy.example:3128)": how messages name it.
  std::string title() const { return "upstream " + name + " (" + display() + ")"; }
};

// Parses "http://HOST:PORT", "socks5://HOST:PORT" ("socks5h://" is the same: names are
// always resolved by the parent) or "socks4a://HOST:PORT". HOST is a DNS name or an IP
// literal (IPv6 in brackets); the port is required; nothing may follow it (a trailing "/"
// excepted). Credentials in the URL are refused: they belong in the username and password
// keys, where they are never logged. `name`, username and password are left empty.
Result<ParentProxy> parse_parent_url(std::string_view text);

// Checks credentials for `kind`: a SOCKS5 username and password of 1..255 bytes each; a
// SOCKS4a user id without a password and without NUL; an HTTP username without ':'; no
// control characters anywhere. A password needs a username. Empty text: fine.
std::optional<std::string> credentials_problem(ParentKind kind, std::string_view username,
                                               std::string_view password);

// One [[routes]] entry: where requests go that match it. Within a route, every kind of
// condition that is given must hold (the destination matches one of `domains`, `hosts`
// or `networks` when any of those is given; the client matches one of `clients` when
// given); a route with no condition matches every request.
struct Route {
  int line = 0;                            // in the config file
  std::optional<std::size_t> parent;       // index into Routing::parents; nullopt: direct
  std::vector<std::string> domains;        // normalised names: the name and every name below it
  std::vector<std::string> hosts;          // normalised names: the name only
  std::vector<Network> networks;           // destinations given as IP literals inside these
  std::vector<std::string> client_labels;  // a client whose rules file has this label
  std::vector<Network> client_networks;    // a client whose address is inside

  bool has_destination_condition() const {
    return !domains.empty() || !hosts.empty() || !networks.empty();
  }
  bool has_client_condition() const { return !client_labels.empty() || !client_networks.empty(); }
};

struct Routing {
  std::vector<ParentProxy> parents;
  std::vector<Route> routes;  // in file order: the first that matches is taken

  bool empty() const { return routes.empty(); }
};

struct RouteChoice {
  const ParentProxy* parent = nullptr;  // nullptr: straight to the origin
  const Route* route = nullptr;         // the route taken; nullptr: none matched (direct)
};

// The first route that matches a request for `host` from the client at `client_address`
// (unmapped) whose rules file has `client_label` ("" when it has none).
RouteChoice choose_route(const Routing& routing, const Host& host, const IpAddress& client_address,
                         std::string_view client_label);

}  // namespace egressd::core
