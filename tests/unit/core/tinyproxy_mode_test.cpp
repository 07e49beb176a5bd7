// Tests for tinyproxy-compatible mode (core/tinyproxy_mode): filter lines, settings,
// snapshots and decisions, credentials, and pages.
#include "core/tinyproxy_mode.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "core/parent_protocol.hpp"

namespace egressd::core {
namespace {

constexpr std::string_view kConfigPath = "/etc/tinyproxy/tinyproxy.conf";
constexpr std::string_view kFilterPath = "/etc/tinyproxy/filter";

std::string messages(const Problems& problems) {
  std::string out;
  for (const auto& p : problems) out += p.to_string() + "\n";
  return out;
}

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

IpAddress ip(std::string_view text) {
  auto address = IpAddress::parse(text);
  EXPECT_TRUE(address.has_value()) << text;
  return address.value_or(IpAddress{});
}

// A tinyproxy config read from `text`, which must read without errors.
TinyproxyConfig tp_config(std::string_view text) {
  auto parsed = parse_tinyproxy_config(kConfigPath, text);
  EXPECT_FALSE(has_errors(parsed.problems)) << text << messages(parsed.problems);
  return parsed.config;
}

// The snapshot of a config text and its files, as egressd builds it: settings first.
SnapshotBuild build_from(std::string_view text, const TinyproxyFiles& files = {},
                         std::uint64_t generation = 1) {
  const TinyproxyConfig tp = tp_config(text);
  const TinyproxySetup setup = tinyproxy_setup(kConfigPath, tp);
  EXPECT_FALSE(has_errors(setup.problems)) << text << messages(setup.problems);
  return build_tinyproxy_snapshot(setup.config, tp, files, generation);
}

// A snapshot that must build.
std::shared_ptr<const PolicySnapshot> snapshot_from(std::string_view text,
                                                    const TinyproxyFiles& files = {}) {
  auto build = build_from(text, files);
  EXPECT_FALSE(has_errors(build.problems)) << text << messages(build.problems);
  EXPECT_NE(build.snapshot, nullptr) << text;
  return build.snapshot;
}

TinyproxyFiles filter_file(std::string content) {
  TinyproxyFiles files;
  files.contents[std::string(kFilterPath)] = std::move(content);
  return files;
}

// One request from `client` for `name`:`port` (a GET, or a CONNECT).
Decision decide_for(const PolicySnapshot& snapshot, std::string_view client,
                    const std::string& name, std::uint16_t port, bool is_connect = false,
                    std::string_view url = {}) {
  const Host h{name, IpAddress::parse(name)};
  return decide(snapshot, ip(client),
                DecisionRequest{is_connect ? "CONNECT" : "GET", h, port, is_connect, url});
}

// ---------------------------------------------------------------------------------------
// tinyproxy_filter_pattern

std::string pattern_of(std::string_view line, std::string& warning) {
  return std::string(tinyproxy_filter_pattern(line, warning));
}

TEST(TinyproxyFilterPattern, LeadingBlanksAreSkipped) {
  std::string warning = "stale";
  EXPECT_EQ(pattern_of("  \texample\\.com", warning), "example\\.com");
  EXPECT_TRUE(warning.empty()) << warning;
  EXPECT_EQ(pattern_of("example", warning), "example");
  EXPECT_TRUE(warning.empty()) << warning;
}

TEST(TinyproxyFilterPattern, EndsAtTheFirstBlankOrAnUnescapedHash) {
  std::string warning;
  EXPECT_EQ(pattern_of("abc#comment", warning), "abc");
  EXPECT_TRUE(warning.empty()) << warning;
  EXPECT_EQ(pattern_of("a\\#b", warning), "a\\#b");
  EXPECT_TRUE(warning.empty()) << warning;
  EXPECT_EQ(pattern_of("a\\#b#c", warning), "a\\#b");
  EXPECT_TRUE(warning.empty()) << warning;
  EXPECT_EQ(pattern_of("abc\t", warning), "abc");
  EXPECT_TRUE(warning.empty()) << warning;
  EXPECT_EQ(pattern_of("abc   ", warning), "abc");
  EXPECT_TRUE(warning.empty()) << warning;
}

TEST(TinyproxyFilterPattern, CommentAndBlankLinesHaveNoPattern) {
  for (const char* line :
       {"", "   ", "\t", "# a comment", "#", "   # indented comment", "#no space after the hash"}) {
    std::string warning;
    EXPECT_EQ(pattern_of(line, warning), "") << '"' << line << '"';
    EXPECT_TRUE(warning.empty()) << '"' << line << "\": " << warning;
  }
}

TEST(TinyproxyFilterPattern, TextAfterTheBlankIsIgnoredWithAWarning) {
  std::string warning;
  EXPECT_EQ(pattern_of("space\\.example tail", warning), "space\\.example");
  EXPECT_FALSE(warning.empty());
  EXPECT_TRUE(contains(warning, "tail")) << warning;

  EXPECT_EQ(pattern_of("  a\tb c", warning), "a");
  EXPECT_TRUE(contains(warning, "b c")) << warning;

  // A comment after the pattern is what tinyproxy's files have: no warning.
  EXPECT_EQ(pattern_of("x # comment", warning), "x");
  EXPECT_TRUE(warning.empty()) << warning;
  EXPECT_EQ(pattern_of("x\t\t#comment", warning), "x");
  EXPECT_TRUE(warning.empty()) << warning;
}

// ---------------------------------------------------------------------------------------
// tinyproxy_filter_rule

TEST(TinyproxyFilterRule, LiteralPrefixesStayRegexes) {
  struct Case {
    const char* line;
    const char* expected;
  };
  for (const Case& c : {Case{"domain:x", "[d]omain:x"}, Case{"host:x", "[h]ost:x"},
                        Case{"ip:10.0.0.1", "[i]p:10.0.0.1"}}) {
    for (const FilterType type : {FilterType::bre, FilterType::ere}) {
      const auto rule = tinyproxy_filter_rule(c.line, type, false, false);
      ASSERT_TRUE(rule.ok()) << c.line << ": " << rule.error().message;
      EXPECT_EQ(*rule, c.expected) << c.line << " (" << to_string(type) << ")";
    }
  }
  // fnmatch patterns are anchored: a prefix is no literal form there either.
  const auto fn = tinyproxy_filter_rule("host:*", FilterType::fnmatch, false, false);
  ASSERT_TRUE(fn.ok()) << fn.error().message;
  Rule rule;
  rule.pattern = *fn;
  rule.line = 1;
  auto compiled = HostMatcher::compile(kFilterPath, {rule});
  ASSERT_TRUE(compiled.problems.empty()) << messages(compiled.problems);
  EXPECT_EQ(compiled.matcher.rules()[0].kind, RuleKind::regex) << *fn;
  EXPECT_TRUE(compiled.matcher.first_match("host:abc").has_value()) << *fn;
  EXPECT_FALSE(compiled.matcher.first_match("abc").has_value()) << *fn;
  // Not at the start: nothing to change.
  const auto anchored = tinyproxy_filter_rule("^domain:x", FilterType::bre, false, false);
  ASSERT_TRUE(anchored.ok());
  EXPECT_EQ(*anchored, "^domain:x");
}

TEST(TinyproxyFilterRule, APrefixedLineMatchesItsTextNotADomain) {
  const auto pattern = tinyproxy_filter_rule("domain:x", FilterType::bre, false, false);
  ASSERT_TRUE(pattern.ok()) << pattern.error().message;
  Rule rule;
  rule.pattern = *pattern;
  rule.line = 1;
  auto compiled = HostMatcher::compile(kFilterPath, {rule});
  ASSERT_TRUE(compiled.problems.empty()) << messages(compiled.problems);
  ASSERT_EQ(compiled.matcher.rules().size(), 1u);
  EXPECT_EQ(compiled.matcher.rules()[0].kind, RuleKind::regex);
  EXPECT_TRUE(compiled.matcher.first_match("domain:x").has_value());
  EXPECT_TRUE(compiled.matcher.first_match("a.domain:xyz").has_value());
  // A domain rule would match these; the filter line does not.
  EXPECT_FALSE(compiled.matcher.first_match("x").has_value());
  EXPECT_FALSE(compiled.matcher.first_match("www.x").has_value());
}

TEST(TinyproxyFilterRule, CaseSensitiveUpperCaseIsAnErrorForHostNames) {
  const auto upper = tinyproxy_filter_rule("Example", FilterType::bre, true, false);
  ASSERT_FALSE(upper.ok());
  EXPECT_TRUE(contains(upper.error().message, "FilterCaseSensitive")) << upper.error().message;
  // Lower case, or matched against URLs, or without FilterCaseSensitive: fine.
  EXPECT_TRUE(tinyproxy_filter_rule("example", FilterType::bre, true, false).ok());
  EXPECT_TRUE(tinyproxy_filter_rule("Example", FilterType::bre, true, true).ok());
  EXPECT_TRUE(tinyproxy_filter_rule("Example", FilterType::bre, false, false).ok());
  EXPECT_FALSE(tinyproxy_filter_rule("*.Example.com", FilterType::fnmatch, true, false).ok());
}

TEST(TinyproxyFilterRule, FnmatchMatchesTheWholeName) {
  const auto pattern = tinyproxy_filter_rule("*.example.com", FilterType::fnmatch, false, false);
  ASSERT_TRUE(pattern.ok()) << pattern.error().message;
  Rule rule;
  rule.pattern = *pattern;
  rule.line = 1;
  auto compiled = HostMatcher::compile(kFilterPath, {rule});
  ASSERT_TRUE(compiled.problems.empty()) << messages(compiled.problems);
  EXPECT_TRUE(compiled.matcher.first_match("www.example.com").has_value()) << *pattern;
  EXPECT_TRUE(compiled.matcher.first_match("a.b.example.com").has_value()) << *pattern;
  EXPECT_FALSE(compiled.matcher.first_match("example.com").has_value()) << *pattern;
  EXPECT_FALSE(compiled.matcher.first_match("www.example.com.evil").has_value()) << *pattern;
  EXPECT_FALSE(compiled.matcher.first_match("wwwxexample.com").has_value()) << *pattern;
}

TEST(TinyproxyFilterRule, ConversionErrorsAreErrors) {
  const auto rule = tinyproxy_filter_rule("\\(x\\)\\1", FilterType::bre, false, false);
  ASSERT_FALSE(rule.ok());
  EXPECT_TRUE(contains(rule.error().message, "back-references")) << rule.error().message;
}

// ---------------------------------------------------------------------------------------
// parse_tinyproxy_filter

TEST(TinyproxyFilterFile, RulesKeepTheirLineNumbers) {
  const TinyproxyConfig tp;  // BRE, as tinyproxy's default
  const auto parsed = parse_tinyproxy_filter(
      kFilterPath, "# blocked hosts\n\nads\\.\n   tracker # analytics\r\n\n#x\nlast", tp);
  ASSERT_TRUE(parsed.problems.empty()) << messages(parsed.problems);
  ASSERT_EQ(parsed.rules.size(), 3u);
  EXPECT_EQ(parsed.rules[0].pattern, "ads\\.");
  EXPECT_EQ(parsed.rules[0].line, 3);
  EXPECT_EQ(parsed.rules[1].pattern, "tracker");
  EXPECT_EQ(parsed.rules[1].line, 4);
  EXPECT_EQ(parsed.rules[2].pattern, "last");
  EXPECT_EQ(parsed.rules[2].line, 7);
}

TEST(TinyproxyFilterFile, ABadLineIsAnErrorWithPathAndLine) {
  const TinyproxyConfig tp;
  const auto parsed = parse_tinyproxy_filter(kFilterPath, "ok\n# note\n\\(x\\)\\1\nfine\n", tp);
  ASSERT_EQ(parsed.problems.size(), 1u) << messages(parsed.problems);
  const Problem& p = parsed.problems[0];
  EXPECT_EQ(p.severity, Problem::Severity::error);
  EXPECT_EQ(p.file, kFilterPath);
  EXPECT_EQ(p.line, 3);
  EXPECT_TRUE(p.to_string().starts_with("/etc/tinyproxy/filter:3: error: ")) << p.to_string();
  EXPECT_TRUE(contains(p.message, "\\(x\\)\\1")) << p.message;
  EXPECT_TRUE(contains(p.message, "bre")) << p.message;
  // The other lines are still read.
  ASSERT_EQ(parsed.rules.size(), 2u);
  EXPECT_EQ(parsed.rules[0].line, 1);
  EXPECT_EQ(parsed.rules[1].line, 4);
}

TEST(TinyproxyFilterFile, IgnoredTextIsAWarningWithItsLine) {
  const TinyproxyConfig tp;
  const auto parsed =
      parse_tinyproxy_filter(kFilterPath, "# x\nfirst\nspace\\.example tail\r\n", tp);
  ASSERT_EQ(parsed.problems.size(), 1u) << messages(parsed.problems);
  const Problem& p = parsed.problems[0];
  EXPECT_EQ(p.severity, Problem::Severity::warning);
  EXPECT_EQ(p.file, kFilterPath);
  EXPECT_EQ(p.line, 3);
  EXPECT_TRUE(contains(p.message, "\"tail\"")) << p.message;  // the CR is not part of it
  ASSERT_EQ(parsed.rules.size(), 2u);
  EXPECT_EQ(parsed.rules[1].pattern, "space\\.example");
  EXPECT_EQ(parsed.rules[1].line, 3);
}

TEST(TinyproxyFilterFile, TheConfigsFilterSettingsApply) {
  TinyproxyConfig tp;
  tp.filter_type = FilterType::fnmatch;
  auto parsed = parse_tinyproxy_filter(kFilterPath, "*.example.com\n", tp);
  ASSERT_TRUE(parsed.problems.empty()) << messages(parsed.problems);
  ASSERT_EQ(parsed.rules.size(), 1u);
  EXPECT_EQ(parsed.rules[0].pattern, *filter_pattern_to_re2("*.example.com", FilterType::fnmatch));

  tp.filter_type = FilterType::bre;
  tp.filter_case_sensitive = true;
  parsed = parse_tinyproxy_filter(kFilterPath, "ok\nBad\n", tp);
  ASSERT_EQ(parsed.problems.size(), 1u) << messages(parsed.problems);
  EXPECT_EQ(parsed.problems[0].severity, Problem::Severity::error);
  EXPECT_EQ(parsed.problems[0].line, 2);
}

// ---------------------------------------------------------------------------------------
// tinyproxy_setup

// The one error of a setup, which must name `line` and say `says`.
void expect_one_error(const TinyproxySetup& setup, int line, std::string_view says) {
  ASSERT_EQ(setup.problems.size(), 1u) << messages(setup.problems);
  const Problem& p = setup.problems[0];
  EXPECT_EQ(p.severity, Problem::Severity::error) << p.to_string();
  EXPECT_EQ(p.file, kConfigPath) << p.to_string();
  EXPECT_EQ(p.line, line) << p.to_string();
  EXPECT_TRUE(contains(p.message, says)) << p.to_string();
}

TEST(TinyproxySetup, PortIsRequired) {
  const TinyproxyConfig tp;  // as read from a file without Port
  ASSERT_FALSE(tp.port);
  const auto setup = tinyproxy_setup(kConfigPath, tp);
  ASSERT_EQ(setup.problems.size(), 1u) << messages(setup.problems);
  EXPECT_EQ(setup.problems[0].severity, Problem::Severity::error);
  EXPECT_TRUE(contains(setup.problems[0].message, "Port")) << setup.problems[0].message;
}

TEST(TinyproxySetup, WithoutListenEveryAddressOnPort) {
  const auto setup = tinyproxy_setup(kConfigPath, tp_config("Port 8888\n"));
  ASSERT_TRUE(setup.problems.empty()) << messages(setup.problems);
  ASSERT_EQ(setup.config.listen.size(), 2u);
  EXPECT_EQ(setup.config.listen[0].to_string(), "0.0.0.0:8888");
  EXPECT_EQ(setup.config.listen[1].to_string(), "[::]:8888");
}

TEST(TinyproxySetup, ListenAddressesTakePort) {
  const auto setup =
      tinyproxy_setup(kConfigPath, tp_config("Listen 127.0.0.1\nPort 8101\nListen ::1\n"));
  ASSERT_TRUE(setup.problems.empty()) << messages(setup.problems);
  ASSERT_EQ(setup.config.listen.size(), 2u);
  EXPECT_EQ(setup.config.listen[0].to_string(), "127.0.0.1:8101");
  EXPECT_EQ(setup.config.listen[1].to_string(), "[::1]:8101");
}

TEST(TinyproxySetup, BindIsAnErrorNamingItsLine) {
  const auto setup = tinyproxy_setup(kConfigPath, tp_config("Port 1\n\nBind 10.0.0.5\n"));
  expect_one_error(setup, 3, "Bind");
}

TEST(TinyproxySetup, AllowByHostNameIsAnErrorNamingItsLine) {
  const auto setup = tinyproxy_setup(
      kConfigPath,
      tp_config("Port 1\nAllow 10.0.0.0/8\nAllow trusted.example\nDeny 10.1.0.0/16\n"));
  expect_one_error(setup, 3, "\"trusted.example\"");
  EXPECT_TRUE(contains(setup.problems[0].message, "Allow")) << setup.problems[0].message;

  const auto deny = tinyproxy_setup(kConfigPath, tp_config("Port 1\nDeny .evil.example\n"));
  expect_one_error(deny, 2, "Deny \".evil.example\"");
}

TEST(TinyproxySetup, GroupNeedsUser) {
  expect_one_error(tinyproxy_setup(kConfigPath, tp_config("Port 1\nGroup nogroup\n")), 2, "Group");
  const auto both = tinyproxy_setup(kConfigPath, tp_config("Port 1\nUser nobody\nGroup nogroup\n"));
  EXPECT_TRUE(both.problems.empty()) << messages(both.problems);
  EXPECT_EQ(both.config.user, "nobody");
}

TEST(TinyproxySetup, FilterCaseSensitiveWithFilterUrlsIsAnError) {
  expect_one_error(tinyproxy_setup(kConfigPath, tp_config("Port 1\nFilterURLs Yes\n"
                                                          "FilterCaseSensitive Yes\n")),
                   3, "FilterCaseSensitive");
  const auto alone = tinyproxy_setup(kConfigPath, tp_config("Port 1\nFilterCaseSensitive Yes\n"));
  EXPECT_TRUE(alone.problems.empty()) << messages(alone.problems);
}

TEST(TinyproxySetup, TimeoutAndMaxClients) {
  const auto setup = tinyproxy_setup(kConfigPath, tp_config("Port 1\nTimeout 45\nMaxClients 12\n"));
  ASSERT_TRUE(setup.problems.empty()) << messages(setup.problems);
  const Config& c = setup.config;
  EXPECT_EQ(c.timeouts.idle_client, std::chrono::seconds(45));
  EXPECT_EQ(c.timeouts.body_idle, std::chrono::seconds(45));
  EXPECT_EQ(c.timeouts.tunnel_idle, std::chrono::seconds(45));
  EXPECT_EQ(c.timeouts.connect, Timeouts{}.connect);  // the others keep egressd's
  EXPECT_EQ(c.limits.connections, 12u);

  // tinyproxy's defaults: 600 seconds, 100 clients.
  const auto defaults = tinyproxy_setup(kConfigPath, tp_config("Port 1\n"));
  EXPECT_EQ(defaults.config.timeouts.idle_client, std::chrono::seconds(600));
  EXPECT_EQ(defaults.config.limits.connections, 100u);
}

TEST(TinyproxySetup, OtherSettings) {
  const auto setup = tinyproxy_setup(
      kConfigPath,
      tp_config("Port 1\nUser nobody\nViaProxyName \"corp-proxy\"\n"
                "Filter \"/etc/tinyproxy/filter\"\nConnectPort 443\nConnectPort 563\n"));
  ASSERT_TRUE(setup.problems.empty()) << messages(setup.problems);
  const Config& c = setup.config;
  EXPECT_FALSE(c.watch);
  EXPECT_EQ(c.user, "nobody");
  EXPECT_EQ(c.via_name, "corp-proxy");
  EXPECT_EQ(c.rules_dir, kFilterPath);
  EXPECT_EQ(c.connect_ports, (std::vector<std::uint16_t>{443, 563}));
  EXPECT_TRUE(c.http_ports.empty());
  EXPECT_TRUE(c.routing.empty());

  const auto plain = tinyproxy_setup(kConfigPath, tp_config("Port 1\n"));
  EXPECT_FALSE(plain.config.watch);
  EXPECT_EQ(plain.config.via_name, "egressd");
  EXPECT_TRUE(plain.config.connect_ports.empty());
}

TEST(TinyproxySetup, UpstreamsBecomeRoutesInReverseOrder) {
  const auto setup = tinyproxy_setup(
      kConfigPath, tp_config("Port 1\n"
                             "Upstream http proxy.corp.example:3128\n"
                             "Upstream socks5 127.0.0.1:9050 \".onion\"\n"
                             "Upstream none \".intranet.example\"\n"
                             "Upstream http proxy.corp.example:3128 \"10.0.0.0/8\"\n"
                             "Upstream http proxy.corp.example:3128 \"exact.example\"\n"
                             "Upstream http bob:pw@proxy.corp.example:3128 \"b.example\"\n"));
  ASSERT_TRUE(setup.problems.empty()) << messages(setup.problems);
  const Routing& routing = setup.config.routing;

  // The same parent is one upstream; other credentials make another.
  ASSERT_EQ(routing.parents.size(), 3u);
  EXPECT_EQ(routing.parents[0].display(), "http://proxy.corp.example:3128");
  EXPECT_EQ(routing.parents[0].username, "bob");
  EXPECT_EQ(routing.parents[0].name, "upstream1");
  EXPECT_EQ(routing.parents[1].display(), "http://proxy.corp.example:3128");
  EXPECT_FALSE(routing.parents[1].has_credentials());
  EXPECT_EQ(routing.parents[1].name, "upstream2");
  EXPECT_EQ(routing.parents[2].display(), "socks5://127.0.0.1:9050");
  EXPECT_EQ(routing.parents[2].name, "upstream3");

  ASSERT_EQ(routing.routes.size(), 6u);
  const auto& r = routing.routes;
  EXPECT_EQ(r[0].line, 7);
  EXPECT_EQ(r[0].parent, 0u);
  EXPECT_EQ(r[0].hosts, std::vector<std::string>{"b.example"});
  EXPECT_EQ(r[1].line, 6);
  EXPECT_EQ(r[1].parent, 1u);
  EXPECT_EQ(r[1].hosts, std::vector<std::string>{"exact.example"});
  EXPECT_TRUE(r[1].domains.empty());
  EXPECT_EQ(r[2].line, 5);
  EXPECT_EQ(r[2].parent, 1u);
  ASSERT_EQ(r[2].networks.size(), 1u);
  EXPECT_EQ(r[2].networks[0].to_string(), "10.0.0.0/8");
  EXPECT_EQ(r[3].line, 4);
  EXPECT_FALSE(r[3].parent);  // Upstream none: direct
  EXPECT_EQ(r[3].domains, std::vector<std::string>{"intranet.example"});
  EXPECT_EQ(r[4].line, 3);
  EXPECT_EQ(r[4].parent, 2u);
  EXPECT_EQ(r[4].domains, std::vector<std::string>{"onion"});
  EXPECT_EQ(r[5].line, 2);
  EXPECT_EQ(r[5].parent, 1u);
  EXPECT_FALSE(r[5].has_destination_condition());
  EXPECT_FALSE(r[5].has_client_condition());
}

TEST(TinyproxySetup, UpstreamForNamesWithoutADomainIsAnError) {
  const auto setup = tinyproxy_setup(
      kConfigPath,
      tp_config("Port 1\nUpstream http p.example:3128 \".\"\nUpstream none \"a.example\"\n"));
  expect_one_error(setup, 2, "\".\"");
  ASSERT_EQ(setup.config.routing.routes.size(), 1u);
  EXPECT_EQ(setup.config.routing.routes[0].line, 3);
}

// ---------------------------------------------------------------------------------------
// build_tinyproxy_snapshot and decide()

TEST(TinyproxySnapshot, WithoutFilterEveryHostPasses) {
  const auto snapshot = snapshot_from("Port 8888\n");
  ASSERT_NE(snapshot, nullptr);
  ASSERT_NE(snapshot->everyone, nullptr);
  EXPECT_EQ(snapshot->everyone->label, "tinyproxy");
  EXPECT_EQ(snapshot->everyone->mode, ListMode::block_list);
  EXPECT_TRUE(snapshot->everyone->matcher->rules().empty());
  EXPECT_TRUE(snapshot->clients.empty());
  EXPECT_TRUE(snapshot->access.empty());
  EXPECT_NE(snapshot->tinyproxy, nullptr);
  EXPECT_FALSE(snapshot->watch);
  EXPECT_EQ(snapshot->unknown_clients, UnknownClients::deny);

  for (const char* name : {"example.com", "ads.example", "192.0.2.1"}) {
    const Decision d = decide_for(*snapshot, "10.0.0.1", name, 80);
    EXPECT_TRUE(d.allowed()) << name;
    EXPECT_EQ(d.reason, Reason::no_block_rule_matched) << name;
    EXPECT_EQ(reason_code(d.reason), "no-block-rule");
    EXPECT_EQ(d.client, snapshot->everyone.get());
    EXPECT_EQ(d.rule, nullptr);
  }
  EXPECT_TRUE(decide_for(*snapshot, "fd00::1", "example.com", 443, true).allowed());
}

TEST(TinyproxySnapshot, FilterIsABlockListByDefault) {
  const auto snapshot = snapshot_from("Port 1\nFilter \"/etc/tinyproxy/filter\"\n",
                                      filter_file("# blocked\n\nads\\.\ntracker\n"));
  ASSERT_NE(snapshot, nullptr);
  EXPECT_EQ(snapshot->everyone->mode, ListMode::block_list);
  EXPECT_EQ(snapshot->everyone->rules_path, kFilterPath);
  EXPECT_EQ(snapshot->rules_dir, kFilterPath);

  Decision d = decide_for(*snapshot, "10.0.0.1", "ads.example.com", 80);
  EXPECT_FALSE(d.allowed());
  EXPECT_EQ(d.reason, Reason::block_rule_matched);
  EXPECT_EQ(reason_code(d.reason), "block-rule");
  ASSERT_NE(d.rule, nullptr);
  EXPECT_EQ(d.rule->line, 3);

  d = decide_for(*snapshot, "10.0.0.1", "www.tracker.example", 443, true);
  EXPECT_FALSE(d.allowed());
  ASSERT_NE(d.rule, nullptr);
  EXPECT_EQ(d.rule->line, 4);

  d = decide_for(*snapshot, "10.0.0.1", "example.com", 80);
  EXPECT_TRUE(d.allowed());
  EXPECT_EQ(d.reason, Reason::no_block_rule_matched);
  EXPECT_EQ(d.rule, nullptr);
  // "ads\." needs the dot.
  EXPECT_TRUE(decide_for(*snapshot, "10.0.0.1", "adsexample.com", 80).allowed());
}

TEST(TinyproxySnapshot, FilterDefaultDenyMakesAnAllowList) {
  const auto snapshot =
      snapshot_from("Port 1\nFilter \"/etc/tinyproxy/filter\"\nFilterDefaultDeny Yes\n",
                    filter_file("# allowed\n^example\\.com$\n"));
  ASSERT_NE(snapshot, nullptr);
  EXPECT_EQ(snapshot->everyone->mode, ListMode::allow_list);

  Decision d = decide_for(*snapshot, "10.0.0.1", "example.com", 80);
  EXPECT_TRUE(d.allowed());
  EXPECT_EQ(d.reason, Reason::allow_rule_matched);
  ASSERT_NE(d.rule, nullptr);
  EXPECT_EQ(d.rule->line, 2);

  d = decide_for(*snapshot, "10.0.0.1", "www.example.com", 80);
  EXPECT_FALSE(d.allowed());
  EXPECT_EQ(d.reason, Reason::no_allow_rule_matched);
  EXPECT_EQ(d.rule, nullptr);
}

TEST(TinyproxySnapshot, AllowAdmitsItsNetworkOnly) {
  const auto snapshot = snapshot_from("Port 1\nAllow 10.0.0.0/8\n");
  ASSERT_NE(snapshot, nullptr);
  ASSERT_EQ(snapshot->access.size(), 1u);
  EXPECT_EQ(snapshot->access[0].network.to_string(), "10.0.0.0/8");
  EXPECT_TRUE(snapshot->access[0].allow);
  EXPECT_EQ(snapshot->access[0].line, 2);

  EXPECT_TRUE(decide_for(*snapshot, "10.1.2.3", "example.com", 80).allowed());
  for (const bool is_connect : {false, true}) {
    const Decision d =
        decide_for(*snapshot, "192.168.1.1", "example.com", is_connect ? 443 : 80, is_connect);
    EXPECT_FALSE(d.allowed()) << is_connect;
    EXPECT_EQ(d.reason, Reason::not_admitted) << is_connect;
    EXPECT_EQ(reason_code(d.reason), "not-admitted");
    EXPECT_EQ(d.client, nullptr);
    EXPECT_EQ(d.rule, nullptr);
  }
  // Learning does not open the proxy to a client that may not use it.
  const Host h{"example.com", std::nullopt};
  EXPECT_EQ(decide(*snapshot, ip("192.168.1.1"), {"GET", h, 80, false}, {false, true}).reason,
            Reason::not_admitted);
}

TEST(TinyproxySnapshot, FirstAccessLineThatHoldsTheClientDecides) {
  const auto deny_first = snapshot_from("Port 1\nDeny 10.1.0.0/16\nAllow 10.0.0.0/8\n");
  ASSERT_NE(deny_first, nullptr);
  EXPECT_EQ(decide_for(*deny_first, "10.1.2.3", "example.com", 80).reason, Reason::not_admitted);
  EXPECT_TRUE(decide_for(*deny_first, "10.2.0.1", "example.com", 80).allowed());
  EXPECT_EQ(decide_for(*deny_first, "192.168.1.1", "example.com", 80).reason, Reason::not_admitted);

  const auto allow_first = snapshot_from("Port 1\nAllow 10.0.0.0/8\nDeny 10.1.0.0/16\n");
  ASSERT_NE(allow_first, nullptr);
  EXPECT_TRUE(decide_for(*allow_first, "10.1.2.3", "example.com", 80).allowed());
}

TEST(TinyproxySnapshot, PlainHttpToAnyPortConnectToConnectPorts) {
  const auto snapshot = snapshot_from("Port 1\nConnectPort 443\nConnectPort 563\n");
  ASSERT_NE(snapshot, nullptr);
  EXPECT_TRUE(snapshot->any_http_port);
  EXPECT_FALSE(snapshot->any_connect_port);
  EXPECT_EQ(snapshot->connect_ports, (std::vector<std::uint16_t>{443, 563}));

  for (const std::uint16_t port : {80, 8080, 25, 65535}) {
    EXPECT_TRUE(decide_for(*snapshot, "10.0.0.1", "example.com", port).allowed()) << port;
  }
  EXPECT_TRUE(decide_for(*snapshot, "10.0.0.1", "example.com", 443, true).allowed());
  EXPECT_TRUE(decide_for(*snapshot, "10.0.0.1", "example.com", 563, true).allowed());
  const Decision d = decide_for(*snapshot, "10.0.0.1", "example.com", 8443, true);
  EXPECT_FALSE(d.allowed());
  EXPECT_EQ(d.reason, Reason::port_not_allowed);

  // ConnectPort 0 alone: no port is open to CONNECT.
  const auto none = snapshot_from("Port 1\nConnectPort 0\n");
  ASSERT_NE(none, nullptr);
  EXPECT_FALSE(none->any_connect_port);
  EXPECT_EQ(decide_for(*none, "10.0.0.1", "example.com", 443, true).reason,
            Reason::port_not_allowed);
  EXPECT_TRUE(decide_for(*none, "10.0.0.1", "example.com", 80).allowed());

  const auto any = snapshot_from("Port 1\n");
  ASSERT_NE(any, nullptr);
  EXPECT_TRUE(any->any_connect_port);
  for (const std::uint16_t port : {443, 8443, 22}) {
    EXPECT_TRUE(decide_for(*any, "10.0.0.1", "example.com", port, true).allowed()) << port;
  }
}

TEST(TinyproxySnapshot, ConnectPortsApplyToAllowListsToo) {
  const auto snapshot = snapshot_from(
      "Port 1\nFilter \"/etc/tinyproxy/filter\"\nFilterDefaultDeny Yes\nConnectPort 443\n",
      filter_file("example\\.com\n"));
  ASSERT_NE(snapshot, nullptr);
  EXPECT_TRUE(decide_for(*snapshot, "10.0.0.1", "example.com", 443, true).allowed());
  EXPECT_EQ(decide_for(*snapshot, "10.0.0.1", "example.com", 8443, true).reason,
            Reason::port_not_allowed);
}

TEST(TinyproxySnapshot, FilterUrlsMatchesTheUrl) {
  const auto snapshot = snapshot_from("Port 1\nFilter \"/etc/tinyproxy/filter\"\nFilterURLs Yes\n",
                                      filter_file("secret\n"));
  ASSERT_NE(snapshot, nullptr);
  EXPECT_TRUE(snapshot->everyone->match_urls);
  EXPECT_TRUE(snapshot->tinyproxy->filter_urls);

  Decision d = decide_for(*snapshot, "10.0.0.1", "u.example", 80, false, "http://u.example/secret");
  EXPECT_FALSE(d.allowed());
  EXPECT_EQ(d.reason, Reason::block_rule_matched);
  ASSERT_NE(d.rule, nullptr);
  EXPECT_EQ(d.rule->line, 1);

  d = decide_for(*snapshot, "10.0.0.1", "u.example", 80, false, "http://u.example/public");
  EXPECT_TRUE(d.allowed());
  EXPECT_EQ(d.reason, Reason::no_block_rule_matched);

  // Without a URL (nothing to match), the host is matched.
  EXPECT_FALSE(decide_for(*snapshot, "10.0.0.1", "secret.example", 80).allowed());
  // The host alone is not what the filter sees.
  EXPECT_TRUE(decide_for(*snapshot, "10.0.0.1", "secret.example", 80, false, "http://u.example/")
                  .allowed());
}

TEST(TinyproxySnapshot, AFilterWithAnErrorFailsTheBuild) {
  const auto build = build_from("Port 1\nFilter \"/etc/tinyproxy/filter\"\n",
                                filter_file("ok\n# c\n\\(x\\)\\1\n"));
  EXPECT_EQ(build.snapshot, nullptr);
  ASSERT_TRUE(has_errors(build.problems));
  bool found = false;
  for (const auto& p : build.problems) {
    if (p.severity == Problem::Severity::error && p.file == kFilterPath && p.line == 3) {
      found = true;
    }
  }
  EXPECT_TRUE(found) << messages(build.problems);
}

TEST(TinyproxySnapshot, WarningsDoNotFailTheBuild) {
  const auto build = build_from("Port 1\nFilter \"/etc/tinyproxy/filter\"\n",
                                filter_file("ads\\.\nspace\\.example tail\n"));
  ASSERT_NE(build.snapshot, nullptr) << messages(build.problems);
  ASSERT_EQ(build.problems.size(), 1u) << messages(build.problems);
  EXPECT_EQ(build.problems[0].severity, Problem::Severity::warning);
  EXPECT_EQ(build.problems[0].line, 2);
  EXPECT_EQ(build.snapshot->problems.size(), 1u);
  EXPECT_FALSE(decide_for(*build.snapshot, "10.0.0.1", "space.example", 80).allowed());
}

TEST(TinyproxySnapshot, AnUnreadFileFailsTheBuildAndIsNamed) {
  TinyproxyFiles files;
  files.read_errors[std::string(kFilterPath)] = "Permission denied";
  const auto build = build_from("Port 1\nFilter \"/etc/tinyproxy/filter\"\n", files);
  EXPECT_EQ(build.snapshot, nullptr);
  ASSERT_EQ(build.problems.size(), 1u) << messages(build.problems);
  EXPECT_EQ(build.problems[0].severity, Problem::Severity::error);
  EXPECT_EQ(build.problems[0].file, kFilterPath);
  EXPECT_TRUE(contains(build.problems[0].message, "Permission denied"))
      << build.problems[0].message;

  // An error page file the caller did not read at all.
  const auto pages = build_from("Port 1\nErrorFile 403 \"/etc/tinyproxy/403.html\"\n");
  EXPECT_EQ(pages.snapshot, nullptr);
  ASSERT_EQ(pages.problems.size(), 1u) << messages(pages.problems);
  EXPECT_EQ(pages.problems[0].file, "/etc/tinyproxy/403.html");
  EXPECT_TRUE(contains(pages.problems[0].message, "cannot read")) << pages.problems[0].message;
}

TEST(TinyproxySnapshot, BehaviourFromTheConfig) {
  TinyproxyFiles files;
  files.contents["/etc/tinyproxy/403.html"] = "<p>403 {cause}</p>";
  files.contents["/etc/tinyproxy/default.html"] = "<p>default {cause}</p>";
  const auto build = build_from(
      "Port 8888\n"
      "BasicAuth alice secret\n"
      "BasicAuth bob pw\n"
      "XTinyproxy Yes\n"
      "ViaProxyName \"corp-proxy\"\n"
      "AddHeader \"X-One\" \"1\"\n"
      "AddHeader \"X-Two\" \"two words\"\n"
      "StatHost \"Stats.Example\"\n"
      "ErrorFile 403 \"/etc/tinyproxy/403.html\"\n"
      "DefaultErrorFile \"/etc/tinyproxy/default.html\"\n",
      files, 42);
  ASSERT_NE(build.snapshot, nullptr) << messages(build.problems);
  EXPECT_EQ(build.snapshot->generation, 42u);
  const TinyproxyBehaviour* b = build.snapshot->tinyproxy.get();
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->credentials, (std::vector<std::string>{"YWxpY2U6c2VjcmV0", "Ym9iOnB3"}));
  EXPECT_TRUE(b->xtinyproxy);
  EXPECT_TRUE(b->via);
  EXPECT_EQ(b->via_name, "corp-proxy");
  EXPECT_EQ(b->add_headers, (std::vector<std::pair<std::string, std::string>>{
                                {"X-One", "1"}, {"X-Two", "two words"}}));
  EXPECT_EQ(b->stat_host, "stats.example");
  EXPECT_FALSE(b->filter_urls);
  ASSERT_EQ(b->error_pages.size(), 1u);
  EXPECT_EQ(b->error_pages.at(403), "<p>403 {cause}</p>");
  EXPECT_EQ(b->default_error_page, "<p>default {cause}</p>");
  // Either BasicAuth line lets a client in.
  EXPECT_TRUE(tinyproxy_credentials_ok(*b, "Basic YWxpY2U6c2VjcmV0"));
  EXPECT_TRUE(tinyproxy_credentials_ok(*b, "Basic Ym9iOnB3"));
  EXPECT_FALSE(tinyproxy_credentials_ok(*b, "Basic " + base64("alice:pw")));

