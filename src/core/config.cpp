// egressd's configuration file: TOML parsed with toml++, every key checked with its line.
#include "core/config.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "core/host.hpp"
#include "core/tinyproxy_config.hpp"

namespace egressd::core {

std::string_view to_string(ListMode mode) {
  switch (mode) {
    case ListMode::allow_list:
      return "allow-list";
    case ListMode::block_list:
      return "block-list";
  }
  return "allow-list";
}

std::string_view to_string(UnknownClients policy) {
  switch (policy) {
    case UnknownClients::deny:
      return "deny";
    case UnknownClients::allow:
      return "allow";
  }
  return "deny";
}

std::string Endpoint::to_string() const {
  const std::string port_text = std::to_string(port);
  if (address.is_v6()) return "[" + address.to_string() + "]:" + port_text;
  return address.to_string() + ":" + port_text;
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  if (text.size() > 1 && text.front() == '0') return std::nullopt;
  std::uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

bool is_http_token(std::string_view text) {
  if (text.empty()) return false;
  return std::all_of(text.begin(), text.end(), [](char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

namespace {

// sizeof(sockaddr_un::sun_path) is 108 on Linux, one of which is the terminating NUL.
constexpr std::size_t kMaxUnixSocketPath = 107;

std::string quoted(std::string_view text) {
  std::string out;  // not "'" + std::string(text): GCC 12 warns falsely (-Wrestrict) on it
  out.reserve(text.size() + 2);
  out += '\'';
  out += text;
  out += '\'';
  return out;
}

}  // namespace

Result<Endpoint> parse_endpoint(std::string_view text) {
  if (text.empty()) return Error{"empty address (expected a.b.c.d:port or [v6]:port)"};
  std::string_view host;
  std::string_view port_text;
  Endpoint endpoint;
  if (text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
      return Error{"missing ']' after the IPv6 address in " + quoted(text)};
    }
    host = text.substr(1, close - 1);
    const std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') {
      return Error{"missing ':port' after ']' in " + quoted(text)};
    }
    port_text = rest.substr(1);
    const auto address = IpAddress::parse(host);
    if (!address || !address->is_v6()) {
      return Error{quoted(host) + " is not an IPv6 address"};
    }
    endpoint.address = *address;
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      return Error{"missing ':port' in " + quoted(text) + " (expected a.b.c.d:port or [v6]:port)"};
    }
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return Error{"an IPv6 address needs brackets, like [::1]:8100, in " + quoted(text)};
    }
    const auto address = IpAddress::parse(host);
    if (!address || !address->is_v4()) {
      return Error{quoted(host) + " is not an IPv4 address in canonical dotted form"};
    }
    endpoint.address = *address;
  }
  if (port_text.empty()) return Error{"missing port number in " + quoted(text)};
  const auto port = parse_port(port_text);
  if (!port) {
    return Error{"port " + quoted(port_text) + " is not a decimal number from 0 to 65535"};
  }
  endpoint.port = *port;
  return endpoint;
}

namespace {

std::string_view type_name(toml::node_type type) {
  switch (type) {
    case toml::node_type::none:
      return "nothing";
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
  }
  return "a value";
}

int line_of(const toml::source_region& source) {
  return static_cast<int>(source.begin.line);
}

// Client labels as rules file names allow them (see parse_client_file_name).
bool is_valid_label(std::string_view label) {
  if (label.empty()) return false;
  return std::all_of(label.begin(), label.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
  });
}

class ConfigReader {
 public:
  explicit ConfigReader(std::string_view file_path) : file_(file_path) {}

