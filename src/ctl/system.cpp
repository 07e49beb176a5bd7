// Running other programs without a shell: fork, exec, poll on the pipes, deadline.
#include "ctl/system.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace egressd::ctl {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

// A file descriptor that closes itself.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// pipe2 with close-on-exec on both ends; the child dup2s what it needs.
bool make_pipe(Fd& read_end, Fd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return false;
  read_end.reset(fds[0]);
  write_end.reset(fds[1]);
  return true;
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

std::string trim(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '\r'))
    text.remove_suffix(1);
  while (!text.empty() && (text.front() == '\n' || text.front() == ' ')) text.remove_prefix(1);
  return std::string(text);
}

bool is_executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

}  // namespace

std::string CommandResult::message() const {
  if (!started || timed_out) return error;
  std::string text = trim(err);
  if (text.empty()) text = trim(out);
  if (text.empty()) text = "exit status " + std::to_string(exit_code);
  return text;
}

std::optional<std::string> find_program(std::string_view name) {
  if (name.empty()) return std::nullopt;
  if (name.find('/') != std::string_view::npos) {
    std::string path(name);
    return is_executable_file(path) ? std::optional(path) : std::nullopt;
  }
  std::vector<std::string> dirs;
  if (const char* path_env = std::getenv("PATH")) {
    std::string_view rest = path_env;
    while (true) {
      auto colon = rest.find(':');
      std::string_view dir = rest.substr(0, colon);
      if (!dir.empty()) dirs.emplace_back(dir);
      if (colon == std::string_view::npos) break;
      rest.remove_prefix(colon + 1);
    }
  }
  dirs.emplace_back("/usr/sbin");
  dirs.emplace_back("/sbin");
  for (const auto& dir : dirs) {
    std::string candidate = dir + "/" + std::string(name);
    if (is_executable_file(candidate)) return candidate;
  }
  return std::nullopt;
}

CommandResult run_command(const std::vector<std::string>& argv, std::string_view input,
                          std::chrono::milliseconds timeout) {
  CommandResult result;
  if (argv.empty()) {
    result.error = "no command given";
    return result;
  }
  Fd in_r, in_w, out_r, out_w, err_r, err_w;
  if (!make_pipe(in_r, in_w) || !make_pipe(out_r, out_w) || !make_pipe(err_r, err_w)) {
    result.error = "cannot run " + argv[0] + ": pipe: " + errno_text(errno);
    return result;
  }
  // A pipe reporting exec failure: the child writes errno into it if execv returns.
  Fd exec_r, exec_w;
  if (!make_pipe(exec_r, exec_w)) {
    result.error = "cannot run " + argv[0] + ": pipe: " + errno_text(errno);
    return result;
  }

  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid < 0) {
    result.error = "cannot run " + argv[0] + ": fork: " + errno_text(errno);
    return result;
  }
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    ::dup2(in_r.get(), 0);
    ::dup2(out_w.get(), 1);
    ::dup2(err_w.get(), 2);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    ::sigaction(SIGPIPE, &dfl, nullptr);  // an ignored SIGPIPE would survive exec
    ::execv(args[0], args.data());
    int err = errno;
    [[maybe_unused]] auto n = ::write(exec_w.get(), &err, sizeof err);
    ::_exit(127);
  }

  in_r.reset();
  out_w.reset();
  err_w.reset();
  exec_w.reset();

  int exec_errno = 0;
  if (::read(exec_r.get(), &exec_errno, sizeof exec_errno) == sizeof exec_errno) {
    int status = 0;
    ::waitpid(pid, &status, 0);
    result.error = "cannot run " + argv[0] + ": " + errno_text(exec_errno);
    return result;
  }
  result.started = true;

  set_nonblocking(in_w.get());
  set_nonblocking(out_r.get());
  set_nonblocking(err_r.get());
  if (input.empty()) in_w.reset();

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::array<char, 65536> buffer{};
  while (out_r.get() >= 0 || err_r.get() >= 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.timed_out = true;
      break;
    }
    std::array<pollfd, 3> fds{};
    nfds_t n = 0;
    Fd* owners[3];
    std::string* sinks[3];
    auto watch = [&](Fd& fd, short events, std::string* sink) {
      if (fd.get() < 0) return;
      fds[n] = pollfd{fd.get(), events, 0};
      owners[n] = &fd;
      sinks[n] = sink;
      ++n;
    };
    watch(out_r, POLLIN, &result.out);
    watch(err_r, POLLIN, &result.err);
    watch(in_w, POLLOUT, nullptr);
    int ready = ::poll(fds.data(), n, static_cast<int>(left.count()));
    if (ready < 0) {
      if (errno == EINTR) continue;
      result.error = "poll: " + errno_text(errno);
      result.timed_out = true;
      break;
    }
    for (nfds_t i = 0; i < n; ++i) {
      if (fds[i].revents == 0) continue;
      if (sinks[i] == nullptr) {  // stdin of the child
        ssize_t w = ::write(fds[i].fd, input.data(), input.size());
        if (w > 0) input.remove_prefix(static_cast<std::size_t>(w));
        if (w < 0 && errno != EAGAIN && errno != EINTR) input = {};  // EPIPE: child quit
        if (input.empty()) owners[i]->reset();
        continue;
      }
      ssize_t r = ::read(fds[i].fd, buffer.data(), buffer.size());
      if (r > 0) {
        std::size_t room = kOutputLimit - std::min(kOutputLimit, sinks[i]->size());
        sinks[i]->append(buffer.data(), std::min(room, static_cast<std::size_t>(r)));
      } else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
        owners[i]->reset();
      }
    }
  }
  in_w.reset();

  int status = 0;
  if (result.timed_out) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    if (result.error.empty())
      result.error = argv[0] + " did not finish within " +
                     std::to_string(timeout.count() / 1000) + " s and was stopped";
    return result;
  }
  // Output closed; the child is exiting. Wait for it, still within the deadline.
  while (true) {
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      result.timed_out = true;
      result.error = argv[0] + " did not finish within " +
                     std::to_string(timeout.count() / 1000) + " s and was stopped";
      return result;
    }
    ::usleep(1000);
  }
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.exit_code = 128 + WTERMSIG(status);
  }
  return result;
}

}  // namespace egressd::ctl