  const auto plain = snapshot_from("Port 1\nDisableViaHeader Yes\n");
  ASSERT_NE(plain, nullptr);
  const TinyproxyBehaviour* p = plain->tinyproxy.get();
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->credentials.empty());
  EXPECT_FALSE(p->xtinyproxy);
  EXPECT_FALSE(p->via);
  EXPECT_EQ(p->via_name, "egressd");
  EXPECT_EQ(p->stat_host, "tinyproxy.stats");
  EXPECT_TRUE(p->error_pages.empty());
  EXPECT_TRUE(p->default_error_page.empty());
}

TEST(TinyproxySnapshot, RoutesComeFromTheConfig) {
  const auto snapshot = snapshot_from("Port 1\nUpstream http proxy.corp.example:3128\n");
  ASSERT_NE(snapshot, nullptr);
  ASSERT_EQ(snapshot->routing.parents.size(), 1u);
  ASSERT_EQ(snapshot->routing.routes.size(), 1u);
  EXPECT_EQ(snapshot->routing.routes[0].line, 2);
}

// ---------------------------------------------------------------------------------------
// tinyproxy_credentials_ok

TEST(TinyproxyCredentials, WithoutBasicAuthEverythingPasses) {
  const TinyproxyBehaviour none;
  EXPECT_TRUE(tinyproxy_credentials_ok(none, ""));
  EXPECT_TRUE(tinyproxy_credentials_ok(none, "Basic " + base64("alice:secret")));
  EXPECT_TRUE(tinyproxy_credentials_ok(none, "garbage"));
}

