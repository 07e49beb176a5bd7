// Tests for learning-mode rule suggestions (core/suggest).
#include "core/suggest.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/host.hpp"
#include "core/rules.hpp"

namespace egressd::core {
namespace {

// A stand-in for the Public Suffix List: the last two labels, or three under "co.uk";
// "" for a single label, a public suffix itself ("com", "co.uk") and IP literals.
std::string fake_registrable(std::string_view host) {
  if (IpAddress::parse(host)) return {};
  std::vector<std::string_view> labels;
  for (std::size_t start = 0;;) {
    const auto dot = host.find('.', start);
    labels.push_back(host.substr(start, dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  const std::size_t wanted = host == "co.uk" || host.ends_with(".co.uk") ? 3 : 2;
  if (labels.size() < wanted) return {};
  std::string out;
  for (std::size_t i = labels.size() - wanted; i < labels.size(); ++i) {
    if (!out.empty()) out += '.';
    out += labels[i];
  }
  return out;
}

LearnedRequest http_request(std::string host, std::uint64_t count = 1, std::uint16_t port = 80) {
  return LearnedRequest{std::move(host), port, false, count};
}
LearnedRequest connect_request(std::string host, std::uint64_t count = 1,
                               std::uint16_t port = 443) {
  return LearnedRequest{std::move(host), port, true, count};
}

std::vector<std::string> rule_texts(const std::vector<SuggestedRule>& rules) {
  std::vector<std::string> out;
  out.reserve(rules.size());
  for (const auto& rule : rules) out.push_back(rule.rule);
  return out;
}

using Texts = std::vector<std::string>;

TEST(FakeRegistrable, BehavesLikeThePublicSuffixList) {
  EXPECT_EQ(fake_registrable("www.example.com"), "example.com");
  EXPECT_EQ(fake_registrable("a.b.example.com"), "example.com");
  EXPECT_EQ(fake_registrable("example.com"), "example.com");
  EXPECT_EQ(fake_registrable("www.bbc.co.uk"), "bbc.co.uk");
  EXPECT_EQ(fake_registrable("bbc.co.uk"), "bbc.co.uk");
  EXPECT_EQ(fake_registrable("co.uk"), "");
  EXPECT_EQ(fake_registrable("com"), "");
  EXPECT_EQ(fake_registrable("localhost"), "");
  EXPECT_EQ(fake_registrable("10.0.0.1"), "");
}

TEST(SuggestRules, NothingLearnedGivesNothing) {
  EXPECT_TRUE(suggest_rules({}, fake_registrable).empty());
  EXPECT_EQ(render_suggestions({}), "");
}

TEST(SuggestRules, SingleHostGivesHostRule) {
  const auto rules = suggest_rules({connect_request("www.example.com", 7)}, fake_registrable);
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].rule, "host:www.example.com");
  EXPECT_EQ(rules[0].hosts, Texts{"www.example.com"});
  EXPECT_EQ(rules[0].requests, 7u);
  EXPECT_EQ(rules[0].note, "");
}

TEST(SuggestRules, TwoHostsOfOneDomainGiveDomainRule) {
  const auto rules =
      suggest_rules({connect_request("www.example.com", 3), http_request("cdn.example.com", 2)},
                    fake_registrable);
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].rule, "domain:example.com");
  EXPECT_EQ(rules[0].hosts, (Texts{"cdn.example.com", "www.example.com"}));
  EXPECT_EQ(rules[0].requests, 5u);
}

TEST(SuggestRules, RegistrableDomainItselfAndASubdomainGiveDomainRule) {
  const auto rules = suggest_rules(
      {connect_request("example.com"), connect_request("a.b.example.com")}, fake_registrable);
  EXPECT_EQ(rule_texts(rules), Texts{"domain:example.com"});
  EXPECT_EQ(rules[0].hosts, (Texts{"a.b.example.com", "example.com"}));
}

TEST(SuggestRules, TheSameHostTwiceIsOneHost) {
  // HTTP on 80 and CONNECT on 443 are both default ports: one distinct host, not two.
  const auto rules =
      suggest_rules({connect_request("www.example.com", 2), http_request("www.example.com", 3),
                     connect_request("www.example.com", 4)},
                    fake_registrable);
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].rule, "host:www.example.com");
  EXPECT_EQ(rules[0].hosts, Texts{"www.example.com"});
  EXPECT_EQ(rules[0].requests, 9u);
}

