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

Host name_host(std::string name) {
  return Host{std::move(name), std::nullopt};
}
Host ip_host(const std::string& text) {
  return Host{text, IpAddress::parse(text)};
}

std::string compile_error(std::vector<std::string> patterns) {
  auto compiled = HostMatcher::compile("rules", rules_of(std::move(patterns)));
  if (compiled.problems.empty()) return "no error";
  return compiled.problems.front().to_string();
}

TEST(PrefixedRules, DomainMatchesTheNameAndSubdomainsAtLabelBoundaries) {
  auto matcher = compile_ok({"domain:Example.COM."});
  EXPECT_EQ(matcher.rules()[0].kind, RuleKind::domain);
  EXPECT_EQ(matcher.rules()[0].name, "example.com");
  EXPECT_EQ(matcher.rules()[0].port, 0);
  EXPECT_EQ(matcher.first_match("example.com"), 0u);
  EXPECT_EQ(matcher.first_match("www.example.com"), 0u);
  EXPECT_EQ(matcher.first_match("a.b.example.com"), 0u);
  EXPECT_FALSE(matcher.first_match("badexample.com").has_value());
  EXPECT_FALSE(matcher.first_match("example.com.evil.net").has_value());
  EXPECT_FALSE(matcher.first_match("examplexcom").has_value());
  EXPECT_FALSE(matcher.first_match("com").has_value());
}

TEST(PrefixedRules, HostMatchesExactlyThatName) {
  auto matcher = compile_ok({"host:WWW.example.com"});
  EXPECT_EQ(matcher.rules()[0].kind, RuleKind::host);
  EXPECT_EQ(matcher.first_match("www.example.com"), 0u);
  EXPECT_FALSE(matcher.first_match("example.com").has_value());
  EXPECT_FALSE(matcher.first_match("a.www.example.com").has_value());
  EXPECT_FALSE(matcher.first_match("wwwxexample.com").has_value());
}

TEST(PrefixedRules, PrefixIsCaseSensitiveAndOtherwiseARegex) {
  // "Domain:" is not a prefix: the line is a regex (which matches nothing here).
  auto matcher = compile_ok({"Domain:example.com", "hosts?:x"});
  EXPECT_EQ(matcher.rules()[0].kind, RuleKind::regex);
  EXPECT_EQ(matcher.rules()[1].kind, RuleKind::regex);
  EXPECT_FALSE(matcher.first_match("example.com").has_value());
}

TEST(PrefixedRules, PortsOnDomainAndHostLines) {
  auto matcher = compile_ok({"domain:example.com:8443", "host:a.example:8080", "host:a.example"});
  EXPECT_EQ(matcher.rules()[0].port, 8443);
  EXPECT_EQ(matcher.rules()[0].name, "example.com");
  EXPECT_EQ(matcher.rules()[1].port, 8080);
  EXPECT_EQ(matcher.first_match(name_host("www.example.com"), 8443), 0u);
  EXPECT_FALSE(matcher.first_match(name_host("www.example.com"), 443).has_value());
  EXPECT_EQ(matcher.first_match(name_host("a.example"), 8080), 1u);
  EXPECT_EQ(matcher.first_match(name_host("a.example"), 80), 2u);
  // Port 0: ports are ignored.
  EXPECT_EQ(matcher.first_match(name_host("a.example"), 0), 1u);
  // Only lines naming the port explicitly.
  EXPECT_EQ(matcher.first_match(name_host("a.example"), 8080, true), 1u);
  EXPECT_FALSE(matcher.first_match(name_host("a.example"), 80, true).has_value());
  EXPECT_EQ(matcher.first_match(name_host("x.example.com"), 8443, true), 0u);
  EXPECT_FALSE(matcher.first_match(name_host("x.example.com"), 8080, true).has_value());
  auto ports = compile_ok({"host:p.example:1", "host:q.example:65535"});
  EXPECT_EQ(ports.rules()[0].port, 1);
  EXPECT_EQ(ports.rules()[1].port, 65535);
}