TEST(TinyproxyCredentials, BasicWithAMatchingPair) {
  TinyproxyBehaviour behaviour;
  behaviour.credentials = {base64("alice:secret")};
  const std::string token = base64("alice:secret");
  EXPECT_TRUE(tinyproxy_credentials_ok(behaviour, "Basic " + token));
  for (const char* scheme : {"basic ", "BASIC ", "bAsIc "}) {
    EXPECT_TRUE(tinyproxy_credentials_ok(behaviour, scheme + token)) << scheme;
  }
  EXPECT_TRUE(tinyproxy_credentials_ok(behaviour, "  Basic   " + token + " \t"));

  EXPECT_FALSE(tinyproxy_credentials_ok(behaviour, "Basic " + base64("alice:wrong")));
  EXPECT_FALSE(tinyproxy_credentials_ok(behaviour, "Basic " + base64("mallory:secret")));
  EXPECT_FALSE(tinyproxy_credentials_ok(behaviour, ""));
  EXPECT_FALSE(tinyproxy_credentials_ok(behaviour, "Basic"));
  EXPECT_FALSE(tinyproxy_credentials_ok(behaviour, "Basic "));
  EXPECT_FALSE(tinyproxy_credentials_ok(behaviour, token));
  EXPECT_FALSE(tinyproxy_credentials_ok(behaviour, "Bearer " + token));
  EXPECT_FALSE(tinyproxy_credentials_ok(behaviour, "Basic " + token + "x"));
  EXPECT_FALSE(tinyproxy_credentials_ok(behaviour, "Basic " + token.substr(1)));
}

