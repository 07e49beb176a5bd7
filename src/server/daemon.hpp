// Running in the background as tinyproxy does without -d, and the pid file.
#pragma once

#include <string>

namespace egressd::server {

// Detaches from the terminal before any thread starts. The process forks: the parent
// waits until the child says it serves (ready(): the parent exits 0) or ends (the parent
// exits with the child's status), so that the command's exit status says whether egressd
// started, and its errors until then still reach the terminal. Returns in the child,
// which has started a new session; never returns in the parent.
class Detached {
 public:
  static Detached detach();
  Detached(Detached&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Detached(const Detached&) = delete;
  Detached& operator=(const Detached&) = delete;
  Detached& operator=(Detached&&) = delete;
  ~Detached();

  // The child serves: the parent exits 0; standard input, output and error go to /dev/null
  // (the log should then go to a file or to syslog).
  void ready();

 private:
  explicit Detached(int fd) : fd_(fd) {}
  int fd_ = -1;  // the pipe's write end, to the waiting parent
};

// Writes this process's id and a newline to `path` (created or replaced, mode 0644).
// Returns "" or one sentence naming the file and the reason.
std::string write_pid_file(const std::string& path);

// Removes `path`, as tinyproxy does at exit. Returns "" or why it could not.
std::string remove_pid_file(const std::string& path);

}  // namespace egressd::server
