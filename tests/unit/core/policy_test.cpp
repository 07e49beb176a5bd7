// Tests for snapshot building and decisions (core/policy).
#include "core/policy.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace egressd::core {
namespace {

IpAddress ip(std::string_view text) {
  auto address = IpAddress::parse(text);
  EXPECT_TRUE(address.has_value()) << text;
  return address.value_or(IpAddress{});
}

Host host(std::string name) {
  return Host{std::move(name), std::nullopt};
}

SourceFile file(std::string name, std::string content) {
  return SourceFile{name, "/rules/" + name, std::move(content), {}};
}

// A GET on port 80 of `name` (the Host must outlive the decide() call only).
Decision decide_get(const PolicySnapshot& snapshot, const IpAddress& client,
                    const std::string& name) {
  const Host h = host(name);
  return decide(snapshot, client, DecisionRequest{"GET", h, 80, false});
}

std::string messages(const Problems& problems) {
  std::string out;
  for (const auto& p : problems) out += p.to_string() + "\n";
  return out;
}

std::shared_ptr<const PolicySnapshot> build_ok(const Config& config,
                                               const std::vector<SourceFile>& files) {
  auto build = build_snapshot(config, files, 7);
  EXPECT_FALSE(has_errors(build.problems)) << messages(build.problems);
  EXPECT_NE(build.snapshot, nullptr);
  return build.snapshot;
}

TEST(BuildSnapshot, ClientsFromFileNames) {
  Config config;
  config.rules_dir = "/rules";
  config.http_ports = {80, 8080};
  config.unknown_clients = UnknownClients::allow;
  config.clients["personal"].mode = ListMode::block_list;
  const auto snapshot =
      build_ok(config, {file("work.10.137.0.12", "^example\\.com$\n"),
                        file("personal.10.137.0.13", "ads\n"), file("v6.fd00::12", "")});
  EXPECT_EQ(snapshot->generation, 7u);
  EXPECT_EQ(snapshot->rules_dir, "/rules");
  EXPECT_EQ(snapshot->unknown_clients, UnknownClients::allow);
  EXPECT_EQ(snapshot->http_ports, (std::vector<std::uint16_t>{80, 8080}));
  EXPECT_EQ(snapshot->connect_ports, std::vector<std::uint16_t>{443});
  ASSERT_EQ(snapshot->clients.size(), 3u);

  const ClientPolicy* work = snapshot->find(ip("10.137.0.12"));
  ASSERT_NE(work, nullptr);
  EXPECT_EQ(work->label, "work");
  EXPECT_EQ(work->rules_path, "/rules/work.10.137.0.12");
  EXPECT_EQ(work->mode, ListMode::allow_list);
  EXPECT_EQ(work->matcher->rules().size(), 1u);

  const ClientPolicy* personal = snapshot->find(ip("10.137.0.13"));
  ASSERT_NE(personal, nullptr);
  EXPECT_EQ(personal->mode, ListMode::block_list);

  ASSERT_NE(snapshot->find(ip("fd00::12")), nullptr);
  EXPECT_EQ(snapshot->find(ip("10.137.0.14")), nullptr);
}

TEST(BuildSnapshot, DefaultModeAppliesWithoutClientSection) {
  Config config;
  config.default_mode = ListMode::block_list;
  const auto snapshot = build_ok(config, {file("a.10.0.0.1", "")});
  EXPECT_EQ(snapshot->find(ip("10.0.0.1"))->mode, ListMode::block_list);
}

TEST(BuildSnapshot, MappedAddressNamesTheIpv4Client) {
  const auto snapshot = build_ok(Config{}, {file("a.::ffff:10.0.0.1", "")});
  EXPECT_NE(snapshot->find(ip("10.0.0.1")), nullptr);
}

TEST(BuildSnapshot, IgnoredFilesAreSkippedSilently) {
  const auto build = build_snapshot(
      Config{},
      {file(".hidden", "(("), file("work.10.0.0.1~", "(("), file("work.10.0.0.1.swp", "(("),
       file("work.10.0.0.1.dpkg-old", "(("), file("work.10.0.0.1", "ok\n")},
      1);
  EXPECT_TRUE(build.problems.empty()) << messages(build.problems);
  ASSERT_NE(build.snapshot, nullptr);
  EXPECT_EQ(build.snapshot->clients.size(), 1u);
}

TEST(BuildSnapshot, BadFileNamesAreWarningsAndSkipped) {
  const auto build =
      build_snapshot(Config{}, {file("README", "((("), file("work.10.0.0.1", "ok\n")}, 1);
  ASSERT_EQ(build.problems.size(), 1u);
  EXPECT_EQ(build.problems[0].to_string(),
            "/rules/README: warning: not a rules file name (expected <label>.<ip>; a file named "
            "after a qube needs qrexec_socket); skipped");
  ASSERT_NE(build.snapshot, nullptr);
  EXPECT_EQ(build.snapshot->clients.size(), 1u);
}

TEST(BuildSnapshot, BadRuleIsAnErrorOfThatFileOnly) {
  const auto build = build_snapshot(
      Config{}, {file("work.10.0.0.1", "ok\n# x\n(abc\n"), file("b.10.0.0.2", "fine")}, 1);
  ASSERT_NE(build.snapshot, nullptr);
  ASSERT_EQ(build.problems.size(), 1u);
  EXPECT_EQ(build.problems[0].to_string(),
            "/rules/work.10.0.0.1:3: error: invalid regular expression: missing ): (abc");
  EXPECT_EQ(build.snapshot->problems.size(), 1u);
  // The good file is loaded; the broken one, never loaded before, allows nothing.
  const ClientPolicy* b = build.snapshot->find(ip("10.0.0.2"));
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->state, RulesState::current);
  const ClientPolicy* work = build.snapshot->find(ip("10.0.0.1"));
  ASSERT_NE(work, nullptr);
  EXPECT_EQ(work->state, RulesState::unusable);
  ASSERT_EQ(work->errors.size(), 1u);
  EXPECT_EQ(work->errors[0].line, 3);
  const auto decision = decide_get(*build.snapshot, ip("10.0.0.1"), "ok");
  EXPECT_FALSE(decision.allowed());
  EXPECT_EQ(decision.reason, Reason::rules_unusable);
}

