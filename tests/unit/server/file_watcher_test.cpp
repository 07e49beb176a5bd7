// Tests for the inotify file watcher (server/file_watcher) against a real temporary folder.
#include "server/file_watcher.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

namespace egressd::server {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;

// Short quiet time for quick tests; long max_delay and retry so that what is tested is the
// debounce and the watches on ancestors, not the deadline or the polling.
FileWatcher::Options quick() {
  return FileWatcher::Options{.quiet = 50ms, .max_delay = 60s, .retry = 60s};
}

// Long enough after a callback that a second one would have come.
constexpr auto kSettle = 300ms;

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.close();
  EXPECT_TRUE(out.good()) << "cannot write " << path;
}

class FileWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/egressd-file-watcher-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr) << std::generic_category().message(errno);
    dir_ = pattern;
  }

  void TearDown() override {
    watcher_.reset();
    std::error_code ignored;
    if (!dir_.empty()) fs::remove_all(dir_, ignored);
  }

  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  void start(FileWatcher::Options options = quick()) {
    watcher_ = std::make_unique<FileWatcher>(
        io_, [this] { ++calls_; }, options);
  }

  void watch(const std::vector<std::string>& files, const std::vector<std::string>& folders) {
    std::string error;
    ASSERT_TRUE(watcher_->watch(files, folders, error)) << error;
    EXPECT_TRUE(watcher_->problems().empty());
  }

  // Runs the io_context until `count` callbacks have come or 5 s have passed.
  bool run_until_calls(int count) {
    const auto deadline = SteadyClock::now() + 5s;
    while (calls_ < count && SteadyClock::now() < deadline) {
      io_.run_one_until(deadline);
      if (io_.stopped()) io_.restart();
    }
    return calls_ >= count;
  }

  // Runs the io_context for `duration`, to see what (else) comes.
  void run_for(std::chrono::milliseconds duration) {
    const auto deadline = SteadyClock::now() + duration;
    while (SteadyClock::now() < deadline) {
      io_.run_one_until(deadline);
      if (io_.stopped()) {
        io_.restart();
        return;  // no work left: nothing can come
      }
    }
  }

  // Exactly `count` callbacks in all, so far: they came, and no further one follows.
  void expect_calls(int count) {
    EXPECT_TRUE(run_until_calls(count)) << "callbacks: " << calls_ << ", wanted " << count;
    run_for(kSettle);
    EXPECT_EQ(calls_, count);
  }

  std::string dir_;
  io::asio::io_context io_{1};
  int calls_ = 0;
  std::unique_ptr<FileWatcher> watcher_;  // after io_: destroyed before it
};

TEST_F(FileWatcherTest, FolderEntryCreatedModifiedDeletedOneCallbackEach) {
  fs::create_directory(path("rules"));
  start();
  watch({}, {path("rules")});
  run_for(kSettle);
  EXPECT_EQ(calls_, 0);  // watching is no change

  write_file(path("rules/work"), "a.test\n");
  expect_calls(1);
  write_file(path("rules/work"), "b.test\n");
  expect_calls(2);
  fs::permissions(path("rules/work"), fs::perms::owner_read);
  expect_calls(3);
  fs::rename(path("rules/work"), path("rules/work.disabled"));
  expect_calls(4);
  fs::remove(path("rules/work.disabled"));
  expect_calls(5);
}

TEST_F(FileWatcherTest, RapidWritesGiveOneCallback) {
  fs::create_directory(path("rules"));
  start({.quiet = 100ms, .max_delay = 60s, .retry = 60s});
  watch({}, {path("rules")});

  // 50 writes 5 ms apart: the burst outlasts the quiet time, which each write extends.
  auto last = SteadyClock::now();
  SteadyClock::duration longest_gap{};
  for (int i = 0; i < 50; ++i) {
    write_file(path("rules/work"), "a" + std::to_string(i) + ".test\n");
    run_for(5ms);
    const auto now = SteadyClock::now();
    longest_gap = std::max(longest_gap, now - last);
    last = now;
  }
  if (longest_gap >= 100ms) {
    GTEST_SKIP() << "the machine stalled "
                 << std::chrono::duration_cast<std::chrono::milliseconds>(longest_gap).count()
                 << " ms between two writes, so they were no burst";
  }
  expect_calls(1);
}

TEST_F(FileWatcherTest, FileRenamedOverIsSeenAndStaysWatched) {
  write_file(path("egressd.toml"), "one\n");
  start();
  watch({path("egressd.toml")}, {});

  // An editor's save: write a temporary file, rename it over.
  write_file(path(".egressd.toml.swp"), "two\n");
  fs::rename(path(".egressd.toml.swp"), path("egressd.toml"));
  expect_calls(1);
  // The file now is another inode; it is still watched.
  write_file(path("egressd.toml"), "three\n");
  expect_calls(2);
}

