// Tests for the TOML configuration and endpoint parsing (core/config).
#include "core/config.hpp"

#include <gtest/gtest.h>

#include <string>

namespace egressd::core {
namespace {

using namespace std::chrono_literals;

std::string messages(const Problems& problems) {
  std::string out;
  for (const auto& p : problems) out += p.to_string() + "\n";
  return out;
}

ParsedConfig parse_ok(const std::string& text) {
  auto parsed = parse_config("egressd.toml", text);
  EXPECT_TRUE(parsed.problems.empty()) << messages(parsed.problems);
  return parsed;
}

// The single problem of a config that must have exactly one.
Problem only_problem(const std::string& text) {
  const auto parsed = parse_config("egressd.toml", text);
  EXPECT_EQ(parsed.problems.size(), 1u) << messages(parsed.problems);
  if (parsed.problems.empty()) return {};
  return parsed.problems.front();
}

TEST(ParseEndpoint, Accepts) {
  struct Case {
    const char* text;
    const char* canonical;
    std::uint16_t port;
  };
  for (const Case& c :
       {Case{"127.0.0.1:8100", "127.0.0.1:8100", 8100}, Case{"0.0.0.0:0", "0.0.0.0:0", 0},
        Case{"[::1]:8100", "[::1]:8100", 8100}, Case{"[::]:65535", "[::]:65535", 65535},
        Case{"[2001:DB8::1]:53", "[2001:db8::1]:53", 53}}) {
    const auto endpoint = parse_endpoint(c.text);
    ASSERT_TRUE(endpoint.ok()) << c.text << ": " << endpoint.error().message;
    EXPECT_EQ(endpoint->port, c.port) << c.text;
    EXPECT_EQ(endpoint->to_string(), c.canonical) << c.text;
  }
}

TEST(ParseEndpoint, RejectsWithAReason) {
  struct Case {
    const char* text;
    const char* says;
  };
  for (const Case& c :
       {Case{"", "empty"}, Case{"127.0.0.1", "missing ':port'"}, Case{"127.0.0.1:", "missing port"},
        Case{"127.0.0.1:65536", "0 to 65535"}, Case{"127.0.0.1:-1", "0 to 65535"},
        Case{"127.0.0.1:+80", "0 to 65535"}, Case{"127.0.0.1:080", "0 to 65535"},
        Case{"127.0.0.1:8o", "0 to 65535"}, Case{"127.0.0.1:123456", "0 to 65535"},
        Case{"127.1:80", "not an IPv4 address"}, Case{"localhost:80", "not an IPv4 address"},
        Case{" 127.0.0.1:80", "not an IPv4 address"}, Case{"::1:80", "needs brackets"},
        Case{"[::1]", "missing ':port'"}, Case{"[::1]8100", "missing ':port'"},
        Case{"[::1:8100", "missing ']'"}, Case{"[127.0.0.1]:80", "not an IPv6 address"},
        Case{"[fe80::1%eth0]:80", "not an IPv6 address"}}) {
    const auto endpoint = parse_endpoint(c.text);
    ASSERT_FALSE(endpoint.ok()) << c.text;
    EXPECT_NE(endpoint.error().message.find(c.says), std::string::npos)
        << c.text << ": " << endpoint.error().message;
  }
}

TEST(ParseConfig, EmptyFileGivesDefaults) {
  const auto parsed = parse_ok("");
  const Config& c = parsed.config;
  ASSERT_EQ(c.listen.size(), 1u);
  EXPECT_EQ(c.listen[0].to_string(), "127.0.0.1:8100");
  EXPECT_EQ(c.rules_dir, "/etc/egressd/rules");
  EXPECT_EQ(c.workers, 0u);
  EXPECT_EQ(c.default_mode, ListMode::allow_list);
  EXPECT_EQ(c.unknown_clients, UnknownClients::deny);
  EXPECT_EQ(c.http_ports, std::vector<std::uint16_t>{80});
  EXPECT_EQ(c.connect_ports, std::vector<std::uint16_t>{443});
  EXPECT_TRUE(c.dns_servers.empty());
  EXPECT_EQ(c.dns_cache_max_ttl, 60s);
  EXPECT_EQ(c.via_name, "egressd");
  EXPECT_EQ(c.control_socket, "/run/egressd/control.sock");
  EXPECT_EQ(c.timeouts.request_head, 30s);
  EXPECT_EQ(c.timeouts.tunnel_idle, 900s);
  EXPECT_EQ(c.timeouts.idle_origin, 30s);
  EXPECT_EQ(c.limits.header_bytes, 64u * 1024u);
  EXPECT_TRUE(c.clients.empty());
}

TEST(ParseConfig, EveryKey) {
  const auto parsed = parse_ok(R"(
# all keys
listen = ["0.0.0.0:8100", "[::]:8100"]
rules_dir = "/rw/config/egressd/rules"
workers = 4
default_mode = "block-list"
unknown_clients = "allow"
http_ports = [80, 8080]
connect_ports = [443, 8443]
via_name = "proxy-1"
control_socket = "/run/egressd-test/ctl.sock"

[dns]
servers = ["10.139.1.1", "10.139.1.2:5353", "[fd00::1]:53", "fd00::2"]
cache_max_ttl = 0

[timeouts]
request_head = 5
idle_client = 6
dns = 7
connect = 8
response_head = 9
body_idle = 10
tunnel_idle = 86400
idle_origin = 0

[limits]
header_bytes = 1024
request_line_bytes = 300
header_count = 20
chunk_extension_bytes = 0

[clients.work]
mode = "allow-list"

[clients.personal]
)");
  const Config& c = parsed.config;
  ASSERT_EQ(c.listen.size(), 2u);
  EXPECT_EQ(c.listen[1].to_string(), "[::]:8100");
  EXPECT_EQ(c.rules_dir, "/rw/config/egressd/rules");
  EXPECT_EQ(c.workers, 4u);
  EXPECT_EQ(c.default_mode, ListMode::block_list);
  EXPECT_EQ(c.unknown_clients, UnknownClients::allow);
  EXPECT_EQ(c.http_ports, (std::vector<std::uint16_t>{80, 8080}));
  EXPECT_EQ(c.connect_ports, (std::vector<std::uint16_t>{443, 8443}));
  EXPECT_EQ(c.via_name, "proxy-1");
  EXPECT_EQ(c.control_socket, "/run/egressd-test/ctl.sock");
  ASSERT_EQ(c.dns_servers.size(), 4u);
  EXPECT_EQ(c.dns_servers[0].to_string(), "10.139.1.1:53");
  EXPECT_EQ(c.dns_servers[1].to_string(), "10.139.1.2:5353");
  EXPECT_EQ(c.dns_servers[2].to_string(), "[fd00::1]:53");
  EXPECT_EQ(c.dns_servers[3].to_string(), "[fd00::2]:53");
  EXPECT_EQ(c.timeouts.request_head, 5s);
  EXPECT_EQ(c.timeouts.idle_client, 6s);
  EXPECT_EQ(c.timeouts.dns, 7s);
  EXPECT_EQ(c.dns_cache_max_ttl, 0s);
  EXPECT_EQ(c.timeouts.connect, 8s);
  EXPECT_EQ(c.timeouts.response_head, 9s);
  EXPECT_EQ(c.timeouts.body_idle, 10s);
  EXPECT_EQ(c.timeouts.tunnel_idle, 86400s);
  EXPECT_EQ(c.timeouts.idle_origin, 0s);
  EXPECT_EQ(c.limits.header_bytes, 1024u);
  EXPECT_EQ(c.limits.request_line_bytes, 300u);
  EXPECT_EQ(c.limits.header_count, 20u);
  EXPECT_EQ(c.limits.chunk_extension_bytes, 0u);
  ASSERT_EQ(c.clients.size(), 2u);
  EXPECT_EQ(c.clients.at("work").mode, ListMode::allow_list);
  // Without its own mode a client follows default_mode.
  EXPECT_EQ(c.clients.at("personal").mode, ListMode::block_list);
}

TEST(ParseConfig, EmptyPortListsAreAllowed) {
  const auto parsed = parse_ok("http_ports = []\nconnect_ports = [443, 443]\n");
  EXPECT_TRUE(parsed.config.http_ports.empty());
  EXPECT_EQ(parsed.config.connect_ports, std::vector<std::uint16_t>{443});
}

TEST(ParseConfig, ErrorsNameTheirLine) {
  const std::string too_long_socket = "control_socket = \"/" + std::string(107, 'x') + "\"\n";
  struct Case {
    const char* text;
    int line;
    const char* says;
  };
  for (const Case& c : {
           Case{"\nbogus = 1\n", 2, "unknown key 'bogus'"},
           Case{"[timeouts]\nrequest_head = 5\nrequest_hed = 5\n", 3,
                "unknown key 'timeouts.request_hed'"},
           Case{"[dns]\nserver = []\n", 2, "unknown key 'dns.server'"},
           Case{"[timeouts]\nidle_origin = -1\n", 2,
                "'timeouts.idle_origin' must be from 0 to 86400, not -1"},
           Case{"[timeouts]\ntunnel_idle = 0\n", 2, "from 1 to 86400, not 0"},
           Case{"[dns]\ncache_max_ttl = -1\n", 2,
                "'dns.cache_max_ttl' must be from 0 to 86400, not -1"},
           Case{"\n\n[nonsense]\nx = 1\n", 3, "unknown key 'nonsense'"},
           Case{"[clients.work]\nmode = \"allow-list\"\nextra = true\n", 3,
                "unknown key 'clients.work.extra'"},
           Case{"workers = \"4\"\n", 1, "'workers' must be an integer, not a string"},
           Case{"workers = 257\n", 1, "'workers' must be from 0 to 256, not 257"},
           Case{"workers = -1\n", 1, "from 0 to 256"},
           Case{"workers = 1.5\n", 1, "not a float"},
           Case{"listen = \"127.0.0.1:8100\"\n", 1, "'listen' must be an array"},
           Case{"listen = []\n", 1, "at least one"},
           Case{"listen = [\n  \"127.0.0.1:8100\",\n  \"127.0.0.1\",\n]\n", 3, "missing ':port'"},
           Case{"listen = [\"[::1]:1\", \"[::1]:1\"]\n", 1, "listed twice"},
           Case{"listen = [8100]\n", 1, "must be a string, not an integer"},
           Case{"rules_dir = \"\"\n", 1, "must not be empty"},
           Case{"rules_dir = 3\n", 1, "must be a string"},
           Case{"default_mode = \"allowlist\"\n", 1,
                "'default_mode' must be \"allow-list\" or \"block-list\", not \"allowlist\""},
           Case{"unknown_clients = \"maybe\"\n", 1, "\"deny\" or \"allow\""},
           Case{"unknown_clients = true\n", 1, "not a boolean"},
           Case{"http_ports = [80, 0]\n", 1, "from 1 to 65535, not 0"},
           Case{"connect_ports = [443, 65536]\n", 1, "from 1 to 65535, not 65536"},
           Case{"connect_ports = 443\n", 1, "must be an array of port numbers"},
           Case{"via_name = \"my proxy\"\n", 1, "HTTP token"},
           Case{"via_name = \"\"\n", 1, "HTTP token"},
           Case{"control_socket = \"run/ctl.sock\"\n", 1, "must be an absolute path"},
           Case{"control_socket = 1\n", 1, "'control_socket' must be a string"},
           Case{too_long_socket.c_str(), 1, "a unix socket path may have at most 107"},
           Case{"[dns]\nservers = [\"localhost\"]\n", 2,
                "'localhost' is not an IPv4 or IPv6 address"},
           Case{"[dns]\nservers = [\"1.1.1.1:x\"]\n", 2, "not a decimal number"},
           Case{"[dns]\nservers = [\"1.1.1.1:0\"]\n", 2, "port 0"},
           Case{"dns = 1\n", 1, "'dns' must be a table"},
           Case{"[timeouts]\ndns = 0\n", 2, "'timeouts.dns' must be from 1 to 86400, not 0"},
           Case{"[timeouts]\nconnect = 86401\n", 2, "from 1 to 86400"},
           Case{"[timeouts]\nbody_idle = \"10s\"\n", 2, "must be an integer"},
           Case{"[limits]\nheader_bytes = 1023\n", 2, "from 1024 to 1048576"},
           Case{"[limits]\nheader_bytes = 1048577\n", 2, "from 1024 to 1048576"},
           Case{"[limits]\nheader_count = 7\n", 2, "from 8 to 10000"},
           Case{"[limits]\nrequest_line_bytes = 100\n", 2, "from 256 to 1048576"},
           Case{"[clients.work]\nmode = \"open\"\n", 2, "'clients.work.mode' must be"},
           Case{"clients = 1\n", 1, "'clients' must be a table"},
           Case{"[clients.\"bad label\"]\nmode = \"allow-list\"\n", 1, "client label 'bad label'"},
       }) {
    const Problem p = only_problem(c.text);
    EXPECT_EQ(p.severity, Problem::Severity::error) << c.text;
    EXPECT_EQ(p.file, "egressd.toml") << c.text;
    EXPECT_EQ(p.line, c.line) << c.text << "\n" << p.to_string();
    EXPECT_NE(p.message.find(c.says), std::string::npos) << c.text << "\n" << p.to_string();
  }
}

TEST(ParseConfig, EmptyControlSocketTurnsItOff) {
  EXPECT_EQ(parse_ok("control_socket = \"\"\n").config.control_socket, "");
  const std::string longest = "/" + std::string(106, 'x');
  EXPECT_EQ(parse_ok("control_socket = \"" + longest + "\"\n").config.control_socket, longest);
}

TEST(ParseConfig, SyntaxErrorHasLineAndColumn) {
  const Problem p = only_problem("workers = 4\nlisten = [\"127.0.0.1:8100\"\nvia_name = \"x\"\n");
  EXPECT_EQ(p.severity, Problem::Severity::error);
  EXPECT_GE(p.line, 2);
  EXPECT_NE(p.message.find("invalid TOML at column "), std::string::npos) << p.message;

  const Problem dup = only_problem("workers = 1\nworkers = 2\n");
  EXPECT_EQ(dup.line, 2);
  EXPECT_EQ(dup.to_string().rfind("egressd.toml:2: error: invalid TOML at column", 0), 0u)
      << dup.to_string();
}

TEST(ParseConfig, ReportsAllProblemsInFileOrder) {
  const auto parsed = parse_config("c.toml", R"(workers = 999
via_name = "a b"
zzz = 1
aaa = 2

[timeouts]
dns = 0
bogus = 3
)");
  ASSERT_EQ(parsed.problems.size(), 6u) << messages(parsed.problems);
  const int lines[] = {1, 2, 3, 4, 7, 8};
  for (std::size_t i = 0; i < 6; ++i) {
    EXPECT_EQ(parsed.problems[i].line, lines[i]) << messages(parsed.problems);
  }
  EXPECT_TRUE(has_errors(parsed.problems));
}

TEST(ParseConfig, InvalidValueKeepsTheDefault) {
  const auto parsed = parse_config("c.toml", "workers = 999\nhttp_ports = [80, 0]\n");
  EXPECT_EQ(parsed.config.workers, 0u);
  EXPECT_EQ(parsed.config.http_ports, std::vector<std::uint16_t>{80});
}

TEST(ParseConfig, DottedKeysAndInlineTables) {
  const auto parsed = parse_ok(
      "timeouts.dns = 3\nlimits = { header_bytes = 2048 }\nclients.work.mode = \"block-list\"\n");
  EXPECT_EQ(parsed.config.timeouts.dns, 3s);
  EXPECT_EQ(parsed.config.limits.header_bytes, 2048u);
  EXPECT_EQ(parsed.config.clients.at("work").mode, ListMode::block_list);
}

TEST(ConfigEnums, Names) {
  EXPECT_EQ(to_string(ListMode::allow_list), "allow-list");
  EXPECT_EQ(to_string(ListMode::block_list), "block-list");
  EXPECT_EQ(to_string(UnknownClients::deny), "deny");
  EXPECT_EQ(to_string(UnknownClients::allow), "allow");
}

TEST(ParseConfig, WatchRecheckAndAllowedDestinations) {
  const auto parsed = parse_config("/c.toml", R"(watch = false
user = "egressd"
recheck_tunnels = false
allow_destinations = ["10.1.0.0/16", "fd00::/8", "192.0.2.7"]

[clients.work]
allow_destinations = ["10.2.0.0/16"]
)");
  ASSERT_TRUE(parsed.problems.empty()) << parsed.problems[0].to_string();
  EXPECT_FALSE(parsed.config.watch);
  EXPECT_EQ(parsed.config.user, "egressd");
  EXPECT_EQ(Config{}.user, "");
  EXPECT_FALSE(parsed.config.recheck_tunnels);
  ASSERT_EQ(parsed.config.allow_destinations.size(), 3u);
  EXPECT_EQ(parsed.config.allow_destinations[2].to_string(), "192.0.2.7/32");
  ASSERT_EQ(parsed.config.clients.at("work").allow_destinations.size(), 1u);
  EXPECT_TRUE(Config{}.watch);
  EXPECT_TRUE(Config{}.recheck_tunnels);
  EXPECT_TRUE(Config{}.allow_destinations.empty());

  const auto bad = parse_config("/c.toml", "watch = 1\nallow_destinations = [\"10.0.0.1/8\"]\n");
  ASSERT_EQ(bad.problems.size(), 2u);
  EXPECT_EQ(bad.problems[0].line, 1);
  EXPECT_EQ(bad.problems[1].line, 2);
  EXPECT_NE(bad.problems[1].message.find("did you mean 10.0.0.0/8"), std::string::npos);
}

TEST(ParseConfig, UpstreamsAndRoutes) {
  const auto parsed = parse_ok(R"([[routes]]
via = "direct"
domains = ["Intranet.Example."]
networks = ["10.0.0.0/8"]

[[routes]]
via = "tor"
domains = ["onion"]
clients = ["work", "10.137.0.12", "10.138.0.0/16"]

[[routes]]
via = "corp"
hosts = ["api.example.com"]

[upstreams.corp]
url = "http://proxy.corp.example:3128"
username = "alice"
password = "s3cret"

[upstreams.tor]
url = "socks5://127.0.0.1:9050"
)");
  const Routing& routing = parsed.config.routing;
  ASSERT_EQ(routing.parents.size(), 2u);
  ASSERT_EQ(routing.routes.size(), 3u);
  EXPECT_EQ(routing.routes[0].line, 1);
  EXPECT_FALSE(routing.routes[0].parent);
  EXPECT_EQ(routing.routes[0].domains, std::vector<std::string>{"intranet.example"});
  ASSERT_EQ(routing.routes[0].networks.size(), 1u);
  const auto& tor = routing.parents[*routing.routes[1].parent];
  EXPECT_EQ(tor.name, "tor");
  EXPECT_EQ(tor.kind, ParentKind::socks5);
  EXPECT_EQ(routing.routes[1].client_labels, std::vector<std::string>{"work"});
  ASSERT_EQ(routing.routes[1].client_networks.size(), 2u);
  EXPECT_EQ(routing.routes[1].client_networks[0].to_string(), "10.137.0.12/32");
  const auto& corp = routing.parents[*routing.routes[2].parent];
  EXPECT_EQ(corp.name, "corp");
  EXPECT_EQ(corp.username, "alice");
  EXPECT_EQ(corp.password, "s3cret");
  EXPECT_EQ(corp.display(), "http://proxy.corp.example:3128");
  EXPECT_TRUE(Config{}.routing.empty());
  EXPECT_TRUE(parse_ok("routes = []\n").config.routing.empty());
}

TEST(ParseConfig, UpstreamAndRouteErrorsNameTheLine) {
  struct Case {
    const char* text;
    int line;
    const char* says;
  };
  for (const Case& c : {
           Case{"[[routes]]\nvia = \"nowhere\"\n", 2, "names no [upstreams.nowhere] section"},
           Case{"[[routes]]\ndomains = [\"a.example\"]\n", 1, "needs via"},
           Case{"[upstreams.direct]\nurl = \"http://p.example:1\"\n", 1, "reserved"},
           Case{"[upstreams.p]\nusername = \"u\"\n", 1, "needs a url"},
           Case{"[[routes]]\nvia = \"p\"\n[upstreams.p]\nurl = \"http://u:pw@p.example:1\"\n", 4,
                "credentials do not belong in the URL"},
           Case{"[[routes]]\nvia = \"p\"\n[upstreams.p]\nurl = \"socks5://p.example:1\"\n"
                "username = \"u\"\n",
                5, "needs a password"},
           Case{"[[routes]]\nvia = \"direct\"\nhosts = [\"192.0.2.1\"]\n", 3,
                "list it under networks"},
           Case{"[[routes]]\nvia = \"direct\"\ndomains = [\"bad..name\"]\n", 3, "bad..name"},
           Case{"[[routes]]\nvia = \"direct\"\nclients = [\"10.0.0.1/8\"]\n", 3,
                "neither a client label nor an address"},
           Case{"[[routes]]\nvia = \"direct\"\ncolour = \"red\"\n", 3, "unknown key 'routes.colour'"},
           Case{"routes = \"direct\"\n", 1, "array of [[routes]] tables"},
       }) {
    const Problem p = only_problem(c.text);
    EXPECT_EQ(p.line, c.line) << c.text << p.to_string();
    EXPECT_NE(p.message.find(c.says), std::string::npos) << c.text << p.to_string();
  }
}

TEST(ParseConfig, AnUnusedUpstreamIsAWarning) {
  const auto parsed = parse_config("egressd.toml", "[upstreams.spare]\nurl = \"http://p.example:3128\"\n");
  ASSERT_EQ(parsed.problems.size(), 1u);
  EXPECT_EQ(parsed.problems[0].severity, Problem::Severity::warning);
  EXPECT_EQ(parsed.problems[0].line, 1);
  EXPECT_NE(parsed.problems[0].message.find("used by no [[routes]] entry"), std::string::npos);
}

TEST(ParseConfig, PasswordsNeverAppearInProblems) {
  const auto parsed = parse_config("egressd.toml", R"([upstreams.p]
url = "http://p.example:3128"
username = "a:b"
password = "hunter2"
)");
  for (const auto& p : parsed.problems) {
    EXPECT_EQ(p.to_string().find("hunter2"), std::string::npos) << p.to_string();
  }
  EXPECT_TRUE(has_errors(parsed.problems));
}

TEST(ParseConfig, ATinyproxyConfigIsNamedAsSuch) {
  const Problem p = only_problem("# tinyproxy\nUser nobody\nPort 8888\nFilter \"/etc/f\"\n");
  EXPECT_EQ(p.line, 0);
  EXPECT_NE(p.message.find("this is a tinyproxy config"), std::string::npos) << p.message;
  EXPECT_NE(p.message.find("egressctl import-tinyproxy"), std::string::npos) << p.message;
}

}  // namespace
}  // namespace egressd::core

