// tinyproxy's configuration file (tinyproxy.conf(5) of tinyproxy 1.11) and its filter
// patterns, read strictly: the directives egressd's tinyproxy-compatible mode supports,
// a warning for obsolete ones, an error naming every other one.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/network.hpp"
#include "core/parent_proxy.hpp"
#include "core/problem.hpp"
#include "core/result.hpp"

namespace egressd::core {

enum class FilterType : std::uint8_t { bre, ere, fnmatch };
std::string_view to_string(FilterType type);

// An Allow or Deny line: a client address or network, or the end of its host name.
struct TinyproxyAccess {
  int line = 0;
  bool allow = true;
  std::optional<Network> network;  // "127.0.0.1", "192.168.0.0/24"
  std::string name_suffix;         // "host.example.com", ".example.com" (no network)
};

// A site spec of an Upstream line: "name" (that host), ".name" (that domain: any name
// ending in ".name"), "." (names without a dot), "IP/bits" or "IP/mask".
struct TinyproxySite {
  enum class Kind : std::uint8_t { host, domain, no_domain, network };
  Kind kind = Kind::host;
  std::string name;  // host and domain (without the leading dot), lower case
  Network network;
};

// An Upstream line. tinyproxy takes the LAST line that matches.
struct TinyproxyUpstream {
  int line = 0;
  std::optional<ParentProxy> parent;  // nullopt: "Upstream none" (direct)
  std::optional<TinyproxySite> site;  // nullopt: every site
};

struct TinyproxyConfig {
  std::optional<std::uint16_t> port;  // required by tinyproxy
  std::vector<std::string> listen;    // addresses; empty: all (0.0.0.0)
  std::vector<std::string> bind;      // source addresses for outgoing connections
  unsigned timeout = 600;             // seconds of inactivity
  unsigned max_clients = 100;
  std::vector<TinyproxyAccess> access;                          // in file order
  std::vector<std::pair<std::string, std::string>> basic_auth;  // user, password
  std::string user;
  std::string group;
  std::string pid_file;
  std::string log_file;
  bool syslog = false;
  std::string log_level = "Info";  // as written, one of tinyproxy's levels
  std::string filter;              // the filter file; empty: no filtering
  bool filter_urls = false;
  FilterType filter_type = FilterType::bre;
  bool filter_case_sensitive = false;
  bool filter_default_deny = false;
  // CONNECT ports; empty: every port (tinyproxy's default); {0}: CONNECT disabled.
  std::vector<std::uint16_t> connect_ports;
  std::vector<TinyproxyUpstream> upstreams;
  bool disable_via = false;
  std::string via_proxy_name;  // empty: the host name
  bool xtinyproxy = false;
  std::vector<std::pair<std::string, std::string>> add_headers;
  std::map<unsigned, std::string> error_files;  // HTTP status -> HTML template file
  std::string default_error_file;
  std::string stat_host = "tinyproxy.stats";
  // The line of each directive (keyword in lower case; its last line when repeated), for
  // messages about what the file asks.
  std::map<std::string, int> lines;
};

struct ParsedTinyproxyConfig {
  TinyproxyConfig config;
  Problems problems;
};

// Parses a tinyproxy config: "Keyword value..." per line, keywords case-insensitive,
// values optionally in double quotes, '#' comment lines. Every problem names its line.
// Relative paths are kept as written (tinyproxy takes them relative to its working
// directory).
ParsedTinyproxyConfig parse_tinyproxy_config(std::string_view file_path, std::string_view content);

// Whether `content` reads as a tinyproxy config rather than egressd's TOML: its first
// directive line is a tinyproxy keyword followed by a value without '='.
bool looks_like_tinyproxy_config(std::string_view content);

// A filter line as the equivalent pattern for RE2's POSIX syntax, matched unanchored
// (anywhere in the host or URL, as tinyproxy does) unless the pattern anchors itself:
// - ere: unchanged;
// - bre: \( \) \{ \} become groups and intervals, \| \+ \? the GNU operators, while
//   ( ) { } | + ? are literal; a '*' that starts the pattern or a group is literal;
// - fnmatch: the whole text must match: * any run, ? one character, [...] a set
//   ([!...] negated); everything else literal.
// Errors: back-references (\1..\9), which RE2 cannot run in linear time, and unbalanced
// groups or brackets.
Result<std::string> filter_pattern_to_re2(std::string_view pattern, FilterType type);

}  // namespace egressd::core
