// Tests for comparing snapshots after a reload (core/policy_diff).
#include "core/policy_diff.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace egressd::core {
namespace {

using Labels = std::vector<std::string>;

SourceFile file(std::string name, std::string content) {
  return SourceFile{name, "/rules/" + name, std::move(content)};
}

std::shared_ptr<const PolicySnapshot> build(const std::vector<SourceFile>& files,
                                            const Config& config = {}) {
  auto built = build_snapshot(config, files, 1);
  EXPECT_NE(built.snapshot, nullptr);
  return built.snapshot ? built.snapshot : std::make_shared<const PolicySnapshot>();
}

TEST(DiffSnapshots, IdenticalSnapshotsHaveNoChanges) {
  const std::vector<SourceFile> files{file("work.10.0.0.1", "^a\\.test$\n"),
                                      file("home.10.0.0.2", "b\n")};
  const auto diff = diff_snapshots(*build(files), *build(files));
  EXPECT_TRUE(diff.empty());
}

TEST(DiffSnapshots, AddedAndRemovedBySortedLabel) {
  const auto before = build({file("work.10.0.0.1", "a\n"), file("old.10.0.0.9", "x\n")});
  const auto after = build(
      {file("work.10.0.0.1", "a\n"), file("zeta.10.0.0.3", "z\n"), file("dev.10.0.0.2", "d\n")});
  const auto diff = diff_snapshots(*before, *after);
  EXPECT_EQ(diff.added, (Labels{"dev", "zeta"}));
  EXPECT_EQ(diff.removed, Labels{"old"});
  EXPECT_TRUE(diff.modified.empty());
}

TEST(DiffSnapshots, ModifiedWhenAnythingAboutTheClientDiffers) {
  const auto base = build({file("work.10.0.0.1", "^a\\.test$\n")});
  struct Case {
    const char* what;
    std::shared_ptr<const PolicySnapshot> after;
  };
  Config block_list;
  block_list.default_mode = ListMode::block_list;
  const std::vector<Case> cases{
      {"pattern", build({file("work.10.0.0.1", "^b\\.test$\n")})},
      {"extra rule", build({file("work.10.0.0.1", "^a\\.test$\nb\n")})},
      {"rule moved to another line", build({file("work.10.0.0.1", "# moved\n^a\\.test$\n")})},
      {"address", build({file("work.10.0.0.7", "^a\\.test$\n")})},
      {"mode", build({file("work.10.0.0.1", "^a\\.test$\n")}, block_list)},
  };
  for (const auto& c : cases) {
    const auto diff = diff_snapshots(*base, *c.after);
    EXPECT_EQ(diff.modified, Labels{"work"}) << c.what;
    EXPECT_TRUE(diff.added.empty()) << c.what;
    EXPECT_TRUE(diff.removed.empty()) << c.what;
  }
}

TEST(DiffSnapshots, RulesFilePathCounts) {
  auto before = build({file("work.10.0.0.1", "a\n")});
  auto moved =
      build_snapshot(Config{}, {SourceFile{"work.10.0.0.1", "/other/work.10.0.0.1", "a\n"}}, 2);
  ASSERT_NE(moved.snapshot, nullptr);
  EXPECT_EQ(diff_snapshots(*before, *moved.snapshot).modified, Labels{"work"});
}

TEST(DiffSnapshots, CommentsAndBlankLinesAloneChangeNothingWhenLinesStay) {
  const auto before = build({file("work.10.0.0.1", "# one\n^a\\.test$\n")});
  const auto after = build({file("work.10.0.0.1", "# two\n^a\\.test$\n")});
  EXPECT_TRUE(diff_snapshots(*before, *after).empty());
}

TEST(DiffSnapshots, FromAndToEmpty) {
  const PolicySnapshot empty;
  const auto some = build({file("work.10.0.0.1", "a\n")});
  EXPECT_EQ(diff_snapshots(empty, *some).added, Labels{"work"});
  EXPECT_EQ(diff_snapshots(*some, empty).removed, Labels{"work"});
  EXPECT_TRUE(diff_snapshots(empty, empty).empty());
}

}  // namespace
}  // namespace egressd::core