  ParsedConfig read(std::string_view content) {
    if (looks_like_tinyproxy_config(content)) {
      // It would fail as TOML at its first line, which would not say what is wrong.
      error(0, "this is a tinyproxy config, not egressd's TOML: run it with egressd "
               "--tinyproxy-config FILE, or convert the setup with: egressctl import-tinyproxy "
               "FOLDER --output NEW_FOLDER");
      return std::move(out_);
    }
    toml::table root;
    try {
      root = toml::parse(content, file_);
    } catch (const toml::parse_error& e) {
      const auto& begin = e.source().begin;
      error(static_cast<int>(begin.line), "invalid TOML at column " + std::to_string(begin.column) +
                                              ": " + std::string(e.description()));
      return std::move(out_);
    }
    read_root(root);
    settle_defaults();
    settle_routes();
    // toml++ keeps keys sorted by name; report in file order instead.
    std::stable_sort(out_.problems.begin(), out_.problems.end(),
                     [](const Problem& a, const Problem& b) { return a.line < b.line; });
    return std::move(out_);
  }

 private:
  void error(int line, std::string message) {
    out_.problems.push_back(Problem{Problem::Severity::error, file_, line, std::move(message)});
  }

  void wrong_type(const std::string& key, const toml::node& node, std::string_view expected) {
    error(line_of(node.source()), quoted(key) + " must be " + std::string(expected) + ", not " +
                                      std::string(type_name(node.type())));
  }

  void unknown_key(const std::string& key, const toml::key& k, const toml::node& node) {
    int line = line_of(k.source());
    if (line == 0) line = line_of(node.source());
    error(line, "unknown key " + quoted(key));
  }

  static std::string join(std::string_view prefix, std::string_view key) {
    if (prefix.empty()) return std::string(key);
    return std::string(prefix) + "." + std::string(key);
  }

  const std::string* as_string(const std::string& key, const toml::node& node) {
    if (const auto* s = node.as_string()) return &s->get();
    wrong_type(key, node, "a string");
    return nullptr;
  }

  std::optional<bool> as_bool(const std::string& key, const toml::node& node) {
    if (const auto* b = node.as_boolean()) return b->get();
    wrong_type(key, node, "true or false");
    return std::nullopt;
  }

  std::optional<std::int64_t> as_integer(const std::string& key, const toml::node& node,
                                         std::int64_t min, std::int64_t max) {
    const auto* i = node.as_integer();
    if (i == nullptr) {
      wrong_type(key, node, "an integer");
      return std::nullopt;
    }
    const std::int64_t value = i->get();
    if (value < min || value > max) {
      error(line_of(node.source()), quoted(key) + " must be from " + std::to_string(min) + " to " +
                                        std::to_string(max) + ", not " + std::to_string(value));
      return std::nullopt;
    }
    return value;
  }

  template <class Enum>
  std::optional<Enum> as_choice(const std::string& key, const toml::node& node,
                                std::initializer_list<std::pair<std::string_view, Enum>> choices) {
    const std::string* text = as_string(key, node);
    if (text == nullptr) return std::nullopt;
    std::string names;
    for (const auto& [name, value] : choices) {
      if (*text == name) return value;
      if (!names.empty()) names += " or ";
      names += '"' + std::string(name) + '"';
    }
    error(line_of(node.source()), quoted(key) + " must be " + names + ", not \"" + *text + "\"");
    return std::nullopt;
  }

  // Calls `each` for every element of an array; false when `node` is not an array.
  bool for_each_element(const std::string& key, const toml::node& node, std::string_view expected,
                        const std::function<void(const toml::node&)>& each) {
    const auto* array = node.as_array();
    if (array == nullptr) {
      wrong_type(key, node, expected);
      return false;
    }
    for (const toml::node& element : *array) each(element);
    return true;
  }

  std::optional<std::vector<Endpoint>> read_listen(const std::string& key, const toml::node& node) {
    std::vector<Endpoint> endpoints;
    bool ok = true;
    const bool is_array = for_each_element(
        key, node, "an array of \"address:port\" strings", [&](const toml::node& element) {
          const std::string* text = as_string(key + " entry", element);
          if (text == nullptr) {
            ok = false;
            return;
          }
          auto endpoint = parse_endpoint(*text);
          if (!endpoint) {
            error(line_of(element.source()), quoted(key) + ": " + endpoint.error().message);
            ok = false;
            return;
          }
          if (std::find(endpoints.begin(), endpoints.end(), *endpoint) != endpoints.end()) {
            error(line_of(element.source()),
                  quoted(key) + ": " + endpoint->to_string() + " is listed twice");
            ok = false;
            return;
          }
          endpoints.push_back(*endpoint);
        });
    if (!is_array || !ok) return std::nullopt;
    if (endpoints.empty()) {
      error(line_of(node.source()), quoted(key) + " must name at least one address:port");
      return std::nullopt;
    }
    return endpoints;
  }