TEST(PrefixedRules, IpCidrsMatchOnlyIpLiterals) {
  auto matcher = compile_ok(
      {"ip:203.0.113.0/24", "ip:2001:db8::/32", "ip:10.1.2.3", "ip:2001:db8::1", "ip:0.0.0.0/0"});
  EXPECT_EQ(matcher.rules()[0].kind, RuleKind::ip);
  EXPECT_EQ(matcher.rules()[0].prefix_length, 24);
  EXPECT_EQ(matcher.rules()[2].prefix_length, 32);
  EXPECT_EQ(matcher.rules()[3].prefix_length, 128);
  EXPECT_EQ(matcher.first_match(ip_host("203.0.113.7")), 0u);
  EXPECT_EQ(matcher.first_match(ip_host("203.0.113.255")), 0u);
  EXPECT_EQ(matcher.first_match(ip_host("203.0.114.1")), 4u);
  EXPECT_EQ(matcher.first_match(ip_host("2001:db8:ffff::5")), 1u);
  EXPECT_EQ(matcher.first_match(ip_host("2001:db8::1")), 1u);
  EXPECT_FALSE(matcher.first_match(ip_host("2001:db9::1")).has_value());
  EXPECT_EQ(matcher.first_match(ip_host("10.1.2.3")), 2u);
  EXPECT_EQ(matcher.first_match(ip_host("10.1.2.4")), 4u);
  // Names never match ip: lines, even when they look alike.
  EXPECT_FALSE(matcher.first_match(name_host("203.0.113.7")).has_value());
  EXPECT_FALSE(matcher.first_match("example.com").has_value());
  // ip: lines are never port rules.
  EXPECT_FALSE(matcher.first_match(ip_host("10.1.2.3"), 8080, true).has_value());

  auto odd = compile_ok({"ip:2001:db8:8000::/33", "ip:10.0.0.128/25"});
  EXPECT_EQ(odd.first_match(ip_host("2001:db8:8000::1")), 0u);
  EXPECT_FALSE(odd.first_match(ip_host("2001:db8:7fff::1")).has_value());
  EXPECT_EQ(odd.first_match(ip_host("10.0.0.200")), 1u);
  EXPECT_FALSE(odd.first_match(ip_host("10.0.0.127")).has_value());
}

TEST(PrefixedRules, ErrorsNameTheirLine) {
  const auto compiled = HostMatcher::compile(
      "f", rules_of({"host:ok.example", "domain:bad..example", "host:", "domain:a.example:0",
                     "host:a.example:08080", "host:a.example:65536", "host:a.example:x",
                     "ip:203.0.113.1/24", "ip:10.0.0.0/33", "ip:2001:db8::/129", "ip:nope",
                     "ip:10.0.0.0/", "host:10.0.0.1", "domain:[::1]", "ip:10.0.0.0/08"}));
  ASSERT_EQ(compiled.problems.size(), 14u);
  for (std::size_t i = 0; i < compiled.problems.size(); ++i) {
    EXPECT_EQ(compiled.problems[i].line, static_cast<int>(i) + 2)
        << compiled.problems[i].to_string();
    EXPECT_EQ(compiled.problems[i].severity, Problem::Severity::error);
  }
  EXPECT_NE(compiled.problems[6].message.find("host bits set; did you mean 203.0.113.0/24"),
            std::string::npos)
      << compiled.problems[6].message;
  EXPECT_NE(compiled.problems[1].message.find("missing name"), std::string::npos);
  EXPECT_NE(compiled.problems[11].message.find("ip:10.0.0.1"), std::string::npos)
      << compiled.problems[11].message;
  EXPECT_NE(compile_error({"ip:2001:db8::1/32"}).find("did you mean 2001:db8::/32"),
            std::string::npos);
  EXPECT_NE(compile_error({"domain:a b"}).find("rules:1"), std::string::npos);
}