TEST(BuildSnapshot, LearningDoesNotOpenAnUnusableFile) {
  const auto build = build_snapshot(Config{}, {file("work.10.0.0.1", "(abc\n")}, 1);
  const Host h = host("example.com");
  const auto d = decide(*build.snapshot, ip("10.0.0.1"), {"GET", h, 80, false}, {false, true});
  EXPECT_FALSE(d.allowed());
  EXPECT_EQ(d.reason, Reason::rules_unusable);
}

TEST(BuildSnapshot, UnusableBlockListClientIsDeniedToo) {
  Config config;
  config.default_mode = ListMode::block_list;
  const auto build = build_snapshot(config, {file("work.10.0.0.1", "(abc\n")}, 1);
  ASSERT_NE(build.snapshot, nullptr);
  EXPECT_EQ(decide_get(*build.snapshot, ip("10.0.0.1"), "anything").reason,
            Reason::rules_unusable);
}

TEST(BuildSnapshot, BrokenFileKeepsThePreviousRulesOfThatClient) {
  const auto before = build_ok(Config{}, {file("work.10.0.0.1", "^old$\n"),
                                          file("b.10.0.0.2", "^b-old$\n")});
  const auto build = build_snapshot(
      Config{}, {file("work.10.0.0.1", "^new$\n(abc\n"), file("b.10.0.0.2", "^b-new$\n")}, 8,
      before.get());
  ASSERT_NE(build.snapshot, nullptr);
  const ClientPolicy* work = build.snapshot->find(ip("10.0.0.1"));
  ASSERT_NE(work, nullptr);
  EXPECT_EQ(work->state, RulesState::previous);
  EXPECT_EQ(work->errors.size(), 1u);
  EXPECT_TRUE(decide_get(*build.snapshot, ip("10.0.0.1"), "old").allowed());
  EXPECT_FALSE(decide_get(*build.snapshot, ip("10.0.0.1"), "new").allowed());
  // The other client's good edit is in force.
  EXPECT_TRUE(decide_get(*build.snapshot, ip("10.0.0.2"), "b-new").allowed());
  EXPECT_FALSE(decide_get(*build.snapshot, ip("10.0.0.2"), "b-old").allowed());

  // Still broken at the next reload: still the rules of the last good version.
  const auto again =
      build_snapshot(Config{}, {file("work.10.0.0.1", "(abc\n")}, 9, build.snapshot.get());
  EXPECT_TRUE(decide_get(*again.snapshot, ip("10.0.0.1"), "old").allowed());
  // Fixed: the file as it is now.
  const auto fixed =
      build_snapshot(Config{}, {file("work.10.0.0.1", "^new$\n")}, 10, again.snapshot.get());
  EXPECT_EQ(fixed.snapshot->find(ip("10.0.0.1"))->state, RulesState::current);
  EXPECT_TRUE(fixed.snapshot->find(ip("10.0.0.1"))->errors.empty());
  EXPECT_TRUE(decide_get(*fixed.snapshot, ip("10.0.0.1"), "new").allowed());
}

