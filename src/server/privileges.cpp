// Dropping root with setgroups/setgid/setuid, verified afterwards.
#include "server/privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <vector>

namespace egressd::server {

namespace {

std::string why(const std::string& what) {
  return what + ": " + std::generic_category().message(errno);
}

}  // namespace

std::string drop_privileges(const std::string& user) {
  std::vector<char> buffer(16384);
  passwd entry{};
  passwd* found = nullptr;
  const int rc = ::getpwnam_r(user.c_str(), &entry, buffer.data(), buffer.size(), &found);
  if (rc != 0 || found == nullptr) {
    return "cannot run as user \"" + user + "\": no such user";
  }
  const uid_t uid = found->pw_uid;
  const gid_t gid = found->pw_gid;
  if (::geteuid() != 0) {
    if (::geteuid() == uid) return {};
    return "cannot run as user \"" + user + "\": egressd was not started as root";
  }
  if (uid == 0) return "refusing to run as user \"" + user + "\": it is root";
  if (::initgroups(found->pw_name, gid) != 0) return why("cannot set the groups of " + user);
  if (::setgid(gid) != 0) return why("cannot switch to the group of " + user);
  if (::setuid(uid) != 0) return why("cannot switch to user " + user);
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return why("cannot set no_new_privs");
  // The point of no return must really be one.
  if (::setuid(0) == 0 || ::geteuid() == 0 || ::getegid() == 0) {
    return "still able to become root after switching to " + user;
  }
  return {};
}

}  // namespace egressd::server
