// Firewall planning from recorded `nft -j` / `iptables -S` output, and the open / close /
// status flows against a scripted fake of the commands (no root, no nft needed).
#include "ctl/firewall.hpp"

#include <deque>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace egressd::ctl {
namespace {

// Recorded with nft 1.0.6 in a network namespace holding the Qubes 4.2 layout.
// `ip qubes` as Qubes leaves it: custom-input empty.
constexpr const char* kClosed = R"json({"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "ip", "name": "qubes", "handle": 3}}, {"chain": {"family": "ip", "table": "qubes", "name": "custom-input", "handle": 1}}, {"chain": {"family": "ip", "table": "qubes", "name": "input", "handle": 2, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}}, {"rule": {"family": "ip", "table": "qubes", "chain": "input", "handle": 3, "expr": [{"jump": {"target": "custom-input"}}]}}, {"rule": {"family": "ip", "table": "qubes", "chain": "input", "handle": 4, "expr": [{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": "invalid"}}, {"drop": null}]}}, {"rule": {"family": "ip", "table": "qubes", "chain": "input", "handle": 5, "expr": [{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}}, {"accept": null}]}}, {"rule": {"family": "ip", "table": "qubes", "chain": "input", "handle": 6, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iif"}}, "right": "lo"}}, {"accept": null}]}}, {"rule": {"family": "ip", "table": "qubes", "chain": "input", "handle": 7, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifgroup"}}, "right": 2}}, {"reject": {"type": "icmp", "expr": "host-prohibited"}}]}}]})json";

// After `open --port 8100`: one jump (handle 15), the rule (handle 14).
constexpr const char* kOpen8100 = R"json({"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "ip", "name": "qubes", "handle": 1}}, {"chain": {"family": "ip", "table": "qubes", "name": "custom-input", "handle": 1}}, {"chain": {"family": "ip", "table": "qubes", "name": "input", "handle": 2, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}}, {"chain": {"family": "ip", "table": "qubes", "name": "egressd-input", "handle": 13}}, {"rule": {"family": "ip", "table": "qubes", "chain": "custom-input", "handle": 15, "expr": [{"jump": {"target": "egressd-input"}}]}}, {"rule": {"family": "ip", "table": "qubes", "chain": "input", "handle": 3, "expr": [{"jump": {"target": "custom-input"}}]}}, {"rule": {"family": "ip", "table": "qubes", "chain": "input", "handle": 4, "expr": [{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": "invalid"}}, {"drop": null}]}}, {"rule": {"family": "ip", "table": "qubes", "chain": "input", "handle": 5, "expr": [{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}}, {"accept": null}]}}, {"rule": {"family": "ip", "table": "qubes", "chain": "input", "handle": 6, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iif"}}, "right": "lo"}}, {"accept": null}]}}, {"rule": {"family": "ip", "table": "qubes", "chain": "input", "handle": 7, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifgroup"}}, "right": 2}}, {"reject": {"type": "icmp", "expr": "host-prohibited"}}]}}, {"rule": {"family": "ip", "table": "qubes", "chain": "egressd-input", "handle": 14, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifgroup"}}, "right": 2}}, {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8100}}, {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": "new"}}, {"accept": null}]}}]})json";

// Open for 8100 and 8200, then two extra jumps added by hand: a second one in
// custom-input (16) and one in input (17).
constexpr const char* kMessy = R"json({"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "ip", "name": "qubes", "handle": 3}}, {"chain": {"family": "ip", "table": "qubes", "name": "custom-input", "handle": 1}}, {"chain": {"family": "ip", "table": "qubes", "name": "input", "handle": 2, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}}, {"chain": {"family": "ip", "table": "qubes", "name": "egressd-input", "handle": 11}}, {"rule": {"family": "ip", "table": "qubes", "chain": "custom-input", "handle": 13, "expr": [{"jump": {"target": "egressd-input"}}]}}, {"rule": {"family": "ip", "table": "qubes", "chain": "custom-input", "handle": 16, "expr": [{"jump": {"target": "egressd-input"}}]}}, {"rule": {"family": "ip", "table": "qubes", "chain": "input", "handle": 3, "expr": [{"jump": {"target": "custom-input"}}]}}, {"rule": {"family": "ip", "table": "qubes", "chain": "input", "handle": 4, "expr": [{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": "invalid"}}, {"drop": null}]}}, {"rule": {"family": "ip", "table": "qubes", "chain": "input", "handle": 5, "expr": [{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}}, {"accept": null}]}}, {"rule": {"family": "ip", "table": "qubes", "chain": "input", "handle": 6, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iif"}}, "right": "lo"}}, {"accept": null}]}}, {"rule": {"family": "ip", "table": "qubes", "chain": "input", "handle": 7, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifgroup"}}, "right": 2}}, {"reject": {"type": "icmp", "expr": "host-prohibited"}}]}}, {"rule": {"family": "ip", "table": "qubes", "chain": "input", "handle": 17, "expr": [{"jump": {"target": "egressd-input"}}]}}, {"rule": {"family": "ip", "table": "qubes", "chain": "egressd-input", "handle": 15, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifgroup"}}, "right": 2}}, {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"set": [8100, 8200]}}}, {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": "new"}}, {"accept": null}]}}]})json";

// `iptables -S` in a Qubes 4.1 sys-firewall layout, before and after open for 8100, 8200.
constexpr const char* kIptablesQubes = R"txt(-P INPUT DROP
-P FORWARD DROP
-P OUTPUT ACCEPT
-N QBS-FORWARD
-A INPUT -i vif+ -p udp -m udp --dport 68 -j DROP
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -i vif+ -p icmp -j ACCEPT
-A INPUT -i lo -j ACCEPT
-A INPUT -i vif+ -j REJECT --reject-with icmp-host-prohibited
-A INPUT -j DROP
-A FORWARD -j QBS-FORWARD
)txt";
constexpr const char* kIptablesOpen = R"txt(-P INPUT DROP
-P FORWARD DROP
-P OUTPUT ACCEPT
-N QBS-FORWARD
-A INPUT -i vif+ -p tcp -m multiport --dports 8100,8200 -m conntrack --ctstate NEW -m comment --comment egressd -j ACCEPT
-A INPUT -i vif+ -p udp -m udp --dport 68 -j DROP
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -i vif+ -p icmp -j ACCEPT
-A INPUT -i lo -j ACCEPT
-A INPUT -i vif+ -j REJECT --reject-with icmp-host-prohibited
-A INPUT -j DROP
-A FORWARD -j QBS-FORWARD
)txt";

