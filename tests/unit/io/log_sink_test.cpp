// Tests for the log sink (io/log_sink): lines written at once, or gathered per turn of a
// worker's event loop, through a real pipe.
#include "io/log_sink.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <memory>
#include <string>

namespace egressd::io {
namespace {

class LogSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::pipe2(fds_, O_NONBLOCK | O_CLOEXEC), 0);
    ::fcntl(fds_[1], F_SETPIPE_SZ, 1 << 20);  // room for a whole large batch
    sink_ = std::make_shared<LogSink>(fds_[1]);
    logger_ = std::make_shared<spdlog::logger>("test", sink_);
    logger_->set_pattern("%l %v");
  }
  void TearDown() override {
    stop_gathering_log_lines();
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  // Everything written to the pipe so far.
  std::string written() {
    std::string out;
    char buffer[4096];
    for (ssize_t n; (n = ::read(fds_[0], buffer, sizeof buffer)) > 0;) out.append(buffer, n);
    return out;
  }

  int fds_[2] = {-1, -1};
  std::shared_ptr<LogSink> sink_;
  std::shared_ptr<spdlog::logger> logger_;
};

TEST_F(LogSinkTest, WritesEachLineAtOnceOutsideAWorker) {
  logger_->info("one {}", 1);
  EXPECT_EQ(written(), "info one 1\n");
  logger_->warn("two");
  EXPECT_EQ(written(), "warning two\n");
}

TEST_F(LogSinkTest, GathersAWorkersLinesUntilItsLoopHasRunWhatWasReady) {
  asio::io_context io;
  gather_log_lines(io);
  logger_->info("a");
  logger_->info("b");
  EXPECT_EQ(written(), "");  // not yet: the flush waits for the loop
  io.run();
  EXPECT_EQ(written(), "info a\ninfo b\n");
  // The next batch is flushed by the next turn.
  logger_->info("c");
  EXPECT_EQ(written(), "");
  io.restart();
  io.run();
  EXPECT_EQ(written(), "info c\n");
}

TEST_F(LogSinkTest, StoppingWritesWhatWasGathered) {
  asio::io_context io;
  gather_log_lines(io);
  logger_->info("kept");
  stop_gathering_log_lines();
  EXPECT_EQ(written(), "info kept\n");
  logger_->info("now");
  EXPECT_EQ(written(), "info now\n");
}

TEST_F(LogSinkTest, ALargeBatchIsWrittenWithoutWaiting) {
  asio::io_context io;
  gather_log_lines(io);
  const std::string long_text(1000, 'x');
  for (int i = 0; i < 70; ++i) logger_->info("{}", long_text);  // over 64 KiB
  const auto out = written();
  EXPECT_GE(out.size(), 64u * 1024);
  EXPECT_EQ(out.size() % (long_text.size() + 6), 0u);  // whole lines only
}

TEST_F(LogSinkTest, APatternChangeReachesThreadsThatAlreadyLogged) {
  logger_->info("before");
  EXPECT_EQ(written(), "info before\n");
  logger_->set_pattern("[%l] %v");
  logger_->info("after");
  EXPECT_EQ(written(), "[info] after\n");
}

}  // namespace
}  // namespace egressd::io
