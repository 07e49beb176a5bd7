// Giving up root once the listeners and the control socket are open.
#pragma once

#include <string>

namespace egressd::server {

// Switches the whole process (every thread: call it before starting any) to `user`: its
// group, its supplementary groups, its uid; then forbids regaining privileges
// (PR_SET_NO_NEW_PRIVS) and checks that setuid(0) now fails. Without root, succeeds
// only when `user` is who the process already is. Returns "" on success, otherwise
// one sentence saying what failed.
std::string drop_privileges(const std::string& user);

}  // namespace egressd::server
