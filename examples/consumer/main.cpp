// spool_consumer: an echo server whose answers come from a worker thread,
// through spool's cross-thread send. Built outside spool's tree (see
// CMakeLists.txt); prints "spool VERSION (BACKEND) listening on
// 127.0.0.1:PORT" once it accepts, and stops on SIGINT or SIGTERM.
//   spool_consumer [PORT]     (default 0: a free port)
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

#include "spool/transport.h"
#include "spool/version.h"

namespace {

// One worker thread answers every request.
class Worker {
 public:
  void submit(spool::ConnectionPtr conn, spool::Buffer&& request) {
    {
      std::lock_guard lock(mutex_);
      jobs_.emplace_back(std::move(conn), std::move(request));
    }
    ready_.notify_one();
  }

 private:
  void run(std::stop_token stop) {
    std::unique_lock lock(mutex_);
    while (ready_.wait(lock, stop, [this] { return !jobs_.empty(); })) {
      auto [conn, request] = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      // No lock, no event-loop call: the payload goes onto the loop's inbox.
      // This echo has no backlog to park a refused payload in: it hangs up.
      if (conn->send(std::move(request)) == spool::SendResult::kBackpressure) {
        conn->close();
      }
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable_any ready_;
  std::deque<std::pair<spool::ConnectionPtr, spool::Buffer>> jobs_;
  std::jthread thread_{[this](std::stop_token stop) { run(stop); }};
};

class Echo final : public spool::ConnectionHandler {  // callbacks run on a loop thread
 public:
  explicit Echo(Worker& worker) : worker_(worker) {}
  void onData(spool::Connection& conn, spool::InputBuffer& in) override {
    worker_.submit(conn.ptr(), in.take(in.size()));
  }

 private:
  Worker& worker_;
};

}  // namespace

int main(int argc, char** argv) {
  sigset_t stop_signals;  // blocked before any thread starts, then waited for
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto transport = spool::Transport::create();
  transport->start();
  Worker worker;  // destroyed (joined) before the transport, with every job it held
  spool::ListenOptions options;
  options.port = static_cast<std::uint16_t>(argc > 1 ? std::atoi(argv[1]) : 0);
  auto listener = transport->listen(options, [&worker] { return std::make_unique<Echo>(worker); });
  std::printf("spool %s (%s) listening on %s:%u\n", SPOOL_VERSION, SPOOL_BACKEND, options.host.c_str(),
              listener->port());
  std::fflush(stdout);
  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  transport->stop();
  return 0;
}
