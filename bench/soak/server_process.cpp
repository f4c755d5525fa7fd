#include "server_process.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "usage.h"

namespace spool::bench {
namespace {

// Sanitizer runtimes start every report with one of these.
constexpr std::array<const char*, 4> kSanitizerMarkers = {
    "ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
    "runtime error:", "WARNING: ThreadSanitizer"};

/// In the child, between fork and exec: async-signal-safe calls only.
[[noreturn]] void execChild(const char* binary, char* const* argv, const char* stderr_path) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  const int err = ::open(stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  const int null = ::open("/dev/null", O_RDWR);
  if (err < 0 || null < 0) {
    _exit(126);
  }
  ::dup2(null, STDIN_FILENO);
  ::dup2(null, STDOUT_FILENO);
  ::dup2(err, STDERR_FILENO);
  ::execv(binary, argv);
  _exit(127);
}

}  // namespace

ServerProcess::ServerProcess(const std::string& binary, const std::vector<std::string>& args,
                             const std::string& stderr_path) {
  std::vector<std::string> words{binary};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& w : words) {
    argv.push_back(w.data());
  }
  argv.push_back(nullptr);
  pid_ = ::fork();
  if (pid_ < 0) {
    throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  }
  if (pid_ == 0) {
    execChild(binary.c_str(), argv.data(), stderr_path.c_str());
  }
  running_ = true;
}

ServerProcess::~ServerProcess() {
  if (running_) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

bool ServerProcess::alive() {
  int status = 0;
  if (running_ && ::waitpid(pid_, &status, WNOHANG) == pid_) {
    reaped(status);
  }
  return running_;
}

void ServerProcess::reaped(int status) {
  running_ = false;
  exit_ = WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                            : "signal " + std::to_string(WTERMSIG(status)) + " (" +
                                  strsignal(WTERMSIG(status)) + ")";
}

bool ServerProcess::stop(std::uint64_t timeout_ns) {
  if (alive()) {
    ::kill(pid_, SIGTERM);
  }
  const std::uint64_t deadline = nowNs() + timeout_ns;
  // A pidfd becomes readable when the child exits; without one (an old
  // kernel), poll its state every 10 ms.
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0));
  while (alive() && nowNs() < deadline) {
    pollfd p{pidfd, POLLIN, 0};
    if (pidfd < 0 || ::poll(&p, 1, 100) < 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  if (pidfd >= 0) {
    ::close(pidfd);
  }
  if (alive()) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    running_ = false;
    exit_ = "killed after SIGTERM timed out";
    return false;
  }
  return exit_ == "exit 0";
}

std::optional<std::uint64_t> ServerProcess::fdCount() const {
  DIR* dir = ::opendir(("/proc/" + std::to_string(pid_) + "/fd").c_str());
  if (dir == nullptr) {
    return std::nullopt;
  }
  std::uint64_t count = 0;
  while (const dirent* entry = ::readdir(dir)) {
    count += entry->d_name[0] != '.';
  }
  ::closedir(dir);
  return count;
}

std::optional<std::uint64_t> ServerProcess::statusKiB(const char* field) const {
  std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.starts_with(field)) {
      return std::stoull(line.substr(std::strlen(field)));
    }
  }
  return std::nullopt;
}

bool ServerProcess::hasAddressSanitizer() const {
  std::ifstream maps("/proc/" + std::to_string(pid_) + "/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.find("libasan") != std::string::npos ||
        line.find("clang_rt.asan") != std::string::npos || line.starts_with("7fff8000-")) {
      return true;
    }
  }
  return false;
}

std::uint64_t asanQuarantineMiB() {
  const char* options = std::getenv("ASAN_OPTIONS");
  const std::string_view key = "quarantine_size_mb=";
  const std::string_view text = options != nullptr ? options : "";
  const std::size_t at = text.find(key);
  return at == std::string_view::npos ? 256
                                      : std::strtoull(text.data() + at + key.size(), nullptr, 10);
}

std::vector<std::string> sanitizerReports(const std::string& stderr_path) {
  std::vector<std::string> reports;
  std::ifstream file(stderr_path);
  std::string line;
  while (std::getline(file, line)) {
    for (const char* marker : kSanitizerMarkers) {
      if (line.find(marker) != std::string::npos) {
        reports.push_back(line);
        break;
      }
    }
  }
  return reports;
}

std::string fileTail(const std::string& path, std::size_t lines) {
  std::ifstream file(path);
  std::deque<std::string> tail;
  std::string line;
  while (std::getline(file, line)) {
    tail.push_back(line);
    if (tail.size() > lines) {
      tail.pop_front();
    }
  }
  std::string out;
  for (const std::string& l : tail) {
    out += l + "\n";
  }
  return out;
}

unsigned freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(addr);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
    throw std::runtime_error(std::string("no free port: ") + std::strerror(errno));
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace spool::bench