constexpr const char* kIptablesPlainDebian =
    "-P INPUT ACCEPT\n-P FORWARD ACCEPT\n-P OUTPUT ACCEPT\n";

NftQubesTable parse(const char* text) {
  auto table = parse_nft_qubes_table(text);
  EXPECT_TRUE(table.ok()) << (table.ok() ? "" : table.error().message);
  return table.ok() ? table.value() : NftQubesTable{};
}

// ---- parsing nft ----------------------------------------------------------------------

TEST(NftParse, ClosedTableHasOnlyTheUserChain) {
  auto table = parse(kClosed);
  EXPECT_TRUE(table.has_user_chain);
  EXPECT_FALSE(table.has_own_chain);
  EXPECT_TRUE(table.jumps.empty());
  EXPECT_TRUE(table.own_rules.empty());
}

TEST(NftParse, OpenTableHasOneJumpAndOurRule) {
  auto table = parse(kOpen8100);
  EXPECT_TRUE(table.has_own_chain);
  ASSERT_EQ(table.jumps.size(), 1u);
  EXPECT_EQ(table.jumps[0], (NftRuleRef{"custom-input", 15}));
  ASSERT_EQ(table.own_rules.size(), 1u);
  EXPECT_EQ(table.own_rules[0].handle, 14u);
  EXPECT_TRUE(table.own_rules[0].is_ours);
  EXPECT_EQ(table.own_rules[0].ports, (std::vector<std::uint16_t>{8100}));
}

TEST(NftParse, FindsEveryJumpCustomInputFirstAndPortSets) {
  auto table = parse(kMessy);
  ASSERT_EQ(table.jumps.size(), 3u);
  EXPECT_EQ(table.jumps[0], (NftRuleRef{"custom-input", 13}));
  EXPECT_EQ(table.jumps[1], (NftRuleRef{"custom-input", 16}));
  EXPECT_EQ(table.jumps[2], (NftRuleRef{"input", 17}));
  ASSERT_EQ(table.own_rules.size(), 1u);
  EXPECT_TRUE(table.own_rules[0].is_ours);
  EXPECT_EQ(table.own_rules[0].ports, (std::vector<std::uint16_t>{8100, 8200}));
}

