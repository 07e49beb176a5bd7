// Tests for the rules-file linter (core/lint).
#include "core/lint.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace egressd::core {
namespace {

// The warnings of one class, for a file given as its lines.
std::vector<LintWarning> warnings_of(LintClass kind, const std::vector<std::string>& lines) {
  std::string content;
  for (const auto& line : lines) content += line + "\n";
  const auto result = lint_rules("rules/work.10.0.0.1", content);
  EXPECT_TRUE(result.errors.empty()) << result.errors.front().to_string();
  std::vector<LintWarning> out;
  for (const auto& warning : result.warnings) {
    if (warning.kind == kind) out.push_back(warning);
  }
  return out;
}

// Whether the single-line file `pattern` gets a warning of `kind`.
bool warns(LintClass kind, const std::string& pattern) {
  return !warnings_of(kind, {pattern}).empty();
}

// The message of the only warning of `kind` for the single-line file `pattern`, or "".
std::string message_of(LintClass kind, const std::string& pattern) {
  const auto found = warnings_of(kind, {pattern});
  EXPECT_EQ(found.size(), 1u) << pattern;
  return found.empty() ? "" : found.front().message;
}

std::vector<int> lines_of(const std::vector<LintWarning>& warnings) {
  std::vector<int> lines;
  lines.reserve(warnings.size());
  for (const auto& warning : warnings) lines.push_back(warning.line);
  return lines;
}

TEST(LintClassCode, NamesEveryClass) {
  EXPECT_EQ(lint_class_code(LintClass::unanchored), "unanchored");
  EXPECT_EQ(lint_class_code(LintClass::unescaped_dot), "unescaped-dot");
  EXPECT_EQ(lint_class_code(LintClass::matches_everything), "matches-everything");
  EXPECT_EQ(lint_class_code(LintClass::matches_nothing), "matches-nothing");
  EXPECT_EQ(lint_class_code(LintClass::duplicate), "duplicate");
  EXPECT_EQ(lint_class_code(LintClass::shadowed), "shadowed");
}

TEST(LintWarning, ToProblemIsAWarningWithTheCodeFirst) {
  const LintWarning warning{LintClass::unescaped_dot, "rules/a.10.0.0.1", 7, "some text"};
  const Problem problem = warning.to_problem();
  EXPECT_EQ(problem.severity, Problem::Severity::warning);
  EXPECT_EQ(problem.file, "rules/a.10.0.0.1");
  EXPECT_EQ(problem.line, 7);
  EXPECT_EQ(problem.message, "[unescaped-dot] some text");
  EXPECT_EQ(problem.to_string(), "rules/a.10.0.0.1:7: warning: [unescaped-dot] some text");
}

TEST(Lint, CleanRealisticFileHasNoWarnings) {
  const auto result = lint_rules("rules/work.10.0.0.1",
                                 "# work: what the work client may reach\n"
                                 "\n"
                                 "host:git.example.net\n"
                                 "domain:debian.org\n"
                                 "^www\\.example\\.com$\n"
                                 "  (^|\\.)example\\.org$  \n"
                                 "# numbered mirrors and a few API hosts\n"
                                 "^mirror[0-9]+\\.example\\.net$\n"
                                 "^(www|api|static)\\.example\\.io$\n"
                                 "\\.cdn\\.example\\.com$\n"
                                 "^(.*\\.)?pythonhosted\\.org$\n"
                                 "^2001:db8::1$\n"
                                 "host:git.example.org:8443\n"
                                 "domain:internal.example:9000\n"
                                 "ip:10.0.0.0/8\n"
                                 "ip:2001:db8::/32\n");
  EXPECT_TRUE(result.errors.empty());
  for (const auto& warning : result.warnings) ADD_FAILURE() << warning.to_problem().to_string();
}

TEST(Lint, EmptyFileHasNothingToSay) {
  const auto result = lint_rules("f", "# nothing yet\n\n");
  EXPECT_TRUE(result.errors.empty());
  EXPECT_TRUE(result.warnings.empty());
}

TEST(Lint, CompileErrorsAreReturnedWithTheirLineAndNoWarnings) {
  const auto result = lint_rules("rules/w.10.0.0.1", "example.com\n# ok\n(a\nhost:10.0.0.1\n");
  ASSERT_EQ(result.errors.size(), 2u);
  EXPECT_EQ(result.errors[0].line, 3);
  EXPECT_EQ(result.errors[0].severity, Problem::Severity::error);
  EXPECT_NE(result.errors[0].to_string().find("rules/w.10.0.0.1:3: error: invalid regular"),
            std::string::npos)
      << result.errors[0].to_string();
  EXPECT_EQ(result.errors[1].line, 4);
  EXPECT_TRUE(result.warnings.empty());
}

TEST(Lint, ParseErrorsComeFirstByLine) {
  const std::string content = std::string("(b\nbad") + '\0' + "\n^ok$\n";
  const auto result = lint_rules("f", content);
  ASSERT_EQ(result.errors.size(), 2u);
  EXPECT_EQ(result.errors[0].line, 1);
  EXPECT_EQ(result.errors[1].line, 2);
  EXPECT_EQ(result.errors[1].message, "line contains a NUL byte");
}

TEST(Lint, LineNumbersCountCommentsAndBlankLinesAndWarningsAreInLineOrder) {
  const auto result = lint_rules("f",
                                 "# header\n"
                                 "\n"
                                 "domain:example.com\n"
                                 "   \n"
                                 "# a comment\n"
                                 "host:www.example.com\n"
                                 "foo.example.net\n"
                                 "\r\n"
                                 "ip:10.0.0.0/8\r\n"
                                 "ip:10.0.0.0/8\n");
  ASSERT_TRUE(result.errors.empty());
  std::vector<std::pair<int, LintClass>> got;
  for (const auto& w : result.warnings) {
    got.emplace_back(w.line, w.kind);
    EXPECT_EQ(w.file, "f");
  }
  const std::vector<std::pair<int, LintClass>> want = {
      {6, LintClass::shadowed},
      {7, LintClass::unanchored},
      {7, LintClass::unescaped_dot},
      {10, LintClass::duplicate},
  };
  EXPECT_EQ(got, want);
}

// ---- unanchored

TEST(LintUnanchored, PlainNameGetsTheLiteralForms) {
  EXPECT_EQ(message_of(LintClass::unanchored, "example.com"),
            "pattern \"example.com\" is not anchored: it also matches "
            "\"example.com.evil.net\"; write host:example.com or ^example\\.com$");
}

TEST(LintUnanchored, MissingStartOrEndIsNamed) {
  EXPECT_EQ(message_of(LintClass::unanchored, "example\\.com$"),
            "pattern \"example\\.com$\" is not anchored at the start: it also matches "
            "\"notexample.com\"; write domain:example.com or (^|\\.)example\\.com$ for "
            "example.com and its subdomains, or host:example.com for example.com alone");
  EXPECT_EQ(message_of(LintClass::unanchored, "^example\\.com"),
            "pattern \"^example\\.com\" is not anchored at the end: it also matches "
            "\"example.com.evil.net\"; write host:example.com or ^example\\.com$");
}

TEST(LintUnanchored, IpLiteralPatternSuggestsAnIpLine) {
  const std::string message = message_of(LintClass::unanchored, "10\\.1\\.2\\.3");
  EXPECT_NE(message.find("write ip:10.1.2.3 or ^10\\.1\\.2\\.3$"), std::string::npos) << message;
}

TEST(LintUnanchored, GeneralPatternGetsItsAnchoredForm) {
  const std::string message = message_of(LintClass::unanchored, "mirror[0-9]+\\.example\\.org");
  EXPECT_NE(message.find("it also matches \"mirror0.example.org.evil.net\""), std::string::npos)
      << message;
  EXPECT_NE(message.find("write ^mirror[0-9]+\\.example\\.org$"), std::string::npos) << message;
}

TEST(LintUnanchored, TopLevelAlternationNeedsEveryBranchAnchored) {
  EXPECT_NE(message_of(LintClass::unanchored, "www\\.a\\.com|api\\.a\\.com")
                .find("write ^(www\\.a\\.com|api\\.a\\.com)$"),
            std::string::npos);
  EXPECT_NE(
      message_of(LintClass::unanchored, "^a\\.com$|b\\.com").find("write ^a\\.com$|^b\\.com$"),
      std::string::npos);
  EXPECT_TRUE(warns(LintClass::unanchored, "^a\\.com|b\\.com$"));
  EXPECT_TRUE(warns(LintClass::unanchored, "\\bexample\\b"));
  EXPECT_TRUE(warns(LintClass::unanchored, "(www\\.)?example\\.com$"));
}

TEST(LintUnanchored, AnchoredFormsDoNotWarn) {
  for (const char* pattern :
       {"^example\\.com$", "^(a|b)$", "^(www|api)\\.example\\.com$", "(^|\\.)example\\.com$",
        "(\\.|^)example\\.com$", "\\.example\\.com$", "[.]example\\.com$", "^a\\.com$|^b\\.com$",
        "(^a\\.com|^b\\.com)$", "^.*\\.example\\.com$", "domain:example.com",
        "host:www.example.com", "ip:10.0.0.0/8"}) {
    EXPECT_FALSE(warns(LintClass::unanchored, pattern)) << pattern;
  }
}

TEST(LintUnanchored, LinesThatMatchEverythingOrNothingGetOnlyThatWarning) {
  EXPECT_FALSE(warns(LintClass::unanchored, ".*"));
  EXPECT_FALSE(warns(LintClass::unanchored, "http://example.com/"));
}

// ---- unescaped dot

TEST(LintUnescapedDot, DomainDotIsReportedWithTheEscapedPattern) {
  EXPECT_EQ(message_of(LintClass::unescaped_dot, "^www.example\\.com$"),
            "pattern \"^www.example\\.com$\" has \".\" between name characters, where it "
            "matches any character, not only a dot; write ^www\\.example\\.com$");
}

TEST(LintUnescapedDot, OneWarningForSeveralDots) {
  const auto found = warnings_of(LintClass::unescaped_dot, {"^a.b.example.com$"});
  ASSERT_EQ(found.size(), 1u);
  EXPECT_NE(found[0].message.find("write ^a\\.b\\.example\\.com$"), std::string::npos);
}

TEST(LintUnescapedDot, DotsNextToGroupsAndClassesCount) {
  EXPECT_TRUE(warns(LintClass::unescaped_dot, "^(www|api).example\\.com$"));
  EXPECT_TRUE(warns(LintClass::unescaped_dot, "^mirror[0-9].example\\.com$"));
  EXPECT_TRUE(warns(LintClass::unescaped_dot, "^cdn-1.example\\.com$"));
}

TEST(LintUnescapedDot, WildcardsAndEscapedDotsDoNotWarn) {
  for (const char* pattern :
       {"^.*\\.example\\.com$", "^.+\\.example\\.com$", "^(.*\\.)?example\\.com$",
        "^[.]example\\.com$", "^a\\.b$", "^.\\.example\\.com$", "^a.*b$", "^a.?b$", "domain:a.b.c",
        "host:a.b.c"}) {
    EXPECT_FALSE(warns(LintClass::unescaped_dot, pattern)) << pattern;
  }
}

// ---- matches everything

TEST(LintMatchesEverything, PatternsEveryHostMatches) {
  for (const char* pattern :
       {".*", ".", "^", "$", "^.*$", "a*", "(x|)", "x|", ".+", "[^/]", "^.*", "\\b|:"}) {
    EXPECT_TRUE(warns(LintClass::matches_everything, pattern)) << pattern;
  }
  EXPECT_EQ(message_of(LintClass::matches_everything, "."),
            "pattern \".\" matches every host name");
  EXPECT_EQ(message_of(LintClass::matches_everything, "a*"),
            "pattern \"a*\" matches every host name, since it can match zero characters "
            "anywhere");
}

TEST(LintMatchesEverything, WholeAddressFamilies) {
  EXPECT_EQ(message_of(LintClass::matches_everything, "ip:0.0.0.0/0"),
            "\"ip:0.0.0.0/0\" matches every IPv4 address literal");
  EXPECT_EQ(message_of(LintClass::matches_everything, "ip:::/0"),
            "\"ip:::/0\" matches every IPv6 address literal");
}

TEST(LintMatchesEverything, NarrowerPatternsDoNotWarn) {
  for (const char* pattern :
       {"^.+\\.com$", "[a-z]", "\\b", "^[a-z0-9.-]+$", "^.{1,100}$", "\\.", "^[^j]*$", "domain:com",
        "ip:0.0.0.0/1", "ip:::/1", "host:localhost"}) {
    EXPECT_FALSE(warns(LintClass::matches_everything, pattern)) << pattern;
  }
}

// ---- matches nothing

TEST(LintMatchesNothing, OnlyTheEmptyName) {
  EXPECT_EQ(message_of(LintClass::matches_nothing, "^$"),
            "pattern \"^$\" can never match: it matches only an empty name, and host names "
            "are never empty");
  EXPECT_TRUE(warns(LintClass::matches_nothing, "^()$"));
  EXPECT_TRUE(warns(LintClass::matches_nothing, "$^"));
  EXPECT_TRUE(warns(LintClass::matches_nothing, "^x{0}$"));
}

TEST(LintMatchesNothing, CharactersAfterTheEndOrBeforeTheStart) {
  EXPECT_EQ(message_of(LintClass::matches_nothing, "com$x"),
            "pattern \"com$x\" can never match: nothing can follow \"$\" or come before \"^\"");
  EXPECT_TRUE(warns(LintClass::matches_nothing, "x^a"));
  EXPECT_TRUE(warns(LintClass::matches_nothing, "^a$c|x^b"));
}

TEST(LintMatchesNothing, UrlsSuggestTheHostOnlyForm) {
  EXPECT_EQ(message_of(LintClass::matches_nothing, "http://example.com/"),
            "pattern \"http://example.com/\" is a URL, but rules match host names only; write "
            "host:example.com or ^example\\.com$");
  EXPECT_EQ(message_of(LintClass::matches_nothing, "^https://www\\.example\\.com:8443/x"),
            "pattern \"^https://www\\.example\\.com:8443/x\" is a URL, but rules match host "
            "names only; write host:www.example.com:8443");
  EXPECT_EQ(message_of(LintClass::matches_nothing, "example.com/downloads"),
            "pattern \"example.com/downloads\" contains a path, but rules match host names "
            "only; write host:example.com or ^example\\.com$");
  EXPECT_EQ(message_of(LintClass::matches_nothing, "^example\\.com:8080$"),
            "pattern \"^example\\.com:8080$\" names a port, which is never part of a host "
            "name; write host:example.com:8080");
}

TEST(LintMatchesNothing, CharactersNoHostContains) {
  EXPECT_EQ(message_of(LintClass::matches_nothing, "a b"),
            "pattern \"a b\" can never match: host names never contain \" \"");
  EXPECT_EQ(message_of(LintClass::matches_nothing, "^a\\sb$"),
            "pattern \"^a\\sb$\" can never match: \"\\s\" matches no character that occurs "
            "in host names");
  EXPECT_TRUE(warns(LintClass::matches_nothing, "user@example\\.com"));
  EXPECT_TRUE(warns(LintClass::matches_nothing, "^[/?]"));
  EXPECT_TRUE(warns(LintClass::matches_nothing, "a=b"));
  EXPECT_NE(message_of(LintClass::matches_nothing,
                       "^b\xc3\xbc"
                       "cher\\.de$")
                .find("host names are ASCII"),
            std::string::npos);
  // ':' occurs only in IPv6 literals, which have no 'x' or '_'.
  EXPECT_TRUE(warns(LintClass::matches_nothing, "^example:"));
  EXPECT_TRUE(warns(LintClass::matches_nothing, "_:"));
}

TEST(LintMatchesNothing, PatternsThatCanMatchDoNotWarn) {
  for (const char* pattern :
       {"^2001:db8::1$", "^fe80:", "^::ffff:10\\.", "^_dmarc\\.example\\.com$", "^EXAMPLE\\.COM$",
        "^$|^a$", "^[/a]$", "(a/b)?c", "^a$?b", "^(a$|b)", "^\\w+$", "^[[:alpha:]]+$", "^x{0}a$",
        "^.$"}) {
    EXPECT_FALSE(warns(LintClass::matches_nothing, pattern)) << pattern;
  }
  // The Kelvin sign folds to 'k' when matching ignores case, so this can match "key".
  const std::string kelvin = "\xe2\x84\xaa";
  EXPECT_FALSE(warns(LintClass::matches_nothing, "^" + kelvin + "ey$"));
}

// ---- duplicate

TEST(LintDuplicate, SameRuleAfterNormalisation) {
  const auto found =
      warnings_of(LintClass::duplicate,
                  {"host:www.example.com", "domain:a.com:8080", "^x\\.org$", "ip:10.0.0.1",
                   "host:WWW.Example.COM.", "domain:A.com:8080", "^X\\.ORG$", "ip:10.0.0.1/32"});
  ASSERT_EQ(found.size(), 4u);
  EXPECT_EQ(found[0].line, 5);
  EXPECT_EQ(found[0].message,
            "\"host:WWW.Example.COM.\" is a duplicate of line 1; remove one of them");
  EXPECT_EQ(found[1].line, 6);
  EXPECT_NE(found[1].message.find("duplicate of line 2"), std::string::npos);
  EXPECT_EQ(found[2].line, 7);
  EXPECT_NE(found[2].message.find("duplicate of line 3"), std::string::npos);
  EXPECT_EQ(found[3].line, 8);
  EXPECT_NE(found[3].message.find("duplicate of line 4"), std::string::npos);
}

TEST(LintDuplicate, AlwaysNamesTheFirstOccurrence) {
  const auto found = warnings_of(LintClass::duplicate, {"^a$", "^a$", "^a$"});
  ASSERT_EQ(found.size(), 2u);
  EXPECT_NE(found[1].message.find("duplicate of line 1"), std::string::npos);
}

TEST(LintDuplicate, DifferentRulesAreNotDuplicates) {
  EXPECT_TRUE(warnings_of(LintClass::duplicate,
                          {"host:a.com", "host:a.com:8080", "domain:a.com", "^a\\.com$", "^\\d$",
                           "^\\D$", "ip:10.0.0.0/8", "ip:10.0.0.0/16"})
                  .empty());
}

TEST(LintDuplicate, IsNotAlsoReportedAsShadowed) {
  const auto result = lint_rules("f", "domain:a.com\nhost:www.a.com\nhost:www.a.com\n");
  ASSERT_EQ(result.warnings.size(), 2u);
  EXPECT_EQ(result.warnings[0].kind, LintClass::shadowed);
  EXPECT_EQ(result.warnings[0].line, 2);
  EXPECT_EQ(result.warnings[1].kind, LintClass::duplicate);
  EXPECT_EQ(result.warnings[1].line, 3);
}

// ---- shadowed

TEST(LintShadowed, HostAfterItsDomain) {
  const auto found =
      warnings_of(LintClass::shadowed, {"domain:example.com", "host:www.example.com"});
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].line, 2);
  EXPECT_EQ(found[0].message,
            "\"host:www.example.com\" never decides: line 1 (domain:example.com) matches first");
}

