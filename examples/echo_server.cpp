// Echo server: the smallest spool program, with optional TLS.
//
//   spool_echo_server [--host 127.0.0.1] [--port 7000] [--loops N]
//                     [--tls-cert FILE --tls-key FILE [--tls-ca FILE]
//                      [--tls-verify none|optional|required] [--tls-min 1.2|1.3]]
//
// Prints "listening on HOST:PORT" once it accepts (--port 0 picks a free
// port); SIGINT or SIGTERM stops it.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "spool/errors.h"
#include "spool/transport.h"

namespace {

class EchoHandler final : public spool::ConnectionHandler {
 public:
  void onData(spool::Connection& conn, spool::InputBuffer& input) override {
    if (pending_) {
      return;
    }
    spool::Buffer chunk = input.take(input.size());
    if (conn.send(std::move(chunk)) == spool::SendResult::kBackpressure) {
      pending_ = std::move(chunk);  // handed back: retry on onWritable
      conn.pauseReading();
    }
  }
  void onWritable(spool::Connection& conn) override {
    if (pending_ && conn.send(std::move(pending_)) != spool::SendResult::kBackpressure) {
      conn.resumeReading();
    }
  }

 private:
  spool::Buffer pending_;
};

[[noreturn]] void usage(const char* problem) {
  std::fprintf(stderr,
               "spool_echo_server: %s\n"
               "usage: spool_echo_server [--host ADDR] [--port N] [--loops N]\n"
               "         [--tls-cert FILE --tls-key FILE [--tls-ca FILE]\n"
               "          [--tls-verify none|optional|required] [--tls-min 1.2|1.3]]\n",
               problem);
  std::exit(2);
}

std::map<std::string, std::string> parseFlags(int argc, char** argv) {
  static const char* const kKnown[] = {"--host",    "--port",       "--loops",  "--tls-cert",
                                       "--tls-key", "--tls-ca",     "--tls-verify", "--tls-min"};
  std::map<std::string, std::string> flags;
  for (int i = 1; i < argc; i += 2) {
    const std::string name = argv[i];
    bool known = false;
    for (const char* k : kKnown) {
      known = known || name == k;
    }
    if (!known) {
      usage(("unknown flag '" + name + "'").c_str());
    }
    if (i + 1 >= argc) {
      usage(("missing value for " + name).c_str());
    }
    flags[name] = argv[i + 1];
  }
  return flags;
}

unsigned long number(const std::map<std::string, std::string>& flags, const char* name, unsigned long fallback,
                     unsigned long max) {
  const auto it = flags.find(name);
  if (it == flags.end()) {
    return fallback;
  }
  char* end = nullptr;
  const unsigned long value = std::strtoul(it->second.c_str(), &end, 10);
  if (it->second.empty() || *end != '\0' || value > max) {
    usage((std::string("bad value for ") + name + ": '" + it->second + "'").c_str());
  }
  return value;
}

std::optional<spool::TlsConfig> tlsFrom(const std::map<std::string, std::string>& flags) {
  if (!flags.contains("--tls-cert") && !flags.contains("--tls-key")) {
    return std::nullopt;
  }
  spool::TlsConfig tls;
  tls.certificate_chain_file = flags.contains("--tls-cert") ? flags.at("--tls-cert") : "";
  tls.private_key_file = flags.contains("--tls-key") ? flags.at("--tls-key") : "";
  tls.ca_file = flags.contains("--tls-ca") ? flags.at("--tls-ca") : "";
  const std::string verify = flags.contains("--tls-verify") ? flags.at("--tls-verify") : "none";
  if (verify == "none") {
    tls.verify_peer = spool::PeerVerification::kNone;
  } else if (verify == "optional") {
    tls.verify_peer = spool::PeerVerification::kOptional;
  } else if (verify == "required") {
    tls.verify_peer = spool::PeerVerification::kRequired;
  } else {
    usage("--tls-verify must be none, optional or required");
  }
  const std::string min = flags.contains("--tls-min") ? flags.at("--tls-min") : "1.2";
  if (min != "1.2" && min != "1.3") {
    usage("--tls-min must be 1.2 or 1.3");
  }
  tls.min_version = min == "1.3" ? spool::TlsVersion::kTls13 : spool::TlsVersion::kTls12;
  return tls;
}

}  // namespace

int main(int argc, char** argv) {
  const auto flags = parseFlags(argc, argv);
  spool::ListenOptions options;
  options.host = flags.contains("--host") ? flags.at("--host") : "127.0.0.1";
  options.port = static_cast<std::uint16_t>(number(flags, "--port", 7000, 65535));
  options.tls = tlsFrom(flags);
  spool::TransportOptions transport_options;
  transport_options.loops = static_cast<unsigned>(number(flags, "--loops", 0, 1024));

  // Block the stop signals before any thread starts, then wait for one.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto transport = spool::Transport::create(transport_options);
  transport->start();
  spool::ListenerPtr listener;
  try {
    listener = transport->listen(options, [] { return std::make_unique<EchoHandler>(); });
  } catch (const spool::SetupError& e) {
    std::fprintf(stderr, "spool_echo_server: %s\n", e.what());
    return 1;
  }
  std::printf("listening on %s:%u%s\n", options.host.c_str(), listener->port(), options.tls ? " (TLS)" : "");
  std::fflush(stdout);
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  transport->stop();
  return 0;
}
