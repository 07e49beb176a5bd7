// Registrable domains from the installed Public Suffix List (ctl/public_suffix), and
// suggestions made with it.
#include "ctl/public_suffix.hpp"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

#include "core/suggest.hpp"

namespace egressd::ctl {
namespace {

const PublicSuffixList& list() {
  static const PublicSuffixList instance;
  return instance;
}

TEST(PublicSuffixList, Loads) {
  EXPECT_TRUE(list().loaded());
}

TEST(PublicSuffixList, RegistrableDomainOfNames) {
  EXPECT_EQ(list().registrable_domain("www.bbc.co.uk"), "bbc.co.uk");
  EXPECT_EQ(list().registrable_domain("bbc.co.uk"), "bbc.co.uk");
  EXPECT_EQ(list().registrable_domain("a.b.example.com"), "example.com");
  EXPECT_EQ(list().registrable_domain("example.com"), "example.com");
  EXPECT_EQ(list().registrable_domain("WWW.Example.COM"), "example.com");
}

TEST(PublicSuffixList, PrivateSuffixesCount) {
  // github.io is in the list's private section: each user's site is its own domain.
  EXPECT_EQ(list().registrable_domain("a.user.github.io"), "user.github.io");
  EXPECT_EQ(list().registrable_domain("github.io"), "");
}

TEST(PublicSuffixList, NoRegistrableDomain) {
  EXPECT_EQ(list().registrable_domain("co.uk"), "");
  EXPECT_EQ(list().registrable_domain("com"), "");
  EXPECT_EQ(list().registrable_domain("localhost"), "");
  EXPECT_EQ(list().registrable_domain(""), "");
}

TEST(PublicSuffixList, IpLiteralsHaveNone) {
  EXPECT_EQ(list().registrable_domain("10.0.0.1"), "");
  EXPECT_EQ(list().registrable_domain("203.0.113.7"), "");
  EXPECT_EQ(list().registrable_domain("2001:db8::1"), "");
  EXPECT_EQ(list().registrable_domain("::ffff:10.0.0.1"), "");
}

TEST(PublicSuffixList, SharedBetweenThreads) {
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (std::size_t t = 0; t < wrong.size(); ++t) {
    threads.emplace_back([&wrong, t] {
      for (int i = 0; i < 500; ++i) {
        if (list().registrable_domain("www.bbc.co.uk") != "bbc.co.uk") ++wrong[t];
        if (!list().registrable_domain("co.uk").empty()) ++wrong[t];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (const int count : wrong) EXPECT_EQ(count, 0);
}

TEST(PublicSuffixList, DrivesSuggestions) {
  const auto registrable = [](std::string_view host) { return list().registrable_domain(host); };
  const std::vector<core::LearnedRequest> learned{{"www.bbc.co.uk", 443, true, 3},
                                                  {"news.bbc.co.uk", 443, true, 2},
                                                  {"co.uk", 443, true, 1},
                                                  {"a.user.github.io", 443, true, 1},
                                                  {"b.other.github.io", 443, true, 1},
                                                  {"10.0.0.1", 80, false, 1}};
  std::vector<std::string> rules;
  for (const auto& rule : core::suggest_rules(learned, registrable)) rules.push_back(rule.rule);
  EXPECT_EQ(rules,
            (std::vector<std::string>{"domain:bbc.co.uk", "host:a.user.github.io",
                                      "host:b.other.github.io", "host:co.uk", "ip:10.0.0.1"}));
}

}  // namespace
}  // namespace egressd::ctl