TEST(NftParse, GotoCountsAsAReference) {
  auto table = parse(R"({"nftables": [
    {"chain": {"family": "ip", "table": "qubes", "name": "custom-input", "handle": 1}},
    {"rule": {"family": "ip", "table": "qubes", "chain": "custom-input", "handle": 4,
              "expr": [{"goto": {"target": "egressd-input"}}]}}]})");
  ASSERT_EQ(table.jumps.size(), 1u);
  EXPECT_EQ(table.jumps[0].handle, 4u);
}

TEST(NftParse, RulesThatAreNotExactlyOursAreRecognised) {
  auto table = parse(R"({"nftables": [
    {"chain": {"family": "ip", "table": "qubes", "name": "egressd-input", "handle": 1}},
    {"rule": {"family": "ip", "table": "qubes", "chain": "egressd-input", "handle": 2,
              "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifgroup"}}, "right": 3}},
                       {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8100}},
                       {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": "new"}},
                       {"accept": null}]}},
    {"rule": {"family": "ip", "table": "qubes", "chain": "egressd-input", "handle": 3,
              "expr": [{"counter": {"packets": 0, "bytes": 0}}, {"accept": null}]}},
    {"rule": {"family": "ip", "table": "qubes", "chain": "egressd-input", "handle": 5,
              "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifgroup"}}, "right": 2}},
                       {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"set": [{"range": [8100, 8200]}]}}},
                       {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["new"]}},
                       {"accept": null}]}},
    {"rule": {"family": "ip", "table": "qubes", "chain": "egressd-input", "handle": 6,
              "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifgroup"}}, "right": 2}},
                       {"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 8300}},
                       {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["new"]}},
                       {"accept": null}]}}]})");
  ASSERT_EQ(table.own_rules.size(), 4u);
  EXPECT_FALSE(table.own_rules[0].is_ours);  // wrong interface group
  EXPECT_FALSE(table.own_rules[1].is_ours);  // not our rule at all
  EXPECT_FALSE(table.own_rules[2].is_ours);  // a port range
  EXPECT_TRUE(table.own_rules[3].is_ours);   // ct state as a one-element list
  EXPECT_EQ(table.own_rules[3].ports, (std::vector<std::uint16_t>{8300}));
  EXPECT_FALSE(nft_is_open(table, {8300}));  // four rules, no jump
}

TEST(NftParse, RejectsWhatIsNotNftJson) {
  EXPECT_FALSE(parse_nft_qubes_table("").ok());
  EXPECT_FALSE(parse_nft_qubes_table("table ip qubes {").ok());
  EXPECT_FALSE(parse_nft_qubes_table("[1, 2]").ok());
  EXPECT_FALSE(parse_nft_qubes_table(R"({"nftables": 3})").ok());
  // Odd items are skipped, not fatal.
  auto table = parse_nft_qubes_table(
      R"({"nftables": [1, {"rule": {"chain": 5}}, {"rule": {"chain": "x", "handle": -1, "expr": []}}]})");
  ASSERT_TRUE(table.ok());
  EXPECT_TRUE(table->jumps.empty());
}

// ---- planning nft ---------------------------------------------------------------------

TEST(NftPlan, OpenOnAClosedTableAddsChainRuleAndOneJump) {
  auto script = plan_nft_open(NftFamily::ip, parse(kClosed), {8100});
  ASSERT_TRUE(script.ok());
  EXPECT_EQ(*script,
            "add chain ip qubes egressd-input\n"
            "flush chain ip qubes egressd-input\n"
            "add rule ip qubes egressd-input iifgroup 2 tcp dport 8100 ct state new accept\n"
            "add rule ip qubes custom-input jump egressd-input\n");
}

TEST(NftPlan, OpenWhenOpenAddsNoSecondJump) {
  auto table = parse(kOpen8100);
  EXPECT_TRUE(nft_is_open(table, {8100}));
  auto script = plan_nft_open(NftFamily::ip, table, {8100});
  ASSERT_TRUE(script.ok());
  EXPECT_EQ(script->find("jump"), std::string::npos) << *script;
  EXPECT_EQ(script->find("delete"), std::string::npos) << *script;
}

