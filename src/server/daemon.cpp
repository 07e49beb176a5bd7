// Running in the background as tinyproxy does without -d, and the pid file.
#include "server/daemon.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <cstring>

namespace egressd::server {

Detached Detached::detach() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    std::fprintf(stderr, "cannot go to the background: pipe: %s\n", std::strerror(errno));
    std::exit(1);
  }
  const pid_t child = ::fork();
  if (child < 0) {
    std::fprintf(stderr, "cannot go to the background: fork: %s\n", std::strerror(errno));
    std::exit(1);
  }
  if (child > 0) {
    ::close(fds[1]);
    char byte = 0;
    ssize_t n = 0;
    do {
      n = ::read(fds[0], &byte, 1);
    } while (n < 0 && errno == EINTR);
    if (n == 1) std::_Exit(0);
    // The child ended before it served: its status is ours.
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    std::_Exit(WIFEXITED(status) && WEXITSTATUS(status) != 0 ? WEXITSTATUS(status) : 1);
  }
  ::close(fds[0]);
  ::setsid();
  return Detached(fds[1]);
}

Detached::~Detached() {
  if (fd_ >= 0) ::close(fd_);
}

void Detached::ready() {
  if (fd_ < 0) return;
  const int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    ::dup2(null, STDIN_FILENO);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(null, STDERR_FILENO);
    if (null > STDERR_FILENO) ::close(null);
  }
  const char byte = 1;
  while (::write(fd_, &byte, 1) < 0 && errno == EINTR) {
  }
  ::close(fd_);
  fd_ = -1;
}

std::string write_pid_file(const std::string& path) {
  const std::string text = std::to_string(::getpid()) + "\n";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) return "cannot write the pid file " + path + ": " + std::strerror(errno);
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const int error = errno;
  ::close(fd);
  if (!ok) return "cannot write the pid file " + path + ": " + std::strerror(error);
  return "";
}

std::string remove_pid_file(const std::string& path) {
  if (::unlink(path.c_str()) != 0) {
    return "cannot remove the pid file " + path + ": " + std::strerror(errno);
  }
  return "";
}

}  // namespace egressd::server
