// Tests for the sandbox (server/sandbox): the paths it keeps readable, and what a process
// can still do once inside. enter_sandbox() cannot be undone, so each check runs in a
// forked child that reports back through a pipe.
#include "server/sandbox.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/landlock.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>

namespace egressd::server {
namespace {

namespace fs = std::filesystem;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif

int landlock_abi() {
  const long abi =
      ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  return abi < 0 ? 0 : static_cast<int>(abi);
}

class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "egressd-sandbox-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

// Runs `body` in a forked child after enter_sandbox(paths); returns what the child
// reported: "" when every check in it held, otherwise the failures, one per line.
std::string in_sandbox(const SandboxPaths& paths,
                       const std::function<void(std::string& failures)>& body) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) return "pipe failed";
  const pid_t child = ::fork();
  if (child < 0) return "fork failed";
  if (child == 0) {
    ::close(pipe_fds[0]);
    SandboxState state;
    std::string failures = enter_sandbox(paths, state);
    if (failures.empty()) body(failures);
    if (failures.empty()) failures = "ok";
    const auto written = ::write(pipe_fds[1], failures.data(), failures.size());
    ::_exit(written < 0 ? 2 : 0);
  }
  ::close(pipe_fds[1]);
  std::string report;
  char buffer[512];
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0;) report.append(buffer, n);
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return "child ended badly (status " + std::to_string(status) + "): " + report;
  // Nothing at all: the child became another program (exec was not refused).
  if (report.empty()) return "the child reported nothing";
  return report == "ok" ? "" : report;
}

// Records a failure unless `result` is -1 with errno `expected`.
void expect_refused(std::string& failures, const char* what, long result, int expected) {
  const int error = errno;
  if (result == -1 && error == expected) return;
  failures += std::string(what) + ": expected " + std::strerror(expected) + ", got " +
              (result == -1 ? std::strerror(error) : "success") + "\n";
}

void expect_ok(std::string& failures, const char* what, long result) {
  if (result != -1) return;
  failures += std::string(what) + ": " + std::strerror(errno) + "\n";
}

bool can_read(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char c;
  const bool ok = ::read(fd, &c, 1) >= 0;
  ::close(fd);
  return ok;
}

TEST(SandboxPaths, KeepsTheConfigFolderAndTheRulesFoldersParent) {
  TempDir dir;
  fs::create_directories(dir.path() / "etc" / "rules");
  write_file(dir.path() / "etc" / "egressd.toml", "");
  const auto paths = sandbox_paths((dir.path() / "etc" / "egressd.toml").string(),
                                   (dir.path() / "etc" / "rules").string());
  ASSERT_EQ(paths.folders.size() - (kSanitized ? 1 : 0), 1u);
  EXPECT_EQ(paths.folders[0], (dir.path() / "etc").string());
}

TEST(SandboxPaths, AMissingRulesFolderKeepsItsNearestExistingAncestor) {
  TempDir dir;
  write_file(dir.path() / "egressd.toml", "");
  const auto paths = sandbox_paths((dir.path() / "egressd.toml").string(),
                                   (dir.path() / "not" / "yet" / "rules").string());
  ASSERT_GE(paths.folders.size(), 1u);
  EXPECT_EQ(paths.folders[0], dir.path().string());
  EXPECT_EQ(paths.folders.size() - (kSanitized ? 1 : 0), 1u);
}

TEST(SandboxPaths, RelativePathsAreTakenFromTheWorkingDirectory) {
  const auto paths = sandbox_paths("egressd.toml", "rules");
  ASSERT_GE(paths.folders.size(), 1u);
  EXPECT_EQ(paths.folders[0], fs::current_path().lexically_normal().string());
}

TEST(SandboxPaths, KeepsTheResolversFiles) {
  const auto paths = sandbox_paths("", "");
  if (fs::exists("/etc/hosts")) {
    EXPECT_NE(std::find(paths.files.begin(), paths.files.end(), "/etc/hosts"), paths.files.end());
  }
  if (fs::exists("/etc/resolv.conf")) {
    EXPECT_NE(std::find(paths.files.begin(), paths.files.end(), "/etc/resolv.conf"),
              paths.files.end());
  }
  EXPECT_EQ(paths.folders.size(), kSanitized ? 1u : 0u);
}

TEST(SandboxAllows, OnlyPathsBeneathAKeptFolder) {
  SandboxPaths paths;
  paths.folders = {"/etc/egressd"};
  EXPECT_TRUE(sandbox_allows(paths, "/etc/egressd"));
  EXPECT_TRUE(sandbox_allows(paths, "/etc/egressd/rules"));
  EXPECT_TRUE(sandbox_allows(paths, "/etc/egressd/rules/"));
  EXPECT_FALSE(sandbox_allows(paths, "/etc/egressd-other/rules"));
  EXPECT_FALSE(sandbox_allows(paths, "/etc/egressd/../shadow"));
  EXPECT_FALSE(sandbox_allows(paths, "/etc"));
  EXPECT_FALSE(sandbox_allows(paths, "/srv/rules"));
}