TEST(SuggestRules, MinHostsForDomainIsTheThreshold) {
  const std::vector<LearnedRequest> learned{connect_request("a.example.com"),
                                            connect_request("b.example.com")};
  EXPECT_EQ(rule_texts(suggest_rules(learned, fake_registrable, 3)),
            (Texts{"host:a.example.com", "host:b.example.com"}));
  EXPECT_EQ(rule_texts(suggest_rules(learned, fake_registrable, 2)), Texts{"domain:example.com"});
  EXPECT_EQ(rule_texts(suggest_rules({connect_request("a.example.com")}, fake_registrable, 1)),
            Texts{"domain:example.com"});
}

TEST(SuggestRules, IpLiteralsGiveIpRules) {
  const auto rules =
      suggest_rules({http_request("10.1.2.3", 4), connect_request("2001:db8::1", 3),
                     connect_request("2001:0db8:0:0:0:0:0:1", 1), http_request("10.1.2.4", 1)},
                    fake_registrable);
  EXPECT_EQ(rule_texts(rules), (Texts{"ip:10.1.2.3", "ip:2001:db8::1", "ip:10.1.2.4"}));
  EXPECT_EQ(rules[1].requests, 4u);  // two spellings of one address
  EXPECT_EQ(rules[1].hosts, Texts{"2001:db8::1"});
}

TEST(SuggestRules, IpLiteralsAreNeverGroupedEvenWhenTheLookupSaysSo) {
  const auto everything_is_example = [](std::string_view) { return std::string("example.com"); };
  const auto rules =
      suggest_rules({http_request("10.0.0.1"), http_request("10.0.0.2")}, everything_is_example);
  EXPECT_EQ(rule_texts(rules), (Texts{"ip:10.0.0.1", "ip:10.0.0.2"}));
}

TEST(SuggestRules, DefaultPortsNeedNoPortSuffix) {
  const auto rules = suggest_rules(
      {connect_request("a.example.org", 1, 443), http_request("b.example.net", 1, 80)},
      fake_registrable);
  EXPECT_EQ(rule_texts(rules), (Texts{"host:a.example.org", "host:b.example.net"}));
}

TEST(SuggestRules, OtherPortsGetTheirOwnRule) {
  const auto rules = suggest_rules(
      {connect_request("git.example.org", 5, 8443), connect_request("git.example.org", 2, 443),
       http_request("git.example.org", 1, 443), connect_request("www.example.net", 1, 80)},
      fake_registrable);
  // CONNECT to 80 and plain HTTP to 443 are not default ports either.
  EXPECT_EQ(rule_texts(rules), (Texts{"host:git.example.org:8443", "host:git.example.org",
                                      "host:git.example.org:443", "host:www.example.net:80"}));
  EXPECT_EQ(rules[0].requests, 5u);
}

TEST(SuggestRules, DomainOnAPortIsDecidedAmongTheHostsOnThatPort) {
  const auto rules = suggest_rules(
      {connect_request("a.example.com", 1, 8443), http_request("b.example.com", 1, 8443),
       connect_request("c.example.com", 10, 443), connect_request("d.example.com", 1, 9000)},
      fake_registrable);
  EXPECT_EQ(rule_texts(rules),
            (Texts{"host:c.example.com", "domain:example.com:8443", "host:d.example.com:9000"}));
  EXPECT_EQ(rules[1].hosts, (Texts{"a.example.com", "b.example.com"}));
}

TEST(SuggestRules, PublicSuffixAloneGivesHostRule) {
  const auto rules = suggest_rules(
      {connect_request("co.uk"), connect_request("bbc.co.uk"), connect_request("localhost")},
      fake_registrable);
  EXPECT_EQ(rule_texts(rules), (Texts{"host:bbc.co.uk", "host:co.uk", "host:localhost"}));
}

TEST(SuggestRules, AFaultyLookupNeverGivesADomainRuleForAPublicSuffixOrAStranger) {
  const auto tld = [](std::string_view) { return std::string("com"); };
  EXPECT_EQ(rule_texts(suggest_rules(
                {connect_request("a.example.com"), connect_request("b.example.com")}, tld)),
            (Texts{"host:a.example.com", "host:b.example.com"}));
  const auto stranger = [](std::string_view) { return std::string("ample.com"); };
  EXPECT_EQ(rule_texts(suggest_rules(
                {connect_request("a.example.com"), connect_request("b.example.com")}, stranger)),
            (Texts{"host:a.example.com", "host:b.example.com"}));
  EXPECT_EQ(
      rule_texts(suggest_rules({connect_request("a.example.com"), connect_request("b.example.com")},
                               RegistrableDomainFn{})),
      (Texts{"host:a.example.com", "host:b.example.com"}));
}

