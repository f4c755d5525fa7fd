// Echo server: the smallest spool program. Usage: spool_echo_server [port]
#include <csignal>
#include <cstdio>
#include <cstdlib>

#include "spool/transport.h"

namespace {

class EchoHandler final : public spool::ConnectionHandler {
 public:
  void onData(spool::Connection& conn, spool::InputBuffer& input) override {
    (void)conn.send(input.take(input.size()));
  }
};

}  // namespace

int main(int argc, char** argv) {
  const int port = argc > 1 ? std::atoi(argv[1]) : 7000;
  auto transport = spool::Transport::create();
  transport->start();
  spool::ListenOptions options;
  options.port = static_cast<std::uint16_t>(port);
  auto listener = transport->listen(options, [] { return std::make_unique<EchoHandler>(); });
  std::printf("echo server on 127.0.0.1:%u\n", listener->port());
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  int sig = 0;
  sigwait(&set, &sig);
  transport->stop();
  return 0;
}