TEST(Sandbox, ReadsOnlyWhatItKeptAndWritesNothing) {
  if (landlock_abi() == 0) GTEST_SKIP() << "this kernel has no Landlock";
  TempDir dir;
  fs::create_directories(dir.path() / "kept" / "rules");
  fs::create_directories(dir.path() / "other");
  write_file(dir.path() / "kept" / "egressd.toml", "x");
  write_file(dir.path() / "kept" / "rules" / "a.b", "x");
  write_file(dir.path() / "other" / "secret", "x");
  const auto paths = sandbox_paths((dir.path() / "kept" / "egressd.toml").string(),
                                   (dir.path() / "kept" / "rules").string());
  const auto failures = in_sandbox(paths, [&](std::string& f) {
    if (!can_read(dir.path() / "kept" / "egressd.toml")) f += "cannot read the config\n";
    if (!can_read(dir.path() / "kept" / "rules" / "a.b")) f += "cannot read a rules file\n";
    if (!can_read("/etc/hosts") && fs::exists("/etc/hosts")) f += "cannot read /etc/hosts\n";
    std::error_code ec;
    if (!fs::is_directory(dir.path() / "kept" / "rules", ec)) f += "cannot see the rules folder\n";
    expect_refused(f, "read outside",
                   ::open((dir.path() / "other" / "secret").c_str(), O_RDONLY | O_CLOEXEC),
                   EACCES);
    expect_refused(f, "read /etc/passwd", ::open("/etc/passwd", O_RDONLY | O_CLOEXEC), EACCES);
    expect_refused(f, "write a kept file",
                   ::open((dir.path() / "kept" / "egressd.toml").c_str(), O_WRONLY | O_CLOEXEC),
                   EACCES);
    expect_refused(f, "create a file",
                   ::open((dir.path() / "kept" / "new").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC,
                          0600),
                   EACCES);
    expect_refused(f, "remove a file", ::unlink((dir.path() / "kept" / "rules" / "a.b").c_str()),
                   EACCES);
    expect_refused(f, "make a folder", ::mkdir((dir.path() / "kept" / "d").c_str(), 0700), EACCES);
  });
  EXPECT_EQ(failures, "");
}

TEST(Sandbox, NoNewListeningSocketsAndNoSignalsOutside) {
  const int abi = landlock_abi();
  if (abi < 4) GTEST_SKIP() << "Landlock ABI " << abi << " cannot restrict TCP";
  const auto failures = in_sandbox(sandbox_paths("", ""), [&](std::string& f) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    expect_ok(f, "tcp socket", fd);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    expect_refused(f, "bind", ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address),
                   EACCES);
    ::close(fd);
    if (abi >= 6) expect_refused(f, "signal the parent", ::kill(::getppid(), 0), EPERM);
  });
  EXPECT_EQ(failures, "");
}

TEST(Sandbox, RefusesTheSystemCallsEgressdNeverMakes) {
  const auto failures = in_sandbox(sandbox_paths("", ""), [&](std::string& f) {
    // A target that does not exist: refused by the filter (EPERM) before the kernel
    // would look for it (ENOENT), and harmless if the filter failed.
    expect_refused(f, "mount", ::mount("none", "/nonexistent-egressd-test", "tmpfs", 0, nullptr),
                   EPERM);
    expect_refused(f, "unshare", ::unshare(CLONE_NEWNET), EPERM);
    expect_refused(f, "setuid", ::setuid(0), EPERM);
    expect_refused(f, "packet socket", ::socket(AF_PACKET, SOCK_RAW, 0), EAFNOSUPPORT);
    expect_refused(f, "bluetooth socket", ::socket(31, SOCK_STREAM, 0), EAFNOSUPPORT);
    expect_refused(f, "raw IPv4 socket", ::socket(AF_INET, SOCK_RAW, IPPROTO_ICMP), EPERM);
    expect_refused(f, "raw IPv6 socket", ::socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, 58), EPERM);
    expect_refused(f, "bpf", ::syscall(SYS_bpf, 0, nullptr, 0), EPERM);
    expect_refused(f, "io_uring", ::syscall(SYS_io_uring_setup, 1, nullptr), EPERM);
    // What egressd does use still works.
    for (const int family : {AF_INET, AF_INET6, AF_UNIX}) {
      const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
      expect_ok(f, "stream socket", fd);
      if (fd >= 0) ::close(fd);
    }
    const int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    expect_ok(f, "udp socket", udp);
    if (udp >= 0) ::close(udp);
    const int netlink = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0);
    expect_ok(f, "netlink socket", netlink);
    if (netlink >= 0) ::close(netlink);
    bool ran = false;
    std::thread thread([&] { ran = true; });
    thread.join();
    if (!ran) f += "a thread did not run\n";
    if (kSanitized) return;  // the sanitizers need fork, exec and ptrace to report
    const long forked = ::syscall(SYS_fork);
    if (forked == 0) ::_exit(0);  // not refused: the new process leaves at once
    if (forked > 0) ::waitpid(static_cast<pid_t>(forked), nullptr, 0);
    expect_refused(f, "fork", forked > 0 ? 0 : forked, EPERM);
    char* const argv[] = {const_cast<char*>("/bin/true"), nullptr};
    expect_refused(f, "execve", ::execve("/bin/true", argv, nullptr), EPERM);
    expect_refused(f, "ptrace", ::syscall(SYS_ptrace, 0, 0, 0, 0), EPERM);
  });
  EXPECT_EQ(failures, "");
}

}  // namespace
}  // namespace egressd::server