TEST(SuggestRules, IpOnAnotherPortGetsANoteBecauseIpRulesCannotOpenPorts) {
  const auto rules =
      suggest_rules({connect_request("10.0.0.1", 2, 8443), connect_request("10.0.0.1", 1, 443),
                     http_request("10.0.0.1", 1, 8080), connect_request("10.0.0.1", 1, 9443),
                     connect_request("10.0.0.2", 1, 443)},
                    fake_registrable);
  ASSERT_EQ(rules.size(), 2u);
  EXPECT_EQ(rules[0].rule, "ip:10.0.0.1");
  EXPECT_EQ(rules[0].requests, 5u);
  EXPECT_EQ(rules[0].note,
            "ip: lines cannot open ports; to allow the requests seen on other ports, also add "
            "8443, 9443 to connect_ports and 8080 to http_ports in the config");
  EXPECT_EQ(rules[1].rule, "ip:10.0.0.2");
  EXPECT_EQ(rules[1].note, "");
}

TEST(SuggestRules, SortedByRequestsThenRuleText) {
  const auto rules =
      suggest_rules({connect_request("z.example.org", 5), connect_request("a.example.net", 5),
                     connect_request("m.example.io", 9), http_request("10.0.0.1", 1),
                     connect_request("b.example.com", 1)},
                    fake_registrable);
  EXPECT_EQ(rule_texts(rules), (Texts{"host:m.example.io", "host:a.example.net",
                                      "host:z.example.org", "host:b.example.com", "ip:10.0.0.1"}));
}

TEST(SuggestRules, ResultDoesNotDependOnInputOrder) {
  std::vector<LearnedRequest> learned{connect_request("a.example.com", 3),
                                      connect_request("b.example.com", 1),
                                      connect_request("example.com", 2),
                                      http_request("x.example.org", 4),
                                      connect_request("x.example.org", 1),
                                      connect_request("git.example.org", 2, 8443),
                                      http_request("10.0.0.1", 3),
                                      connect_request("2001:db8::5", 3),
                                      connect_request("co.uk", 1),
                                      connect_request("www.bbc.co.uk", 1),
                                      connect_request("news.bbc.co.uk", 7),
                                      connect_request("c.example.com", 1, 8443),
                                      connect_request("d.example.com", 1, 8443),
                                      connect_request("a.example.com", 2)};
  const auto expected = suggest_rules(learned, fake_registrable);
  const auto rendered = render_suggestions(expected);
  std::mt19937 random(12345);  // fixed seed: the test is deterministic too
  for (int i = 0; i < 20; ++i) {
    std::shuffle(learned.begin(), learned.end(), random);
    const auto rules = suggest_rules(learned, fake_registrable);
    EXPECT_EQ(rule_texts(rules), rule_texts(expected));
    EXPECT_EQ(render_suggestions(rules), rendered);
  }
  EXPECT_EQ(rule_texts(expected),
            (Texts{"domain:bbc.co.uk", "domain:example.com", "host:x.example.org", "ip:10.0.0.1",
                   "ip:2001:db8::5", "domain:example.com:8443", "host:git.example.org:8443",
                   "host:co.uk"}));
}

TEST(SuggestRules, InvalidEntriesAreIgnoredAndSpellingsNormalised) {
  const auto rules = suggest_rules(
      {connect_request("WWW.Example.COM.", 2), connect_request("www.example.com", 1),
       connect_request("bad..example", 1), connect_request("", 1), connect_request("127.1", 1),
       connect_request("ok.example.net", 1, 0), connect_request("[2001:DB8::7]", 1)},
      fake_registrable);
  EXPECT_EQ(rule_texts(rules), (Texts{"host:www.example.com", "ip:2001:db8::7"}));
  EXPECT_EQ(rules[0].requests, 3u);
}

TEST(SuggestRules, RequestCountsSaturate) {
  constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
  const auto rules =
      suggest_rules({connect_request("a.example.com", kMax), connect_request("b.example.com", 5)},
                    fake_registrable);
  ASSERT_EQ(rules.size(), 1u);
  EXPECT_EQ(rules[0].requests, kMax);
}

