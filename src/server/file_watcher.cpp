// The inotify file watcher: one inotify descriptor read by a coroutine, a table of the
// folders watched (a watched file is watched through its folder), and a debounce timer
// that turns a burst of events into one call.
#include "server/file_watcher.hpp"

#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <string_view>
#include <system_error>
#include <utility>

namespace egressd::server {

namespace asio = io::asio;
using io::error_code;
using Clock = asio::steady_timer::clock_type;

namespace {

// Every folder gets the same mask: inotify keeps one watch per inode and a second
// inotify_add_watch() replaces its mask, and one folder can be both a watched folder and
// the folder of a watched file. IN_MODIFY is there for a writer that never closes the file
// (the debounce absorbs its bursts); IN_EXCL_UNLINK drops events of files already deleted.
constexpr std::uint32_t kMask = IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_CREATE | IN_DELETE |
                                IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF |
                                IN_ONLYDIR | IN_EXCL_UNLINK;

// The events that add or remove an entry of a folder.
constexpr std::uint32_t kEntryComesOrGoes = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO;

// The events after which a watch no longer watches the folder at its path: the kernel
// removed it (IN_IGNORED, after a delete or an unmount) or the folder went elsewhere.
constexpr std::uint32_t kWatchLost = IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF | IN_UNMOUNT;

// The kernel never splits an event, and refuses a read that cannot hold the next one.
constexpr std::size_t kBufferSize = std::size_t{16} * 1024;
static_assert(kBufferSize >= sizeof(inotify_event) + NAME_MAX + 1);

using Names = std::set<std::string, std::less<>>;

// Absolute and lexically normal, without a trailing slash; empty stays empty.
std::string normal_path(const std::string& path) {
  if (path.empty()) return {};
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::absolute(path, ec);
  if (ec) absolute = path;
  std::string out = absolute.lexically_normal().string();
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

// "/a/b" -> {"/a", "b"}; "/a" -> {"/", "a"}; "/" -> {"/", ""}.
std::pair<std::string, std::string> split_path(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

// strerror() without its static buffer: this runs beside the worker threads.
std::string errno_text(int err) {
  return std::generic_category().message(err);
}

// The errors of inotify_add_watch() that mean "nothing to watch there (yet)".
bool is_absent(int err) {
  return err == ENOENT || err == ENOTDIR;
}

}  // namespace

struct FileWatcher::State : std::enable_shared_from_this<State> {
  // What we want to hear about one folder.
  struct Interest {
    bool all = false;  // every entry: a watched folder
    Names files;       // these entries: watched files
    Names children;    // entries that are folders we want to watch once they exist

    // A folder whose going or coming is itself a change, not only a step on the way.
    bool counts() const { return all || !files.empty(); }
    void merge(const Interest& other) {
      all = all || other.all;
      files.insert(other.files.begin(), other.files.end());
      children.insert(other.children.begin(), other.children.end());
    }
  };

  // One folder of the watched set, or an ancestor watched while it is missing.
  struct Folder {
    Interest interest;
    int wd = -1;  // -1: missing or not watchable
    bool resolved = false;
    std::string problem;  // why it cannot be watched, when it exists
  };

  State(asio::io_context& io_context, Callback callback, Options opts)
      : io(io_context),
        on_change(std::move(callback)),
        options(opts),
        inotify(io_context),
        debounce(io_context),
        retry(io_context) {}

  // Starts inotify and the read loop unless they run. False with `error` set when the
  // kernel refuses an inotify instance.
  bool open(std::string& error) {
    if (inotify.is_open()) return true;
    const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0) {
      error = "cannot start inotify: " + errno_text(errno);
      return false;
    }
    error_code ec;
    inotify.assign(fd, ec);
    if (ec) {
      ::close(fd);
      error = "cannot start inotify: " + ec.message();
      return false;
    }
    asio::co_spawn(io, read_loop(shared_from_this()), asio::detached);
    return true;
  }

  // Replaces the watched set. Folders wanted are the files' folders (by name), the
  // watched folders (everything), and the folders' parents (to see them come and go).
  void set_targets(const std::vector<std::string>& files,
                   const std::vector<std::string>& folders_wanted) {
    wanted.clear();
    for (const auto& file : files) {
      const std::string path = normal_path(file);
      if (path.empty()) continue;
      auto [parent, name] = split_path(path);
      if (!name.empty()) wanted[parent].files.insert(std::move(name));
    }
    for (const auto& folder : folders_wanted) {
      const std::string path = normal_path(folder);
      if (path.empty()) continue;
      wanted[path].all = true;
      auto [parent, name] = split_path(path);
      if (!name.empty()) wanted[parent].children.insert(std::move(name));
    }
    rebuild(false);
  }

  void shutdown() {
    stopped = true;
    error_code ignored;
    inotify.close(ignored);  // drops every watch with it
    debounce.cancel();
    retry.cancel();
    wanted.clear();
    folders.clear();
    by_wd.clear();
  }

  static io::awaitable<void> read_loop(std::shared_ptr<State> self) {
    for (;;) {
      error_code ec;
      const std::size_t size =
          co_await self->inotify.async_read_some(asio::buffer(self->buffer), io::with_ec(ec));
      if (self->stopped) co_return;
      if (ec) {
        self->lost(ec);
        co_return;
      }
      self->handle_events(size);
    }
  }

  // Goes through one read's worth of event records, then acts once for all of them.
  void handle_events(std::size_t size) {
    bool changed = false;
    bool restructure = false;
    std::size_t offset = 0;
    while (size - offset >= sizeof(inotify_event)) {
      inotify_event event{};
      std::memcpy(&event, buffer.data() + offset, sizeof event);
      const std::size_t record = sizeof(inotify_event) + event.len;
      if (record > size - offset) break;  // the kernel returns whole records; be safe
      std::string_view name(buffer.data() + offset + sizeof(inotify_event), event.len);
      name = name.substr(0, name.find('\0'));  // the name is padded with NULs
      offset += record;
      classify(event, name, changed, restructure);
    }
    if (restructure) rebuild(true);
    if (changed) note_change();
  }

  // Decides what one event means: a change of something watched, and/or a change of
  // which folders exist (so the watches must be set up again).
  void classify(const inotify_event& event, std::string_view name, bool& changed,
                bool& restructure) {
    if ((event.mask & IN_Q_OVERFLOW) != 0) {
      changed = true;  // events were lost: anything may have changed, folders too
      restructure = true;
      return;
    }
    const auto it = by_wd.find(event.wd);
    if (it == by_wd.end()) return;  // a watch we dropped (its IN_IGNORED, queued events)
    if ((event.mask & kWatchLost) != 0) {
      // A moved folder stays watched where it went; the kernel already dropped the rest.
      if ((event.mask & IN_IGNORED) == 0) ::inotify_rm_watch(inotify.native_handle(), event.wd);
      by_wd.erase(it);
      restructure = true;  // rebuild() counts a watched folder going as a change
      return;
    }
    const Interest& interest = it->second;
    if (name.empty()) {
      changed = changed || interest.all;  // attributes of a watched folder itself
      return;
    }
    if (interest.all || interest.files.contains(name)) changed = true;
    if ((event.mask & kEntryComesOrGoes) != 0 && interest.children.contains(name)) {
      restructure = true;
    }
  }

  // Sets up the watches for the wanted folders as they are on disk now: watches what
  // exists, watches the nearest existing ancestor of what does not, drops watches no
  // longer needed and retries later when something is missing. With `count_changes`, a
  // wanted folder that appeared, went or was replaced by another is a change.
  void rebuild(bool count_changes) {
    std::map<std::string, Folder> next;
    for (const auto& [path, interest] : wanted) next[path].interest = interest;
    for (const auto& [path, interest] : wanted) resolve(path, next);

    std::map<int, Interest> watched;
    bool missing = false;
    for (const auto& [path, folder] : next) {
      if (folder.wd >= 0) {
        watched[folder.wd].merge(folder.interest);
      } else if (wanted.contains(path)) {
        missing = true;
      }
    }
    for (const auto& [wd, interest] : by_wd) {
      if (!watched.contains(wd)) ::inotify_rm_watch(inotify.native_handle(), wd);
    }
    bool changed = false;
    if (count_changes) {
      for (const auto& [path, folder] : next) {
        if (!folder.interest.counts()) continue;
        const auto before = folders.find(path);
        if ((before == folders.end() ? -1 : before->second.wd) != folder.wd) changed = true;
      }
    }
    folders = std::move(next);
    by_wd = std::move(watched);
    if (missing) arm_retry();
    if (changed) note_change();
  }

  // Watches `path`, or while it is missing its nearest existing ancestor (for the next
  // step down to appear). Returns the watch descriptor, or -1.
  int resolve(const std::string& path, std::map<std::string, Folder>& next) {
    Folder& folder = next[path];  // std::map keeps references valid across insertions
    if (folder.resolved) return folder.wd;
    folder.resolved = true;
    folder.wd = add_watch(path);
    if (folder.wd >= 0) return folder.wd;
    int err = errno;
    const auto [parent, name] = split_path(path);
    if (is_absent(err) && parent != path) {
      next[parent].interest.children.insert(name);
      if (resolve(parent, next) >= 0) {
        // It may have appeared before its parent was watched.
        folder.wd = add_watch(path);
        if (folder.wd >= 0) return folder.wd;
        err = errno;
      }
    }
    if (!is_absent(err)) {
      folder.problem = "cannot watch the folder " + path + ": " + errno_text(err);
    }
    return -1;
  }

  int add_watch(const std::string& path) {
    return ::inotify_add_watch(inotify.native_handle(), path.c_str(), kMask);
  }

  // The read failed (it should not): start inotify again on the retry timer, with every
  // watch set up anew, and reload since events may have been missed.
  void lost(const error_code& ec) {
    read_problem = "reading inotify events failed (" + ec.message() + "); starting again";
    error_code ignored;
    inotify.close(ignored);
    folders.clear();
    by_wd.clear();
    note_change();
    arm_retry();
  }

  void arm_retry() {
    if (retry_armed) return;
    retry_armed = true;
    retry.expires_after(options.retry);
    retry.async_wait([self = shared_from_this()](const error_code& ec) {
      if (ec || self->stopped) return;
      self->retry_armed = false;
      if (!self->inotify.is_open()) {
        if (!self->open(self->read_problem)) {
          self->arm_retry();
          return;
        }
        self->read_problem.clear();
      }
      self->rebuild(true);
    });
  }

  // Something watched changed: start a burst, or extend the one under way. The timer is
  // not re-armed per event; when it fires it checks whether the burst is really over.
  void note_change() {
    last_change = Clock::now();
    if (in_burst) return;
    in_burst = true;
    burst_start = last_change;
    arm_debounce();
  }

  Clock::time_point burst_due() const {
    return std::min(last_change + options.quiet, burst_start + options.max_delay);
  }

  void arm_debounce() {
    debounce.expires_at(burst_due());
    debounce.async_wait([self = shared_from_this()](const error_code& ec) {
      if (ec || self->stopped) return;
      if (Clock::now() < self->burst_due()) {
        self->arm_debounce();  // changes came in since the timer was set
        return;
      }
      self->in_burst = false;
      // `self` keeps the state alive even when the callback destroys the watcher.
      if (self->on_change) self->on_change();
    });
  }

  asio::io_context& io;
  const Callback on_change;
  const Options options;
  asio::posix::stream_descriptor inotify;
  asio::steady_timer debounce;
  asio::steady_timer retry;
  bool stopped = false;
  bool retry_armed = false;
  bool in_burst = false;
  Clock::time_point burst_start;
  Clock::time_point last_change;
  std::string read_problem;
  std::map<std::string, Interest> wanted;  // from watch()
  std::map<std::string, Folder> folders;   // wanted and missing ones' ancestors, as resolved
  std::map<int, Interest> by_wd;           // what each live watch is for
  alignas(inotify_event) std::array<char, kBufferSize> buffer{};
};

FileWatcher::FileWatcher(asio::io_context& io, Callback on_change)
    : FileWatcher(io, std::move(on_change), Options{}) {}

FileWatcher::FileWatcher(asio::io_context& io, Callback on_change, Options options)
    : io_(io), on_change_(std::move(on_change)), options_(options) {}

FileWatcher::~FileWatcher() {
  stop();
}

bool FileWatcher::watch(const std::vector<std::string>& files,
                        const std::vector<std::string>& folders, std::string& error) {
  if (!state_) state_ = std::make_shared<State>(io_, on_change_, options_);
  if (!state_->open(error)) {
    stop();
    return false;
  }
  state_->set_targets(files, folders);
  return true;
}

void FileWatcher::stop() {
  if (!state_) return;
  state_->shutdown();
  state_.reset();
}

std::vector<std::string> FileWatcher::problems() const {
  std::vector<std::string> out;
  if (!state_) return out;
  if (!state_->read_problem.empty()) out.push_back(state_->read_problem);
  for (const auto& [path, folder] : state_->folders) {
    if (!folder.problem.empty()) out.push_back(folder.problem);
  }
  return out;
}

}  // namespace egressd::server