TEST(BuildSnapshot, UnreadableFileKeepsThePreviousRules) {
  const auto before = build_ok(Config{}, {file("work.10.0.0.1", "^old$\n")});
  SourceFile unreadable = file("work.10.0.0.1", "");
  unreadable.read_error = "Permission denied";
  const auto build = build_snapshot(Config{}, {unreadable}, 8, before.get());
  ASSERT_EQ(build.problems.size(), 1u);
  EXPECT_EQ(build.problems[0].to_string(),
            "/rules/work.10.0.0.1: error: cannot read rules file: Permission denied");
  EXPECT_TRUE(decide_get(*build.snapshot, ip("10.0.0.1"), "old").allowed());
}

TEST(BuildSnapshot, BadLineIsAnError) {
  const auto build = build_snapshot(Config{}, {file("work.10.0.0.1", "ok\n\xff\n")}, 1);
  ASSERT_EQ(build.problems.size(), 1u);
  EXPECT_EQ(build.problems[0].line, 2);
  EXPECT_EQ(build.snapshot->find(ip("10.0.0.1"))->state, RulesState::unusable);
}

TEST(BuildSnapshot, DuplicateAddressNamesBothFiles) {
  // Given in reverse order: messages do not depend on directory order.
  const auto build =
      build_snapshot(Config{}, {file("work.10.0.0.1", ""), file("home.10.0.0.1", "")}, 1);
  // The first file by name keeps the address; the second one is not loaded.
  ASSERT_NE(build.snapshot, nullptr);
  EXPECT_EQ(build.snapshot->find(ip("10.0.0.1"))->label, "home");
  ASSERT_EQ(build.problems.size(), 1u) << messages(build.problems);
  const Problem& p = build.problems[0];
  EXPECT_EQ(p.severity, Problem::Severity::error);
  EXPECT_EQ(p.file, "/rules/work.10.0.0.1");
  EXPECT_NE(p.message.find("/rules/home.10.0.0.1"), std::string::npos) << p.message;
  EXPECT_NE(p.message.find("10.0.0.1"), std::string::npos) << p.message;
}

TEST(BuildSnapshot, DuplicateMappedAddressIsTheSameClient) {
  const auto build =
      build_snapshot(Config{}, {file("a.10.0.0.1", ""), file("b.::ffff:10.0.0.1", "")}, 1);
  EXPECT_EQ(build.snapshot->clients.size(), 1u);
  EXPECT_EQ(build.problems.size(), 1u) << messages(build.problems);
}

TEST(BuildSnapshot, DuplicateLabelNamesBothFiles) {
  const auto build =
      build_snapshot(Config{}, {file("work.10.0.0.2", ""), file("work.10.0.0.1", "")}, 1);
  EXPECT_EQ(build.snapshot->clients.size(), 1u);
  ASSERT_EQ(build.problems.size(), 1u) << messages(build.problems);
  EXPECT_EQ(build.problems[0].file, "/rules/work.10.0.0.2");
  EXPECT_NE(build.problems[0].message.find("/rules/work.10.0.0.1"), std::string::npos);
  EXPECT_NE(build.problems[0].message.find("\"work\""), std::string::npos);
}

TEST(BuildSnapshot, ClientSectionWithoutFileIsAWarning) {
  Config config;
  config.rules_dir = "/rules";
  config.clients["ghost"].mode = ListMode::block_list;
  const auto build = build_snapshot(config, {file("work.10.0.0.1", "")}, 1);
  ASSERT_NE(build.snapshot, nullptr);
  ASSERT_EQ(build.problems.size(), 1u);
  EXPECT_EQ(build.problems[0].severity, Problem::Severity::warning);
  EXPECT_NE(build.problems[0].message.find("[clients.ghost]"), std::string::npos);
}

