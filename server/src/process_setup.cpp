#include "process_setup.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sysexits.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

namespace spoold {
namespace {

bool isRoot() {
  return ::getuid() == 0 || ::geteuid() == 0;
}

}  // namespace

std::optional<SetupFailure> checkUser(const Settings& s) {
  if (!isRoot()) {
    return std::nullopt;
  }
  if (s.user.empty()) {
    return SetupFailure{EX_USAGE, "can't run as root without the -u switch"};
  }
  if (::getpwnam(s.user.c_str()) == nullptr) {
    return SetupFailure{EX_NOUSER, "can't find the user " + s.user + " to switch to"};
  }
  return std::nullopt;
}

std::optional<SetupFailure> dropPrivileges(const Settings& s) {
  if (!isRoot() || s.user.empty()) {
    return std::nullopt;
  }
  const passwd* pw = ::getpwnam(s.user.c_str());
  // glibc applies setgroups/setgid/setuid to every thread of the process,
  // the loop threads already started included.
  if (pw == nullptr || ::initgroups(pw->pw_name, pw->pw_gid) != 0 || ::setgid(pw->pw_gid) != 0 ||
      ::setuid(pw->pw_uid) != 0) {
    return SetupFailure{
        EX_OSERR, "failed to assume identity of user " + s.user + ": " + std::strerror(errno)};
  }
  return std::nullopt;
}

std::optional<SetupFailure> raiseCoreLimit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_CORE, &limit) == 0) {
    const rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
    if (::setrlimit(RLIMIT_CORE, &unlimited) != 0) {
      const rlimit hard{limit.rlim_max, limit.rlim_max};  // not allowed past it: up to it
      ::setrlimit(RLIMIT_CORE, &hard);
    }
  }
  if (::getrlimit(RLIMIT_CORE, &limit) != 0 || limit.rlim_cur == 0) {
    return SetupFailure{EX_OSERR, "failed to ensure corefile creation"};
  }
  return std::nullopt;
}

void lockMemory() {
  if (::mlockall(MCL_CURRENT | MCL_FUTURE) != 0) {
    std::cerr << "warning: -k invalid, mlockall() failed: " << std::strerror(errno) << "\n";
  }
}

std::optional<SetupFailure> daemonize(const Settings& s) {
  const pid_t pid = ::fork();
  if (pid < 0) {
    return SetupFailure{
        EX_OSERR, std::string("failed to daemon() in order to daemonize: ") + std::strerror(errno)};
  }
  if (pid > 0) {
    ::_exit(0);  // the parent: the daemon goes on in the child
  }
  if (::setsid() < 0 || (!s.max_core && ::chdir("/") != 0)) {
    return SetupFailure{
        EX_OSERR, std::string("failed to daemon() in order to daemonize: ") + std::strerror(errno)};
  }
  if (s.verbose == 0) {
    const int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
      ::dup2(null, STDIN_FILENO);
      ::dup2(null, STDOUT_FILENO);
      ::dup2(null, STDERR_FILENO);
      if (null > STDERR_FILENO) {
        ::close(null);
      }
    }
  }
  return std::nullopt;
}

void writePidFile(const Settings& s) {
  const std::string& path = s.pid_file;
  FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) {
    std::cerr << "Could not open the pid file " << path << " for writing: " << std::strerror(errno)
              << "\n";
    return;
  }
  std::fprintf(file, "%ld\n", static_cast<long>(::getpid()));
  // Owned by the -u user, like memcached's (which writes it after switching):
  // that user removes it at exit, even from a sticky directory such as /tmp.
  const passwd* pw = isRoot() && !s.user.empty() ? ::getpwnam(s.user.c_str()) : nullptr;
  if (pw != nullptr && ::fchown(::fileno(file), pw->pw_uid, pw->pw_gid) != 0) {
    std::cerr << "Could not give the pid file " << path << " to " << s.user << ": "
              << std::strerror(errno) << "\n";
  }
  if (std::fclose(file) != 0) {
    std::cerr << "Could not close the pid file " << path << ": " << std::strerror(errno) << "\n";
  }
}

void removePidFile(const std::string& path) {
  if (::unlink(path.c_str()) != 0) {
    std::cerr << "Could not remove the pid file " << path << ": " << std::strerror(errno) << "\n";
  }
}

}  // namespace spoold
