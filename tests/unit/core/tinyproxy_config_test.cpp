// Tests for reading tinyproxy configs and filter patterns (core/tinyproxy_config).
#include "core/tinyproxy_config.hpp"

#include <gtest/gtest.h>
#include <re2/re2.h>

#include <string>

namespace egressd::core {
namespace {

std::string messages(const Problems& problems) {
  std::string out;
  for (const auto& p : problems) out += p.to_string() + "\n";
  return out;
}

// The old per-AppVM template, as people run it (comments and blank lines included).
constexpr std::string_view kTemplate = R"(# tinyproxy for work
User nobody
Group nogroup
Port 8101
Listen 127.0.0.1
Bind 10.137.0.5
Timeout 600
DefaultErrorFile "/usr/share/tinyproxy/default.html"
ErrorFile 404 "/usr/share/tinyproxy/404.html"
StatHost "tinyproxy.stats"
LogFile "/var/log/tinyproxy/tinyproxy.log"
LogLevel Connect
PidFile "/run/tinyproxy/tinyproxy.pid"
MaxClients 100
Allow 127.0.0.1
Allow 10.137.0.0/24
Deny .evil.example
ViaProxyName "tinyproxy"
DisableViaHeader Yes
XTinyproxy No
AddHeader "X-Proxy" "work proxy"
BasicAuth alice "s3 cret"
Filter "/etc/tinyproxy/filter-work"
FilterURLs Off
FilterType ere
FilterCaseSensitive No
FilterDefaultDeny Yes
ConnectPort 443
ConnectPort 563
Upstream http proxy.corp.example:3128
Upstream socks5 bob:pw@127.0.0.1:9050 ".onion"
Upstream none ".intranet.example"
Upstream none "192.168.0.0/255.255.0.0"
)";

TEST(TinyproxyConfig, ReadsTheDirectivesPeopleUse) {
  const auto parsed = parse_tinyproxy_config("tinyproxy.conf", kTemplate);
  ASSERT_TRUE(parsed.problems.empty()) << messages(parsed.problems);
  const TinyproxyConfig& c = parsed.config;
  EXPECT_EQ(c.user, "nobody");
  EXPECT_EQ(c.group, "nogroup");
  EXPECT_EQ(c.port, 8101);
  EXPECT_EQ(c.listen, std::vector<std::string>{"127.0.0.1"});
  EXPECT_EQ(c.bind, std::vector<std::string>{"10.137.0.5"});
  EXPECT_EQ(c.timeout, 600u);
  EXPECT_EQ(c.default_error_file, "/usr/share/tinyproxy/default.html");
  EXPECT_EQ(c.error_files.at(404), "/usr/share/tinyproxy/404.html");
  EXPECT_EQ(c.stat_host, "tinyproxy.stats");
  EXPECT_EQ(c.log_file, "/var/log/tinyproxy/tinyproxy.log");
  EXPECT_EQ(c.log_level, "Connect");
  EXPECT_EQ(c.pid_file, "/run/tinyproxy/tinyproxy.pid");
  EXPECT_EQ(c.max_clients, 100u);
  ASSERT_EQ(c.access.size(), 3u);
  EXPECT_TRUE(c.access[0].allow);
  EXPECT_EQ(c.access[1].network->to_string(), "10.137.0.0/24");
  EXPECT_FALSE(c.access[2].allow);
  EXPECT_EQ(c.access[2].name_suffix, ".evil.example");
  EXPECT_EQ(c.access[2].line, 17);
  EXPECT_EQ(c.via_proxy_name, "tinyproxy");
  EXPECT_TRUE(c.disable_via);
  EXPECT_FALSE(c.xtinyproxy);
  ASSERT_EQ(c.add_headers.size(), 1u);
  EXPECT_EQ(c.add_headers[0].second, "work proxy");
  ASSERT_EQ(c.basic_auth.size(), 1u);
  EXPECT_EQ(c.basic_auth[0].second, "s3 cret");
  EXPECT_EQ(c.filter, "/etc/tinyproxy/filter-work");
  EXPECT_FALSE(c.filter_urls);
  EXPECT_EQ(c.filter_type, FilterType::ere);
  EXPECT_FALSE(c.filter_case_sensitive);
  EXPECT_TRUE(c.filter_default_deny);
  EXPECT_EQ(c.connect_ports, (std::vector<std::uint16_t>{443, 563}));

  ASSERT_EQ(c.upstreams.size(), 4u);
  ASSERT_TRUE(c.upstreams[0].parent);
  EXPECT_EQ(c.upstreams[0].parent->display(), "http://proxy.corp.example:3128");
  EXPECT_FALSE(c.upstreams[0].site);
  EXPECT_EQ(c.upstreams[1].parent->kind, ParentKind::socks5);
  EXPECT_EQ(c.upstreams[1].parent->username, "bob");
  EXPECT_EQ(c.upstreams[1].parent->password, "pw");
  EXPECT_EQ(c.upstreams[1].parent->display(), "socks5://127.0.0.1:9050");
  EXPECT_EQ(c.upstreams[1].site->kind, TinyproxySite::Kind::domain);
  EXPECT_EQ(c.upstreams[1].site->name, "onion");
  EXPECT_FALSE(c.upstreams[2].parent);
  EXPECT_EQ(c.upstreams[2].site->name, "intranet.example");
  EXPECT_EQ(c.upstreams[3].site->kind, TinyproxySite::Kind::network);
  EXPECT_EQ(c.upstreams[3].site->network.to_string(), "192.168.0.0/16");
  EXPECT_EQ(c.upstreams[3].line, 33);
}

TEST(TinyproxyConfig, KeywordsAreCaseInsensitiveAndDefaultsAreTinyproxys) {
  const auto parsed = parse_tinyproxy_config("t.conf", "PORT 8888\nfiltertype FNMATCH\n");
  ASSERT_TRUE(parsed.problems.empty()) << messages(parsed.problems);
  EXPECT_EQ(parsed.config.port, 8888);
  EXPECT_EQ(parsed.config.filter_type, FilterType::fnmatch);
  const TinyproxyConfig defaults;
  EXPECT_EQ(defaults.filter_type, FilterType::bre);
  EXPECT_FALSE(defaults.filter_default_deny);
  EXPECT_FALSE(defaults.filter_case_sensitive);
  EXPECT_TRUE(defaults.connect_ports.empty());
  EXPECT_EQ(defaults.stat_host, "tinyproxy.stats");
}

TEST(TinyproxyConfig, ObsoleteDirectivesWarn) {
  const auto parsed = parse_tinyproxy_config(
      "t.conf", "Port 1\nStartServers 10\nFilterExtended Yes\nMaxRequestsPerChild 0\n");
  ASSERT_EQ(parsed.problems.size(), 3u) << messages(parsed.problems);
  for (const auto& p : parsed.problems) EXPECT_EQ(p.severity, Problem::Severity::warning);
  EXPECT_EQ(parsed.problems[0].line, 2);
  EXPECT_NE(parsed.problems[1].message.find("use FilterType ere"), std::string::npos);
  EXPECT_EQ(parsed.config.filter_type, FilterType::ere);
}

TEST(TinyproxyConfig, EveryOtherProblemIsAnErrorThatNamesItsLine) {
  struct Case {
    const char* text;
    int line;
    const char* says;
  };
  for (const Case& c : {
           Case{"Port 1\nColour blue\n", 2, "unknown directive Colour"},
           Case{"Port 1\nReversePath \"/x/\" \"http://a.example/\"\n", 2,
                "ReversePath is not supported"},
           Case{"Port 1\nAnonymous \"Host\"\n", 2, "Anonymous is not supported"},
           Case{"Port 1\nStatFile \"/x\"\n", 2, "StatFile is not supported"},
           Case{"Port 1\nBindSame yes\n", 2, "BindSame is not supported"},
           Case{"Port 70000\n", 1, "from 1 to 65535"},
           Case{"Port 1\nTimeout soon\n", 2, "Timeout must be a number"},
           Case{"Port 1\nFilterURLs maybe\n", 2, "Yes, No, On or Off"},
           Case{"Port 1\nFilterType pcre\n", 2, "bre, ere or fnmatch"},
           Case{"Port 1\nLogLevel Chatty\n", 2, "Critical, Error"},
           Case{"Port 1\nListen localhost\n", 2, "IPv4 or IPv6 address"},
           Case{"Port 1\nAllow 10.0.0.1/8\n", 2, "did you mean 10.0.0.0/8"},
           Case{"Port 1\nFilter \"/etc/filter\n", 2, "no closing"},
           Case{"Port 1\nBasicAuth alice\n", 2, "a user and a password"},
           Case{"Port 1\nUpstream ftp p.example:21\n", 2, "unknown upstream type 'ftp'"},
           Case{"Port 1\nUpstream http p.example\n", 2, "missing ':PORT'"},
           Case{"Port 1\nUpstream none\n", 2, "Upstream none takes one site"},
           Case{"Port 1\nUpstream http p.example:1 \"bad..site\"\n", 2, "site 'bad..site'"},
           Case{"Port 1\nErrorFile abc \"/x\"\n", 2, "an HTTP status and a file"},
           Case{"Timeout 5\n", 0, "no Port"},
       }) {
    const auto parsed = parse_tinyproxy_config("t.conf", c.text);
    ASSERT_EQ(parsed.problems.size(), 1u) << c.text << messages(parsed.problems);
    const Problem& p = parsed.problems[0];
    EXPECT_EQ(p.severity, Problem::Severity::error) << c.text;
    EXPECT_EQ(p.line, c.line) << c.text << p.to_string();
    EXPECT_NE(p.message.find(c.says), std::string::npos) << c.text << p.to_string();
  }
}

TEST(TinyproxyConfig, UpstreamPasswordsNeverAppearInProblems) {
  const auto parsed = parse_tinyproxy_config("t.conf",
                                             "Port 1\nUpstream socks4 bob:hunter2@p.example:1080\n"
                                             "Upstream http bob:hunter2@p.example\n");
  ASSERT_EQ(parsed.problems.size(), 2u) << messages(parsed.problems);
  for (const auto& p : parsed.problems) {
    EXPECT_EQ(p.message.find("hunter2"), std::string::npos) << p.to_string();
  }
  EXPECT_NE(parsed.problems[0].message.find("SOCKS4a has no password"), std::string::npos);
}

TEST(TinyproxyConfig, RecognisedBesideToml) {
  EXPECT_TRUE(looks_like_tinyproxy_config("# tinyproxy\n\nUser nobody\nPort 8888\n"));
  EXPECT_TRUE(looks_like_tinyproxy_config("Port 8101\n"));
  EXPECT_FALSE(looks_like_tinyproxy_config("listen = [\"127.0.0.1:8100\"]\n"));
  EXPECT_FALSE(looks_like_tinyproxy_config("# egressd\n[timeouts]\nconnect = 5\n"));
  EXPECT_FALSE(looks_like_tinyproxy_config("user = \"egressd\"\n"));
  EXPECT_FALSE(looks_like_tinyproxy_config(""));
}

// The converted pattern, compiled as egressd compiles rules, searched in `text`.
bool matches(std::string_view pattern, FilterType type, std::string_view text,
             bool case_sensitive = false) {
  const auto converted = filter_pattern_to_re2(pattern, type);
  EXPECT_TRUE(converted.ok()) << pattern;
  if (!converted.ok()) return false;
  RE2::Options options;
  options.set_posix_syntax(true);
  options.set_case_sensitive(case_sensitive);
  const RE2 re(*converted, options);
  EXPECT_TRUE(re.ok()) << pattern << " -> " << *converted << ": " << re.error();
  return RE2::PartialMatch(text, re);
}

TEST(FilterPattern, BreAsTinyproxyReadsIt) {
  const auto bre = FilterType::bre;
  // Unanchored substring search, '.' any character: tinyproxy's trap, kept in this mode.
  EXPECT_TRUE(matches("allowed", bre, "notallowed.evil"));
  EXPECT_TRUE(matches("cnn.com", bre, "cnnxcom.example"));
  EXPECT_TRUE(matches("^cnn\\.com$", bre, "cnn.com"));
  EXPECT_FALSE(matches("^cnn\\.com$", bre, "xcnn.com"));
  // In a BRE, + ? | ( ) { } are ordinary characters...
  EXPECT_TRUE(matches("a+b", bre, "xa+by"));
  EXPECT_FALSE(matches("a+b", bre, "aab"));
  EXPECT_TRUE(matches("(x)|{y}", bre, "(x)|{y}"));
  // ...and their backslashed forms are the operators.
  EXPECT_TRUE(matches("\\(www\\|api\\)\\.example", bre, "api.example"));
  EXPECT_TRUE(matches("a\\{2\\}b", bre, "aab"));
  EXPECT_FALSE(matches("a\\{2\\}b", bre, "ab"));
  EXPECT_TRUE(matches("ab\\+c", bre, "abbbc"));
  // A leading '*' is literal; '^' and '$' anchor only at the ends.
  EXPECT_TRUE(matches("*.example", bre, "*.example"));
  EXPECT_FALSE(matches("*.example", bre, "www.example"));
  EXPECT_TRUE(matches("a^b$c", bre, "a^b$c"));
  // Bracket expressions as POSIX has them, backslash included.
  EXPECT_TRUE(matches("[[:digit:]]\\{3\\}", bre, "abc123"));
  EXPECT_TRUE(matches("[\\]x", bre, "\\x"));
  EXPECT_TRUE(matches("[]a]", bre, "]"));
  // Case-insensitive unless FilterCaseSensitive.
  EXPECT_TRUE(matches("EXAMPLE", bre, "www.example.com"));
  EXPECT_FALSE(matches("EXAMPLE", bre, "www.example.com", true));
}

TEST(FilterPattern, Fnmatch) {
  const auto fn = FilterType::fnmatch;
  EXPECT_TRUE(matches("*.google.com", fn, "www.google.com", true));
  EXPECT_FALSE(matches("*.google.com", fn, "google.com", true));
  EXPECT_FALSE(matches("*.google.com", fn, "www.google.com.evil", true));  // whole text
  EXPECT_TRUE(matches("host?.example", fn, "host1.example", true));
  EXPECT_TRUE(matches("[a-c]dn.example", fn, "bdn.example", true));
  EXPECT_FALSE(matches("[!a-c]dn.example", fn, "bdn.example", true));
  EXPECT_TRUE(matches("a.b", fn, "a.b", true));
  EXPECT_FALSE(matches("a.b", fn, "axb", true));  // '.' is literal
  EXPECT_TRUE(matches("x[y", fn, "x[y", true));   // an unclosed '[' is literal
  EXPECT_TRUE(matches("a\\*b", fn, "a*b", true));
  EXPECT_FALSE(matches("a\\*b", fn, "axb", true));
}

TEST(FilterPattern, EreIsUnchangedAndProblemsAreNamed) {
  EXPECT_EQ(*filter_pattern_to_re2("^(www|api)\\.example$", FilterType::ere),
            "^(www|api)\\.example$");
  for (const char* bad : {"\\(a\\)\\1", "\\(a", "a\\)", "[abc", "abc\\"}) {
    const auto converted = filter_pattern_to_re2(bad, FilterType::bre);
    EXPECT_FALSE(converted.ok()) << bad;
  }
  EXPECT_NE(
      filter_pattern_to_re2("\\(a\\)\\1", FilterType::bre).error().message.find("back-references"),
      std::string::npos);
}

}  // namespace
}  // namespace egressd::core
