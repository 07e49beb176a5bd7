// Tests for the rules file format and host matching (core/rules).
#include "core/rules.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace egressd::core {
namespace {

std::vector<Rule> rules_of(std::vector<std::string> patterns) {
  std::vector<Rule> rules;
  int line = 0;
  for (auto& p : patterns) rules.push_back(Rule{std::move(p), ++line});
  return rules;
}

HostMatcher compile_ok(std::vector<std::string> patterns) {
  auto compiled = HostMatcher::compile("rules", rules_of(std::move(patterns)));
  EXPECT_TRUE(compiled.problems.empty()) << compiled.problems.front().to_string();
  return std::move(compiled.matcher);
}

TEST(ParseRules, SkipsCommentsAndBlankLinesAndTrims) {
  const auto parsed =
      parse_rules("f", "# comment\n\n  \t\n  ^a\\.com$  \n\t# indented comment\nb\n");
  EXPECT_TRUE(parsed.problems.empty());
  ASSERT_EQ(parsed.rules.size(), 2u);
  EXPECT_EQ(parsed.rules[0].pattern, "^a\\.com$");
  EXPECT_EQ(parsed.rules[0].line, 4);
  EXPECT_EQ(parsed.rules[1].pattern, "b");
  EXPECT_EQ(parsed.rules[1].line, 6);
}

TEST(ParseRules, HashInsideAPatternIsKept) {
  const auto parsed = parse_rules("f", "a#b\n");
  ASSERT_EQ(parsed.rules.size(), 1u);
  EXPECT_EQ(parsed.rules[0].pattern, "a#b");
}

TEST(ParseRules, CrlfAndMissingFinalNewline) {
  const auto parsed = parse_rules("f", "one\r\ntwo\r\n\r\nthree");
  EXPECT_TRUE(parsed.problems.empty());
  ASSERT_EQ(parsed.rules.size(), 3u);
  EXPECT_EQ(parsed.rules[0].pattern, "one");
  EXPECT_EQ(parsed.rules[1].pattern, "two");
  EXPECT_EQ(parsed.rules[2].pattern, "three");
  EXPECT_EQ(parsed.rules[2].line, 4);
}

TEST(ParseRules, EmptyContentHasNoRules) {
  for (const char* content : {"", "\n", "\r\n", "#\n#\n", "   "}) {
    const auto parsed = parse_rules("f", content);
    EXPECT_TRUE(parsed.rules.empty()) << content;
    EXPECT_TRUE(parsed.problems.empty()) << content;
  }
}

TEST(ParseRules, LongLinesAreNeverSplit) {
  const std::string long_pattern = "^" + std::string(10000, 'a') + "\\.com$";
  const auto parsed = parse_rules("f", "x\n" + long_pattern + "\ny\n");
  EXPECT_TRUE(parsed.problems.empty());
  ASSERT_EQ(parsed.rules.size(), 3u);
  EXPECT_EQ(parsed.rules[1].pattern, long_pattern);
  EXPECT_EQ(parsed.rules[2].line, 3);

  auto matcher = compile_ok({long_pattern});
  EXPECT_FALSE(matcher.first_match(std::string(253, 'a')).has_value());
}

TEST(ParseRules, NulAndInvalidUtf8AreErrorsWithTheirLine) {
  const std::string content =
      std::string("ok\nbad") + '\0' + "nul\nfine\n\xff\xfe\n\xc3\xa9t\xc3\xa9\n";
  const auto parsed = parse_rules("/r/work.10.0.0.1", content);
  ASSERT_EQ(parsed.problems.size(), 2u);
  EXPECT_EQ(parsed.problems[0].line, 2);
  EXPECT_EQ(parsed.problems[0].to_string(), "/r/work.10.0.0.1:2: error: line contains a NUL byte");
  EXPECT_EQ(parsed.problems[1].line, 4);
  EXPECT_EQ(parsed.problems[1].to_string(), "/r/work.10.0.0.1:4: error: line is not valid UTF-8");
  ASSERT_EQ(parsed.rules.size(), 3u);
  EXPECT_EQ(parsed.rules[2].pattern, "\xc3\xa9t\xc3\xa9");
}

TEST(ParseRules, RejectsOverlongAndSurrogateUtf8) {
  for (const char* bad :
       {"\xc0\xaf", "\xe0\x80\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"}) {
    const auto parsed = parse_rules("f", bad);
    EXPECT_EQ(parsed.problems.size(), 1u) << bad;
  }
}

TEST(HostMatcher, BadPatternNamesFileAndLine) {
  const auto parsed = parse_rules("/rules/work.10.0.0.1", "# c\n^ok$\n(abc\n");
  const auto compiled = HostMatcher::compile("/rules/work.10.0.0.1", parsed.rules);
  ASSERT_EQ(compiled.problems.size(), 1u);
  EXPECT_EQ(compiled.problems[0].line, 3);
  EXPECT_EQ(compiled.problems[0].to_string(),
            "/rules/work.10.0.0.1:3: error: invalid regular expression: missing ): (abc");
  EXPECT_FALSE(compiled.matcher.first_match("ok").has_value());
}

TEST(HostMatcher, EveryBadPatternIsReported) {
  const auto compiled = HostMatcher::compile("f", rules_of({"a)", "ok", "[z", "(a)\\1", "*x"}));
  ASSERT_EQ(compiled.problems.size(), 4u);
  EXPECT_EQ(compiled.problems[0].line, 1);
  EXPECT_EQ(compiled.problems[1].line, 3);
  EXPECT_EQ(compiled.problems[2].line, 4);  // back-references cannot run in linear time
  EXPECT_EQ(compiled.problems[3].line, 5);
  for (const auto& p : compiled.problems) EXPECT_EQ(p.severity, Problem::Severity::error);
}

TEST(HostMatcher, HugeRepetitionIsAClearError) {
  const auto compiled = HostMatcher::compile("f", rules_of({"a{1001}"}));
  ASSERT_EQ(compiled.problems.size(), 1u);
  EXPECT_NE(compiled.problems[0].message.find("invalid regular expression"), std::string::npos);
}

struct MatchCase {
  const char* pattern;
  const char* host;
  bool matches;
};

class HostMatcherMatch : public testing::TestWithParam<MatchCase> {};

TEST_P(HostMatcherMatch, Matches) {
  const auto& c = GetParam();
  auto matcher = compile_ok({c.pattern});
  EXPECT_EQ(matcher.first_match(c.host).has_value(), c.matches)
      << "pattern " << c.pattern << " host " << c.host;
}

INSTANTIATE_TEST_SUITE_P(Semantics, HostMatcherMatch,
                         testing::Values(
                             // Unanchored, as tinyproxy: a pattern matches anywhere in the name.
                             MatchCase{"allowed", "notallowed.evil", true},
                             MatchCase{"example\\.com", "www.example.com.evil.net", true},
                             MatchCase{"^example\\.com$", "www.example.com", false},
                             MatchCase{"^example\\.com$", "example.com", true},
                             MatchCase{"(^|\\.)example\\.com$", "a.b.example.com", true},
                             MatchCase{"(^|\\.)example\\.com$", "badexample.com", false},
                             // '.' is any character unless escaped.
                             MatchCase{"^a.com$", "abcom", true},
                             MatchCase{"^a\\.com$", "abcom", false},
                             // Case-insensitive both ways.
                             MatchCase{"^EXAMPLE\\.Com$", "example.com", true},
                             MatchCase{"^example\\.com$", "EXAMPLE.COM", true},
                             // POSIX classes and alternation.
                             MatchCase{"^[[:alpha:]]+\\.org$", "debian.org", true},
                             MatchCase{"^[[:alpha:]]+\\.org$", "deb1an.org", false},
                             MatchCase{"^(foo|bar)\\.net$", "bar.net", true},
                             MatchCase{"^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$", "10.0.0.1", true},
                             MatchCase{"^2001:db8::1$", "2001:db8::1", true}));

TEST(HostMatcher, FirstMatchIsTheSmallestIndex) {
  auto matcher = compile_ok({"^nomatch$", "example", "\\.com$", "^www"});
  EXPECT_EQ(matcher.first_match("www.example.com"), 1u);
  EXPECT_EQ(matcher.first_match("www.other.com"), 2u);
  EXPECT_EQ(matcher.first_match("www.other.org"), 3u);
  EXPECT_EQ(matcher.first_match("nomatch"), 0u);
  EXPECT_FALSE(matcher.first_match("other.org").has_value());
  EXPECT_EQ(matcher.rules().size(), 4u);
  EXPECT_EQ(matcher.rules()[2].pattern, "\\.com$");
}

TEST(HostMatcher, EmptyRulesMatchNothing) {
  auto matcher = compile_ok({});
  EXPECT_FALSE(matcher.first_match("example.com").has_value());
  EXPECT_FALSE(matcher.first_match("").has_value());
  HostMatcher default_constructed;
  EXPECT_FALSE(default_constructed.first_match("example.com").has_value());
}

TEST(HostMatcher, ManyRules) {
  std::vector<std::string> patterns;
  for (int i = 0; i < 2000; ++i) patterns.push_back("^host" + std::to_string(i) + "\\.example$");
  auto matcher = compile_ok(patterns);
  EXPECT_EQ(matcher.first_match("host1234.example"), 1234u);
  EXPECT_FALSE(matcher.first_match("host2000.example").has_value());
}

TEST(HostMatcher, MoveKeepsTheRules) {
  auto matcher = compile_ok({"^a$"});
  HostMatcher moved = std::move(matcher);
  EXPECT_EQ(moved.first_match("a"), 0u);
}

TEST(ExactHostRule, EscapesAndAnchors) {
  EXPECT_EQ(exact_host_rule("www.example.com"), "^www\\.example\\.com$");
  EXPECT_EQ(exact_host_rule("a-b_c"), "^a-b_c$");
  EXPECT_EQ(exact_host_rule("^$*+?()[]{}|\\."), "^\\^\\$\\*\\+\\?\\(\\)\\[\\]\\{\\}\\|\\\\\\.$");
  EXPECT_EQ(exact_host_rule("2001:db8::1"), "^2001:db8::1$");
}

TEST(ExactHostRule, MatchesOnlyThatHost) {
  for (const std::string host : {"www.example.com", "10.0.0.1", "a-b.c_d.org", "2001:db8::1"}) {
    auto matcher = compile_ok({exact_host_rule(host)});
    EXPECT_EQ(matcher.first_match(host), 0u) << host;
    EXPECT_FALSE(matcher.first_match("x" + host).has_value()) << host;
    EXPECT_FALSE(matcher.first_match(host + "x").has_value()) << host;
  }
  auto matcher = compile_ok({exact_host_rule("a.com")});
  EXPECT_FALSE(matcher.first_match("abcom").has_value());
}

}  // namespace
}  // namespace egressd::core
