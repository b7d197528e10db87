#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ordermesh::testing {

/// How a child process ended.
struct exit_status {
  /// The code it passed to exit(), when it exited on its own.
  std::optional<int> code;
  /// The signal that ended it; 0 when it exited on its own.
  int signal = 0;

  /// True when it exited with code 0.
  bool success() const { return code == 0; }
  /// "exit code 3" / "killed by signal 9 (Killed)", for test messages.
  std::string describe() const;
};

/// A program started by a test, owned by the test: it is killed (SIGKILL) and reaped when this
/// object is destroyed, so nothing a test started outlives it. The child leads its own process
/// group (ID = its PID); signals go to that group, so processes it started (a shell's children)
/// get them too, and when the child exits, whatever it left in its group is killed as it is reaped.
/// Signals are only sent before the child is reaped, so never to a PID that may have been reused.
/// If the test process dies, the kernel kills the child (PR_SET_PDEATHSIG; this fires when the
/// *thread* that started it ends, so start children from the test's own thread). Its own process
/// group also means Ctrl-C in a terminal reaches only the test, which then cleans up.
///
/// Its stdout and stderr go to one file in a fresh temporary directory (`output_path()`); stdin is
/// /dev/null. When the object is destroyed while the current Boost.Test case has failed (or during
/// an exception), the last lines of that file are printed to stderr and the file is kept;
/// otherwise the directory is removed.
class child_process {
public:
  /// Starts `argv[0]` (a path, or a name looked up in PATH) with `argv`, the test's environment
  /// plus `extra_env` (which overrides variables of the same name).
  /// Throws std::system_error when the program cannot be started (e.g. it does not exist).
  explicit child_process(std::vector<std::string> argv,
                         const std::map<std::string, std::string>& extra_env = {});
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  /// The child's PID (still valid for messages after it has been reaped).
  pid_t pid() const { return pid_; }
  /// True until the child has exited (reaps it when it has).
  bool running();
  /// Waits up to `timeout` for the child to exit; its status, or nullopt if it is still running.
  /// Once reaped, returns the same status every time.
  std::optional<exit_status> wait_exit(std::chrono::milliseconds timeout);
  /// SIGTERM, then SIGKILL if it has not exited after `grace`; returns how it ended.
  exit_status terminate(std::chrono::milliseconds grace);
  /// SIGKILL now and reap; returns how it ended (a child that had already exited keeps its status).
  exit_status kill_now();

  /// The file holding the child's stdout and stderr.
  const std::filesystem::path& output_path() const { return output_path_; }
  /// Everything the child has written so far.
  std::string output() const;
  /// Waits up to `timeout` for the child's output to match `pattern` (ECMAScript, searched in
  /// the whole output) and returns the pattern's first group (the whole match if it has none);
  /// nullopt on timeout or when the child exited without writing it.
  std::optional<std::string> wait_for_output(const std::string& pattern,
                                             std::chrono::milliseconds timeout);
  /// The last `lines` lines the child has written, for failure messages.
  std::string output_tail(std::size_t lines = 40) const;

private:
  /// Records the raw waitpid status.
  void reaped(int wait_status);
  /// Sends `sig` to the child's process group, if the child is not reaped yet.
  void signal_group(int sig);
  /// If the child has exited (waiting for it unless `options` has WNOHANG): kills what is left of
  /// its process group, then reaps it.
  void reap(int options);
  bool test_failed() const;

  std::string name_;
  pid_t pid_ = -1;
  std::optional<exit_status> status_;
  std::filesystem::path output_dir_;
  std::filesystem::path output_path_;
};

} // namespace ordermesh::testing