TEST(LintShadowed, RegexLiteralFormsCountAsHostAndDomain) {
  EXPECT_EQ(
      warnings_of(LintClass::shadowed, {"domain:example.com", "^www\\.example\\.com$"}).size(), 1u);
  EXPECT_EQ(warnings_of(LintClass::shadowed, {"(^|\\.)example\\.com$", "host:example.com"}).size(),
            1u);
  EXPECT_EQ(
      warnings_of(LintClass::shadowed, {"(^|\\.)example\\.com$", "domain:a.example.com"}).size(),
      1u);
  EXPECT_EQ(
      warnings_of(LintClass::shadowed, {"domain:example.com", "(^|\\.)a\\.example\\.com$"}).size(),
      1u);
  EXPECT_EQ(warnings_of(LintClass::shadowed, {"host:a.com", "^a\\.com$"}).size(), 1u);
}

TEST(LintShadowed, HostAfterAnyRegexThatMatchesIt) {
  const auto found = warnings_of(LintClass::shadowed,
                                 {"^mirror[0-9]+\\.example\\.net$", "host:mirror7.example.net"});
  ASSERT_EQ(found.size(), 1u);
  EXPECT_NE(found[0].message.find("line 1 (^mirror[0-9]+\\.example\\.net$) matches first"),
            std::string::npos);
}

