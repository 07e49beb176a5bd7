#include "server/sandbox.hpp"

#include <fcntl.h>
#include <linux/landlock.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <memory>
#include <sched.h>

namespace egressd::server {
namespace {

// Landlock constants newer than some kernel headers (values are the kernel's ABI).
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
constexpr std::uint64_t kNetBindTcp = 1ULL << 0;          // LANDLOCK_ACCESS_NET_BIND_TCP
constexpr std::uint64_t kScopeAbstractUnix = 1ULL << 0;   // LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET
constexpr std::uint64_t kScopeSignal = 1ULL << 1;         // LANDLOCK_SCOPE_SIGNAL

// struct landlock_ruleset_attr as of ABI 6; older kernels are given a shorter prefix.
struct RulesetAttr {
  std::uint64_t handled_access_fs = 0;
  std::uint64_t handled_access_net = 0;  // ABI 4
  std::uint64_t scoped = 0;              // ABI 6
};

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

std::string error_text(int error) { return std::strerror(error); }

// The path itself if it exists, otherwise its nearest ancestor that does.
std::filesystem::path existing(std::filesystem::path path) {
  std::error_code ec;
  while (!path.empty() && !std::filesystem::exists(path, ec)) {
    if (path == path.root_path()) break;
    path = path.parent_path();
  }
  return path;
}

std::filesystem::path absolute_of(const std::string& path) {
  std::error_code ec;
  auto absolute = std::filesystem::absolute(path, ec);
  if (ec) absolute = path;
  return absolute.lexically_normal();
}

void add_folder(SandboxPaths& paths, const std::filesystem::path& folder) {
  auto text = existing(folder).string();
  if (text.empty()) return;
  for (const auto& known : paths.folders) {
    if (known == text) return;
  }
  paths.folders.push_back(std::move(text));
}

int landlock_abi() {
  const long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0,
                             LANDLOCK_CREATE_RULESET_VERSION);
  return abi < 0 ? 0 : static_cast<int>(abi);
}

std::uint64_t handled_fs(int abi) {
  std::uint64_t access =
      LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
      LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR |
      LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |
      LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |
      LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM;
  if (abi >= 2) access |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3) access |= LANDLOCK_ACCESS_FS_TRUNCATE;
  if (abi >= 5) access |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
  return access;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Grants reading beneath `path` (a folder) or reading `path` (a file). A path that has
// gone since sandbox_paths() looked is skipped: nothing is granted for it.
std::string allow_read(int ruleset, const std::string& path, bool folder) {
  Fd target{::open(path.c_str(), O_PATH | O_CLOEXEC)};
  if (target.fd < 0) return errno == ENOENT ? "" : path + ": " + error_text(errno);
  struct stat st {};
  if (::fstat(target.fd, &st) != 0) return path + ": " + error_text(errno);
  landlock_path_beneath_attr rule{};
  rule.parent_fd = target.fd;
  rule.allowed_access = LANDLOCK_ACCESS_FS_READ_FILE;
  if (folder && S_ISDIR(st.st_mode)) rule.allowed_access |= LANDLOCK_ACCESS_FS_READ_DIR;
  if (::syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) != 0)
    return path + ": " + error_text(errno);
  return "";
}

// Grants removing files beneath `folder`.
std::string allow_remove(int ruleset, const std::string& folder) {
  Fd target{::open(folder.c_str(), O_PATH | O_CLOEXEC | O_DIRECTORY)};
  if (target.fd < 0) return errno == ENOENT ? "" : folder + ": " + error_text(errno);
  landlock_path_beneath_attr rule{};
  rule.parent_fd = target.fd;
  rule.allowed_access = LANDLOCK_ACCESS_FS_REMOVE_FILE;
  if (::syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) != 0)
    return folder + ": " + error_text(errno);
  return "";
}

