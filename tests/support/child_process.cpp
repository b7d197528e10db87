#include "tests/support/child_process.hpp"

#include <boost/test/framework.hpp>
#include <boost/test/results_collector.hpp>

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <exception>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>
#include <system_error>
#include <thread>

extern char** environ;

namespace ordermesh::testing {

namespace {

using namespace std::chrono_literals;

[[noreturn]] void throw_errno(int err, const std::string& what) {
  throw std::system_error(err, std::generic_category(), what);
}

/// `program` itself when it names a path, else the first executable `PATH` entry holding it.
/// Resolved before fork: the child may only call async-signal-safe functions.
std::string resolve_program(const std::string& program) {
  if (program.find('/') != std::string::npos) {
    return program;
  }
  const char* path = std::getenv("PATH");
  std::stringstream dirs{path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin"};
  for (std::string dir; std::getline(dirs, dir, ':');) {
    auto candidate = (dir.empty() ? std::string{"."} : dir) + "/" + program;
    if (::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return program; // execve fails with ENOENT, reported by the constructor
}

/// The test's environment with `extra` laid over it, as "KEY=value" strings.
std::vector<std::string> environment_with(const std::map<std::string, std::string>& extra) {
  std::map<std::string, std::string> merged;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string kv = *e;
    const auto eq = kv.find('=');
    if (eq != std::string::npos) {
      merged[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }
  for (const auto& [key, value] : extra) {
    merged[key] = value;
  }
  std::vector<std::string> out;
  out.reserve(merged.size());
  for (const auto& [key, value] : merged) {
    out.push_back(key + "=" + value);
  }
  return out;
}

std::vector<char*> pointers_to(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) {
    out.push_back(s.data());
  }
  out.push_back(nullptr);
  return out;
}

/// Closes a file descriptor when it goes out of scope.
struct fd_guard {
  int fd = -1;
  ~fd_guard() {
    if (fd >= 0) {
      ::close(fd);
    }
  }
};

} // namespace

std::string exit_status::describe() const {
  if (code) {
    return "exit code " + std::to_string(*code);
  }
  return "killed by signal " + std::to_string(signal) + " (" + ::strsignal(signal) + ")";
}

child_process::child_process(std::vector<std::string> argv,
                             const std::map<std::string, std::string>& extra_env) {
  if (argv.empty()) {
    throw std::invalid_argument{"child_process: argv is empty"};
  }
  name_ = argv.front();
  std::string dir_template = (std::filesystem::temp_directory_path() / "om-child-XXXXXX").string();
  if (::mkdtemp(dir_template.data()) == nullptr) {
    throw_errno(errno, "child_process: cannot create a temporary directory");
  }
  output_dir_ = dir_template;
  output_path_ = output_dir_ / "output.log";
  // The destructor does not run when the constructor throws: remove the directory here.
  auto fail = [this](int err, const std::string& what) {
    std::error_code ignored;
    std::filesystem::remove_all(output_dir_, ignored);
    throw_errno(err, "child_process: " + what);
  };

  // Everything the child needs is prepared here: between fork and exec it may only make
  // async-signal-safe calls (the test process has other threads).
  const std::string program = resolve_program(argv.front());
  auto env_strings = environment_with(extra_env);
  auto argv_ptrs = pointers_to(argv);
  auto env_ptrs = pointers_to(env_strings);
  fd_guard out{::open(output_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
  fd_guard in{::open("/dev/null", O_RDONLY | O_CLOEXEC)};
  if (out.fd < 0 || in.fd < 0) {
    const int err = errno;
    fail(err, "cannot open " + output_path_.string());
  }
  // The child writes errno into this pipe if exec fails; exec closes it (CLOEXEC) on success.
  int exec_error[2];
  if (::pipe2(exec_error, O_CLOEXEC) != 0) {
    fail(errno, "pipe2");
  }
  fd_guard error_read{exec_error[0]};
  fd_guard error_write{exec_error[1]};
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) {
    fail(errno, "fork");
  }
  if (pid == 0) {
    // The child: async-signal-safe calls only, then exec or _exit.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) {
      ::_exit(127); // the test died before prctl took effect
    }
    ::setpgid(0, 0);
    if (::dup2(in.fd, 0) < 0 || ::dup2(out.fd, 1) < 0 || ::dup2(out.fd, 2) < 0) {
      const int err = errno;
      (void)!::write(error_write.fd, &err, sizeof err);
      ::_exit(127);
    }
    ::execve(program.c_str(), argv_ptrs.data(), env_ptrs.data());
    const int err = errno;
    (void)!::write(error_write.fd, &err, sizeof err);
    ::_exit(127);
  }
  pid_ = pid;
  ::setpgid(pid_, pid_); // also here, so that it holds before the first signal (no race)
  ::close(error_write.fd);
  error_write.fd = -1;
  int child_errno = 0;
  ssize_t n = 0;
  do {
    n = ::read(error_read.fd, &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof child_errno)) {
    int status = 0;
    ::waitpid(pid_, &status, 0);
    reaped(status);
    fail(child_errno, "cannot start " + program);
  }
}

child_process::~child_process() {
  if (pid_ > 0) {
    kill_now();
  }
  std::error_code ignored;
  if (test_failed()) {
    std::cerr << "---- output of " << name_ << " (pid " << pid_ << ", "
              << (status_ ? status_->describe() : std::string{"status unknown"}) << "), kept in "
              << output_path_.string() << ":\n"
              << output_tail() << "---- end of output of " << name_ << "\n";
  } else {
    std::filesystem::remove_all(output_dir_, ignored);
  }
}

void child_process::reaped(int wait_status) {
  exit_status s;
  if (WIFEXITED(wait_status)) {
    s.code = WEXITSTATUS(wait_status);
  } else if (WIFSIGNALED(wait_status)) {
    s.signal = WTERMSIG(wait_status);
  }
  status_ = s;
}

void child_process::signal_group(int sig) {
  // Only while the leader is not reaped: until then its PID, and so the group ID, cannot be
  // taken by another process.
  if (!status_) {
    ::kill(-pid_, sig);
  }
}

void child_process::reap(int options) {
  siginfo_t info{};
  int r = 0;
  do {
    r = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOWAIT | options);
  } while (r < 0 && errno == EINTR);
  if (r != 0 || info.si_pid != pid_) {
    return; // still running (WNOHANG)
  }
  signal_group(SIGKILL); // what it left running in its group
  int status = 0;
  pid_t w = 0;
  do {
    w = ::waitpid(pid_, &status, 0);
  } while (w < 0 && errno == EINTR);
  reaped(status);
}

bool child_process::running() {
  if (!status_) {
    reap(WNOHANG);
  }
  return !status_;
}

std::optional<exit_status> child_process::wait_exit(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (running()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(5ms);
  }
  return status_;
}

exit_status child_process::terminate(std::chrono::milliseconds grace) {
  if (running()) {
    signal_group(SIGTERM);
    if (auto status = wait_exit(grace)) {
      return *status;
    }
  }
  return kill_now();
}

exit_status child_process::kill_now() {
  if (running()) {
    signal_group(SIGKILL);
    reap(0);
  }
  return *status_;
}

std::string child_process::output() const {
  std::ifstream in{output_path_, std::ios::binary};
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::optional<std::string> child_process::wait_for_output(const std::string& pattern,
                                                          std::chrono::milliseconds timeout) {
  const std::regex re{pattern};
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const bool alive = running(); // before reading: what it wrote before exiting is then seen
    const auto text = output();
    std::smatch m;
    if (std::regex_search(text, m, re)) {
      return m.size() > 1 ? m[1].str() : m[0].str();
    }
    if (!alive || std::chrono::steady_clock::now() >= deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds{10}); // polling a file: no event to wait on
  }
}

std::string child_process::output_tail(std::size_t lines) const {
  std::ifstream in{output_path_};
  std::deque<std::string> last;
  for (std::string line; std::getline(in, line);) {
    last.push_back(std::move(line));
    if (last.size() > lines) {
      last.pop_front();
    }
  }
  std::string out;
  for (const auto& line : last) {
    out += line;
    out += '\n';
  }
  return out;
}

bool child_process::test_failed() const {
  if (std::uncaught_exceptions() > 0) {
    return true;
  }
  namespace ut = boost::unit_test;
  if (!ut::framework::test_in_progress()) {
    return false;
  }
  return !ut::results_collector.results(ut::framework::current_test_case_id()).passed();
}

} // namespace ordermesh::testing