TEST(RenderSuggestions, CommentLineAboveEachRule) {
  const std::vector<SuggestedRule> rules{
      {"domain:example.com", {"a.example.com", "b.example.com"}, 12},
      {"host:git.example.org:8443", {"git.example.org"}, 1},
      {"ip:10.0.0.1", {"10.0.0.1"}, 2, "ip: lines cannot open ports"}};
  EXPECT_EQ(render_suggestions(rules),
            "# 12 requests: a.example.com, b.example.com\n"
            "domain:example.com\n"
            "# 1 request: git.example.org\n"
            "host:git.example.org:8443\n"
            "# 2 requests: 10.0.0.1\n"
            "# note: ip: lines cannot open ports\n"
            "ip:10.0.0.1\n");
}

TEST(RenderSuggestions, LongHostListsAreCut) {
  SuggestedRule rule{"domain:example.com", {}, 80};
  for (char c = 'a'; c <= 'h'; ++c) rule.hosts.push_back(std::string(1, c) + ".example.com");
  EXPECT_EQ(render_suggestions({rule}),
            "# 80 requests: a.example.com, b.example.com, c.example.com, d.example.com, "
            "e.example.com, ... (+3 more)\n"
            "domain:example.com\n");
  rule.hosts.resize(5);
  EXPECT_EQ(render_suggestions({rule}),
            "# 80 requests: a.example.com, b.example.com, c.example.com, d.example.com, "
            "e.example.com\n"
            "domain:example.com\n");
}

TEST(RenderSuggestions, CommentsStayOnOneLine) {
  const std::vector<SuggestedRule> rules{{"host:a.example", {"x\ny"}, 1, "one\ntwo"}};
  EXPECT_EQ(render_suggestions(rules), "# 1 request: x?y\n# note: one?two\nhost:a.example\n");
}

// The rendered text is a valid rules file, and its lines allow every learned request:
// a line naming a port must also be the one that opens that port (explicit_port_only).
TEST(RenderSuggestions, OutputIsARulesFileThatAllowsWhatWasLearned) {
  const std::vector<LearnedRequest> learned{connect_request("www.example.com", 3),
                                            http_request("example.com", 1),
                                            connect_request("api.example.com", 2),
                                            connect_request("single.example.net", 1),
                                            connect_request("co.uk", 1),
                                            connect_request("www.bbc.co.uk", 4),
                                            connect_request("news.bbc.co.uk", 4),
                                            connect_request("localhost", 1),
                                            connect_request("git.example.org", 5, 8443),
                                            http_request("git.example.org", 1, 8443),
                                            http_request("a.example.io", 1, 8080),
                                            http_request("b.example.io", 1, 8080),
                                            connect_request("x.example.io", 1, 80),
                                            http_request("203.0.113.7", 2),
                                            connect_request("2001:db8::1", 1),
                                            connect_request("::ffff:192.0.2.1", 1),
                                            connect_request("srv_1.example.dev", 1)};
  const auto rules = suggest_rules(learned, fake_registrable);
  const std::string text = render_suggestions(rules);

  const auto parsed = parse_rules("suggested", text);
  ASSERT_TRUE(parsed.problems.empty()) << parsed.problems.front().to_string();
  ASSERT_EQ(parsed.rules.size(), rules.size()) << text;
  for (std::size_t i = 0; i < rules.size(); ++i) {
    EXPECT_EQ(parsed.rules[i].pattern, rules[i].rule);
  }
  auto compiled = HostMatcher::compile("suggested", parsed.rules);
  ASSERT_TRUE(compiled.problems.empty()) << compiled.problems.front().to_string() << "\n" << text;
  const HostMatcher& matcher = compiled.matcher;

  for (const auto& request : learned) {
    const Host host{request.host, IpAddress::parse(request.host)};
    const auto match = matcher.first_match(host, request.port);
    ASSERT_TRUE(match.has_value()) << request.host << ":" << request.port << "\n" << text;
    const bool default_port = request.port == (request.is_connect ? 443 : 80);
    if (!default_port && !host.is_ip()) {
      EXPECT_TRUE(matcher.first_match(host, request.port, true).has_value())
          << request.host << ":" << request.port << "\n"
          << text;
    }
  }
  // Nothing broader than what was learned: siblings on other registrable domains and
  // other public-suffix hosts do not match.
  EXPECT_FALSE(matcher.first_match("other.co.uk").has_value());
  EXPECT_FALSE(matcher.first_match("example.net").has_value());
  EXPECT_FALSE(matcher.first_match("203.0.113.8").has_value());
}

}  // namespace
}  // namespace egressd::core