TEST(BuildSnapshot, EmptyFolderGivesAnEmptySnapshot) {
  const auto build = build_snapshot(Config{}, {}, 3);
  ASSERT_NE(build.snapshot, nullptr);
  EXPECT_TRUE(build.snapshot->clients.empty());
}

class DecideTest : public testing::Test {
 protected:
  DecideTest() {
    config_.http_ports = {80, 8080};
    config_.connect_ports = {443};
    config_.clients["blocky"].mode = ListMode::block_list;
    snapshot_ = build_ok(config_, {file("work.10.0.0.1", "# allow\n^example\\.com$\nallowed\n"),
                                   file("blocky.10.0.0.2", "\n\nads\\.\ntracker\n")});
  }

  Decision decide_for(std::string_view client, std::string name, std::uint16_t port,
                      bool is_connect = false, const PolicySnapshot* snapshot = nullptr) {
    host_ = host(std::move(name));
    const DecisionRequest request{is_connect ? "CONNECT" : "GET", host_, port, is_connect};
    return decide(snapshot ? *snapshot : *snapshot_, ip(client), request);
  }

  Config config_;
  std::shared_ptr<const PolicySnapshot> snapshot_;
  Host host_;
};

TEST_F(DecideTest, AllowListRuleMatched) {
  const Decision d = decide_for("10.0.0.1", "example.com", 80);
  EXPECT_TRUE(d.allowed());
  EXPECT_EQ(d.reason, Reason::allow_rule_matched);
  ASSERT_NE(d.client, nullptr);
  EXPECT_EQ(d.client->label, "work");
  ASSERT_NE(d.rule, nullptr);
  EXPECT_EQ(d.rule->line, 2);
  EXPECT_EQ(d.rule->pattern, "^example\\.com$");
}

TEST_F(DecideTest, AllowListKeepsUnanchoredSemantics) {
  const Decision d = decide_for("10.0.0.1", "notallowed.evil", 443, true);
  EXPECT_TRUE(d.allowed());
  ASSERT_NE(d.rule, nullptr);
  EXPECT_EQ(d.rule->line, 3);
}

TEST_F(DecideTest, AllowListNothingMatched) {
  const Decision d = decide_for("10.0.0.1", "www.example.com", 80);
  EXPECT_FALSE(d.allowed());
  EXPECT_EQ(d.reason, Reason::no_allow_rule_matched);
  EXPECT_NE(d.client, nullptr);
  EXPECT_EQ(d.rule, nullptr);
}

TEST_F(DecideTest, BlockListRuleMatched) {
  const Decision d = decide_for("10.0.0.2", "ads.example.com", 443, true);
  EXPECT_FALSE(d.allowed());
  EXPECT_EQ(d.reason, Reason::block_rule_matched);
  ASSERT_NE(d.rule, nullptr);
  EXPECT_EQ(d.rule->line, 3);
}

TEST_F(DecideTest, BlockListNothingMatched) {
  const Decision d = decide_for("10.0.0.2", "example.com", 8080);
  EXPECT_TRUE(d.allowed());
  EXPECT_EQ(d.reason, Reason::no_block_rule_matched);
  EXPECT_EQ(d.rule, nullptr);
}

TEST_F(DecideTest, UnknownClientDenied) {
  const Decision d = decide_for("10.0.0.3", "example.com", 80);
  EXPECT_FALSE(d.allowed());
  EXPECT_EQ(d.reason, Reason::unknown_client_denied);
  EXPECT_EQ(d.client, nullptr);
  EXPECT_EQ(d.rule, nullptr);
}

TEST_F(DecideTest, UnknownClientAllowed) {
  config_.unknown_clients = UnknownClients::allow;
  const auto open = build_ok(config_, {});
  const Decision d = decide_for("10.0.0.3", "example.com", 80, false, open.get());
  EXPECT_TRUE(d.allowed());
  EXPECT_EQ(d.reason, Reason::unknown_client_allowed);
}

