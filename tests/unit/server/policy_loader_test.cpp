// Unit tests for reading the config file and the rules folder from disk.
#include "server/policy_loader.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace egressd::server {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "egressd-test-XXXXXX").string();
    path_ = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  void write(const std::string& name, const std::string& content) const {
    std::ofstream(path_ / name) << content;
  }

 private:
  fs::path path_;
};

TEST(LoadConfigFile, MissingFileIsAnErrorNamingIt) {
  const auto parsed = load_config_file("/nonexistent/egressd.toml");
  ASSERT_EQ(parsed.problems.size(), 1u);
  EXPECT_EQ(parsed.problems[0].file, "/nonexistent/egressd.toml");
  EXPECT_NE(parsed.problems[0].message.find("cannot read config file"), std::string::npos);
}

TEST(LoadConfigFile, RelativeRulesDirIsRelativeToTheConfigFile) {
  TempDir dir;
  dir.write("egressd.toml", "rules_dir = \"rules\"\n");
  const auto parsed = load_config_file((dir.path() / "egressd.toml").string());
  ASSERT_FALSE(core::has_errors(parsed.problems));
  EXPECT_EQ(parsed.config.rules_dir, (dir.path() / "rules").string());
}

TEST(LoadConfigFile, AbsoluteRulesDirIsKept) {
  TempDir dir;
  dir.write("egressd.toml", "rules_dir = \"/srv/rules\"\n");
  const auto parsed = load_config_file((dir.path() / "egressd.toml").string());
  EXPECT_EQ(parsed.config.rules_dir, "/srv/rules");
}

TEST(LoadPolicy, MissingFolderIsAnError) {
  core::Config config;
  config.rules_dir = "/nonexistent/rules";
  const auto build = load_policy(config, 1);
  EXPECT_EQ(build.snapshot, nullptr);
  ASSERT_EQ(build.problems.size(), 1u);
  EXPECT_EQ(build.problems[0].file, "/nonexistent/rules");
}

TEST(LoadPolicy, ReadsRulesFilesAndSkipsLeftoversAndFolders) {
  TempDir dir;
  dir.write("work.10.137.0.12", "^example\\.com$\n");
  dir.write("work.10.137.0.12~", "(broken\n");
  dir.write(".work.10.137.0.12.swp", "(broken\n");
  fs::create_directory(dir.path() / "sub.10.0.0.1");
  core::Config config;
  config.rules_dir = dir.path().string();
  const auto build = load_policy(config, 7);
  ASSERT_NE(build.snapshot, nullptr);
  EXPECT_EQ(build.snapshot->generation, 7u);
  ASSERT_EQ(build.snapshot->clients.size(), 1u);
  const auto* client = build.snapshot->find(*core::IpAddress::parse("10.137.0.12"));
  ASSERT_NE(client, nullptr);
  EXPECT_EQ(client->label, "work");
  EXPECT_EQ(client->rules_path, (dir.path() / "work.10.137.0.12").string());
}

TEST(LoadPolicy, BadRuleIsThatFilesErrorWithFileLine) {
  TempDir dir;
  dir.write("work.10.137.0.12", "# comment\n^ok$\n(broken\n");
  dir.write("dev.10.137.0.13", "^fine$\n");
  core::Config config;
  config.rules_dir = dir.path().string();
  const auto build = load_policy(config, 1);
  ASSERT_NE(build.snapshot, nullptr);
  ASSERT_EQ(build.problems.size(), 1u);
  EXPECT_EQ(build.problems[0].file, (dir.path() / "work.10.137.0.12").string());
  EXPECT_EQ(build.problems[0].line, 3);
  EXPECT_EQ(build.snapshot->find(*core::IpAddress::parse("10.137.0.12"))->state,
            core::RulesState::unusable);
  EXPECT_EQ(build.snapshot->find(*core::IpAddress::parse("10.137.0.13"))->state,
            core::RulesState::current);
}

}  // namespace
}  // namespace egressd::server