  std::optional<std::vector<std::uint16_t>> read_ports(const std::string& key,
                                                       const toml::node& node) {
    std::vector<std::uint16_t> ports;
    bool ok = true;
    const bool is_array =
        for_each_element(key, node, "an array of port numbers", [&](const toml::node& element) {
          const auto port = as_integer(key + " entry", element, 1, 65535);
          if (!port) {
            ok = false;
            return;
          }
          const auto value = static_cast<std::uint16_t>(*port);
          if (std::find(ports.begin(), ports.end(), value) == ports.end()) ports.push_back(value);
        });
    if (!is_array || !ok) return std::nullopt;
    return ports;
  }

  void read_root(const toml::table& root) {
    Config& config = out_.config;
    for (const auto& [k, node] : root) {
      const std::string key(k.str());
      if (key == "listen") {
        if (auto listen = read_listen(key, node)) config.listen = std::move(*listen);
      } else if (key == "rules_dir") {
        if (const std::string* dir = as_string(key, node)) {
          if (dir->empty()) {
            error(line_of(node.source()), quoted(key) + " must not be empty");
          } else {
            config.rules_dir = *dir;
          }
        }
      } else if (key == "control_socket") {
        if (const std::string* path = as_string(key, node)) {
          read_control_socket(key, node, *path, config.control_socket);
        }
      } else if (key == "qrexec_socket") {
        if (const std::string* path = as_string(key, node)) {
          read_control_socket(key, node, *path, config.qrexec_socket);
        }
      } else if (key == "user") {
        if (const std::string* name = as_string(key, node)) config.user = *name;
      } else if (key == "allow_destinations") {
        if (auto networks = read_networks(key, node)) config.allow_destinations = std::move(*networks);
      } else if (key == "watch") {
        if (auto on = as_bool(key, node)) config.watch = *on;
      } else if (key == "recheck_tunnels") {
        if (auto on = as_bool(key, node)) config.recheck_tunnels = *on;
      } else if (key == "sandbox") {
        if (auto on = as_bool(key, node)) config.sandbox = *on;
      } else if (key == "workers") {
        if (auto n = as_integer(key, node, 0, 256)) config.workers = static_cast<unsigned>(*n);
      } else if (key == "default_mode") {
        if (auto mode = read_mode(key, node)) config.default_mode = *mode;
      } else if (key == "unknown_clients") {
        if (auto policy = as_choice<UnknownClients>(
                key, node, {{"deny", UnknownClients::deny}, {"allow", UnknownClients::allow}})) {
          config.unknown_clients = *policy;
        }
      } else if (key == "http_ports") {
        if (auto ports = read_ports(key, node)) config.http_ports = std::move(*ports);
      } else if (key == "connect_ports") {
        if (auto ports = read_ports(key, node)) config.connect_ports = std::move(*ports);
      } else if (key == "via_name") {
        if (const std::string* name = as_string(key, node)) {
          if (!is_http_token(*name)) {
            error(line_of(node.source()),
                  quoted(key) +
                      " must be a non-empty HTTP token (letters, digits and "
                      "!#$%&'*+-.^_`|~), not \"" +
                      *name + "\"");
          } else {
            config.via_name = *name;
          }
        }
      } else if (key == "dns") {
        read_table(key, node, [&](const std::string& sub, const toml::node& value) {
          if (sub == "servers") {
            read_dns_servers(join(key, sub), value);
          } else if (sub == "cache_max_ttl") {
            if (auto n = as_integer(join(key, sub), value, 0, 86400)) {
              config.dns_cache_max_ttl = std::chrono::seconds(*n);
            }
          } else {
            return false;
          }
          return true;
        });
      } else if (key == "timeouts") {
        read_table(key, node, [&](const std::string& sub, const toml::node& value) {
          return read_timeout(join(key, sub), sub, value);
        });
      } else if (key == "limits") {
        read_table(key, node, [&](const std::string& sub, const toml::node& value) {
          std::size_t* target = nullptr;
          std::int64_t min = 0;
          std::int64_t max = 0;
          if (sub == "header_bytes") {
            target = &config.limits.header_bytes;
            min = 1024;
            max = 1048576;
          } else if (sub == "request_line_bytes") {
            target = &config.limits.request_line_bytes;
            min = 256;
            max = 1048576;
          } else if (sub == "header_count") {
            target = &config.limits.header_count;
            min = 8;
            max = 10000;
          } else if (sub == "chunk_extension_bytes") {
            target = &config.limits.chunk_extension_bytes;
            min = 0;
            max = 65536;
          } else if (sub == "connections") {
            target = &config.limits.connections;
            min = 0;
            max = 10000000;
          } else if (sub == "connections_per_client") {
            target = &config.limits.connections_per_client;
            min = 0;
            max = 10000000;
          } else {
            return false;
          }
          if (auto n = as_integer(join(key, sub), value, min, max)) {
            *target = static_cast<std::size_t>(*n);
          }
          return true;
        });
      } else if (key == "clients") {
        read_clients(key, node);
      } else if (key == "upstreams") {
        read_upstreams(key, node);
      } else if (key == "routes") {
        read_routes(key, node);
      } else {
        unknown_key(key, k, node);
      }
    }
  }