TEST_F(DecideTest, PortsAreCheckedFirst) {
  struct Case {
    const char* client;
    std::uint16_t port;
    bool is_connect;
  };
  for (const Case& c :
       {Case{"10.0.0.1", 443, false}, Case{"10.0.0.1", 80, true}, Case{"10.0.0.1", 22, true},
        Case{"10.0.0.2", 25, false}, Case{"10.0.0.3", 8443, true}, Case{"10.0.0.1", 0, false}}) {
    const Decision d = decide_for(c.client, "example.com", c.port, c.is_connect);
    EXPECT_FALSE(d.allowed()) << c.client << " " << c.port;
    EXPECT_EQ(d.reason, Reason::port_not_allowed) << c.client << " " << c.port;
    EXPECT_EQ(d.rule, nullptr);
  }
  EXPECT_EQ(decide_for("10.0.0.1", "example.com", 25).client->label, "work");
}

TEST_F(DecideTest, FirstRuleInFileOrderDecides) {
  const auto snapshot = build_ok(Config{}, {file("a.10.0.0.9", "com$\nexample\n^www\n")});
  const Decision d = decide_for("10.0.0.9", "www.example.com", 80, false, snapshot.get());
  ASSERT_NE(d.rule, nullptr);
  EXPECT_EQ(d.rule->line, 1);
}

TEST_F(DecideTest, PortRulesOpenTheirPortForAllowListClients) {
  config_.unknown_clients = UnknownClients::allow;
  const auto snapshot = build_ok(
      config_, {file("work.10.0.0.1",
                     "domain:example.com\nhost:a.example.com:8443\ndomain:svc.example:9000\n"
                     "host:b.example:8080\n"),
                file("blocky.10.0.0.2", "host:a.example.com:8443\n")});
  // Global port, domain: without a port.
  Decision d = decide_for("10.0.0.1", "www.example.com", 443, true, snapshot.get());
  EXPECT_TRUE(d.allowed());
  ASSERT_NE(d.rule, nullptr);
  EXPECT_EQ(d.rule->line, 1);
  // Not a global port: only a rule that names it.
  d = decide_for("10.0.0.1", "www.example.com", 8443, true, snapshot.get());
  EXPECT_FALSE(d.allowed());
  EXPECT_EQ(d.reason, Reason::port_not_allowed);
  EXPECT_EQ(d.rule, nullptr);
  d = decide_for("10.0.0.1", "a.example.com", 8443, true, snapshot.get());
  EXPECT_TRUE(d.allowed());
  EXPECT_EQ(d.reason, Reason::allow_rule_matched);
  ASSERT_NE(d.rule, nullptr);
  EXPECT_EQ(d.rule->line, 2);
  d = decide_for("10.0.0.1", "a.example.com", 8443, false, snapshot.get());
  EXPECT_TRUE(d.allowed());
  d = decide_for("10.0.0.1", "x.svc.example", 9000, false, snapshot.get());
  EXPECT_TRUE(d.allowed());
  ASSERT_NE(d.rule, nullptr);
  EXPECT_EQ(d.rule->line, 3);
  d = decide_for("10.0.0.1", "x.svc.example", 9001, false, snapshot.get());
  EXPECT_EQ(d.reason, Reason::port_not_allowed);
  // A port rule on a global port: matches that port only.
  d = decide_for("10.0.0.1", "b.example", 8080, false, snapshot.get());
  EXPECT_TRUE(d.allowed());
  d = decide_for("10.0.0.1", "b.example", 80, false, snapshot.get());
  EXPECT_EQ(d.reason, Reason::no_allow_rule_matched);
  // Block-list and unknown clients: global ports only.
  d = decide_for("10.0.0.2", "a.example.com", 8443, true, snapshot.get());
  EXPECT_EQ(d.reason, Reason::port_not_allowed);
  d = decide_for("10.0.0.2", "a.example.com", 443, true, snapshot.get());
  EXPECT_EQ(d.reason, Reason::no_block_rule_matched);
  d = decide_for("10.0.0.3", "a.example.com", 8443, true, snapshot.get());
  EXPECT_EQ(d.reason, Reason::port_not_allowed);
}