TEST(NftPlan, OpenWithOtherPortsReplacesTheRule) {
  auto table = parse(kOpen8100);
  EXPECT_FALSE(nft_is_open(table, {8100, 8200}));
  auto script = plan_nft_open(NftFamily::ip6, table, {8100, 8200});
  ASSERT_TRUE(script.ok());
  EXPECT_EQ(*script,
            "add chain ip6 qubes egressd-input\n"
            "flush chain ip6 qubes egressd-input\n"
            "add rule ip6 qubes egressd-input iifgroup 2 tcp dport { 8100, 8200 } ct state new "
            "accept\n");
}

TEST(NftPlan, OpenKeepsExactlyOneJump) {
  auto table = parse(kMessy);
  EXPECT_FALSE(nft_is_open(table, {8100, 8200}));
  auto script = plan_nft_open(NftFamily::ip, table, {8100, 8200});
  ASSERT_TRUE(script.ok());
  EXPECT_EQ(*script,
            "add chain ip qubes egressd-input\n"
            "flush chain ip qubes egressd-input\n"
            "add rule ip qubes egressd-input iifgroup 2 tcp dport { 8100, 8200 } ct state new "
            "accept\n"
            "delete rule ip qubes custom-input handle 16\n"
            "delete rule ip qubes input handle 17\n");
}

TEST(NftPlan, OpenReplacesAJumpThatIsOnlyInAnotherChain) {
  NftQubesTable table;
  table.has_user_chain = true;
  table.has_own_chain = true;
  table.jumps = {{"input", 9}};
  auto script = plan_nft_open(NftFamily::ip, table, {8100});
  ASSERT_TRUE(script.ok());
  EXPECT_NE(script->find("delete rule ip qubes input handle 9\n"), std::string::npos);
  EXPECT_NE(script->find("add rule ip qubes custom-input jump egressd-input\n"), std::string::npos);
}

TEST(NftPlan, OpenRefusesATableWithoutCustomInput) {
  NftQubesTable table;  // e.g. an `ip qubes` table made by something else
  auto script = plan_nft_open(NftFamily::ip, table, {8100});
  ASSERT_FALSE(script.ok());
  EXPECT_NE(script.error().message.find("custom-input"), std::string::npos);
  EXPECT_FALSE(plan_nft_open(NftFamily::ip, parse(kClosed), {}).ok());
}

TEST(NftPlan, CloseRemovesEveryJumpThenTheChain) {
  EXPECT_EQ(plan_nft_close(NftFamily::ip, parse(kMessy)),
            "delete rule ip qubes custom-input handle 13\n"
            "delete rule ip qubes custom-input handle 16\n"
            "delete rule ip qubes input handle 17\n"
            "flush chain ip qubes egressd-input\n"
            "delete chain ip qubes egressd-input\n");
  EXPECT_EQ(plan_nft_close(NftFamily::ip6, parse(kOpen8100)),
            "delete rule ip6 qubes custom-input handle 15\n"
            "flush chain ip6 qubes egressd-input\n"
            "delete chain ip6 qubes egressd-input\n");
}

TEST(NftPlan, CloseOnAClosedTableDoesNothing) {
  EXPECT_EQ(plan_nft_close(NftFamily::ip, parse(kClosed)), "");
}

// ---- iptables -------------------------------------------------------------------------

TEST(Iptables, RecognisesTheQubesLayout) {
  auto input = parse_iptables_rules(kIptablesQubes);
  EXPECT_TRUE(input.looks_like_qubes);
  EXPECT_TRUE(input.own_rules.empty());
  EXPECT_FALSE(parse_iptables_rules(kIptablesPlainDebian).looks_like_qubes);
  EXPECT_FALSE(parse_iptables_rules("").looks_like_qubes);
  // A Qubes chain alone is enough; so is a DROP on vif+.
  EXPECT_TRUE(parse_iptables_rules("-P INPUT ACCEPT\n-N QBS-FORWARD\n").looks_like_qubes);
  EXPECT_TRUE(parse_iptables_rules("-A INPUT -i vif+ -j DROP\n").looks_like_qubes);
  // vif+ rules in other chains do not count.
  EXPECT_FALSE(parse_iptables_rules("-A FORWARD -i vif+ -j DROP\n").looks_like_qubes);
}

