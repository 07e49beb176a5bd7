// Tests for parent proxy URLs, credentials checks and route choice (core/parent_proxy).
#include "core/parent_proxy.hpp"

#include <gtest/gtest.h>

#include <string>

namespace egressd::core {
namespace {

Host host(const char* name) {
  auto h = normalize_host(name);
  EXPECT_TRUE(h.ok()) << name;
  return h.ok() ? *h : Host{};
}

IpAddress ip(const char* text) {
  return *IpAddress::parse(text);
}

Network net(const char* text) {
  return *parse_network(text);
}

TEST(ParseParentUrl, Accepts) {
  struct Case {
    const char* url;
    ParentKind kind;
    const char* host;
    std::uint16_t port;
    const char* display;
  };
  for (const Case& c : {
           Case{"http://proxy.corp.example:3128", ParentKind::http, "proxy.corp.example", 3128,
                "http://proxy.corp.example:3128"},
           Case{"HTTP://Proxy.Example:8080/", ParentKind::http, "proxy.example", 8080,
                "http://proxy.example:8080"},
           Case{"socks5://127.0.0.1:9050", ParentKind::socks5, "127.0.0.1", 9050,
                "socks5://127.0.0.1:9050"},
           Case{"socks5h://[::1]:1080", ParentKind::socks5, "::1", 1080, "socks5://[::1]:1080"},
           Case{"socks4a://socks.example:1080", ParentKind::socks4a, "socks.example", 1080,
                "socks4a://socks.example:1080"},
       }) {
    const auto parent = parse_parent_url(c.url);
    ASSERT_TRUE(parent.ok()) << c.url << ": " << parent.error().message;
    EXPECT_EQ(parent->kind, c.kind) << c.url;
    EXPECT_EQ(parent->host.name, c.host) << c.url;
    EXPECT_EQ(parent->port, c.port) << c.url;
    EXPECT_EQ(parent->display(), c.display) << c.url;
  }
}

TEST(ParseParentUrl, RejectsWithAReason) {
  struct Case {
    const char* url;
    const char* says;
  };
  for (const Case& c : {
           Case{"proxy.example:3128", "not a proxy URL"},
           Case{"ftp://proxy.example:21", "unknown proxy type 'ftp'"},
           Case{"https://proxy.example:443", "not supported"},
           Case{"socks4://proxy.example:1080", "use socks4a://"},
           Case{"http://user:secret@proxy.example:3128", "credentials do not belong in the URL"},
           Case{"http://proxy.example:3128/path", "no path"},
           Case{"http://proxy.example", "missing ':PORT'"},
           Case{"http://proxy.example:", "not a number from 1 to 65535"},
           Case{"http://proxy.example:0", "not a number from 1 to 65535"},
           Case{"http://proxy.example:65536", "not a number from 1 to 65535"},
           Case{"http://127.1:3128", "host '127.1'"},
           Case{"socks5://[::1:1080", "missing ']'"},
       }) {
    const auto parent = parse_parent_url(c.url);
    ASSERT_FALSE(parent.ok()) << c.url;
    EXPECT_NE(parent.error().message.find(c.says), std::string::npos)
        << c.url << ": " << parent.error().message;
  }
}

TEST(ParseParentUrl, ErrorsNeverRepeatAPasswordGivenInTheUrl) {
  for (const char* url : {"http://alice:hunter2@proxy.example:3128",
                          "alice:hunter2@proxy.example:3128", "ftp://alice:hunter2@p.example:21"}) {
    const auto parent = parse_parent_url(url);
    ASSERT_FALSE(parent.ok()) << url;
    EXPECT_EQ(parent.error().message.find("hunter2"), std::string::npos) << parent.error().message;
  }
}

TEST(CredentialsProblem, PerKind) {
  EXPECT_FALSE(credentials_problem(ParentKind::http, "", ""));
  EXPECT_FALSE(credentials_problem(ParentKind::http, "alice", "pw"));
  EXPECT_FALSE(credentials_problem(ParentKind::http, "alice", ""));
  EXPECT_TRUE(credentials_problem(ParentKind::http, "", "pw"));
  EXPECT_TRUE(credentials_problem(ParentKind::http, "al:ice", "pw"));
  EXPECT_TRUE(credentials_problem(ParentKind::http, "alice", "p\r\nw"));
  EXPECT_FALSE(credentials_problem(ParentKind::socks5, "alice", "pw"));
  EXPECT_TRUE(credentials_problem(ParentKind::socks5, "alice", ""));
  EXPECT_TRUE(credentials_problem(ParentKind::socks5, std::string(256, 'a'), "pw"));
  EXPECT_FALSE(
      credentials_problem(ParentKind::socks5, std::string(255, 'a'), std::string(255, 'b')));
  EXPECT_FALSE(credentials_problem(ParentKind::socks4a, "alice", ""));
  EXPECT_TRUE(credentials_problem(ParentKind::socks4a, "alice", "pw"));
}

Routing sample_routing() {
  Routing routing;
  routing.parents.push_back(*parse_parent_url("http://corp.example:3128"));
  routing.parents.back().name = "corp";
  routing.parents.push_back(*parse_parent_url("socks5://127.0.0.1:9050"));
  routing.parents.back().name = "tor";

  Route intranet;  // line 1: intranet names go direct
  intranet.line = 1;
  intranet.domains = {"intranet.example"};
  intranet.networks = {net("10.0.0.0/8")};

  Route onion;  // line 2: .onion through tor, only for the client labelled "work"
  onion.line = 2;
  onion.parent = 1;
  onion.domains = {"onion"};
  onion.client_labels = {"work"};

  Route exact;  // line 3: one host through corp for clients in 10.137.0.0/24
  exact.line = 3;
  exact.parent = 0;
  exact.hosts = {"api.example.com"};
  exact.client_networks = {net("10.137.0.0/24")};

  Route rest;  // line 4: everything else from 10.137.0.99 through corp
  rest.line = 4;
  rest.parent = 0;
  rest.client_networks = {net("10.137.0.99")};

  routing.routes = {intranet, onion, exact, rest};
  return routing;
}

int line_of(const RouteChoice& choice) {
  return choice.route ? choice.route->line : 0;
}

TEST(ChooseRoute, FirstMatchWinsAndNoMatchIsDirect) {
  const Routing routing = sample_routing();
  const IpAddress work = ip("10.137.0.12");
  const IpAddress other = ip("10.137.0.99");

  // Domain suffix at label boundaries, to direct.
  auto c = choose_route(routing, host("intranet.example"), work, "work");
  EXPECT_EQ(line_of(c), 1);
  EXPECT_EQ(c.parent, nullptr);
  EXPECT_EQ(line_of(choose_route(routing, host("a.b.intranet.example"), work, "work")), 1);
  EXPECT_EQ(line_of(choose_route(routing, host("notintranet.example"), work, "work")), 0);
  // A network matches IP literals only.
  EXPECT_EQ(line_of(choose_route(routing, host("10.1.2.3"), work, "work")), 1);

  // Destination and client must both match.
  c = choose_route(routing, host("abc.onion"), work, "work");
  EXPECT_EQ(line_of(c), 2);
  ASSERT_NE(c.parent, nullptr);
  EXPECT_EQ(c.parent->name, "tor");
  EXPECT_EQ(line_of(choose_route(routing, host("abc.onion"), work, "personal")), 0);

  // Exact host: the name only.
  c = choose_route(routing, host("api.example.com"), work, "work");
  EXPECT_EQ(line_of(c), 3);
  EXPECT_EQ(c.parent->name, "corp");
  EXPECT_EQ(line_of(choose_route(routing, host("x.api.example.com"), work, "work")), 0);

  // A route with only a client condition takes all of that client's requests.
  EXPECT_EQ(line_of(choose_route(routing, host("anything.example"), other, "")), 4);
  // The earlier route still wins for that client.
  EXPECT_EQ(line_of(choose_route(routing, host("intranet.example"), other, "")), 1);
}

TEST(ChooseRoute, NoRoutesMeansDirect) {
  const Routing routing;
  const auto c = choose_route(routing, host("example.com"), ip("10.137.0.12"), "work");
  EXPECT_EQ(c.parent, nullptr);
  EXPECT_EQ(c.route, nullptr);
}

TEST(ChooseRoute, ARouteWithoutConditionsMatchesEverything) {
  Routing routing;
  routing.parents.push_back(*parse_parent_url("http://corp.example:3128"));
  Route all;
  all.line = 7;
  all.parent = 0;
  routing.routes = {all};
  const auto c = choose_route(routing, host("192.0.2.1"), ip("::1"), "");
  EXPECT_EQ(line_of(c), 7);
  ASSERT_NE(c.parent, nullptr);
}

}  // namespace
}  // namespace egressd::core