  // Empty turns the socket off; otherwise an absolute path that fits in sun_path.
  // control_socket and qrexec_socket: an absolute unix socket path, or "" for none.
  void read_control_socket(const std::string& key, const toml::node& node,
                           const std::string& path, std::string& target) {
    if (path.empty()) {
      target.clear();
      return;
    }
    if (path.front() != '/') {
      error(line_of(node.source()),
            quoted(key) + " must be an absolute path (or \"\" to turn the socket off), not \"" +
                path + "\"");
      return;
    }
    if (path.size() > kMaxUnixSocketPath) {
      error(line_of(node.source()), quoted(key) + " is " + std::to_string(path.size()) +
                                        " bytes long; a unix socket path may have at most " +
                                        std::to_string(kMaxUnixSocketPath));
      return;
    }
    if (path.find('\0') != std::string::npos) {
      error(line_of(node.source()), quoted(key) + " must not contain a NUL byte");
      return;
    }
    target = path;
  }

  std::optional<ListMode> read_mode(const std::string& key, const toml::node& node) {
    return as_choice<ListMode>(
        key, node, {{"allow-list", ListMode::allow_list}, {"block-list", ListMode::block_list}});
  }

  // Reads a table whose keys `known` handles; it returns false for an unknown key.
  void read_table(const std::string& key, const toml::node& node,
                  const std::function<bool(const std::string&, const toml::node&)>& known) {
    const auto* table = node.as_table();
    if (table == nullptr) {
      wrong_type(key, node, "a table");
      return;
    }
    for (const auto& [k, value] : *table) {
      const std::string sub(k.str());
      if (!known(sub, value)) unknown_key(join(key, sub), k, value);
    }
  }

  bool read_timeout(const std::string& full_key, const std::string& key, const toml::node& node) {
    Timeouts& t = out_.config.timeouts;
    std::chrono::seconds* target = nullptr;
    if (key == "request_head")
      target = &t.request_head;
    else if (key == "idle_client")
      target = &t.idle_client;
    else if (key == "dns")
      target = &t.dns;
    else if (key == "connect")
      target = &t.connect;
    else if (key == "response_head")
      target = &t.response_head;
    else if (key == "body_idle")
      target = &t.body_idle;
    else if (key == "tunnel_idle")
      target = &t.tunnel_idle;
    else if (key == "idle_origin")
      target = &t.idle_origin;
    else
      return false;
    const std::int64_t min = key == "idle_origin" ? 0 : 1;
    if (auto seconds = as_integer(full_key, node, min, 86400)) {
      *target = std::chrono::seconds(*seconds);
    }
    return true;
  }

