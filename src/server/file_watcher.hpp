// Watches the config file and the rules folder with inotify, so that a change on disk
// (an editor's rename-over, a file appearing or going, the folder replaced) becomes one
// debounced reload.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "io/asio.hpp"

namespace egressd::server {

// Watches a set of files and folders with inotify on the given io_context (the control
// thread's) and calls `on_change` once per burst of changes.
//
// Threads: every member, the callback and every handler run on the io_context's thread
// (or while it is not running). The callback may call watch() or stop(), and may destroy
// the watcher.
//
// Lifetime: the watcher may be destroyed at any time, also with reads and timers pending;
// its state lives in an object that the pending handlers share, and they only find it
// stopped. Like any Asio I/O object it must be destroyed before its io_context; the
// io_context need not run again afterwards.
class FileWatcher {
 public:
  struct Options {
    // Call on_change once nothing changed for this long...
    std::chrono::milliseconds quiet{150};
    // ...but no later than this after the first change of a burst, so that a file
    // rewritten forever still reloads.
    std::chrono::milliseconds max_delay{2000};
    // How often to retry watching a folder that does not exist (yet) or cannot be
    // watched. A folder that appears under a watched ancestor is seen at once anyway.
    std::chrono::milliseconds retry{1000};
  };
  using Callback = std::function<void()>;

  FileWatcher(io::asio::io_context& io, Callback on_change);
  FileWatcher(io::asio::io_context& io, Callback on_change, Options options);
  ~FileWatcher();
  FileWatcher(const FileWatcher&) = delete;
  FileWatcher& operator=(const FileWatcher&) = delete;

  // Replaces the watched set (it does not call on_change itself).
  //
  // `files`: single files, watched through their folder and filtered by name, so an
  // editor's write-then-rename-over, delete and re-create, attribute changes and writes
  // are all seen. `folders`: every change of an entry inside (created, deleted, moved in
  // or out, written, attributes), not recursive. A folder, or the folder of a file, that
  // is deleted, moved away, replaced or created later is watched again when it is back,
  // and its going and coming count as changes. A path that does not exist is no error:
  // its nearest existing ancestor is watched for it to appear, and it is also retried
  // every `retry`. Relative paths are taken from the current folder; empty ones are
  // ignored.
  //
  // Returns false with `error` set (one sentence) only when inotify itself cannot be
  // started (e.g. the limit of inotify instances or of open files); nothing is watched.
  bool watch(const std::vector<std::string>& files, const std::vector<std::string>& folders,
             std::string& error);

  // Cancels everything: no callback runs after it returns. watch() starts again.
  void stop();

  // The folders that cannot be watched right now for a reason other than not existing
  // (permission denied, the inotify watch limit reached, ...), one sentence each. They
  // are retried every `retry`; the caller may log them after watch() or a callback.
  std::vector<std::string> problems() const;

 private:
  struct State;

  io::asio::io_context& io_;
  Callback on_change_;
  Options options_;
  std::shared_ptr<State> state_;  // null while stopped
};

}  // namespace egressd::server