namespace egressd::core {
namespace {

TEST(ParseConfig, QrexecSocket) {
  EXPECT_EQ(parse_config("t.toml", "").config.qrexec_socket, "");
  const auto on = parse_config("t.toml", "qrexec_socket = \"/run/egressd/qrexec.sock\"\n");
  EXPECT_TRUE(on.problems.empty());
  EXPECT_EQ(on.config.qrexec_socket, "/run/egressd/qrexec.sock");
  const auto relative = parse_config("t.toml", "qrexec_socket = \"qrexec.sock\"\n");
  ASSERT_EQ(relative.problems.size(), 1u);
  EXPECT_EQ(relative.problems[0].line, 1);
  EXPECT_NE(relative.problems[0].message.find("absolute path"), std::string::npos);
}

TEST(SettingsNeedingRestart, NamesWhatAReloadCannotChange) {
  Config running;
  Config reloaded;
  EXPECT_TRUE(settings_needing_restart(running, reloaded).empty());
  reloaded.timeouts.idle_client = std::chrono::seconds(5);
  reloaded.qrexec_socket = "/run/q.sock";
  reloaded.http_ports = {80, 8080};  // a policy key: a reload applies it
  EXPECT_EQ(settings_needing_restart(running, reloaded),
            (std::vector<std::string>{"qrexec_socket", "timeouts"}));
}

}  // namespace
}  // namespace egressd::core