TEST(Iptables, FindsOurRuleAsIptablesPrintsIt) {
  auto input = parse_iptables_rules(kIptablesOpen);
  EXPECT_TRUE(input.looks_like_qubes);
  ASSERT_EQ(input.own_rules.size(), 1u);
  EXPECT_EQ(input.own_rules[0], iptables_rule({8100, 8200}));
  EXPECT_TRUE(iptables_stale_rules(input, {8100, 8200}).empty());
  auto stale = iptables_stale_rules(input, {8100});
  ASSERT_EQ(stale.size(), 1u);
  EXPECT_EQ(stale[0], iptables_rule({8100, 8200}));
}

TEST(Iptables, RuleArguments) {
  std::vector<std::string> expected{"-i",        "vif+", "-p",        "tcp",     "-m",
                                    "multiport", "--dports", "8100",  "-m",      "conntrack",
                                    "--ctstate", "NEW",  "-m",        "comment", "--comment",
                                    "egressd",   "-j",   "ACCEPT"};
  EXPECT_EQ(iptables_rule({8100}), expected);
}

TEST(Iptables, QuotedArgumentsAreUnquoted) {
  auto input = parse_iptables_rules(
      "-A INPUT -i vif+ -p tcp -m comment --comment \"egressd\" -j ACCEPT\n"
      "-A INPUT -m comment --comment \"not \\\"egressd\\\"\" -j ACCEPT\n");
  ASSERT_EQ(input.own_rules.size(), 1u);
  EXPECT_EQ(input.own_rules[0][7], "egressd");
}

// ---- running, against a scripted fake -------------------------------------------------

CommandResult success(std::string out = {}) {
  CommandResult r;
  r.started = true;
  r.exit_code = 0;
  r.out = std::move(out);
  return r;
}

CommandResult failure(std::string err, int code = 1) {
  CommandResult r;
  r.started = true;
  r.exit_code = code;
  r.err = std::move(err);
  return r;
}

const CommandResult kNoTable = failure(
    "Error: No such file or directory\nlist table ip6 qubes\n                ^^^^^\n");

// Expects the commands in order (argv joined with spaces) and answers each.
class FakeSystem {
 public:
  FakeSystem& expect(std::string command, CommandResult result) {
    expected_.emplace_back(std::move(command), std::move(result));
    return *this;
  }

  Runner runner() {
    return [this](const std::vector<std::string>& argv, std::string_view input) {
      std::string command;
      for (const auto& a : argv) command += (command.empty() ? "" : " ") + a;
      calls_.push_back(command);
      inputs_.emplace_back(input);
      if (expected_.empty()) {
        ADD_FAILURE() << "unexpected command: " << command;
        return failure("unexpected");
      }
      auto [want, result] = expected_.front();
      expected_.pop_front();
      EXPECT_EQ(command, want);
      return result;
    };
  }

  void done() const { EXPECT_TRUE(expected_.empty()) << expected_.size() << " command(s) not run"; }
  const std::vector<std::string>& inputs() const { return inputs_; }

 private:
  std::deque<std::pair<std::string, CommandResult>> expected_;
  std::vector<std::string> calls_;
  std::vector<std::string> inputs_;
};

const FirewallTools kAllTools{"/usr/sbin/nft", "/usr/sbin/iptables", "/usr/sbin/ip6tables"};

TEST(RunFirewall, NftOpenRunsOneScriptAndChecksTheResult) {
  FakeSystem fake;
  fake.expect("/usr/sbin/nft -j list table ip qubes", success(kClosed))
      .expect("/usr/sbin/nft -j list table ip6 qubes", kNoTable)
      .expect("/usr/sbin/nft -f -", success())
      .expect("/usr/sbin/nft -j list table ip qubes", success(kOpen8100));
  auto report = run_firewall(FirewallAction::open, {8100}, kAllTools, fake.runner());
  fake.done();
  EXPECT_TRUE(report.ok) << report.error;
  EXPECT_EQ(report.backend, "nftables");
  ASSERT_EQ(report.steps.size(), 1u);
  EXPECT_EQ(report.steps[0].input, fake.inputs()[2]);
  EXPECT_NE(report.steps[0].input.find("add rule ip qubes custom-input jump egressd-input"),
            std::string::npos);
  ASSERT_EQ(report.summary.size(), 2u);
  EXPECT_EQ(report.summary[0].rfind("ip qubes: opened: ", 0), 0u) << report.summary[0];
  EXPECT_EQ(report.summary[1], "ip6 qubes: no such table; nothing to do");
  auto json = report.to_json();
  EXPECT_EQ(json["families"][0]["state"], "open");
  EXPECT_EQ(json["families"][1]["exists"], false);
}

