// The log's one sink: formatted lines to a file descriptor (stderr), gathered per worker.
#pragma once

#include <spdlog/formatter.h>
#include <spdlog/sinks/sink.h>

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>

#include "io/asio.hpp"

namespace egressd::io {

// Writes every log line to `fd`. On a thread that called gather_log_lines(io), lines are
// kept in that thread's buffer and written together once `io` has run the handlers that
// were ready (a flush is posted with the first line of a batch), or as soon as 64 KiB have
// gathered: under load one write carries many decision lines instead of one each, and when
// idle a line still goes out within the same turn of the event loop. On other threads
// (the control thread, start-up) each line is written at once. Whole buffers are written
// one at a time, so lines never interleave. A crash loses at most the lines of the
// current turn of one worker. Thread-safe.
class LogSink final : public spdlog::sinks::sink {
 public:
  explicit LogSink(int fd);
  void log(const spdlog::details::log_msg& msg) override;
  void flush() override;  // the calling thread's gathered lines
  void set_pattern(const std::string& pattern) override;
  void set_formatter(std::unique_ptr<spdlog::formatter> formatter) override;

  // Writes `size` bytes, retrying short writes; errors drop the lines (there is nowhere
  // to report them).
  void write_all(const char* data, std::size_t size);

 private:
  int fd_;
  std::mutex formatter_mutex_;  // guards formatter_ and generation_
  std::unique_ptr<spdlog::formatter> formatter_;
  unsigned generation_ = 1;     // bumped when the pattern changes: threads copy it again
  std::mutex write_mutex_;
};

// Lines laid out as tinyproxy writes its log ("NOTICE    Nov 23 20:00:00.123 [1234]: ..."),
// for the tinyproxy-compatible mode: scripts that read tinyproxy's log keep working.
// Levels: critical CRITICAL, error ERROR, warning WARNING, info NOTICE, below INFO.
std::unique_ptr<spdlog::formatter> tinyproxy_log_formatter();

// From now on, the log lines of the calling thread are gathered and written per turn of
// `io`, which this thread runs. Call stop_gathering_log_lines() before the thread ends.
void gather_log_lines(asio::io_context& io);
// Writes what the calling thread has gathered and goes back to writing each line at once.
void stop_gathering_log_lines();

}  // namespace egressd::io