std::string enter_landlock(const SandboxPaths& paths, SandboxState& state) {
  state.landlock_abi = landlock_abi();
  if (state.landlock_abi == 0) {
    const int error = errno;
    state.landlock_note = error == EOPNOTSUPP ? "Landlock is disabled in this kernel"
                          : error == ENOSYS   ? "this kernel has no Landlock"
                                              : "Landlock: " + error_text(error);
    return "";
  }
  RulesetAttr attr;
  attr.handled_access_fs = handled_fs(state.landlock_abi);
  std::size_t size = sizeof(std::uint64_t);
  if (state.landlock_abi >= 4) {
    attr.handled_access_net = kNetBindTcp;
    size += sizeof(std::uint64_t);
  }
  if (state.landlock_abi >= 6) {
    attr.scoped = kScopeAbstractUnix | kScopeSignal;
    size += sizeof(std::uint64_t);
  }
  Fd ruleset{static_cast<int>(::syscall(SYS_landlock_create_ruleset, &attr, size, 0))};
  if (ruleset.fd < 0) return "cannot create the Landlock ruleset: " + error_text(errno);
  for (const auto& folder : paths.folders) {
    if (auto why = allow_read(ruleset.fd, folder, true); !why.empty())
      return "cannot allow reading " + why;
  }
  for (const auto& file : paths.files) {
    if (auto why = allow_read(ruleset.fd, file, false); !why.empty())
      return "cannot allow reading " + why;
  }
  for (const auto& folder : paths.removable) {
    if (auto why = allow_remove(ruleset.fd, folder); !why.empty())
      return "cannot allow removing files in " + why;
  }
  if (::syscall(SYS_landlock_restrict_self, ruleset.fd, 0) != 0)
    return "cannot enter the Landlock sandbox: " + error_text(errno);
  state.landlock = true;
  return "";
}

struct FilterDeleter {
  void operator()(void* filter) const { seccomp_release(filter); }
};

std::string enter_seccomp(SandboxState& state) {
  std::unique_ptr<void, FilterDeleter> filter(seccomp_init(SCMP_ACT_ALLOW));
  if (!filter) return "cannot create the seccomp filter";
  void* const ctx = filter.get();
  int rc = 0;
  const auto refuse = [&](int syscall, int error = EPERM) {
    if (rc == 0) rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(static_cast<std::uint32_t>(error)),
                                       syscall, 0);
  };
  const auto refuse_if = [&](int syscall, int error, unsigned count, const scmp_arg_cmp* args) {
    if (rc == 0)
      rc = seccomp_rule_add_array(ctx, SCMP_ACT_ERRNO(static_cast<std::uint32_t>(error)),
                                  syscall, count, args);
  };

  // Kernel and system administration.
  for (const int syscall :
       {SCMP_SYS(mount), SCMP_SYS(umount2), SCMP_SYS(pivot_root), SCMP_SYS(chroot),
        SCMP_SYS(unshare), SCMP_SYS(setns), SCMP_SYS(fsopen), SCMP_SYS(fsconfig),
        SCMP_SYS(fsmount), SCMP_SYS(fspick), SCMP_SYS(move_mount), SCMP_SYS(open_tree),
        SCMP_SYS(mount_setattr), SCMP_SYS(init_module), SCMP_SYS(finit_module),
        SCMP_SYS(delete_module), SCMP_SYS(kexec_load), SCMP_SYS(kexec_file_load),
        SCMP_SYS(reboot), SCMP_SYS(swapon), SCMP_SYS(swapoff), SCMP_SYS(acct),
        SCMP_SYS(quotactl), SCMP_SYS(syslog), SCMP_SYS(iopl), SCMP_SYS(ioperm), SCMP_SYS(bpf),
        SCMP_SYS(perf_event_open), SCMP_SYS(userfaultfd), SCMP_SYS(io_uring_setup),
        SCMP_SYS(io_uring_enter), SCMP_SYS(io_uring_register), SCMP_SYS(keyctl),
        SCMP_SYS(add_key), SCMP_SYS(request_key), SCMP_SYS(settimeofday),
        SCMP_SYS(clock_settime), SCMP_SYS(clock_adjtime), SCMP_SYS(adjtimex),
        SCMP_SYS(sethostname), SCMP_SYS(setdomainname), SCMP_SYS(name_to_handle_at),
        SCMP_SYS(open_by_handle_at), SCMP_SYS(process_vm_readv), SCMP_SYS(process_vm_writev),
        SCMP_SYS(kcmp), SCMP_SYS(pidfd_getfd), SCMP_SYS(setuid), SCMP_SYS(setgid),
        SCMP_SYS(setreuid), SCMP_SYS(setregid), SCMP_SYS(setresuid), SCMP_SYS(setresgid),
        SCMP_SYS(setgroups), SCMP_SYS(setfsuid), SCMP_SYS(setfsgid), SCMP_SYS(capset)}) {
    refuse(syscall);
  }

  // New processes and programs. Threads are created with clone(CLONE_THREAD); clone3 is
  // refused with ENOSYS, which makes the C library fall back to clone.
  if (!kSanitized) {
    for (const int syscall : {SCMP_SYS(execve), SCMP_SYS(execveat), SCMP_SYS(fork),
                              SCMP_SYS(vfork), SCMP_SYS(ptrace)}) {
      refuse(syscall);
    }
    const scmp_arg_cmp not_thread[] = {SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0)};
    refuse_if(SCMP_SYS(clone), EPERM, 1, not_thread);
    refuse(SCMP_SYS(clone3), ENOSYS);
  }

  // Sockets: unix, IPv4, IPv6 and netlink (for the host's own addresses) only, and no raw
  // IP sockets.
  for (int family = 0; family <= AF_NETLINK; ++family) {
    if (family == AF_UNIX || family == AF_INET || family == AF_INET6 || family == AF_NETLINK)
      continue;
    const scmp_arg_cmp is_family[] = {
        SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(family))};
    refuse_if(SCMP_SYS(socket), EAFNOSUPPORT, 1, is_family);
  }
  const scmp_arg_cmp later_family[] = {SCMP_A0(SCMP_CMP_GT, AF_NETLINK)};
  refuse_if(SCMP_SYS(socket), EAFNOSUPPORT, 1, later_family);
  for (const int family : {AF_INET, AF_INET6}) {
    for (const int type : {SOCK_RAW, SOCK_PACKET}) {
      const scmp_arg_cmp raw[] = {
          SCMP_A0(SCMP_CMP_EQ, static_cast<scmp_datum_t>(family)),
          SCMP_A1(SCMP_CMP_MASKED_EQ, 0xf, static_cast<scmp_datum_t>(type))};
      refuse_if(SCMP_SYS(socket), EPERM, 2, raw);
    }
  }
  if (rc != 0) return "cannot build the seccomp filter: " + error_text(-rc);
  // Every thread of the process (there is only this one yet).
  seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
  if (const int load = seccomp_load(ctx); load != 0)
    return "cannot load the seccomp filter: " + error_text(-load);
  state.seccomp = true;
  return "";
}

}  // namespace

