#include "stream_reader.h"

#include <sys/epoll.h>
#include <unistd.h>

#include "usage.h"

namespace spool::bench {
namespace {

/// One reader thread's epoll set. Level-triggered: a connection is polled
/// for what its channel last waited for (TLS may need the socket writable
/// to go on, during the handshake or a key update).
class Reader {
 public:
  Reader(const std::vector<ClientConn*>& conns, unsigned reads_per_wake, std::uint64_t measure_from,
         ReaderTally& tally)
      : conns_(conns),
        reads_per_wake_(reads_per_wake),
        measure_from_(measure_from),
        tally_(tally),
        ep_(epoll_create1(EPOLL_CLOEXEC)) {
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      epoll_event ev{};
      ev.events = conns_[i]->armed = EPOLLIN;
      ev.data.u64 = i;
      epoll_ctl(ep_, EPOLL_CTL_ADD, conns_[i]->channel->fd(), &ev);
    }
  }
  ~Reader() { ::close(ep_); }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  void run(std::uint64_t end_ns) {
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      step(i);  // sends the ClientHello
    }
    epoll_event events[64];
    std::vector<std::size_t> buffered;
    for (std::uint64_t now = nowNs(); now < end_ns; now = nowNs()) {
      // Bytes OpenSSL already holds raise no epoll event: serve them first.
      const int n = epoll_wait(ep_, events, 64, buffered_.empty() ? 50 : 0);
      buffered.swap(buffered_);
      for (const std::size_t i : buffered) {
        conns_[i]->queued = false;
        step(i);
      }
      buffered.clear();
      for (int k = 0; k < n; ++k) {
        step(events[k].data.u64);
      }
    }
  }

 private:
  void step(std::size_t i) {
    ClientConn& c = *conns_[i];
    if (!c.open) {
      return;
    }
    if (!c.handshaken) {
      const long r = c.channel->handshake();
      if (r == kWouldBlock) {
        arm(i, c.channel->waitingFor());
        return;
      }
      if (r == kFailed) {
        ++tally_.tls_failures;
        fail(i, c.channel->error());
        return;
      }
      c.handshaken = true;
    }
    for (unsigned reads = 0; reads < reads_per_wake_; ++reads) {
      const long r =
          c.channel->read(reinterpret_cast<char*>(c.checker.space()), c.checker.spaceLeft());
      if (r == kWouldBlock) {
        arm(i, c.channel->waitingFor());
        return;
      }
      if (r <= 0) {
        ++tally_.closed_early;
        fail(i, r == 0 ? std::string() : c.channel->error());
        return;
      }
      const std::uint64_t at = nowNs();
      if (!c.checker.received(static_cast<std::size_t>(r), at, at >= measure_from_,
                              tally_.stream)) {
        fail(i, {});  // corrupt: counted in frames_bad
        return;
      }
    }
    arm(i, IoWait::kRead);
    if (c.channel->hasBuffered() && !c.queued) {
      c.queued = true;
      buffered_.push_back(i);
    }
  }

  void arm(std::size_t i, IoWait wait) {
    ClientConn& c = *conns_[i];
    const std::uint32_t events = wait == IoWait::kRead ? EPOLLIN : EPOLLOUT;
    if (c.armed != events) {
      epoll_event ev{};
      ev.events = c.armed = events;
      ev.data.u64 = i;
      epoll_ctl(ep_, EPOLL_CTL_MOD, c.channel->fd(), &ev);
    }
  }

  void fail(std::size_t i, const std::string& why) {
    ClientConn& c = *conns_[i];
    c.open = false;
    epoll_ctl(ep_, EPOLL_CTL_DEL, c.channel->fd(), nullptr);
    if (!why.empty() && tally_.first_error.empty()) {
      tally_.first_error = why;
    }
  }

  const std::vector<ClientConn*>& conns_;
  const unsigned reads_per_wake_;
  const std::uint64_t measure_from_;
  ReaderTally& tally_;
  const int ep_;
  std::vector<std::size_t> buffered_;
};

}  // namespace

void readStreams(const std::vector<ClientConn*>& conns, unsigned reads_per_wake,
                 std::uint64_t measure_from, std::uint64_t end_ns, ReaderTally& tally) {
  Reader(conns, reads_per_wake, measure_from, tally).run(end_ns);
}

}  // namespace spool::bench