TEST(LintShadowed, SubdomainAfterDomain) {
  const auto found = warnings_of(
      LintClass::shadowed, {"domain:example.com", "domain:example.com", "domain:a.b.example.com",
                            "domain:badexample.com", "domain:com.example"});
  ASSERT_EQ(found.size(), 1u);  // line 2 is a duplicate
  EXPECT_EQ(found[0].line, 3);
}

TEST(LintShadowed, EverythingAfterAMatchEverythingLine) {
  const auto found =
      warnings_of(LintClass::shadowed, {"host:a.com", ".*", "^b\\.com$", "domain:c.com",
                                        "ip:10.0.0.1", "ip:10.0.0.0/8", "x", "host:d.com:8080"});
  const std::vector<int> lines = lines_of(found);
  EXPECT_EQ(lines, (std::vector<int>{3, 4, 5, 6, 7}));
  EXPECT_NE(found[0].message.find("line 2 (.*) matches first"), std::string::npos);
}

TEST(LintShadowed, NetworksInsideEarlierNetworks) {
  const auto found = warnings_of(
      LintClass::shadowed,
      {"ip:10.0.0.0/8", "ip:10.1.0.0/16", "ip:10.2.3.4", "ip:11.0.0.0/16", "ip:0.0.0.0/0",
       "ip:2001:db8::/32", "ip:192.168.0.0/16", "ip:2001:db8:1::/48", "^10\\.9\\.9\\.9$"});
  const std::vector<int> lines = lines_of(found);
  EXPECT_EQ(lines, (std::vector<int>{2, 3, 7, 8, 9}));
  EXPECT_NE(found[2].message.find("line 5 (ip:0.0.0.0/0) matches first"), std::string::npos);
}