TEST_F(FileWatcherTest, FileDeletedAndCreatedAgain) {
  start();
  watch({path("egressd.toml")}, {});  // does not exist yet

  write_file(path("egressd.toml"), "one\n");
  expect_calls(1);
  fs::remove(path("egressd.toml"));
  expect_calls(2);
  write_file(path("egressd.toml"), "two\n");
  expect_calls(3);
  write_file(path("egressd.toml"), "three\n");
  expect_calls(4);
}

TEST_F(FileWatcherTest, OtherEntriesBesideAWatchedFileAreIgnored) {
  write_file(path("egressd.toml"), "one\n");
  start();
  watch({path("egressd.toml")}, {});

  write_file(path("other.toml"), "x\n");
  fs::rename(path("other.toml"), path("other2.toml"));
  fs::permissions(path("other2.toml"), fs::perms::owner_read);
  fs::remove(path("other2.toml"));
  fs::create_directory(path("sub"));
  write_file(path("sub/egressd.toml"), "same name, other folder\n");
  fs::permissions(dir_, fs::perms::owner_all);  // the folder itself
  run_for(kSettle);
  EXPECT_EQ(calls_, 0);

  write_file(path("egressd.toml"), "two\n");
  expect_calls(1);
}

TEST_F(FileWatcherTest, FileWhoseFolderIsCreatedLater) {
  start();
  watch({path("etc/egressd.toml")}, {});

  fs::create_directory(path("etc"));
  write_file(path("etc/egressd.toml"), "one\n");
  expect_calls(1);
  write_file(path("etc/egressd.toml"), "two\n");
  expect_calls(2);
}

TEST_F(FileWatcherTest, FolderCreatedLaterIsWatchedFromThen) {
  start();
  watch({}, {path("rules")});

  fs::create_directory(path("rules"));
  write_file(path("rules/work"), "a.test\n");  // possibly before the watch on it exists
  expect_calls(1);
  write_file(path("rules/work"), "b.test\n");
  expect_calls(2);
  write_file(path("rules/dev"), "c.test\n");
  expect_calls(3);
}

TEST_F(FileWatcherTest, FolderWhoseAncestorsAreCreatedLater) {
  start();
  watch({}, {path("a/b/rules")});

  // The folders on the way are no change; each is watched for the next to appear.
  fs::create_directory(path("a"));
  run_for(100ms);
  fs::create_directory(path("a/b"));
  run_for(kSettle);
  EXPECT_EQ(calls_, 0);

  fs::create_directory(path("a/b/rules"));
  expect_calls(1);
  write_file(path("a/b/rules/work"), "a.test\n");
  expect_calls(2);
}

TEST_F(FileWatcherTest, FolderRemovedAndCreatedAgain) {
  fs::create_directory(path("rules"));
  write_file(path("rules/work"), "a.test\n");
  start();
  watch({}, {path("rules")});

  fs::remove_all(path("rules"));
  expect_calls(1);
  fs::create_directory(path("rules"));
  write_file(path("rules/dev"), "b.test\n");
  expect_calls(2);
  write_file(path("rules/dev"), "c.test\n");
  expect_calls(3);
  fs::remove(path("rules/dev"));
  expect_calls(4);
}

TEST_F(FileWatcherTest, FolderReplacedByRename) {
  fs::create_directory(path("rules"));
  write_file(path("rules/work"), "a.test\n");
  fs::create_directory(path("rules.new"));
  write_file(path("rules.new/work"), "b.test\n");
  start();
  watch({}, {path("rules")});

  fs::rename(path("rules"), path("rules.old"));
  fs::rename(path("rules.new"), path("rules"));
  expect_calls(1);
  // The new folder is watched; the old one, gone elsewhere, is not.
  write_file(path("rules/work"), "c.test\n");
  expect_calls(2);
  write_file(path("rules.old/work"), "d.test\n");
  run_for(kSettle);
  EXPECT_EQ(calls_, 2);
}

TEST_F(FileWatcherTest, MaxDelayBoundsAWriterThatNeverPauses) {
  fs::create_directory(path("rules"));
  start({.quiet = 500ms, .max_delay = 300ms, .retry = 60s});
  watch({}, {path("rules")});

  // Never quiet for 500 ms, so only max_delay can end a burst.
  const auto end = SteadyClock::now() + 1500ms;
  for (int i = 0; SteadyClock::now() < end; ++i) {
    write_file(path("rules/work"), std::to_string(i) + "\n");
    run_for(20ms);
  }
  EXPECT_GE(calls_, 2);
}

