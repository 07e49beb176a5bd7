#include "core/parent_proxy.hpp"

#include <algorithm>
#include <utility>

#include "core/config.hpp"
#include "core/text.hpp"

namespace egressd::core {

std::string_view to_string(ParentKind kind) {
  switch (kind) {
    case ParentKind::http:
      return "http";
    case ParentKind::socks5:
      return "socks5";
    case ParentKind::socks4a:
      return "socks4a";
  }
  return "http";
}

std::string ParentProxy::display() const {
  const std::string host_text = host.ip && host.ip->is_v6() ? "[" + host.name + "]" : host.name;
  return std::string(to_string(kind)) + "://" + host_text + ":" + std::to_string(port);
}

namespace {

bool has_control(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

bool name_at_or_below(std::string_view name, std::string_view domain) {
  if (name.size() == domain.size()) return name == domain;
  return name.size() > domain.size() && name.ends_with(domain) &&
         name[name.size() - domain.size() - 1] == '.';
}

bool inside_any(const IpAddress& ip, const std::vector<Network>& networks) {
  return std::any_of(networks.begin(), networks.end(),
                     [&](const Network& n) { return n.contains(ip); });
}

bool destination_matches(const Route& route, const Host& host) {
  if (!route.has_destination_condition()) return true;
  if (host.ip) return inside_any(*host.ip, route.networks);
  if (std::find(route.hosts.begin(), route.hosts.end(), host.name) != route.hosts.end()) {
    return true;
  }
  return std::any_of(route.domains.begin(), route.domains.end(),
                     [&](const std::string& d) { return name_at_or_below(host.name, d); });
}

bool client_matches(const Route& route, const IpAddress& address, std::string_view label) {
  if (!route.has_client_condition()) return true;
  if (!label.empty() && std::find(route.client_labels.begin(), route.client_labels.end(), label) !=
                            route.client_labels.end()) {
    return true;
  }
  return inside_any(address, route.client_networks);
}

}  // namespace

Result<ParentProxy> parse_parent_url(std::string_view text) {
  const std::size_t sep = text.find("://");
  if (sep == std::string_view::npos) {
    // The text is not repeated: it might hold credentials.
    return Error{
        "not a proxy URL: expected http://HOST:PORT, socks5://HOST:PORT or "
        "socks4a://HOST:PORT"};
  }
  ParentProxy parent;
  const std::string scheme = ascii_lower(text.substr(0, sep));
  if (scheme == "http") {
    parent.kind = ParentKind::http;
  } else if (scheme == "socks5" || scheme == "socks5h") {
    parent.kind = ParentKind::socks5;
  } else if (scheme == "socks4a") {
    parent.kind = ParentKind::socks4a;
  } else if (scheme == "https") {
    return Error{"a TLS connection to the parent proxy (https://) is not supported; use http://"};
  } else if (scheme == "socks4") {
    return Error{"socks4:// would need egressd to resolve names for the parent; use socks4a://"};
  } else {
    return Error{"unknown proxy type '" + scheme + "': expected http, socks5 or socks4a"};
  }
  std::string_view authority = text.substr(sep + 3);
  if (authority.ends_with('/')) authority.remove_suffix(1);
  if (authority.find('@') != std::string_view::npos) {
    return Error{
        "credentials do not belong in the URL, where they could end up in logs: use "
        "the username and password keys"};
  }
  if (authority.find_first_of("/?#") != std::string_view::npos) {
    return Error{"a proxy URL has no path, query or fragment: expected " + scheme + "://HOST:PORT"};
  }
  std::string_view host_text;
  std::string_view port_text;
  if (authority.starts_with('[')) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return Error{"missing ']' after the IPv6 address"};
    host_text = authority.substr(0, close + 1);
    const std::string_view rest = authority.substr(close + 1);
    if (!rest.starts_with(':')) return Error{"missing ':PORT' after the host"};
    port_text = rest.substr(1);
  } else {
    const std::size_t colon = authority.rfind(':');
    if (colon == std::string_view::npos) return Error{"missing ':PORT' after the host"};
    host_text = authority.substr(0, colon);
    port_text = authority.substr(colon + 1);
  }
  auto host = normalize_host(host_text);
  if (!host) return Error{"host '" + std::string(host_text) + "': " + host.error().message};
  const auto port = parse_port(port_text);
  if (!port || *port == 0) {
    return Error{"port '" + std::string(port_text) + "' is not a number from 1 to 65535"};
  }
  parent.host = std::move(*host);
  parent.port = *port;
  return parent;
}

std::optional<std::string> credentials_problem(ParentKind kind, std::string_view username,
                                               std::string_view password) {
  if (username.empty() && !password.empty()) return "a password needs a username";
  if (username.empty()) return std::nullopt;
  if (has_control(username) || has_control(password)) {
    return "the username and password must not contain control characters";
  }
  switch (kind) {
    case ParentKind::http:
      if (username.find(':') != std::string_view::npos) {
        return "an HTTP proxy username cannot contain ':' (Basic authentication)";
      }
      break;
    case ParentKind::socks5:
      if (username.size() > 255 || password.size() > 255) {
        return "SOCKS5 allows at most 255 bytes each for the username and the password";
      }
      if (password.empty()) return "SOCKS5 username/password authentication needs a password";
      break;
    case ParentKind::socks4a:
      if (!password.empty()) {
        return "SOCKS4a has no password, only a user id: set username alone";
      }
      if (username.size() > 255) return "the SOCKS4a user id may have at most 255 bytes";
      break;
  }
  return std::nullopt;
}

RouteChoice choose_route(const Routing& routing, const Host& host, const IpAddress& client_address,
                         std::string_view client_label) {
  for (const Route& route : routing.routes) {
    if (!destination_matches(route, host)) continue;
    if (!client_matches(route, client_address, client_label)) continue;
    RouteChoice choice;
    choice.route = &route;
    if (route.parent && *route.parent < routing.parents.size()) {
      choice.parent = &routing.parents[*route.parent];
    }
    return choice;
  }
  return {};
}

}  // namespace egressd::core