TEST(PrefixedRules, FirstMatchInFileOrderAcrossForms) {
  auto matcher = compile_ok({"^www\\.other\\.org$", "domain:example.com", "host:www.example.com",
                             "example", "ip:192.0.2.0/24", "^192\\.0\\.2\\.1$",
                             "host:api.example.com:8443", "domain:other.org"});
  EXPECT_EQ(matcher.first_match("www.example.com"), 1u);
  EXPECT_EQ(matcher.first_match("example.com"), 1u);
  EXPECT_EQ(matcher.first_match("notexample.net"), 3u);
  EXPECT_EQ(matcher.first_match("www.other.org"), 0u);
  EXPECT_EQ(matcher.first_match("other.org"), 7u);
  EXPECT_EQ(matcher.first_match(ip_host("192.0.2.1")), 4u);
  EXPECT_EQ(matcher.first_match(name_host("api.example.com"), 8443, true), 6u);

  auto later = compile_ok({"host:x.example:8080", "example$", "domain:x.example"});
  EXPECT_EQ(later.first_match(name_host("x.example"), 80), 1u);
  EXPECT_EQ(later.first_match(name_host("x.example"), 8080), 0u);
  auto regex_last = compile_ok({"ip:10.0.0.0/8", "host:a.example", "."});
  EXPECT_EQ(regex_last.first_match("b.example"), 2u);
  EXPECT_EQ(regex_last.first_match("a.example"), 1u);
  EXPECT_EQ(regex_last.first_match(ip_host("10.2.3.4")), 0u);
}

TEST(PrefixedRules, ManyLiteralRules) {
  std::vector<std::string> patterns;
  for (int i = 0; i < 5000; ++i) patterns.push_back("domain:d" + std::to_string(i) + ".example");
  for (int i = 0; i < 5000; ++i) patterns.push_back("host:h" + std::to_string(i) + ".example");
  auto matcher = compile_ok(patterns);
  EXPECT_EQ(matcher.first_match("a.b.d4321.example"), 4321u);
  EXPECT_EQ(matcher.first_match("h17.example"), 5017u);
  EXPECT_FALSE(matcher.first_match("x.h17.example").has_value());
}

// Literal regexes ("^www\.example\.com$", "(^|\.)example\.com$", with alternatives in
// groups) are looked up in hash tables rather than run by RE2. The same pattern with "[.]"
// for "\." means the same and stays a regex, so the two must always agree.
std::string bracket_dots(std::string pattern) {
  std::string out;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern.compare(i, 2, "\\.") == 0) {
      out += "[.]";
      ++i;
    } else {
      out += pattern[i];
    }
  }
  return out;
}

TEST(LiteralRegexes, MatchExactlyAsTheRegex) {
  const std::vector<std::string> patterns = {
      "^www\\.example\\.com$",
      "(^|\\.)example\\.com$",
      "^(www|api)\\.example\\.com$",
      "(^|\\.)(a|b(c|d))\\.kde\\.org$",
      "^Static\\.S3\\.Example$",
      "^2001:db8::1$",
      "^127\\.0\\.0\\.2$",
      "(^|\\.)x_y-z\\.example$",
      "^((a|b)|(c))$",
      "(^|\\.)\\.lead\\.example$",
      "^(ks|sk)$",
  };
  std::vector<std::string> hosts = {
      "",
      ".",
      "www.example.com",
      "WWW.Example.COM",
      "api.example.com",
      "ftp.example.com",
      "example.com",
      "a.b.example.com",
      "badexample.com",
      "example.com.evil.net",
      ".example.com",
      "example.com.",
      "www.example.com\n",
      "a.kde.org",
      "x.bc.kde.org",
      "bd.kde.org",
      "b.kde.org",
      "static.s3.example",
      "STATIC.S3.EXAMPLE",
      "2001:db8::1",
      "2001:DB8::1",
      "127.0.0.2",
      "127.0.0.20",
      "q.x_y-z.example",
      "a",
      "b",
      "c",
      "ab",
      "x..lead.example",
      ".lead.example",
      "lead.example",
      "ks",
      "sk",
      "KS",
      "s",
      "k",
      // RE2 folds U+212A (Kelvin sign) to k and U+017F (long s) to s, and nothing else
      // outside ASCII to an ASCII letter.
      "\xE2\x84\xAA"
      "s",
      "s\xE2\x84\xAA",
      "\xC5\xBF"
      "k",
      "\xE2\x84\xAA"
      "\xC5\xBF",
      "a.\xE2\x84\xAA"
      "de.org",
      "\xC5\xBF"
      "tatic.s3.example",
      "\xE2\x84"
      "\xAA"
      "s",
      "\xE2\x84"
      "s",
      "\xC5"
      "k",
      "\xC3\xA9xample.com",
      "x.\xE2\x84\xAA"
      "s",
  };
  for (const auto& pattern : patterns) {
    const auto literal = compile_ok({pattern});
    const auto regex = compile_ok({bracket_dots(pattern)});
    EXPECT_EQ(literal.rules()[0].kind, RuleKind::regex);
    EXPECT_EQ(literal.rules()[0].pattern, pattern);
    for (const auto& host : hosts) {
      EXPECT_EQ(literal.first_match(host), regex.first_match(host))
          << "pattern " << pattern << " host " << host;
      // IP literals are matched as text by every regex.
      const Host as_ip = ip_host(host);
      if (as_ip.ip) {
        EXPECT_EQ(literal.first_match(as_ip), regex.first_match(as_ip)) << host;
      }
    }
  }
  const auto kelvin = compile_ok({"^kde\\.org$"});
  EXPECT_EQ(kelvin.first_match("\xE2\x84\xAA"
                               "de.org"),
            0u);
  EXPECT_EQ(kelvin.first_match("KDE.ORG"), 0u);
}