TEST(RunFirewall, NftOpenCoversBothFamiliesInOneTransaction) {
  FakeSystem fake;
  fake.expect("/usr/sbin/nft -j list table ip qubes", success(kClosed))
      .expect("/usr/sbin/nft -j list table ip6 qubes", success(kClosed))
      .expect("/usr/sbin/nft -f -", success())
      .expect("/usr/sbin/nft -j list table ip qubes", success(kOpen8100))
      .expect("/usr/sbin/nft -j list table ip6 qubes", success(kOpen8100));
  auto report = run_firewall(FirewallAction::open, {8100, 8100}, kAllTools, fake.runner());
  fake.done();
  EXPECT_TRUE(report.ok) << report.error;
  const std::string& script = fake.inputs()[2];
  EXPECT_NE(script.find("add rule ip qubes custom-input jump"), std::string::npos) << script;
  EXPECT_NE(script.find("add rule ip6 qubes custom-input jump"), std::string::npos) << script;
}

TEST(RunFirewall, NftOpenWhenAlreadyOpenChangesNothing) {
  FakeSystem fake;
  fake.expect("/usr/sbin/nft -j list table ip qubes", success(kOpen8100))
      .expect("/usr/sbin/nft -j list table ip6 qubes", kNoTable)
      .expect("/usr/sbin/nft -j list table ip qubes", success(kOpen8100));
  auto report = run_firewall(FirewallAction::open, {8100}, kAllTools, fake.runner());
  fake.done();
  EXPECT_TRUE(report.ok);
  EXPECT_TRUE(report.steps.empty());
  EXPECT_EQ(report.summary[0].rfind("ip qubes: already open: ", 0), 0u) << report.summary[0];
}

TEST(RunFirewall, NftRefusingTheScriptFailsAndSaysWhy) {
  FakeSystem fake;
  fake.expect("/usr/sbin/nft -j list table ip qubes", success(kClosed))
      .expect("/usr/sbin/nft -j list table ip6 qubes", kNoTable)
      .expect("/usr/sbin/nft -f -", failure("Error: Could not process rule: Device busy\n"));
  auto report = run_firewall(FirewallAction::open, {8100}, kAllTools, fake.runner());
  fake.done();
  EXPECT_FALSE(report.ok);
  EXPECT_NE(report.error.find("Device busy"), std::string::npos) << report.error;
  ASSERT_EQ(report.steps.size(), 1u);
  EXPECT_FALSE(report.steps[0].ok);
  EXPECT_EQ(report.to_json()["ok"], false);
}

TEST(RunFirewall, NftOpenThatDidNotTakeIsAFailure) {
  FakeSystem fake;
  fake.expect("/usr/sbin/nft -j list table ip qubes", success(kClosed))
      .expect("/usr/sbin/nft -j list table ip6 qubes", kNoTable)
      .expect("/usr/sbin/nft -f -", success())
      .expect("/usr/sbin/nft -j list table ip qubes", success(kClosed));
  auto report = run_firewall(FirewallAction::open, {8100}, kAllTools, fake.runner());
  EXPECT_FALSE(report.ok);
  EXPECT_NE(report.error.find("not open"), std::string::npos) << report.error;
}

TEST(RunFirewall, NftCloseDeletesByHandle) {
  FakeSystem fake;
  fake.expect("/usr/sbin/nft -j list table ip qubes", success(kMessy))
      .expect("/usr/sbin/nft -j list table ip6 qubes", kNoTable)
      .expect("/usr/sbin/nft -f -", success())
      .expect("/usr/sbin/nft -j list table ip qubes", success(kClosed));
  auto report = run_firewall(FirewallAction::close, {8100}, kAllTools, fake.runner());
  fake.done();
  EXPECT_TRUE(report.ok) << report.error;
  EXPECT_EQ(fake.inputs()[2], plan_nft_close(NftFamily::ip, parse(kMessy)));
  EXPECT_EQ(report.summary[0].rfind("ip qubes: closed: ", 0), 0u) << report.summary[0];
}

