// The sandbox egressd puts itself in once it is listening (and has dropped root): Landlock
// for the file system, seccomp for the kernel's interface.
#pragma once

#include <string>
#include <vector>

namespace egressd::server {

// What the sandbox may still read, files and folders (a folder includes everything
// beneath it, also what appears there later).
struct SandboxPaths {
  std::vector<std::string> folders;
  std::vector<std::string> files;
  // Folders in which files may be removed (nothing else): the pid file's, so that it can
  // be removed at exit (add_pid_file_folder()).
  std::vector<std::string> removable;
};

// The paths egressd needs after start: the folder holding the config file (so that a
// config saved by rename is read again), the folder holding the rules folder (so that the
// rules folder itself can be replaced), or the nearest ancestor of either that exists; and
// the resolver's files (/etc/resolv.conf, /etc/hosts, /etc/nsswitch.conf, /etc/host.conf,
// /dev/urandom) where they exist. Relative paths are taken from the working directory.
// An empty config path (no config file) adds nothing.
SandboxPaths sandbox_paths(const std::string& config_path, const std::string& rules_dir);

// Lets egressd remove its pid file at exit, by allowing file removal in the pid file's
// folder: only when that folder is one of its own, not a shared one ("/", /run,
// /var/run, /tmp, /var/tmp, /dev/shm), where that would allow removing other programs'
// files. Returns "" or a warning saying why the pid file will stay behind.
std::string add_pid_file_folder(SandboxPaths& paths, const std::string& pid_file);

// True when `path` lies in one of `paths.folders` (lexically, after making it absolute):
// a reload that moves the rules folder elsewhere cannot read it under the sandbox.
bool sandbox_allows(const SandboxPaths& paths, const std::string& path);

// What enter_sandbox() put in place.
struct SandboxState {
  int landlock_abi = 0;        // the kernel's Landlock ABI version; 0: none
  bool landlock = false;       // file system (and, from ABI 4, TCP bind) restricted
  bool seccomp = false;        // the system call filter is loaded
  std::string landlock_note;   // why Landlock is not on, when it is not
  std::string summary() const; // one line for the log
};

// Restricts the whole process for good; call it before any other thread starts (Landlock
// applies to the calling thread and the threads it creates later).
// - no_new_privs is set.
// - Landlock, when the kernel has it: reading only what `paths` lists, no writing,
//   creating, removing, renaming or executing anywhere; from ABI 4 no new TCP listening
//   socket; from ABI 6 no signals to, or abstract unix sockets of, processes outside.
//   A kernel without Landlock is not an error (state.landlock_note says why).
// - seccomp: refuses (EPERM) what egressd never does once running: starting programs,
//   new processes (threads are allowed), tracing or reading other processes' memory,
//   mounts and namespaces, kernel modules, kexec, reboot, swap, BPF, perf events,
//   userfaultfd, io_uring, keyrings, setting the clock or host name, changing user or
//   groups, raw IP sockets, and socket families other than unix, IPv4, IPv6 and netlink.
//   In a sanitizer build, the process rules (fork, exec, ptrace) are left out: the
//   sanitizers use them to report.
// Returns "" on success, otherwise one sentence saying what failed.
std::string enter_sandbox(const SandboxPaths& paths, SandboxState& state);

}  // namespace egressd::server
