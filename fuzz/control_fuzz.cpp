// Fuzz target: any line on the control socket gets a JSON object answer with "ok", never a
// crash or an exception, and a command that fails changes nothing.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/policy.hpp"
#include "fuzz_check.hpp"
#include "server/control_commands.hpp"

namespace {

using egressd::core::IpAddress;

// Answers from fixed values and counts what would change the daemon's state.
class Actions final : public egressd::server::ControlActions {
 public:
  Actions() {
    egressd::core::Config config;
    config.rules_dir = "/rules";
    config.clients["dev"].mode = egressd::core::ListMode::block_list;
    snapshot_ = egressd::core::build_snapshot(
                    config,
                    {{"work.10.0.0.1", "/rules/work.10.0.0.1", "^a\\.test$\ndomain:b.test\n", {}},
                     {"dev.fd00::2", "/rules/dev.fd00::2", "ads\n", {}},
                     {"bad.10.0.0.3", "/rules/bad.10.0.0.3", "(x\n", {}}},
                    1)
                    .snapshot;
  }
  egressd::io::SnapshotPtr policy() const override { return snapshot_; }
  std::unordered_map<IpAddress, egressd::io::ClientStats> activity() override { return {}; }
  std::shared_ptr<const egressd::io::ClientSet::Set> stopped() const override {
    return std::make_shared<const egressd::io::ClientSet::Set>();
  }
  std::shared_ptr<const egressd::io::ClientSet::Set> learning() const override {
    return std::make_shared<const egressd::io::ClientSet::Set>();
  }
  std::vector<std::string> listen_addresses() const override { return {"127.0.0.1:8100"}; }
  std::size_t worker_count() const override { return 1; }
  egressd::server::ReloadResult reload() override {
    ++changes;
    egressd::server::ReloadResult result;
    result.applied = result.ok = true;
    result.generation = 2;
    return result;
  }
  void set_stopped(const std::vector<IpAddress>&, bool) override { ++changes; }
  std::size_t close_connections(const std::vector<IpAddress>& clients) override {
    ++changes;
    return clients.size();
  }
  std::size_t close_all_connections() override {
    ++changes;
    return 0;
  }
  void set_learning(const std::vector<IpAddress>&, bool) override { ++changes; }
  std::vector<egressd::io::DeniedRequest> denied(const IpAddress& client,
                                                 std::optional<egressd::io::SystemTime>) override {
    return {{client, "x.test", 443, true, egressd::io::SystemTime{}}};
  }
  std::vector<egressd::io::LearnedRequest> learned(const IpAddress&,
                                                   std::uint64_t& dropped) override {
    dropped = 0;
    return {{"y.test", 80, false, 2}};
  }

  int changes = 0;

 private:
  egressd::io::SnapshotPtr snapshot_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Actions actions;
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  const int before = actions.changes;
  const auto reply = egressd::server::answer_control_line(line, actions);
  FUZZ_CHECK(reply.answer.is_object());
  FUZZ_CHECK(reply.answer.contains("ok") && reply.answer["ok"].is_boolean());
  if (!reply.answer["ok"].get<bool>() && !reply.answer.contains("applied")) {
    FUZZ_CHECK(reply.answer.contains("error") && reply.answer["error"].is_string());
    FUZZ_CHECK(actions.changes == before);  // a refused command did nothing
  }
  // The answer always serialises (invalid UTF-8 in names is replaced, not thrown).
  (void)reply.answer.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return 0;
}