TEST(LiteralRegexes, LookAlikesStayRegexes) {
  // Each is close to a literal form but means something else.
  struct Case {
    const char* pattern;
    const char* host;
    bool matches;
  };
  for (const auto& c : {
           Case{"^a\\.com", "a.com.evil", true},
           Case{"a\\.com$", "xa.com", true},
           Case{"\\.a\\.com$", "a.com", false},
           Case{"\\.a\\.com$", "x.a.com", true},
           Case{"^a.com$", "abcom", true},
           Case{"^a\\.com$|^b$", "b", true},
           Case{"^(a|)\\.com$", ".com", true},
           Case{"^a\\$", "a$", true},
           Case{"^a$$", "a", true},
           Case{"(\\.|^)a\\.com$", "x.a.com", true},
           Case{"(^|\\.)a\\.com$x", "a.com", false},
           Case{"^a+\\.com$", "aa.com", true},
           Case{"^(a|b)*$", "abab", true},
           Case{"^x(a|b$", "xa", false},
       }) {
    const auto compiled = HostMatcher::compile("rules", rules_of({c.pattern}));
    if (!compiled.problems.empty()) {
      EXPECT_FALSE(c.matches) << c.pattern << ": " << compiled.problems.front().to_string();
      continue;
    }
    EXPECT_EQ(compiled.matcher.first_match(c.host).has_value(), c.matches)
        << "pattern " << c.pattern << " host " << c.host;
  }
}

TEST(LiteralRegexes, FirstMatchInFileOrderWithTheOtherForms) {
  auto matcher =
      compile_ok({"^(www|api)\\.other\\.org$", "\\.example\\.com$", "host:www.example.com",
                  "(^|\\.)example\\.com$", "^www\\.example\\.com$", "domain:other.org",
                  "(^|\\.)other\\.org$", "^10\\.0\\.0\\.1$", "ip:10.0.0.0/8"});
  EXPECT_EQ(matcher.first_match("www.example.com"), 1u);
  EXPECT_EQ(matcher.first_match("example.com"), 3u);
  EXPECT_EQ(matcher.first_match("api.other.org"), 0u);
  EXPECT_EQ(matcher.first_match("other.org"), 5u);
  EXPECT_EQ(matcher.first_match(ip_host("10.0.0.1")), 7u);
  EXPECT_EQ(matcher.first_match(ip_host("10.0.0.2")), 8u);
  EXPECT_EQ(matcher.first_match("10.0.0.1"), 7u);  // as a name: not for ip: lines

  auto reversed =
      compile_ok({"host:www.example.com:8443", "^www\\.example\\.com$", "host:www.example.com"});
  EXPECT_EQ(reversed.first_match(name_host("www.example.com"), 80), 1u);
  EXPECT_EQ(reversed.first_match(name_host("www.example.com"), 8443), 0u);
  // A regex names no port, so it never opens one.
  EXPECT_FALSE(reversed.first_match(name_host("www.example.com"), 8080, true).has_value());
  EXPECT_EQ(reversed.first_match(name_host("www.example.com"), 8443, true), 0u);
  // host: lines compare the name as given; literal regexes without case, as RE2 does.
  EXPECT_EQ(reversed.first_match(name_host("WWW.example.com"), 80), 1u);
}