TEST_F(DecideTest, PrefixedRulesInSnapshots) {
  const auto snapshot =
      build_ok(Config{}, {file("a.10.0.0.9", "ip:192.0.2.0/24\ndomain:example.com\n")});
  host_ = Host{"192.0.2.5", IpAddress::parse("192.0.2.5")};
  const Decision d = decide(*snapshot, ip("10.0.0.9"), DecisionRequest{"GET", host_, 80, false});
  EXPECT_TRUE(d.allowed());
  ASSERT_NE(d.rule, nullptr);
  EXPECT_EQ(d.rule->line, 1);
  EXPECT_FALSE(decide_for("10.0.0.9", "badexample.com", 80, false, snapshot.get()).allowed());

  const auto build =
      build_snapshot(Config{}, {file("a.10.0.0.9", "domain:ok.example\nip:10.0.0.1/8\n")}, 1);
  EXPECT_TRUE(has_errors(build.problems));
  EXPECT_NE(messages(build.problems).find("/rules/a.10.0.0.9:2: "), std::string::npos)
      << messages(build.problems);
  EXPECT_NE(messages(build.problems).find("did you mean 10.0.0.0/8"), std::string::npos);
}

TEST(Reasons, CodesAndTexts) {
  struct Case {
    Reason reason;
    const char* code;
  };
  for (const Case& c : {Case{Reason::allow_rule_matched, "allow-rule"},
                        Case{Reason::no_allow_rule_matched, "no-allow-rule"},
                        Case{Reason::block_rule_matched, "block-rule"},
                        Case{Reason::no_block_rule_matched, "no-block-rule"},
                        Case{Reason::unknown_client_allowed, "unknown-client-allowed"},
                        Case{Reason::unknown_client_denied, "unknown-client-denied"},
                        Case{Reason::port_not_allowed, "port-not-allowed"},
                        Case{Reason::client_stopped, "client-stopped"},
                        Case{Reason::rules_unusable, "rules-unusable"},
                        Case{Reason::learning, "learning"}}) {
    EXPECT_EQ(reason_code(c.reason), c.code);
    EXPECT_FALSE(reason_text(c.reason).empty());
  }
  EXPECT_EQ(reason_text(Reason::no_allow_rule_matched),
            "no rule in the allow-list matches this host");
  EXPECT_EQ(reason_text(Reason::client_stopped), "egressd is stopped for this client");
}

TEST_F(DecideTest, LearningAllowsWhatTheRulesDenyAndSaysSo) {
  const Host h = host("www.example.com");
  const DecisionRequest request{"GET", h, 80, false};
  const Decision learned = decide(*snapshot_, ip("10.0.0.1"), request, {false, true});
  EXPECT_TRUE(learned.allowed());
  EXPECT_EQ(learned.reason, Reason::learning);
  // A port outside the allowed set is learned too (suggest names the port).
  const Host other = host("example.org");
  const Decision port = decide(*snapshot_, ip("10.0.0.1"), {"CONNECT", other, 8443, true}, {false, true});
  EXPECT_EQ(port.reason, Reason::learning);
  // A block rule that matched is still named.
  const Host ads = host("ads.example.com");
  const Decision blocked = decide(*snapshot_, ip("10.0.0.2"), {"GET", ads, 80, false}, {false, true});
  EXPECT_EQ(blocked.reason, Reason::learning);
  ASSERT_NE(blocked.rule, nullptr);
  EXPECT_EQ(blocked.rule->line, 3);
  // What the rules allow is unchanged.
  const Host ok = host("example.com");
  EXPECT_EQ(decide(*snapshot_, ip("10.0.0.1"), {"GET", ok, 80, false}, {false, true}).reason,
            Reason::allow_rule_matched);
}

TEST_F(DecideTest, LearningNeedsARulesFile) {
  const Host h = host("example.com");
  const Decision d = decide(*snapshot_, ip("10.0.0.99"), {"GET", h, 80, false}, {false, true});
  EXPECT_FALSE(d.allowed());
  EXPECT_EQ(d.reason, Reason::unknown_client_denied);
}

TEST_F(DecideTest, StoppedDeniesEverythingEvenWhenLearning) {
  const Host h = host("example.com");
  const Decision d = decide(*snapshot_, ip("10.0.0.1"), {"GET", h, 80, false}, {true, true});
  EXPECT_FALSE(d.allowed());
  EXPECT_EQ(d.reason, Reason::client_stopped);
  ASSERT_NE(d.client, nullptr);
  EXPECT_EQ(d.client->label, "work");
}