  // An array of CIDR strings ("10.0.0.0/8", "fd00::/8", a single address).
  std::optional<std::vector<Network>> read_networks(const std::string& key,
                                                    const toml::node& node) {
    std::vector<Network> networks;
    bool ok = true;
    const bool is_array = for_each_element(
        key, node, "an array of networks such as \"10.0.0.0/8\"", [&](const toml::node& element) {
          const std::string* text = as_string(key + " entry", element);
          if (text == nullptr) {
            ok = false;
            return;
          }
          auto network = parse_network(*text);
          if (!network) {
            error(line_of(element.source()),
                  quoted(key) + " entry \"" + *text + "\": " + network.error().message);
            ok = false;
            return;
          }
          networks.push_back(*network);
        });
    if (!is_array || !ok) return std::nullopt;
    return networks;
  }

  void read_dns_servers(const std::string& key, const toml::node& node) {
    std::vector<Endpoint> servers;
    bool ok = true;
    const bool is_array = for_each_element(
        key, node, "an array of \"address\" or \"address:port\" strings",
        [&](const toml::node& element) {
          const std::string* text = as_string(key + " entry", element);
          if (text == nullptr) {
            ok = false;
            return;
          }
          auto server = parse_dns_server(*text);
          if (!server) {
            error(line_of(element.source()), quoted(key) + ": " + server.error().message);
            ok = false;
            return;
          }
          servers.push_back(*server);
        });
    if (is_array && ok) out_.config.dns_servers = std::move(servers);
  }

  void read_clients(const std::string& key, const toml::node& node) {
    const auto* table = node.as_table();
    if (table == nullptr) {
      wrong_type(key, node, "a table of [clients.LABEL] sections");
      return;
    }
    for (const auto& [k, value] : *table) {
      const std::string label(k.str());
      const std::string section = join(key, label);
      if (!is_valid_label(label)) {
        int line = line_of(k.source());
        if (line == 0) line = line_of(value.source());
        error(line, "client label " + quoted(label) +
                        " may only contain letters, digits, '-', '_' and '.'");
        continue;
      }
      ClientSettings settings;
      settings.mode = out_.config.default_mode;
      bool has_mode = false;
      read_table(section, value, [&](const std::string& sub, const toml::node& v) {
        if (sub == "allow_destinations") {
          if (auto networks = read_networks(join(section, sub), v)) {
            settings.allow_destinations = std::move(*networks);
          }
          return true;
        }
        if (sub != "mode") return false;
        if (auto mode = read_mode(join(section, sub), v)) {
          settings.mode = *mode;
          has_mode = true;
        }
        return true;
      });
      out_.config.clients[label] = settings;
      if (!has_mode) pending_default_.push_back(label);
    }
  }