TEST(TinyproxyCredentials, AnyOfSeveralPairs) {
  TinyproxyBehaviour behaviour;
  behaviour.credentials = {base64("alice:secret"), base64("bob:pw")};
  EXPECT_TRUE(tinyproxy_credentials_ok(behaviour, "Basic " + base64("alice:secret")));
  EXPECT_TRUE(tinyproxy_credentials_ok(behaviour, "Basic " + base64("bob:pw")));
  EXPECT_FALSE(tinyproxy_credentials_ok(behaviour, "Basic " + base64("alice:pw")));
  EXPECT_FALSE(tinyproxy_credentials_ok(behaviour, "Basic " + base64("bob:secret")));
}

// ---------------------------------------------------------------------------------------
// render_tinyproxy_page

TinyproxyPage filtered_page() {
  TinyproxyPage page;
  page.status = 403;
  page.cause = "Filtered";
  page.detail = "The request you made has been filtered";
  page.url = "http://ads.example/";
  page.client_ip = "10.0.0.1";
  page.request = "GET http://ads.example/ HTTP/1.1";
  return page;
}

TEST(TinyproxyPage, ErrorFileThenDefaultErrorFileThenBuiltIn) {
  TinyproxyBehaviour behaviour;
  behaviour.error_pages[403] = "E403 {cause}";
  behaviour.default_error_page = "DEFAULT {errno} {cause}";
  TinyproxyPage page = filtered_page();
  EXPECT_EQ(render_tinyproxy_page(behaviour, page), "E403 Filtered");

  page.status = 502;
  page.cause = "Bad Gateway";
  EXPECT_EQ(render_tinyproxy_page(behaviour, page), "DEFAULT 502 Bad Gateway");

  behaviour.default_error_page.clear();
  const std::string built_in = render_tinyproxy_page(behaviour, page);
  EXPECT_TRUE(contains(built_in, "Bad Gateway")) << built_in;
  EXPECT_TRUE(contains(built_in, "The request you made has been filtered")) << built_in;
  EXPECT_TRUE(contains(built_in, "502")) << built_in;
  EXPECT_FALSE(contains(built_in, "{")) << built_in;
  // The ErrorFile of another status is still used for its own.
  page.status = 403;
  EXPECT_EQ(render_tinyproxy_page(behaviour, page), "E403 Bad Gateway");

  const std::string plain = render_tinyproxy_page(TinyproxyBehaviour{}, filtered_page());
  EXPECT_TRUE(contains(plain, "<h1>Filtered</h1>")) << plain;
  EXPECT_TRUE(contains(plain, "<p>The request you made has been filtered</p>")) << plain;
}