TEST(LiteralRegexes, ErrorsKeepTheirLines) {
  const auto compiled = HostMatcher::compile(
      "f", rules_of({"^ok\\.example$", "(abc", "(^|\\.)fine\\.example$", "host:", "^(a|b\\.c$"}));
  ASSERT_EQ(compiled.problems.size(), 3u);
  EXPECT_EQ(compiled.problems[0].to_string(),
            "f:2: error: invalid regular expression: missing ): (abc");
  EXPECT_EQ(compiled.problems[1].line, 4);
  EXPECT_EQ(compiled.problems[2].line, 5);
  EXPECT_FALSE(compiled.matcher.first_match("ok.example").has_value());
}

TEST(LiteralRegexes, ManyOfThem) {
  std::vector<std::string> patterns;
  for (int i = 0; i < 3000; ++i) {
    const std::string n = std::to_string(i);
    patterns.push_back(i % 2 == 0 ? "^(www|api)\\.r" + n + "\\.example\\.org$"
                                  : "(^|\\.)zone" + n + "\\.example$");
  }
  patterns.push_back("^api[0-9]+\\.example\\.org$");
  auto matcher = compile_ok(patterns);
  EXPECT_EQ(matcher.first_match("api.r1234.example.org"), 1234u);
  EXPECT_EQ(matcher.first_match("www.r1234.example.org"), 1234u);
  EXPECT_FALSE(matcher.first_match("ftp.r1234.example.org").has_value());
  EXPECT_EQ(matcher.first_match("a.b.zone2999.example"), 2999u);
  EXPECT_EQ(matcher.first_match("api42.example.org"), 3000u);
  EXPECT_FALSE(matcher.first_match("zone2998.example").has_value());
  // A name longer than every literal one, with many labels.
  std::string long_name;
  for (int i = 0; i < 100; ++i) long_name += "a.";
  EXPECT_EQ(matcher.first_match(long_name + "zone7.example"), 7u);
  EXPECT_FALSE(matcher.first_match(long_name + "zone8.example").has_value());
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

TEST(RuleForHost, TheLineAllowAndDenyAdd) {
  EXPECT_EQ(rule_for_host("WWW.Example.com.", false, 0).value(), "^www\\.example\\.com$");
  EXPECT_EQ(rule_for_host("example.com", true, 0).value(), "(^|\\.)example\\.com$");
  EXPECT_EQ(rule_for_host("example.com", false, 8443).value(), "host:example.com:8443");
  EXPECT_EQ(rule_for_host("example.com", true, 8443).value(), "domain:example.com:8443");
  EXPECT_EQ(rule_for_host("10.0.0.1", false, 0).value(), "^10\\.0\\.0\\.1$");
  EXPECT_FALSE(rule_for_host("10.0.0.1", true, 0).ok());
  EXPECT_FALSE(rule_for_host("10.0.0.1", false, 22).ok());
  EXPECT_FALSE(rule_for_host("bad host", false, 0).ok());
  EXPECT_FALSE(rule_for_host("", false, 0).ok());
  // Each line matches what it says and nothing next to it.
  for (const bool subdomains : {false, true}) {
    const auto rule = rule_for_host("example.com", subdomains, 0).value();
    auto matcher = compile_ok({rule});
    EXPECT_TRUE(matcher.first_match("example.com").has_value()) << rule;
    EXPECT_EQ(matcher.first_match("www.example.com").has_value(), subdomains) << rule;
    EXPECT_FALSE(matcher.first_match("badexample.com").has_value()) << rule;
    EXPECT_FALSE(matcher.first_match("example.com.evil").has_value()) << rule;
  }
}

}  // namespace
}  // namespace egressd::core