TEST_F(FileWatcherTest, NoCallbackAfterStop) {
  fs::create_directory(path("rules"));
  start({.quiet = 1s, .max_delay = 60s, .retry = 60s});
  watch({}, {path("rules")});

  write_file(path("rules/work"), "a.test\n");
  run_for(100ms);  // the event is read; the debounce is under way
  ASSERT_EQ(calls_, 0);
  watcher_->stop();
  run_for(1500ms);
  EXPECT_EQ(calls_, 0);

  write_file(path("rules/work"), "b.test\n");
  run_for(kSettle);
  EXPECT_EQ(calls_, 0);
}

TEST_F(FileWatcherTest, DestroyedWithWorkPending) {
  fs::create_directory(path("rules"));
  start({.quiet = 300ms, .max_delay = 60s, .retry = 50ms});
  watch({path("absent/egressd.toml")}, {path("rules")});  // a retry timer is pending too

  write_file(path("rules/work"), "a.test\n");
  run_for(100ms);
  watcher_.reset();
  run_for(600ms);  // the pending handlers run and find the watcher gone
  EXPECT_EQ(calls_, 0);
}

TEST_F(FileWatcherTest, IoContextDestroyedWithoutRunningAgain) {
  fs::create_directory(path("rules"));
  int calls = 0;
  {
    io::asio::io_context io;
    auto watcher = std::make_unique<FileWatcher>(
        io, [&calls] { ++calls; }, quick());
    std::string error;
    ASSERT_TRUE(watcher->watch({path("absent/egressd.toml")}, {path("rules")}, error)) << error;
    write_file(path("rules/work"), "a.test\n");
    io.run_for(20ms);
    watcher.reset();
  }  // the io_context frees the handlers still queued, and the state with the last one
  EXPECT_EQ(calls, 0);
}

TEST_F(FileWatcherTest, CallbackMayDestroyTheWatcher) {
  fs::create_directory(path("rules"));
  watcher_ = std::make_unique<FileWatcher>(
      io_,
      [this] {
        ++calls_;
        watcher_.reset();
      },
      quick());
  watch({}, {path("rules")});

  write_file(path("rules/work"), "a.test\n");
  expect_calls(1);
  EXPECT_EQ(watcher_, nullptr);
}

TEST_F(FileWatcherTest, WatchAgainReplacesTheSet) {
  fs::create_directory(path("old"));
  fs::create_directory(path("new"));
  write_file(path("a.toml"), "a\n");
  write_file(path("b.toml"), "b\n");
  start();
  watch({path("a.toml")}, {path("old")});
  watch({path("b.toml")}, {path("new")});
  run_for(kSettle);
  EXPECT_EQ(calls_, 0);  // watching again is no change either

  write_file(path("old/work"), "x\n");
  write_file(path("a.toml"), "a2\n");
  run_for(kSettle);
  EXPECT_EQ(calls_, 0);

  write_file(path("new/work"), "y\n");
  expect_calls(1);
  write_file(path("b.toml"), "b2\n");
  expect_calls(2);
}

TEST_F(FileWatcherTest, WatchAfterStopStartsAgain) {
  fs::create_directory(path("rules"));
  start();
  watch({}, {path("rules")});
  watcher_->stop();
  watch({}, {path("rules")});

  write_file(path("rules/work"), "a.test\n");
  expect_calls(1);
}

TEST_F(FileWatcherTest, RelativePathsAndTrailingSlashes) {
  fs::create_directory(path("rules"));
  const fs::path before = fs::current_path();
  fs::current_path(dir_);
  start();
  watch({"./egressd.toml"}, {"rules/"});
  fs::current_path(before);

  write_file(path("egressd.toml"), "one\n");
  expect_calls(1);
  write_file(path("rules/work"), "a.test\n");
  expect_calls(2);
}

TEST_F(FileWatcherTest, ReportsWhenInotifyCannotStart) {
  start();
  watch({}, {});  // sets up the io_context's reactor while descriptors are still allowed
  watcher_->stop();

  // Allow no further descriptor: the lowest free one is over the limit.
  const int probe = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(probe, 0);
  ::close(probe);
  rlimit old{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &old), 0);
  rlimit low = old;
  low.rlim_cur = static_cast<rlim_t>(probe);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  std::string error;
  const bool ok = watcher_->watch({}, {dir_}, error);
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &old), 0);

  EXPECT_FALSE(ok);
  EXPECT_NE(error.find("cannot start inotify"), std::string::npos) << error;

  // With descriptors back it works again.
  EXPECT_TRUE(watcher_->watch({}, {dir_}, error)) << error;
  write_file(path("work"), "a.test\n");
  expect_calls(1);
}

}  // namespace
}  // namespace egressd::server