TEST(TinyproxyPage, VariablesAreReplacedAndEscaped) {
  TinyproxyBehaviour behaviour;
  behaviour.default_error_page =
      "{cause}|{detail}|{url}|{clientip}|{clienthost}|{request}|{errno}|{package}|{website}|"
      "{date}";
  TinyproxyPage page = filtered_page();
  page.url = "http://x.example/<b>&\"";
  page.request = "GET http://x.example/<b>&\" HTTP/1.1";
  page.detail = "it's <filtered>";
  EXPECT_EQ(render_tinyproxy_page(behaviour, page),
            "Filtered|it&#39;s &lt;filtered&gt;|http://x.example/&lt;b&gt;&amp;&quot;|10.0.0.1|"
            "10.0.0.1|GET http://x.example/&lt;b&gt;&amp;&quot; HTTP/1.1|403|egressd||");

  behaviour.default_error_page = "v={version}";
  const std::string version = render_tinyproxy_page(behaviour, page);
  EXPECT_TRUE(version.starts_with("v=")) << version;
  EXPECT_FALSE(contains(version, "{version}")) << version;
}

TEST(TinyproxyPage, OtherBracesAreLeftAsWritten) {
  TinyproxyBehaviour behaviour;
  const TinyproxyPage page = filtered_page();
  behaviour.default_error_page = "{unknown} {cause} {}";
  EXPECT_EQ(render_tinyproxy_page(behaviour, page), "{unknown} Filtered {}");
  behaviour.default_error_page = "body { color: red; } {cause}";
  EXPECT_EQ(render_tinyproxy_page(behaviour, page), "body { color: red; } Filtered");
  behaviour.default_error_page = "{cause} and an unclosed {cause";
  EXPECT_EQ(render_tinyproxy_page(behaviour, page), "Filtered and an unclosed {cause");
  behaviour.default_error_page = "{";
  EXPECT_EQ(render_tinyproxy_page(behaviour, page), "{");
  behaviour.default_error_page = "}{cause}}";
  EXPECT_EQ(render_tinyproxy_page(behaviour, page), "}Filtered}");
}

