// Running other programs (nft, iptables, ip) without a shell: argv in, exit status and
// captured output back, with a deadline.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace egressd::ctl {

struct CommandResult {
  bool started = false;   // false: fork/exec failed; see `error`
  bool timed_out = false; // killed (SIGKILL) after the deadline
  int exit_code = -1;     // exit status, or 128 + signal number when killed by a signal
  std::string out;        // stdout, at most kOutputLimit bytes
  std::string err;        // stderr, at most kOutputLimit bytes
  std::string error;      // why it did not start or did not finish, for people

  bool ok() const { return started && !timed_out && exit_code == 0; }
  // stderr (or stdout, or `error`) trimmed to one readable message.
  std::string message() const;
};

inline constexpr std::size_t kOutputLimit = 16 * 1024 * 1024;

// Runs argv[0] (an absolute path, as returned by find_program) with argv[1..], feeding
// `input` on its stdin and capturing stdout and stderr. Never uses a shell. The child gets
// the caller's environment and default signal dispositions. When `timeout` passes the
// child is killed and the result says timed_out. Output beyond kOutputLimit is dropped.
// Never throws for failures of the command itself; they are in the result.
// The caller must ignore SIGPIPE (egressctl's main does), so that a child that exits
// without reading its input cannot kill the caller.
CommandResult run_command(const std::vector<std::string>& argv, std::string_view input = {},
                          std::chrono::milliseconds timeout = std::chrono::seconds(30));

// The absolute path of an executable `name`, searched in $PATH, then /usr/sbin and /sbin
// (root tools such as nft live there and are often not in a user's PATH).
// nullopt when not found.
std::optional<std::string> find_program(std::string_view name);

}  // namespace egressd::ctl
