// Blocking control socket client: non-blocking socket plus poll, so every step keeps the
// one deadline of the request.
#include "ctl/control_client.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace egressd::ctl {
namespace {

using Clock = std::chrono::steady_clock;

int millis_left(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(std::min<long long>(left.count(), 1 << 30));
}

// Waits for `events` on fd until the deadline. Returns false on timeout.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  while (true) {
    pollfd p{fd, events, 0};
    int ready = ::poll(&p, 1, millis_left(deadline));
    if (ready > 0) return true;
    if (ready == 0) return false;
    if (errno != EINTR) return true;  // let the following read/write report the error
  }
}

}  // namespace

ControlClient::ControlClient(std::string socket_path, std::chrono::milliseconds timeout)
    : socket_path_(std::move(socket_path)), timeout_(timeout) {}

ControlClient::~ControlClient() { close(); }

void ControlClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  pending_.clear();
}

bool ControlClient::connect(ControlOutcome& outcome, Clock::time_point deadline) {
  auto fail = [&](int err) {
    outcome.status = ControlOutcome::Status::cannot_connect;
    outcome.connect_errno = err;
    outcome.error = "cannot connect to " + socket_path_ + ": " + std::strerror(err);
    close();
    return false;
  };
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path_.empty() || socket_path_.size() >= sizeof addr.sun_path) {
    return fail(socket_path_.empty() ? ENOENT : ENAMETOOLONG);
  }
  std::memcpy(addr.sun_path, socket_path_.data(), socket_path_.size());
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) return fail(errno);
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) return true;
  if (errno != EINPROGRESS && errno != EAGAIN) return fail(errno);
  // A full listen backlog: wait for the daemon to accept.
  if (!wait_for(fd_, POLLOUT, deadline)) return fail(ETIMEDOUT);
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) return fail(err);
  return true;
}

ControlOutcome ControlClient::request(const nlohmann::json& request) {
  ControlOutcome outcome;
  const auto deadline = Clock::now() + timeout_;
  auto failed = [&](std::string why) {
    outcome.status = ControlOutcome::Status::failed;
    outcome.error = std::move(why);
    close();
    return outcome;
  };
  if (fd_ < 0 && !connect(outcome, deadline)) return outcome;

  std::string line = request.dump() + "\n";
  std::string_view rest = line;
  while (!rest.empty()) {
    ssize_t n = ::send(fd_, rest.data(), rest.size(), MSG_NOSIGNAL);
    if (n > 0) {
      rest.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      if (!wait_for(fd_, POLLOUT, deadline)) return failed("egressd did not take the request in time");
      continue;
    }
    return failed(std::string("cannot send to egressd: ") + std::strerror(errno));
  }

  return receive(deadline);
}

ControlOutcome ControlClient::receive(std::optional<Clock::time_point> deadline) {
  ControlOutcome outcome;
  auto failed = [&](std::string why) {
    outcome.status = ControlOutcome::Status::failed;
    outcome.error = std::move(why);
    close();
    return outcome;
  };
  if (fd_ < 0) return failed("not connected to egressd");
  std::array<char, 65536> buffer{};
  std::size_t newline;
  while ((newline = pending_.find('\n')) == std::string::npos) {
    if (pending_.size() > kMaxAnswerBytes) return failed("egressd's answer is too long");
    ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
    if (n > 0) {
      pending_.append(buffer.data(), static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) return failed("egressd closed the connection without answering");
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      const auto until = deadline.value_or(Clock::time_point::max());
      if (!wait_for(fd_, POLLIN, until)) {
        return failed("egressd did not answer within " +
                      std::to_string(timeout_.count() / 1000) + " s");
      }
      continue;
    }
    return failed(std::string("cannot read egressd's answer: ") + std::strerror(errno));
  }
  if (newline > kMaxAnswerBytes) return failed("egressd's answer is too long");
  std::string answer_line = pending_.substr(0, newline);
  pending_.erase(0, newline + 1);

  auto answer = nlohmann::json::parse(answer_line, nullptr, /*allow_exceptions=*/false);
  if (answer.is_discarded() || !answer.is_object()) {
    return failed("egressd's answer is not a JSON object");
  }
  outcome.status = ControlOutcome::Status::answered;
  outcome.answer = std::move(answer);
  return outcome;
}

}  // namespace egressd::ctl
