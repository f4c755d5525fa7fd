// spoold: a memcached-compatible server on spool. See `spoold -h`.
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
  } catch (const spool::SetupError& e) {
    std::cerr << "spoold: " << e.what() << "\n";
    return 1;
  }
  if (cli.settings.verbose > 0) {
    std::cerr << "spoold " << spoold::kVersion << " listening on " << cli.settings.listen << ":"
              << server.port() << "\n";
  }
  int signal = 0;
  sigwait(&stop_signals, &signal);
  server.stop();  // stop accepting, finish responses in flight, close
  return 0;
}