TEST(RunFirewall, NftCloseWhenClosedRunsNothing) {
  FakeSystem fake;
  fake.expect("/usr/sbin/nft -j list table ip qubes", success(kClosed))
      .expect("/usr/sbin/nft -j list table ip6 qubes", kNoTable)
      .expect("/usr/sbin/nft -j list table ip qubes", success(kClosed));
  auto report = run_firewall(FirewallAction::close, {8100}, kAllTools, fake.runner());
  fake.done();
  EXPECT_TRUE(report.ok);
  EXPECT_TRUE(report.steps.empty());
  EXPECT_EQ(report.summary[0].rfind("ip qubes: already closed: ", 0), 0u) << report.summary[0];
}

TEST(RunFirewall, NftStatusDescribesEachFamily) {
  FakeSystem fake;
  fake.expect("/usr/sbin/nft -j list table ip qubes", success(kMessy))
      .expect("/usr/sbin/nft -j list table ip6 qubes", success(kOpen8100));
  auto report = run_firewall(FirewallAction::status, {8100}, kAllTools, fake.runner());
  fake.done();
  EXPECT_TRUE(report.ok);
  ASSERT_EQ(report.summary.size(), 2u);
  EXPECT_EQ(report.summary[0].rfind("ip qubes: partial: ", 0), 0u) << report.summary[0];
  EXPECT_EQ(report.summary[1].rfind("ip6 qubes: open: ", 0), 0u) << report.summary[1];
  auto json = report.to_json();
  EXPECT_EQ(json["families"][0]["jumps"].size(), 3u);
  EXPECT_EQ(json["families"][1]["ports"], nlohmann::json::array({8100}));
}

TEST(RunFirewall, WithoutPermissionItSaysRunAsRoot) {
  FakeSystem fake;
  fake.expect("/usr/sbin/nft -j list table ip qubes",
              failure("Error: Could not process rule: Operation not permitted\n"));
  auto report = run_firewall(FirewallAction::status, {8100}, kAllTools, fake.runner());
  fake.done();
  EXPECT_FALSE(report.ok);
  EXPECT_NE(report.error.find("run as root"), std::string::npos) << report.error;
}

TEST(RunFirewall, ElsewhereItDoesNothingAndSaysWhy) {
  FakeSystem fake;
  fake.expect("/usr/sbin/nft -j list table ip qubes", kNoTable)
      .expect("/usr/sbin/iptables -w 10 -S", success(kIptablesPlainDebian));
  auto report = run_firewall(FirewallAction::open, {8100}, kAllTools, fake.runner());
  fake.done();
  EXPECT_TRUE(report.ok);
  EXPECT_EQ(report.backend, "none");
  ASSERT_EQ(report.summary.size(), 1u);
  EXPECT_NE(report.summary[0].find("no Qubes firewall found"), std::string::npos);
  EXPECT_TRUE(report.steps.empty());
}

TEST(RunFirewall, MissingToolsAreNamed) {
  FakeSystem fake;
  auto report = run_firewall(FirewallAction::open, {8100}, FirewallTools{}, fake.runner());
  fake.done();
  EXPECT_TRUE(report.ok);
  EXPECT_EQ(report.backend, "none");
  EXPECT_NE(report.summary[0].find("nft and iptables not found"), std::string::npos)
      << report.summary[0];
}

TEST(RunFirewall, NoPortIsAnError) {
  FakeSystem fake;
  auto report = run_firewall(FirewallAction::open, {0}, kAllTools, fake.runner());
  fake.done();
  EXPECT_FALSE(report.ok);
}

TEST(RunFirewall, IptablesOpenInsertsAtTheTopOnce) {
  const std::string rule =
      "-i vif+ -p tcp -m multiport --dports 8100 -m conntrack --ctstate NEW -m comment "
      "--comment egressd -j ACCEPT";
  FakeSystem fake;
  fake.expect("/usr/sbin/nft -j list table ip qubes", kNoTable)
      .expect("/usr/sbin/iptables -w 10 -S", success(kIptablesQubes))
      .expect("/usr/sbin/iptables -w 10 -C INPUT " + rule, failure("iptables: Bad rule\n"))
      .expect("/usr/sbin/iptables -w 10 -I INPUT 1 " + rule, success())
      .expect("/usr/sbin/ip6tables -w 10 -S", success(kIptablesQubes))
      .expect("/usr/sbin/ip6tables -w 10 -C INPUT " + rule, success());
  auto report = run_firewall(FirewallAction::open, {8100}, kAllTools, fake.runner());
  fake.done();
  EXPECT_TRUE(report.ok) << report.error;
  EXPECT_EQ(report.backend, "iptables");
  ASSERT_EQ(report.steps.size(), 1u);
  ASSERT_EQ(report.summary.size(), 2u);
  EXPECT_EQ(report.summary[0].rfind("iptables: opened: ", 0), 0u) << report.summary[0];
  EXPECT_EQ(report.summary[1].rfind("ip6tables: already open: ", 0), 0u) << report.summary[1];
}