  // [upstreams.NAME]: url, and optionally username and password.
  void read_upstreams(const std::string& key, const toml::node& node) {
    const auto* table = node.as_table();
    if (table == nullptr) {
      wrong_type(key, node, "a table of [upstreams.NAME] sections");
      return;
    }
    for (const auto& [k, value] : *table) {
      const std::string name(k.str());
      const std::string section = join(key, name);
      int line = line_of(k.source());
      if (line == 0) line = line_of(value.source());
      if (!is_valid_label(name) || name == "direct") {
        error(line, "upstream name " + quoted(name) +
                        (name == "direct" ? " is reserved: a route says via = \"direct\" to use "
                                            "no upstream"
                                          : " may only contain letters, digits, '-', '_' and '.'"));
        continue;
      }
      std::optional<ParentProxy> parent;
      std::string username;
      std::string password;
      int credentials_line = line;
      read_table(section, value, [&](const std::string& sub, const toml::node& v) {
        if (sub == "url") {
          if (const std::string* text = as_string(join(section, sub), v)) {
            auto parsed = parse_parent_url(*text);
            if (parsed) {
              parent = std::move(*parsed);
            } else {
              error(line_of(v.source()), quoted(join(section, sub)) + ": " + parsed.error().message);
            }
          }
        } else if (sub == "username" || sub == "password") {
          if (const std::string* text = as_string(join(section, sub), v)) {
            (sub == "username" ? username : password) = *text;
            credentials_line = std::max(credentials_line, line_of(v.source()));
          }
        } else {
          return false;
        }
        return true;
      });
      if (value.as_table() == nullptr) continue;
      if (!parent) {
        if (value.as_table()->find("url") == value.as_table()->end()) {
          error(line, "[" + section + "] needs a url, e.g. url = \"http://proxy.example:3128\"");
        }
        upstream_names_.push_back(name);  // known, so that routes naming it get no second error
        upstream_index_.push_back(std::nullopt);
        continue;
      }
      if (const auto problem = credentials_problem(parent->kind, username, password)) {
        error(credentials_line, "[" + section + "]: " + *problem);
      }
      parent->name = name;
      parent->username = std::move(username);
      parent->password = std::move(password);
      upstream_names_.push_back(name);
      upstream_index_.push_back(out_.config.routing.parents.size());
      upstream_lines_.push_back(line);
      out_.config.routing.parents.push_back(std::move(*parent));
    }
  }

  // [[routes]]: via, and the conditions domains, hosts, networks, clients.
  void read_routes(const std::string& key, const toml::node& node) {
    const auto* array = node.as_array();
    if (array == nullptr || (!array->empty() && !array->is_array_of_tables())) {
      wrong_type(key, node, "an array of [[routes]] tables");
      return;
    }
    for (const toml::node& element : *array) {
      const toml::table& table = *element.as_table();
      Route route;
      route.line = line_of(table.source());
      std::optional<std::string> via;
      int via_line = route.line;
      read_table(key, element, [&](const std::string& sub, const toml::node& v) {
        const std::string full = join(key, sub);
        if (sub == "via") {
          if (const std::string* text = as_string(full, v)) {
            via = *text;
            via_line = line_of(v.source());
          }
        } else if (sub == "domains" || sub == "hosts") {
          read_route_names(full, v, sub == "domains" ? route.domains : route.hosts);
        } else if (sub == "networks") {
          if (auto networks = read_networks(full, v)) route.networks = std::move(*networks);
        } else if (sub == "clients") {
          read_route_clients(full, v, route);
        } else {
          return false;
        }
        return true;
      });
      if (route.line == 0) route.line = via_line;
      if (!via) {
        error(route.line, "a [[routes]] entry needs via = \"NAME\" (an upstream) or "
                          "via = \"direct\"");
        continue;
      }
      pending_vias_.push_back({*via, via_line});
      out_.config.routing.routes.push_back(std::move(route));
    }
  }

  void read_route_names(const std::string& key, const toml::node& node,
                        std::vector<std::string>& names) {
    for_each_element(key, node, "an array of host names", [&](const toml::node& element) {
      const std::string* text = as_string(key + " entry", element);
      if (text == nullptr) return;
      auto host = normalize_host(*text);
      if (!host) {
        error(line_of(element.source()),
              quoted(key) + " entry \"" + *text + "\": " + host.error().message);
      } else if (host->is_ip()) {
        error(line_of(element.source()), quoted(key) + " entry \"" + *text +
                                             "\" is an address: list it under networks");
      } else {
        names.push_back(host->name);
      }
    });
  }

  // Each entry is a client label (as in rules file names) or an address or network.
  void read_route_clients(const std::string& key, const toml::node& node, Route& route) {
    for_each_element(key, node, "an array of client labels, addresses or networks",
                     [&](const toml::node& element) {
                       const std::string* text = as_string(key + " entry", element);
                       if (text == nullptr) return;
                       if (auto network = parse_network(*text)) {
                         route.client_networks.push_back(*network);
                       } else if (text->find_first_of(":/") == std::string::npos &&
                                  is_valid_label(*text) && !IpAddress::parse(*text)) {
                         route.client_labels.push_back(*text);
                       } else {
                         error(line_of(element.source()),
                               quoted(key) + " entry \"" + *text +
                                   "\" is neither a client label nor an address or network: " +
                                   network.error().message);
                       }
                     });
  }

