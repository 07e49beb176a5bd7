// A blocking client of egressd's control socket: one JSON line out, one JSON line back
// (protocol in docs/control-protocol.md).
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace egressd::ctl {

// What became of one request.
struct ControlOutcome {
  enum class Status {
    answered,        // `answer` holds the daemon's JSON object (its "ok" may still be false)
    cannot_connect,  // no daemon at the socket path (or no permission); see `error`
    failed,          // connected, but no valid answer (closed, timed out, not JSON)
  };
  Status status = Status::failed;
  nlohmann::json answer;  // a JSON object when answered
  std::string error;      // one sentence for people when not answered
  int connect_errno = 0;  // errno of connect() when cannot_connect
};

// Talks to egressd on one unix stream socket connection, opened on the first request
// and kept for the next ones. Not thread-safe.
class ControlClient {
 public:
  // Answers longer than this are refused (the connection is then closed).
  static constexpr std::size_t kMaxAnswerBytes = 16 * 1024 * 1024;

  explicit ControlClient(std::string socket_path,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));
  ~ControlClient();
  ControlClient(const ControlClient&) = delete;
  ControlClient& operator=(const ControlClient&) = delete;

  const std::string& socket_path() const { return socket_path_; }

  // Sends `request` as one line and waits (at most `timeout` for the whole exchange) for
  // one answer line, which must be a JSON object. After a `failed` outcome the connection
  // is closed; the next request reconnects.
  ControlOutcome request(const nlohmann::json& request);

  // Waits for the next line of a streaming answer (watch), without a deadline when
  // `deadline` is nullopt. The same outcomes as request().
  ControlOutcome receive(
      std::optional<std::chrono::steady_clock::time_point> deadline = std::nullopt);

 private:
  bool connect(ControlOutcome& outcome, std::chrono::steady_clock::time_point deadline);
  void close();

  std::string socket_path_;
  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  std::string pending_;  // bytes received after the last answer line
};

}  // namespace egressd::ctl
