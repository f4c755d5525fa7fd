#include "child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>

extern char** environ;

namespace spool::test {
namespace {

int remainingMs(std::chrono::steady_clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return static_cast<int>(std::max<std::int64_t>(0, left.count()));
}

}  // namespace

ChildProcess::ChildProcess(const std::vector<std::string>& argv, bool with_stdin) {
  int pipe_fds[2];
  int in_fds[2] = {-1, -1};
  REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
  REQUIRE((!with_stdin || ::pipe2(in_fds, O_CLOEXEC) == 0));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 1);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], 2);
  if (with_stdin) {
    posix_spawn_file_actions_adddup2(&actions, in_fds[0], 0);
  } else {
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  }
  // The test binary may block signals (sigwait in main): the child starts clean.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  std::vector<char*> args;
  for (const auto& a : argv) {
    args.push_back(const_cast<char*>(a.c_str()));
  }
  args.push_back(nullptr);
  const int rc = ::posix_spawnp(&pid_, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(pipe_fds[1]);
  out_fd_ = pipe_fds[0];
  if (with_stdin) {
    ::close(in_fds[0]);
    in_fd_ = in_fds[1];
  }
  INFO("spawn " << argv[0] << ": " << std::strerror(rc));
  REQUIRE(rc == 0);
  pid_fd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
}

ChildProcess::~ChildProcess() {
  closeStdin();
  if (!status_) {
    signal(SIGKILL);
    wait(kDefaultLimit);
  }
  if (out_fd_ >= 0) {
    ::close(out_fd_);
  }
  if (pid_fd_ >= 0) {
    ::close(pid_fd_);
  }
}

void ChildProcess::write(std::string_view bytes) {
  REQUIRE(in_fd_ >= 0);
  while (!bytes.empty()) {
    const ssize_t n = ::write(in_fd_, bytes.data(), bytes.size());
    REQUIRE(n > 0);
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

void ChildProcess::closeStdin() {
  if (in_fd_ >= 0) {
    ::close(in_fd_);
    in_fd_ = -1;
  }
}

bool ChildProcess::pump(Clock::time_point deadline) {
  pollfd pfd{out_fd_, POLLIN, 0};
  if (::poll(&pfd, 1, remainingMs(deadline)) <= 0) {
    return false;
  }
  char buffer[4096];
  const ssize_t n = ::read(out_fd_, buffer, sizeof(buffer));
  if (n <= 0) {
    return false;
  }
  output_.append(buffer, static_cast<std::size_t>(n));
  return true;
}

bool ChildProcess::waitForOutput(std::string_view needle, std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  while (output_.find(needle) == std::string::npos) {
    if (!pump(deadline)) {
      return false;
    }
  }
  return true;
}

std::string ChildProcess::waitForLine(std::string_view prefix, std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  for (;;) {
    const std::size_t at = output_.find(prefix);
    const std::size_t end = at == std::string::npos ? at : output_.find('\n', at);
    if (end != std::string::npos) {
      return output_.substr(at, end - at);
    }
    if (!pump(deadline)) {
      return {};
    }
  }
}

int ChildProcess::wait(std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  while (!status_) {
    // Drain the output so a chatty child never blocks on a full pipe.
    pollfd pfds[2] = {{out_fd_, POLLIN, 0}, {pid_fd_, POLLIN, 0}};
    const int ready = ::poll(pfds, pid_fd_ >= 0 ? 2 : 1, std::min(remainingMs(deadline), 100));
    if (ready > 0 && (pfds[0].revents & (POLLIN | POLLHUP))) {
      pump(Clock::now());
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      status_ = status;
      break;
    }
    if (remainingMs(deadline) == 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      status_ = status;
      FAIL("child " << pid_ << " did not exit in time; output:\n" << output_);
    }
  }
  while (pump(Clock::now())) {
  }
  return WIFEXITED(*status_) ? WEXITSTATUS(*status_) : 128 + WTERMSIG(*status_);
}

void ChildProcess::signal(int sig) {
  if (!status_) {
    ::kill(pid_, sig);
  }
}

}  // namespace spool::test