  // A route's via names an upstream that may come later in the file (toml++ reads
  // tables in key order): settled once everything is read.
  void settle_routes() {
    Routing& routing = out_.config.routing;
    std::vector<bool> used(upstream_names_.size(), false);
    for (std::size_t i = 0; i < routing.routes.size(); ++i) {
      const auto& [via, line] = pending_vias_[i];
      if (via == "direct") continue;
      const auto it = std::find(upstream_names_.begin(), upstream_names_.end(), via);
      if (it == upstream_names_.end()) {
        std::string known;
        for (const auto& name : upstream_names_) known += (known.empty() ? "" : ", ") + name;
        error(line, "via = \"" + via + "\" names no [upstreams." + via + "] section" +
                        (known.empty() ? std::string(" (none is declared)")
                                       : " (declared: " + known + ")") +
                        "; use \"direct\" for no upstream");
        continue;
      }
      const auto index = static_cast<std::size_t>(it - upstream_names_.begin());
      used[index] = true;
      routing.routes[i].parent = upstream_index_[index];
    }
    for (std::size_t i = 0, parent = 0; i < upstream_names_.size(); ++i) {
      if (!upstream_index_[i]) continue;
      if (!used[i]) {
        out_.problems.push_back(Problem{Problem::Severity::warning, file_, upstream_lines_[parent],
                                        "upstream " + quoted(upstream_names_[i]) +
                                            " is used by no [[routes]] entry"});
      }
      ++parent;
    }
  }

  // Clients without their own mode follow default_mode, which may come later in the file.
  void settle_defaults() {
    for (const std::string& label : pending_default_) {
      out_.config.clients[label].mode = out_.config.default_mode;
    }
  }

 private:
  std::string file_;
  ParsedConfig out_;
  std::vector<std::string> pending_default_;
  // Upstreams in the order read (key order), with their index in routing.parents (nullopt
  // when the section had errors) and, for the valid ones, their line.
  std::vector<std::string> upstream_names_;
  std::vector<std::optional<std::size_t>> upstream_index_;
  std::vector<int> upstream_lines_;
  std::vector<std::pair<std::string, int>> pending_vias_;  // per route: via and its line
};

}  // namespace

ParsedConfig parse_config(std::string_view file_path, std::string_view content) {
  ConfigReader reader(file_path);
  return reader.read(content);
}

Result<Endpoint> parse_dns_server(std::string_view text) {
  if (auto address = IpAddress::parse(text)) return Endpoint{*address, 53};
  if (text.find(':') == std::string_view::npos) {
    return Error{"'" + std::string(text) + "' is not an IPv4 or IPv6 address"};
  }
  auto endpoint = parse_endpoint(text);
  if (!endpoint) return endpoint;
  if (endpoint->port == 0) return Error{"port 0 is not a DNS server port"};
  return endpoint;
}

std::vector<std::string> settings_needing_restart(const Config& running, const Config& reloaded) {
  std::vector<std::string> changed;
  const auto note = [&](bool same, const char* name) {
    if (!same) changed.emplace_back(name);
  };
  note(running.listen == reloaded.listen, "listen");
  note(running.user == reloaded.user, "user");
  note(running.workers == reloaded.workers, "workers");
  note(running.sandbox == reloaded.sandbox, "sandbox");
  note(running.control_socket == reloaded.control_socket, "control_socket");
  note(running.qrexec_socket == reloaded.qrexec_socket, "qrexec_socket");
  note(running.dns_servers == reloaded.dns_servers, "dns servers");
  note(running.dns_cache_max_ttl == reloaded.dns_cache_max_ttl, "dns max_ttl");
  note(running.via_name == reloaded.via_name, "via_name");
  note(running.timeouts == reloaded.timeouts, "timeouts");
  note(running.limits == reloaded.limits, "limits");
  return changed;
}

}  // namespace egressd::core