SandboxPaths sandbox_paths(const std::string& config_path, const std::string& rules_dir) {
  SandboxPaths paths;
  if (!config_path.empty()) add_folder(paths, absolute_of(config_path).parent_path());
  if (!rules_dir.empty()) {
    const auto rules = absolute_of(rules_dir);
    add_folder(paths, rules.has_parent_path() && rules != rules.root_path() ? rules.parent_path()
                                                                            : rules);
  }
  for (const char* file : {"/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf",
                           "/etc/host.conf", "/dev/urandom"}) {
    std::error_code ec;
    if (std::filesystem::exists(file, ec)) paths.files.emplace_back(file);
  }
  // The sanitizers read the process's own maps and threads when they report.
  if (kSanitized) paths.folders.emplace_back("/proc/self");
  return paths;
}

std::string add_pid_file_folder(SandboxPaths& paths, const std::string& pid_file) {
  const auto folder = absolute_of(pid_file).parent_path().lexically_normal();
  for (const char* shared : {"/", "/run", "/var/run", "/tmp", "/var/tmp", "/dev/shm"}) {
    if (folder == std::filesystem::path(shared)) {
      return "the pid file " + pid_file + " is in " + folder.string() +
             ", a folder shared with other programs: the sandbox keeps egressd from removing "
             "it at exit (put it in a folder of its own, such as /run/egressd/)";
    }
  }
  paths.removable.push_back(folder.string());
  return "";
}

bool sandbox_allows(const SandboxPaths& paths, const std::string& path) {
  const auto target = absolute_of(path);
  for (const auto& folder : paths.folders) {
    const std::filesystem::path base(folder);
    auto b = base.begin();
    auto t = target.begin();
    for (; b != base.end() && t != target.end() && *b == *t; ++b, ++t) {
    }
    // A trailing empty element ("/a/b/") counts as the end.
    if (b == base.end() || (std::next(b) == base.end() && b->empty())) return true;
  }
  return false;
}

std::string SandboxState::summary() const {
  std::string text = "sandbox: landlock=";
  text += landlock ? "on abi=" + std::to_string(landlock_abi) : "off (" + landlock_note + ")";
  text += seccomp ? " seccomp=on" : " seccomp=off";
  return text;
}

std::string enter_sandbox(const SandboxPaths& paths, SandboxState& state) {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return "cannot set no_new_privs: " + error_text(errno);
  if (auto why = enter_landlock(paths, state); !why.empty()) return why;
  return enter_seccomp(state);
}

}  // namespace egressd::server
