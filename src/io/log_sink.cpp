#include "io/log_sink.hpp"

#include <spdlog/pattern_formatter.h>
#include <unistd.h>

#include <cerrno>
#include <string_view>

namespace egressd::io {
namespace {

constexpr std::size_t kFlushAt = 64 * 1024;

// What one thread keeps for the log.
struct ThreadLog {
  asio::io_context* io = nullptr;  // gathering for this event loop; null: write at once
  bool flush_posted = false;
  std::string lines;               // gathered, not written yet
  LogSink* sink = nullptr;         // the sink the gathered lines go to
  std::unique_ptr<spdlog::formatter> formatter;  // this thread's copy (formatters cache)
  unsigned generation = 0;

  void flush() {
    if (lines.empty() || sink == nullptr) return;
    sink->write_all(lines.data(), lines.size());
    lines.clear();
    if (lines.capacity() > 4 * kFlushAt) lines.shrink_to_fit();
  }
};

thread_local ThreadLog t_log;

// tinyproxy's level names, padded to its column.
class TinyproxyLevel final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm& /*time*/,
              spdlog::memory_buf_t& dest) override {
    std::string_view name = "INFO";
    switch (msg.level) {
      case spdlog::level::critical:
        name = "CRITICAL";
        break;
      case spdlog::level::err:
        name = "ERROR";
        break;
      case spdlog::level::warn:
        name = "WARNING";
        break;
      case spdlog::level::info:
        name = "NOTICE";
        break;
      default:
        break;
    }
    dest.append(name.data(), name.data() + name.size());
    for (std::size_t i = name.size(); i < 9; ++i) dest.push_back(' ');
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<TinyproxyLevel>();
  }
};

}  // namespace

std::unique_ptr<spdlog::formatter> tinyproxy_log_formatter() {
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<TinyproxyLevel>('*').set_pattern("%* %b %d %H:%M:%S.%e [%P]: %v");
  return formatter;
}

LogSink::LogSink(int fd) : fd_(fd), formatter_(std::make_unique<spdlog::pattern_formatter>()) {}

void LogSink::log(const spdlog::details::log_msg& msg) {
  ThreadLog& local = t_log;
  if (local.sink != this) {
    local.flush();
    local.sink = this;
  }
  {
    std::lock_guard lock(formatter_mutex_);
    if (!local.formatter || local.generation != generation_) {
      local.formatter = formatter_->clone();
      local.generation = generation_;
    }
  }
  spdlog::memory_buf_t line;
  local.formatter->format(msg, line);
  if (local.io == nullptr) {
    write_all(line.data(), line.size());
    return;
  }
  local.lines.append(line.data(), line.size());
  if (local.lines.size() >= kFlushAt) {
    local.flush();
  } else if (!local.flush_posted) {
    local.flush_posted = true;
    // Runs on this same thread (it runs `io`), after the handlers already queued.
    asio::post(*local.io, [] {
      t_log.flush_posted = false;
      t_log.flush();
    });
  }
}

void LogSink::flush() {
  if (t_log.sink == this) t_log.flush();
}

void LogSink::set_pattern(const std::string& pattern) {
  set_formatter(std::make_unique<spdlog::pattern_formatter>(pattern));
}

void LogSink::set_formatter(std::unique_ptr<spdlog::formatter> formatter) {
  std::lock_guard lock(formatter_mutex_);
  formatter_ = std::move(formatter);
  ++generation_;
}

void LogSink::write_all(const char* data, std::size_t size) {
  std::lock_guard lock(write_mutex_);
  while (size > 0) {
    const ssize_t n = ::write(fd_, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
}

void gather_log_lines(asio::io_context& io) { t_log.io = &io; }

void stop_gathering_log_lines() {
  t_log.flush();
  t_log.io = nullptr;
}

}  // namespace egressd::io