AccessRule access_rule(std::string_view network, bool allow, int line) {
  const auto parsed = parse_network(network);
  EXPECT_TRUE(parsed.ok()) << network;
  return AccessRule{parsed.ok() ? *parsed : Network{}, allow, line};
}

TEST(Admitted, NoRulesAdmitsEveryone) {
  EXPECT_TRUE(admitted({}, ip("10.0.0.1")));
  EXPECT_TRUE(admitted({}, ip("192.168.1.1")));
  EXPECT_TRUE(admitted({}, ip("fd00::1")));
}

TEST(Admitted, FirstRuleThatHoldsTheClientDecides) {
  const std::vector<AccessRule> deny_first = {access_rule("10.1.0.0/16", false, 1),
                                              access_rule("10.0.0.0/8", true, 2)};
  EXPECT_FALSE(admitted(deny_first, ip("10.1.2.3")));
  EXPECT_TRUE(admitted(deny_first, ip("10.2.3.4")));

  const std::vector<AccessRule> allow_first = {access_rule("10.0.0.0/8", true, 1),
                                               access_rule("10.1.0.0/16", false, 2)};
  EXPECT_TRUE(admitted(allow_first, ip("10.1.2.3")));
  EXPECT_TRUE(admitted(allow_first, ip("10.2.3.4")));

  const std::vector<AccessRule> single = {access_rule("10.0.0.5", true, 1)};
  EXPECT_TRUE(admitted(single, ip("10.0.0.5")));
  EXPECT_FALSE(admitted(single, ip("10.0.0.6")));
}

TEST(Admitted, NoRuleHoldsTheClientRefuses) {
  const std::vector<AccessRule> allow = {access_rule("10.0.0.0/8", true, 1),
                                         access_rule("fd00::/8", true, 2)};
  EXPECT_FALSE(admitted(allow, ip("192.168.1.1")));
  EXPECT_FALSE(admitted(allow, ip("2001:db8::1")));
  EXPECT_TRUE(admitted(allow, ip("fd00::1")));
  // Deny lines alone refuse everyone else too, as tinyproxy does.
  const std::vector<AccessRule> deny = {access_rule("10.1.0.0/16", false, 1)};
  EXPECT_FALSE(admitted(deny, ip("10.1.2.3")));
  EXPECT_FALSE(admitted(deny, ip("192.168.1.1")));
}

TEST_F(DecideTest, NormalSnapshotsLeaveTheTinyproxyFieldsEmpty) {
  EXPECT_TRUE(snapshot_->access.empty());
  EXPECT_EQ(snapshot_->everyone, nullptr);
  EXPECT_FALSE(snapshot_->any_http_port);
  EXPECT_FALSE(snapshot_->any_connect_port);
  EXPECT_EQ(snapshot_->tinyproxy, nullptr);

  // Unknown clients are still decided by unknown_clients, ports by the configured lists.
  Decision d = decide_for("10.0.0.3", "example.com", 80);
  EXPECT_FALSE(d.allowed());
  EXPECT_EQ(d.reason, Reason::unknown_client_denied);
  EXPECT_EQ(d.client, nullptr);
  d = decide_for("10.0.0.1", "example.com", 8081);
  EXPECT_EQ(d.reason, Reason::port_not_allowed);
  d = decide_for("10.0.0.2", "example.com", 8443, true);
  EXPECT_EQ(d.reason, Reason::port_not_allowed);
  EXPECT_TRUE(decide_for("10.0.0.1", "example.com", 80).allowed());
}

TEST_F(DecideTest, AccessRulesAreCheckedBeforeTheClientsRules) {
  PolicySnapshot restricted = *snapshot_;
  restricted.access = {access_rule("10.0.0.1", true, 1)};
  EXPECT_TRUE(decide_for("10.0.0.1", "example.com", 80, false, &restricted).allowed());
  // A client with a rules file that would allow the host is still refused.
  const Decision d = decide_for("10.0.0.2", "example.com", 80, false, &restricted);
  EXPECT_FALSE(d.allowed());
  EXPECT_EQ(d.reason, Reason::not_admitted);
  EXPECT_EQ(d.client, nullptr);
  EXPECT_EQ(reason_code(Reason::not_admitted), "not-admitted");
  EXPECT_FALSE(reason_text(Reason::not_admitted).empty());
}

}  // namespace
}  // namespace egressd::core
