// The control commands (docs/control-protocol.md): what each request does, against an
// interface the server implements and tests fake.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/policy.hpp"
#include "core/policy_diff.hpp"
#include "core/problem.hpp"
#include "io/client_activity.hpp"
#include "io/policy_store.hpp"

namespace egressd::server {

// How a reload went. With `applied`, the new snapshot is in force: every rules file
// without errors as it is now, each file with errors as it was (see core::build_snapshot).
// Without it (the config or the rules folder could not be read) the old snapshot stays.
struct ReloadResult {
  bool applied = false;
  bool ok = false;               // applied, and no file had an error
  std::uint64_t generation = 0;  // of the snapshot in force afterwards
  std::size_t clients = 0;       // clients with a rules file in force afterwards
  core::Problems problems;       // errors and warnings of this reload
  core::PolicyDiff changed;      // empty when !applied
  std::size_t tunnels_closed = 0;  // tunnels the new rules deny (recheck_tunnels)
};

// What the control commands act on. Server implements it; tests use a fake. Called on
// the control thread only.
class ControlActions {
 public:
  virtual ~ControlActions() = default;

  virtual io::SnapshotPtr policy() const = 0;
  // Every client any worker knows, merged over the workers.
  virtual std::unordered_map<core::IpAddress, io::ClientStats> activity() = 0;
  virtual std::shared_ptr<const io::ClientSet::Set> stopped() const = 0;
  virtual std::shared_ptr<const io::ClientSet::Set> learning() const = 0;
  virtual std::vector<std::string> listen_addresses() const = 0;
  virtual std::size_t worker_count() const = 0;

  virtual ReloadResult reload() = 0;
  virtual void set_stopped(const std::vector<core::IpAddress>& clients, bool stopped) = 0;
  // Closes the connections of those clients (of every client); returns how many.
  virtual std::size_t close_connections(const std::vector<core::IpAddress>& clients) = 0;
  virtual std::size_t close_all_connections() = 0;
  // Turns learning mode on (forgetting what was learned before) or off (closing the
  // client's tunnels its rules deny, when recheck_tunnels is on).
  virtual void set_learning(const std::vector<core::IpAddress>& clients, bool on) = 0;
  // The client's refusals still in the workers' rings (oldest first, `since` filtered).
  virtual std::vector<io::DeniedRequest> denied(const core::IpAddress& client,
                                                std::optional<io::SystemTime> since) = 0;
  // What learning mode let through for the client, summed over the workers, and how
  // many distinct requests were not kept (over the bound).
  virtual std::vector<io::LearnedRequest> learned(const core::IpAddress& client,
                                                  std::uint64_t& dropped) = 0;
};

// Answers one request object. Never throws for any JSON input: a request that is not an
// object with a "command" string, an unknown command, bad "clients" or an unknown client
// name give {"ok": false, "error": ...} and no side effect.
nlohmann::json dispatch_control_request(const nlohmann::json& request, ControlActions& actions);

struct ControlAnswer {
  nlohmann::json answer;
  bool close = false;  // the line was not a JSON object: answer, then close the connection
  // A valid "watch": after the answer, the connection streams decisions (of this client
  // only, when set) until either side closes it.
  bool watch = false;
  std::optional<core::IpAddress> watch_client{};
};

// {"ok": false, "error": message}.
nlohmann::json control_failure(std::string message);

// Parses one request line (without its '\n') and dispatches it.
ControlAnswer answer_control_line(std::string_view line, ControlActions& actions);

// "2026-11-23T10:00:00Z".
std::string format_utc(io::SystemTime time);

}  // namespace egressd::server
