// spoold: a memcached-compatible server on spool. See `spoold -h`.
#include <malloc.h>

#include <csignal>
#include <cstdio>
#include <exception>
#include <iostream>

#include "options.h"
#include "server.h"
#include "spool/errors.h"
#include "spool/log.h"

int main(int argc, char** argv) {
  const spoold::CommandLine cli = spoold::parseCommandLine(argc, argv, std::cout, std::cerr);
  if (!cli.run) {
    return cli.exit_code;
  }
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
  spool::setLogLevel(cli.settings.verbose > 0 ? spool::LogLevel::kInfo : spool::LogLevel::kWarning);
  // Block the stop signals before any thread starts, so that every thread
  // inherits the mask and only sigwait() below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  spoold::Server server(cli.settings);
  try {
    server.start();
  } catch (const spool::AddressInUseError&) {
    // memcached's words and exit status (EX_OSERR) for the same mistake.
    // With -s: a live server's socket, which spoold does not take over.
    std::cerr << "failed to listen on one of interface(s) "
              << (cli.settings.unix_socket.empty() ? cli.settings.listen : cli.settings.unix_socket)
              << ": Address already in use\n";
    return 71;
  } catch (const spool::SetupError& e) {
    std::cerr << "spoold: " << e.what() << "\n";
    return 1;
  }
  if (cli.settings.verbose > 0) {
    std::cerr << "spoold " << spoold::kVersion << " listening on ";
    if (cli.settings.unix_socket.empty()) {
      std::cerr << cli.settings.listen << ":" << server.port() << "\n";
    } else {
      std::cerr << "unix:" << cli.settings.unix_socket << "\n";
    }
  }
  int signal = 0;
  sigwait(&stop_signals, &signal);
  server.stop();  // stop accepting, finish responses in flight, close
  return 0;
}
