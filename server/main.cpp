// spoold: a memcached-compatible server on spool. See `spoold -h`.
#include <malloc.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>

#include "options.h"
#include "process_setup.h"
#include "server.h"
#include "spool/errors.h"
#include "spool/log.h"

namespace {

/// Prints `failure` and returns its exit status (0 when there is none).
int report(const std::optional<spoold::SetupFailure>& failure) {
  if (!failure) {
    return 0;
  }
  std::cerr << failure->message << "\n";
  return failure->exit_code;
}

/// What memcached does to its process before it binds, in its order: core
/// limit (-r), user check (-u), daemon (-d).
int prepareProcess(const spoold::Settings& s) {
  if (s.max_core) {
    if (const int status = report(spoold::raiseCoreLimit())) {
      return status;
    }
  }
  if (const int status = report(spoold::checkUser(s))) {
    return status;
  }
  if (s.daemonize) {
    if (const int status = report(spoold::daemonize(s))) {
      return status;
    }
  }
  return 0;
}

void tuneMalloc() {
  // Response buffers and libevent's chains are freed on the loop threads
  // every batch; with glibc's default 128 KiB trim threshold each thread
  // arena hands its top back to the kernel (madvise) hundreds of times a
  // second and faults it in again. Keep up to 16 MiB per arena instead (the
  // item memory itself is bounded by -m, not by this).
  mallopt(M_TRIM_THRESHOLD, 16 << 20);
  // Input buffers pulled up for parsing reach 64–128 KiB; from glibc's
  // default 128 KiB mmap threshold up, each would be an mmap and an munmap
  // (a TLB shootdown on every core) per read. Serve up to 1 MiB from the heap.
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
}

/// Binds, writes the pid file (-P), gives up root (-u), then locks memory
/// (-k) as that user, as memcached does (its memlock limit applies).
int startServer(spoold::Server& server, const spoold::Settings& s) {
  try {
    server.start();
  } catch (const spool::AddressInUseError&) {
    // memcached's words and exit status (EX_OSERR) for the same mistake.
    // With -s: a live server's socket, which spoold does not take over.
    std::cerr << "failed to listen on one of interface(s) " << (s.unix_socket.empty() ? s.listen : s.unix_socket)
              << ": Address already in use\n";
    return 71;
  } catch (const spool::SetupError& e) {
    std::cerr << "spoold: " << e.what() << "\n";
    return 1;
  }
  if (!s.pid_file.empty()) {
    spoold::writePidFile(s);  // still root: the pid file may live in /run
  }
  if (const int status = report(spoold::dropPrivileges(s))) {
    return status;
  }
  if (s.lock_memory) {
    spoold::lockMemory();
  }
  if (s.verbose > 0) {
    std::cerr << "spoold " << spoold::kVersion << " listening on ";
    if (s.unix_socket.empty()) {
      std::cerr << s.listen << ":" << server.port() << "\n";
    } else {
      std::cerr << "unix:" << s.unix_socket << "\n";
    }
    for (const std::string& line : s.no_effect) {
      std::cerr << "spoold: " << line << "\n";
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const spoold::CommandLine cli = spoold::parseCommandLine(argc, argv, std::cout, std::cerr);
  if (!cli.run) {
    return cli.exit_code;
  }
  const spoold::Settings& s = cli.settings;
  if (const int status = prepareProcess(s)) {
    return status;
  }
  tuneMalloc();
  spool::setLogLevel(s.verbose > 0 ? spool::LogLevel::kInfo : spool::LogLevel::kWarning);
  // Block the stop signals before any thread starts, so that every thread
  // inherits the mask and only sigwait() below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  spoold::Server server(s);
  // -A: `shutdown` stops the process as SIGTERM does (sigwait below).
  server.context().request_shutdown = [] { ::kill(::getpid(), SIGTERM); };
  if (const int status = startServer(server, s)) {
    return status;
  }
  int signal = 0;
  sigwait(&stop_signals, &signal);
  server.stop();  // stop accepting, finish responses in flight, close
  if (s.daemonize && !s.pid_file.empty()) {
    spoold::removePidFile(s.pid_file);
  }
  return 0;
}
