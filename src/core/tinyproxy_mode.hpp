// tinyproxy-compatible mode: a tinyproxy config (core/tinyproxy_config) turned into
// egressd's process settings and policy snapshot, one filter for every admitted client,
// and tinyproxy's pages (error templates, statistics) and credentials check.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/config.hpp"
#include "core/policy.hpp"
#include "core/problem.hpp"
#include "core/result.hpp"
#include "core/rules.hpp"
#include "core/tinyproxy_config.hpp"

namespace egressd::core {

// How tinyproxy mode answers requests; part of each snapshot, so a reload changes it
// together with the filter.
struct TinyproxyBehaviour {
  std::vector<std::string> credentials;  // base64("user:password") of each BasicAuth line
  bool xtinyproxy = false;               // X-Tinyproxy: <client address> to the origin
  bool via = true;                       // DisableViaHeader turns it off
  std::string via_name = "egressd";      // ViaProxyName
  std::vector<std::pair<std::string, std::string>> add_headers;  // AddHeader, in file order
  std::map<unsigned, std::string> error_pages;  // status -> template (ErrorFile)
  std::string default_error_page;               // DefaultErrorFile's template; "": built in
  std::string stat_host;                        // lower case; "" for none
  bool filter_urls = false;                     // the log names the URL, not the host
};

// The files a tinyproxy config names, as read by the caller: the filter, and the
// templates of ErrorFile and DefaultErrorFile by path. A file missing from the map could
// not be read; `read_errors` says why (path -> reason).
struct TinyproxyFiles {
  std::map<std::string, std::string> contents;
  std::map<std::string, std::string> read_errors;
};

// The paths of the files a tinyproxy config names (filter, error templates), in the
// order they appear; relative ones as written (relative to the working directory, as
// tinyproxy takes them).
std::vector<std::string> tinyproxy_files(const TinyproxyConfig& tp);

// The pattern of one filter line (without its line end), read as tinyproxy reads it:
// after leading blanks, the text up to the first blank or '#' not preceded by '\\'.
// Empty: no pattern (a blank or comment line). `warning` is set when the line
// holds more than the pattern that is not a comment: tinyproxy ignores it, and so does
// egressd, but the writer probably meant something else.
std::string_view tinyproxy_filter_pattern(std::string_view line, std::string& warning);

// One filter pattern (tinyproxy_filter_pattern()) as a rules-file regex: converted from
// `type` by filter_pattern_to_re2, and kept a regex where egressd would read it as a
// literal form ("domain:", "host:", "ip:" at its start). With `case_sensitive` (tinyproxy
// FilterCaseSensitive), a line with an upper-case letter is an error when matched
// against host names, which are lower case: it could never match.
Result<std::string> tinyproxy_filter_rule(std::string_view line, FilterType type,
                                          bool case_sensitive, bool match_urls);

// A filter file's lines as rules: one pattern per line (tinyproxy_filter_pattern()), CR
// before LF dropped. Each rule keeps its line number; a line that cannot be converted is
// an error naming `path` and it, one with ignored text a warning.
ParsedRules parse_tinyproxy_filter(std::string_view path, std::string_view content,
                                   const TinyproxyConfig& tp);

// egressd's process settings for a tinyproxy config: listen addresses (Listen, or every
// IPv4 and IPv6 address, on Port), Timeout for idle clients, bodies and tunnels,
// MaxClients as the connection cap, User, ViaProxyName, the Upstream lines as routes
// (tinyproxy takes the last that matches, egressd the first route: written in reverse),
// no watching (tinyproxy reloads on signals). Errors for what egressd cannot do as
// tinyproxy would: Allow/Deny by host name (a reverse lookup per client), Bind, Group
// without User, an Upstream for names without a domain ("."), FilterCaseSensitive with
// FilterURLs.
struct TinyproxySetup {
  Config config;
  Problems problems;
};
TinyproxySetup tinyproxy_setup(std::string_view config_path, const TinyproxyConfig& tp);

// The snapshot of a tinyproxy config: the filter (FilterDefaultDeny: an allow-list, else
// a block-list; no Filter: everything passes) for every client that Allow/Deny admits,
// plain HTTP to any port, CONNECT to the ConnectPort ports (none listed: any). A filter
// with any error, or a file that could not be read, fails the whole build (snapshot
// nullptr): at start egressd does not start, at a reload the running rules stay.
SnapshotBuild build_tinyproxy_snapshot(const Config& config, const TinyproxyConfig& tp,
                                       const TinyproxyFiles& files, std::uint64_t generation);

// Whether a Proxy-Authorization value carries one of the BasicAuth credentials
// ("Basic <base64>", the scheme in any case). With no BasicAuth lines, always true.
bool tinyproxy_credentials_ok(const TinyproxyBehaviour& behaviour,
                              std::string_view proxy_authorization);

// What an error page says: tinyproxy's template variables.
struct TinyproxyPage {
  unsigned status = 500;
  std::string cause;   // the reason phrase: "Filtered", "Access violation", "Bad Gateway"
  std::string detail;  // one sentence
  std::string url;     // the request's URL, if it had one
  std::string client_ip;
  std::string request;  // the request line
};

// The page for `page.status`: its ErrorFile template, else DefaultErrorFile's, else a
// built-in one. {cause}, {detail}, {url}, {clientip}, {clienthost} (the address: no
// reverse lookups), {request}, {package}, {version}, {website} and {date} (left empty:
// the core reads no clock) are replaced, every value HTML-escaped; any other {name} is
// left as written.
std::string render_tinyproxy_page(const TinyproxyBehaviour& behaviour, const TinyproxyPage& page);

// The statistics page of StatHost.
struct TinyproxyStats {
  std::uint64_t open_connections = 0;
  std::uint64_t requests = 0;
  std::uint64_t denied = 0;
  std::uint64_t refused_high_load = 0;
};
std::string render_tinyproxy_stats(const TinyproxyStats& stats);

}  // namespace egressd::core