// ---------------------------------------------------------------------------------------
// render_tinyproxy_stats

TEST(TinyproxyStatsPage, ShowsTheFourNumbers) {
  TinyproxyStats stats;
  stats.open_connections = 3;
  stats.requests = 1234;
  stats.denied = 56;
  stats.refused_high_load = 7;
  const std::string page = render_tinyproxy_stats(stats);
  EXPECT_TRUE(contains(page, "Number of open connections</td><td>3</td>")) << page;
  EXPECT_TRUE(contains(page, "Number of requests</td><td>1234</td>")) << page;
  EXPECT_TRUE(contains(page, "Number of denied connections</td><td>56</td>")) << page;
  EXPECT_TRUE(contains(page, "Number of refused connections due to high load</td><td>7</td>"))
      << page;
  EXPECT_TRUE(page.starts_with("<!DOCTYPE html>")) << page;

  const std::string zero = render_tinyproxy_stats(TinyproxyStats{});
  EXPECT_TRUE(contains(zero, "Number of requests</td><td>0</td>")) << zero;
}

// ---------------------------------------------------------------------------------------
// tinyproxy_files

TEST(TinyproxyFiles, FilterThenErrorPagesOnceEach) {
  const auto tp = tp_config(
      "Port 1\nDefaultErrorFile \"/e/default.html\"\nErrorFile 404 \"/e/404.html\"\n"
      "ErrorFile 403 \"/e/default.html\"\nFilter \"/etc/tinyproxy/filter\"\n");
  EXPECT_EQ(tinyproxy_files(tp),
            (std::vector<std::string>{"/etc/tinyproxy/filter", "/e/default.html", "/e/404.html"}));
  EXPECT_TRUE(tinyproxy_files(tp_config("Port 1\n")).empty());
}

TEST(TinyproxyPage, AStrayBraceBeforeAVariableIsText) {
  TinyproxyBehaviour behaviour;
  behaviour.default_error_page = "x { {cause} }";
  TinyproxyPage page;
  page.status = 403;
  page.cause = "Filtered";
  EXPECT_EQ(render_tinyproxy_page(behaviour, page), "x { Filtered }");
}

}  // namespace
}  // namespace egressd::core