TEST(RunFirewall, IptablesOpenReplacesARuleForOtherPorts) {
  const std::string old_rule =
      "-i vif+ -p tcp -m multiport --dports 8100,8200 -m conntrack --ctstate NEW -m comment "
      "--comment egressd -j ACCEPT";
  const std::string rule =
      "-i vif+ -p tcp -m multiport --dports 8100 -m conntrack --ctstate NEW -m comment "
      "--comment egressd -j ACCEPT";
  FirewallTools tools{std::nullopt, "/usr/sbin/iptables", std::nullopt};
  FakeSystem fake;
  fake.expect("/usr/sbin/iptables -w 10 -S", success(kIptablesOpen))
      .expect("/usr/sbin/iptables -w 10 -D INPUT " + old_rule, success())
      .expect("/usr/sbin/iptables -w 10 -C INPUT " + rule, failure("iptables: Bad rule\n"))
      .expect("/usr/sbin/iptables -w 10 -I INPUT 1 " + rule, success());
  auto report = run_firewall(FirewallAction::open, {8100}, tools, fake.runner());
  fake.done();
  EXPECT_TRUE(report.ok) << report.error;
  EXPECT_EQ(report.steps.size(), 2u);
  EXPECT_EQ(report.summary.back(), "ip6tables: not installed; skipped");
}

TEST(RunFirewall, IptablesCloseDeletesUntilNoneIsLeft) {
  const std::string listed =
      "-i vif+ -p tcp -m multiport --dports 8100,8200 -m conntrack --ctstate NEW -m comment "
      "--comment egressd -j ACCEPT";
  FirewallTools tools{std::nullopt, "/usr/sbin/iptables", std::nullopt};
  FakeSystem fake;
  fake.expect("/usr/sbin/iptables -w 10 -S", success(kIptablesOpen))
      .expect("/usr/sbin/iptables -w 10 -D INPUT " + listed, success())
      .expect("/usr/sbin/iptables -w 10 -C INPUT " + listed, success())  // a duplicate
      .expect("/usr/sbin/iptables -w 10 -D INPUT " + listed, success())
      .expect("/usr/sbin/iptables -w 10 -C INPUT " + listed, failure("iptables: Bad rule\n"));
  auto report = run_firewall(FirewallAction::close, {8100, 8200}, tools, fake.runner());
  fake.done();
  EXPECT_TRUE(report.ok) << report.error;
  EXPECT_EQ(report.steps.size(), 2u);
  EXPECT_EQ(report.summary[0].rfind("iptables: closed: ", 0), 0u) << report.summary[0];
}

TEST(RunFirewall, IptablesFailureStops) {
  FirewallTools tools{std::nullopt, "/usr/sbin/iptables", "/usr/sbin/ip6tables"};
  FakeSystem fake;
  fake.expect("/usr/sbin/iptables -w 10 -S", success(kIptablesQubes))
      .expect("/usr/sbin/iptables -w 10 -C INPUT " +
                  std::string("-i vif+ -p tcp -m multiport --dports 8100 -m conntrack --ctstate "
                              "NEW -m comment --comment egressd -j ACCEPT"),
              failure("iptables: Bad rule\n"))
      .expect("/usr/sbin/iptables -w 10 -I INPUT 1 " +
                  std::string("-i vif+ -p tcp -m multiport --dports 8100 -m conntrack --ctstate "
                              "NEW -m comment --comment egressd -j ACCEPT"),
              failure("iptables v1.8.9: Couldn't load match `multiport'\n", 2));
  auto report = run_firewall(FirewallAction::open, {8100}, tools, fake.runner());
  fake.done();
  EXPECT_FALSE(report.ok);
  EXPECT_NE(report.error.find("multiport"), std::string::npos) << report.error;
}

}  // namespace
}  // namespace egressd::ctl