TEST(LintShadowed, AddressAfterARegexMatchingIt) {
  EXPECT_EQ(warnings_of(LintClass::shadowed, {"^10\\.", "ip:10.0.0.1"}).size(), 1u);
  EXPECT_TRUE(warnings_of(LintClass::shadowed, {"^10\\.", "ip:10.0.0.0/24"}).empty());
}

TEST(LintShadowed, PortsMustBeTheSame) {
  // A line naming a port opens that port, so a port-less line never shadows it, and it
  // never shadows a port-less line.
  EXPECT_TRUE(warnings_of(LintClass::shadowed, {"domain:a.com", "host:www.a.com:8443"}).empty());
  EXPECT_TRUE(warnings_of(LintClass::shadowed, {"domain:a.com:8443", "host:www.a.com"}).empty());
  EXPECT_TRUE(
      warnings_of(LintClass::shadowed, {"domain:a.com:8443", "host:www.a.com:9000"}).empty());
  EXPECT_TRUE(warnings_of(LintClass::shadowed, {".*", "host:www.a.com:8443"}).empty());
  EXPECT_TRUE(warnings_of(LintClass::shadowed, {"domain:a.com:8443", "domain:b.a.com"}).empty());
  EXPECT_EQ(warnings_of(LintClass::shadowed, {"domain:a.com:8443", "host:www.a.com:8443"}).size(),
            1u);
  EXPECT_EQ(warnings_of(LintClass::shadowed, {"domain:a.com:8443", "domain:b.a.com:8443"}).size(),
            1u);
  // With port-named lines present, a port-less host is still checked against port-less lines.
  EXPECT_EQ(
      warnings_of(LintClass::shadowed, {"host:x.com:1", "domain:a.com", "host:www.a.com"}).size(),
      1u);
}

TEST(LintShadowed, LaterOrNarrowerLinesDoNotShadow) {
  for (const std::vector<std::string>& lines : std::vector<std::vector<std::string>>{
           {"host:www.example.com", "domain:example.com"},
           {"domain:a.example.com", "domain:example.com"},
           {"domain:example.com", "^.*\\.example\\.com$"},
           {"domain:example.com", "host:badexample.com"},
           {"^a\\.com$", "host:b.com"},
           {"ip:10.1.0.0/16", "ip:10.0.0.0/8"},
           {"ip:10.0.0.0/8", "ip:2001:db8::/32"},
       }) {
    EXPECT_TRUE(warnings_of(LintClass::shadowed, lines).empty()) << lines[0] << " / " << lines[1];
  }
}

}  // namespace
}  // namespace egressd::core
