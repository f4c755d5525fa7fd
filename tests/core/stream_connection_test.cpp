// StreamConnection's byte moving, driven through a fake backend over a real
// socketpair: no event library. The fake records what the connection asks
// the event library for (watch(), armTimer()), and the test plays the event
// library by calling onReady() and onTimer() itself, after arranging what
// the socket holds from the peer's end. Every step is synchronous: a
// readiness call finds the socket exactly as the test left it.
#include "stream_connection.h"

#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fake_loop.h"

using spool::Buffer;
using spool::CloseCode;
using spool::CloseMode;
using spool::CloseReason;
using spool::Connection;
using spool::ConnectionHandler;
using spool::ConnectionOptions;
using spool::InputBuffer;
using spool::SendResult;
using spool::core::LoopCore;
using spool::core::StreamConnection;
using spool::test::FakeLoop;
using Log = std::vector<std::string>;
using Watches = std::vector<unsigned>;

namespace {

constexpr unsigned kNone = StreamConnection::kNone;
constexpr unsigned kRead = StreamConnection::kRead;
constexpr unsigned kWrite = StreamConnection::kWrite;

/// The backend half, without an event library: it records each request.
class FakeStream final : public StreamConnection {
 public:
  static std::shared_ptr<FakeStream> make(std::shared_ptr<FakeLoop> loop,
                                          spool::HandlerPtr handler,
                                          const ConnectionOptions& options) {
    return adopt(new FakeStream(std::move(loop), std::move(handler), options));
  }

  // What the event library calls, and what the test inspects.
  using StreamConnection::fd;
  using StreamConnection::interest;
  using StreamConnection::onReady;
  using StreamConnection::onTimer;

  Watches watches;                                // every watch() call, in order
  std::optional<std::chrono::milliseconds> timer;  // armed, and for how long
  bool events_released = false;
  std::optional<bool> released_with_abort;  // aborting() when the events were released

 private:
  FakeStream(std::shared_ptr<FakeLoop> loop, spool::HandlerPtr handler,
             const ConnectionOptions& options)
      : StreamConnection(std::move(loop), std::move(handler), options, "socketpair", nullptr) {}

  bool watch(unsigned interest) noexcept override {
    watches.push_back(interest);
    return true;
  }
  bool armTimer(std::chrono::milliseconds after) noexcept override {
    timer = after;
    return true;
  }
  void disarmTimer() noexcept override { timer.reset(); }
  void releaseEvents() noexcept override {
    events_released = true;
    released_with_abort = aborting();
  }
};

/// What the handler saw; outlives the handler (destroyed after onClose()).
struct Events {
  Log log;               // "open", "data", "peer-shutdown", "close", in order
  std::string received;  // what the default onData consumed
  std::optional<CloseReason> reason;
  bool keep_sending_after_eof = false;
  // Replaces the default onData (consume everything into `received`).
  std::function<void(Connection&, InputBuffer&)> on_data;
};

class RecordingHandler final : public ConnectionHandler {
 public:
  explicit RecordingHandler(Events& events) : events_(events) {}
  void onOpen(Connection& /*conn*/) override { events_.log.emplace_back("open"); }
  void onData(Connection& conn, InputBuffer& input) override {
    events_.log.emplace_back("data");
    if (events_.on_data) {
      events_.on_data(conn, input);
      return;
    }
    events_.received += input.text(input.size());
    input.consume(input.size());
  }
  bool onPeerShutdown(Connection& /*conn*/) override {
    events_.log.emplace_back("peer-shutdown");
    return events_.keep_sending_after_eof;
  }
  void onClose(Connection& /*conn*/, const CloseReason& reason) override {
    events_.log.emplace_back("close");
    events_.reason = reason;
  }

 private:
  Events& events_;
};

/// What the peer's end of the socketpair holds now.
struct PeerRead {
  std::string bytes;
  bool eof = false;  // the connection shut its write side after those bytes
};

/// Reads the peer's end until it would block or sees EOF.
PeerRead drainPeer(int fd) {
  PeerRead read;
  char chunk[64 << 10];
  for (;;) {
    const ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    if (n > 0) {
      read.bytes.append(chunk, static_cast<std::size_t>(n));
      continue;
    }
    if (n == 0) {
      read.eof = true;
    } else {
      REQUIRE((errno == EAGAIN || errno == EWOULDBLOCK));
    }
    return read;
  }
}

void peerSend(int fd, std::string_view text) {
  REQUIRE(::send(fd, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size()));
}

/// Bytes waiting in a socket's receive queue.
int unread(int fd) {
  int bytes = -1;
  REQUIRE(::ioctl(fd, SIOCINQ, &bytes) == 0);
  return bytes;
}

/// What the kernel charges a Unix socket for the bytes it sent that the peer
/// has not read (SIOCOUTQ): each buffer's true size, so it grows with every
/// sendmsg call and not only with the bytes.
int unreadCharge(int fd) {
  int charge = -1;
  REQUIRE(::ioctl(fd, SIOCOUTQ, &charge) == 0);
  return charge;
}

/// The charge for one sendmsg of each of `sizes`, measured on a socketpair
/// of its own.
int chargeOfSends(std::initializer_list<std::size_t> sizes) {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
  for (const std::size_t size : sizes) {
    const std::string bytes(size, 'x');
    REQUIRE(::send(fds[0], bytes.data(), size, MSG_NOSIGNAL) == static_cast<ssize_t>(size));
  }
  const int charge = unreadCharge(fds[0]);
  ::close(fds[0]);
  ::close(fds[1]);
  return charge;
}

std::string pattern(std::size_t size) {
  std::string text(size, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    text[i] = static_cast<char>('a' + i % 26);
  }
  return text;
}

/// A connection adopted from one end of a socketpair; the test is the peer
/// at the other end. Teardown aborts whatever is still open and runs the
/// loop until the connection object is freed.
struct Rig {
  explicit Rig(const ConnectionOptions& options = {}) : loop(std::make_shared<FakeLoop>()) {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
    peer = fds[1];
    conn = FakeStream::make(loop, std::make_unique<RecordingHandler>(events), options);
    conn->openAccepted(fds[0], false);
  }
  ~Rig() {
    conn->closeInLoop(CloseMode::kAbort, CloseCode::kTransportStopped, "teardown");
    while (loop->runDeferred() > 0) {
    }
    loop->dropTable();
    conn.reset();      // posts the destroy task
    loop->runInbox();  // which frees the connection
    ::close(peer);
  }
  Rig(const Rig&) = delete;
  Rig& operator=(const Rig&) = delete;

  SendResult send(std::string_view text) { return conn->send(Buffer::copyOf(text)); }

  /// The peer reads whatever the connection wrote, then the connection gets
  /// the write event, until it stops asking for one: what the event library
  /// and a reading peer would do. @return what the peer read in all.
  PeerRead pumpWrites() {
    PeerRead all;
    for (int round = 0; round < 10000 && (conn->interest() & kWrite) != 0; ++round) {
      all.bytes += drainPeer(peer).bytes;
      conn->onReady(false, true);
    }
    const PeerRead last = drainPeer(peer);
    all.bytes += last.bytes;
    all.eof = last.eof;
    return all;
  }

  Events events;
  std::shared_ptr<FakeLoop> loop;
  std::shared_ptr<FakeStream> conn;
  int peer = -1;
};

}  // namespace

TEST_CASE("stream connection: reads reach onData; a paused handler drops the read interest",
          "[core][unit][stream]") {
  Rig rig;
  CHECK(rig.events.log == Log{"open"});
  CHECK(rig.conn->watches == Watches{kRead});  // one watch at accept

  peerSend(rig.peer, "hello");
  rig.conn->onReady(true, false);
  CHECK(rig.events.received == "hello");
  CHECK(rig.conn->watches == Watches{kRead});  // a read changes no interest

  // The handler pauses from inside onData.
  rig.events.on_data = [&rig](Connection& conn, InputBuffer& input) {
    rig.events.received += input.text(input.size());
    input.consume(input.size());
    conn.pauseReading();
  };
  peerSend(rig.peer, " pause");
  rig.conn->onReady(true, false);
  CHECK(rig.events.received == "hello pause");
  CHECK(rig.conn->interest() == kNone);
  CHECK(rig.conn->watches == Watches{kRead, kNone});

  // A readiness that raced with the pause reads nothing: the bytes stay in
  // the socket, so that TCP pushes back on the peer.
  rig.events.on_data = nullptr;
  peerSend(rig.peer, " more");
  rig.conn->onReady(true, false);
  CHECK(rig.events.received == "hello pause");
  CHECK(unread(rig.conn->fd()) == 5);

  rig.conn->resumeReading();
  CHECK(rig.conn->interest() == kRead);
  rig.loop->runDeferred();  // the buffered-input hand-over (nothing buffered)
  rig.conn->onReady(true, false);
  CHECK(rig.events.received == "hello pause more");
  CHECK(rig.conn->watches == Watches{kRead, kNone, kRead});
}

TEST_CASE("stream connection: input left when the handler paused is handed over after resume",
          "[core][unit][stream]") {
  Rig rig;
  int calls = 0;
  rig.events.on_data = [&](Connection& conn, InputBuffer& input) {
    ++calls;
    rig.events.received += input.text(input.size());
    if (calls == 1) {
      input.consume(2);  // one frame of two, then a pause
      conn.pauseReading();
      return;
    }
    input.consume(input.size());
  };
  peerSend(rig.peer, "abcdef");
  rig.conn->onReady(true, false);
  CHECK(rig.events.received == "abcdef");

  // No socket event will announce bytes that are already read: resuming
  // hands them over by itself, on a later turn.
  rig.conn->resumeReading();
  CHECK(calls == 1);
  rig.loop->runDeferred();
  CHECK(calls == 2);
  CHECK(rig.events.received == "abcdefcdef");
}

TEST_CASE("stream connection: what the handler leaves survives the next read into scratch",
          "[core][unit][stream]") {
  Rig rig;
  Log lines;
  // A line protocol: each onData consumes whole lines only.
  rig.events.on_data = [&lines](Connection& /*conn*/, InputBuffer& input) {
    while (const auto end = input.find("\n", input.size())) {
      lines.emplace_back(input.text(*end));
      input.consume(*end + 1);
    }
  };
  peerSend(rig.peer, "one\ntw");
  rig.conn->onReady(true, false);
  CHECK(lines == Log{"one"});

  // Another connection of the loop reads into the shared scratch buffer.
  const std::span<std::byte> scratch = rig.loop->readScratch();
  std::fill(scratch.begin(), scratch.end(), std::byte{'Z'});

  peerSend(rig.peer, "o\nthree\n");
  rig.conn->onReady(true, false);
  CHECK(lines == Log{"one", "two", "three"});
}

TEST_CASE("stream connection: max_input_bytes bounds what is read; wantBytes raises it",
          "[core][unit][stream]") {
  ConnectionOptions options;
  options.max_input_bytes = 8;
  Rig rig(options);
  std::size_t want = 0;  // what the handler asks for when it finds no whole line
  Log seen;
  rig.events.on_data = [&](Connection& /*conn*/, InputBuffer& input) {
    seen.emplace_back(input.text(input.size()));
    if (want != 0) {
      input.wantBytes(want);
    }
  };
  peerSend(rig.peer, "abcdefghijkl");  // 12 bytes, no frame boundary

  SECTION("a read takes no more than the bound has room for; then reading stops") {
    rig.conn->onReady(true, false);
    CHECK(seen == Log{"abcdefgh"});
    CHECK(unread(rig.conn->fd()) == 4);  // left in the kernel: TCP pushes back
    rig.conn->onReady(true, false);      // the handler left the bound's worth
    CHECK(rig.conn->interest() == kNone);
    CHECK(seen == Log{"abcdefgh"});
    CHECK(unread(rig.conn->fd()) == 4);
  }
  SECTION("a frame larger than the bound is read whole") {
    want = 12;
    rig.conn->onReady(true, false);
    CHECK(seen == Log{"abcdefgh"});
    rig.conn->onReady(true, false);
    CHECK(seen == Log{"abcdefgh", "abcdefghijkl"});
    CHECK(unread(rig.conn->fd()) == 0);
    CHECK(rig.conn->interest() == kRead);
  }
}

TEST_CASE("stream connection: output queued in a write scope leaves in one sendmsg as it ends",
          "[core][unit][stream]") {
  Rig rig;
  const std::string big = pattern(3000);  // above copy_threshold: referenced, its own iovec
  {
    const LoopCore::WriteScope scope(*rig.loop);
    CHECK(rig.send("a") == SendResult::kOk);
    CHECK(rig.send(big) == SendResult::kOk);
    CHECK(rig.send("c") == SendResult::kOk);
    CHECK(unreadCharge(rig.conn->fd()) == 0);  // nothing written inside the scope
  }
  // The peer's end holds what exactly one sendmsg of the three leaves, not
  // what three do (the charge tells them apart; check that it does here).
  const int one_send = chargeOfSends({1 + 3000 + 1});
  REQUIRE(one_send != chargeOfSends({1, 3000, 1}));
  CHECK(unreadCharge(rig.conn->fd()) == one_send);
  CHECK(rig.loop->stats().eager_writes == 1);

  const PeerRead read = drainPeer(rig.peer);
  CHECK(read.bytes == "a" + big + "c");
  CHECK_FALSE(read.eof);
  CHECK(rig.conn->watches == Watches{kRead});  // the kernel took it all: no write event

  // Outside a scope, a send is written at once.
  CHECK(rig.send("now") == SendResult::kOk);
  CHECK(drainPeer(rig.peer).bytes == "now");
}

TEST_CASE("stream connection: the write event is watched only while the kernel refuses bytes",
          "[core][unit][stream]") {
  Rig rig;
  CHECK(rig.send("hi") == SendResult::kOk);
  CHECK(drainPeer(rig.peer).bytes == "hi");
  CHECK(rig.conn->watches == Watches{kRead});

  // More than the socket holds, with the peer not reading.
  const std::string big = pattern(1 << 20);
  CHECK(rig.conn->send(Buffer::copyOf(big)) == SendResult::kOk);
  CHECK(rig.conn->interest() == (kRead | kWrite));
  CHECK(rig.conn->counters().backlog > 0);

  // Each write event writes until the kernel refuses again: the interest
  // stays as it is until the output is gone, then the write event goes.
  const PeerRead read = rig.pumpWrites();
  CHECK(read.bytes.size() == big.size());
  CHECK((read.bytes == big));  // (not expanded: a megabyte)
  CHECK(rig.conn->interest() == kRead);
  CHECK(rig.conn->watches == Watches{kRead, kRead | kWrite, kRead});
  CHECK(rig.conn->counters().backlog == 0);
  CHECK(rig.conn->isOpen());
}

TEST_CASE(
    "stream connection: a graceful close flushes, shuts the write side, lingers until the peer's "
    "EOF",
    "[core][unit][stream]") {
  Rig rig;
  const std::string big = pattern(1 << 20);
  CHECK(rig.conn->send(Buffer::copyOf(big)) == SendResult::kOk);  // the kernel takes part of it
  rig.conn->close(CloseMode::kGraceful, "bye");
  CHECK(rig.conn->interest() == kWrite);  // flushing: writing only
  CHECK(rig.conn->timer.has_value());     // the flush is bounded
  const PeerRead before = drainPeer(rig.peer);
  CHECK_FALSE(before.eof);

  // The peer reads; the connection writes the rest, then shuts its write
  // side: the peer sees EOF right after the last byte.
  const PeerRead read = rig.pumpWrites();
  CHECK(before.bytes.size() + read.bytes.size() == big.size());
  CHECK((before.bytes + read.bytes == big));  // (not expanded: a megabyte)
  CHECK(read.eof);

  // Lingering: reading (and discarding) until the peer's EOF, bounded too.
  CHECK(rig.conn->interest() == kRead);
  CHECK(rig.conn->timer.has_value());
  CHECK(rig.events.log == Log{"open"});
  peerSend(rig.peer, "late request");
  rig.conn->onReady(true, false);
  CHECK(rig.events.log == Log{"open"});  // discarded, not handed over
  CHECK(rig.events.received.empty());

  ::shutdown(rig.peer, SHUT_WR);
  rig.conn->onReady(true, false);
  CHECK(rig.conn->interest() == kNone);
  CHECK_FALSE(rig.conn->timer.has_value());
  CHECK(rig.events.log == Log{"open"});  // onClose on a later turn
  CHECK(rig.loop->runDeferred() == 1);
  CHECK(rig.events.log == Log{"open", "close"});
  REQUIRE(rig.events.reason);
  CHECK(rig.events.reason->code == CloseCode::kLocalClose);
  CHECK(rig.events.reason->detail == "bye");
  CHECK(rig.conn->events_released);
  CHECK(rig.conn->released_with_abort == false);
}

TEST_CASE("stream connection: a reply and a close from inside onData: the reply, then EOF",
          "[core][unit][stream]") {
  Rig rig;
  rig.events.on_data = [](Connection& conn, InputBuffer& input) {
    input.consume(input.size());
    CHECK(conn.send(Buffer::copyOf(std::string_view("reply"))) == SendResult::kOk);
    conn.close(CloseMode::kGraceful, "done");
  };
  peerSend(rig.peer, "quit");
  rig.conn->onReady(true, false);
  const PeerRead read = drainPeer(rig.peer);
  CHECK(read.bytes == "reply");
  CHECK(read.eof);
  CHECK(rig.conn->interest() == kRead);  // lingering

  ::shutdown(rig.peer, SHUT_WR);
  rig.conn->onReady(true, false);
  CHECK(rig.loop->runDeferred() == 1);
  REQUIRE(rig.events.reason);
  CHECK(rig.events.reason->code == CloseCode::kLocalClose);
}

TEST_CASE("stream connection: a write to a peer that went away closes with kPeerClosed",
          "[core][unit][stream]") {
  Rig rig;
  ::close(rig.peer);
  rig.peer = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);  // for the teardown to close
  CHECK(rig.send("lost") == SendResult::kOk);  // EPIPE
  CHECK(rig.conn->interest() == kNone);
  CHECK(rig.loop->runDeferred() == 1);
  REQUIRE(rig.events.reason);
  CHECK(rig.events.reason->code == CloseCode::kPeerClosed);
  CHECK(rig.events.reason->sys_error == EPIPE);
  CHECK(rig.conn->counters().backlog == 0);  // the unwritten bytes were retired
}

TEST_CASE("stream connection: a graceful close of a paused connection still waits for the EOF",
          "[core][unit][stream]") {
  Rig rig;
  rig.conn->pauseReading();
  CHECK(rig.conn->interest() == kNone);
  rig.conn->close(CloseMode::kGraceful, "bye");  // nothing to flush: lingering at once
  CHECK(drainPeer(rig.peer).eof);
  CHECK(rig.conn->interest() == kRead);  // the pause does not hide the peer's EOF
  CHECK(rig.conn->timer.has_value());

  ::shutdown(rig.peer, SHUT_WR);
  rig.conn->onReady(true, false);
  CHECK(rig.loop->runDeferred() == 1);
  CHECK(rig.events.log == Log{"open", "close"});
  REQUIRE(rig.events.reason);
  CHECK(rig.events.reason->code == CloseCode::kLocalClose);
}

TEST_CASE("stream connection: a linger without the peer's EOF ends at its deadline, cleanly",
          "[core][unit][stream]") {
  ConnectionOptions options;
  options.linger_timeout = std::chrono::milliseconds(0);  // passed whenever the timer fires
  Rig rig(options);
  rig.conn->close(CloseMode::kGraceful, "bye");
  CHECK(drainPeer(rig.peer).eof);
  CHECK(rig.conn->interest() == kRead);
  REQUIRE(rig.conn->timer.has_value());  // the linger is bounded

  rig.conn->onTimer();  // the peer never closed its side
  CHECK(rig.conn->interest() == kNone);
  CHECK(rig.loop->runDeferred() == 1);
  CHECK(rig.events.log == Log{"open", "close"});
  REQUIRE(rig.events.reason);
  CHECK(rig.events.reason->code == CloseCode::kLocalClose);
  CHECK(rig.events.reason->detail == "bye");      // the output was flushed: no timeout to report
  CHECK(rig.conn->released_with_abort == false);  // and no reset
}

TEST_CASE("stream connection: a flush that makes no progress by the deadline becomes an abort",
          "[core][unit][stream]") {
  ConnectionOptions options;
  SECTION("the timer fires past the deadline: abort, and the reason says why") {
    // A deadline of 0 ms has passed whenever the timer fires: no clock to wait for.
    options.linger_timeout = std::chrono::milliseconds(0);
    Rig rig(options);
    CHECK(rig.conn->send(Buffer::copyOf(pattern(1 << 20))) == SendResult::kOk);
    rig.conn->close(CloseMode::kGraceful, "bye");
    REQUIRE(rig.conn->timer.has_value());
    CHECK(rig.conn->interest() == kWrite);

    rig.conn->onTimer();  // the peer read nothing meanwhile
    CHECK(rig.conn->interest() == kNone);
    CHECK(rig.loop->runDeferred() == 1);
    CHECK(rig.events.log == Log{"open", "close"});
    REQUIRE(rig.events.reason);
    CHECK(rig.events.reason->code == CloseCode::kLocalClose);
    CHECK(rig.events.reason->detail == "bye; output not flushed within 0 ms");
    CHECK(rig.conn->released_with_abort == true);
  }
  SECTION("the timer firing before the deadline changes nothing") {
    options.linger_timeout = std::chrono::hours(1);
    Rig rig(options);
    CHECK(rig.conn->send(Buffer::copyOf(pattern(1 << 20))) == SendResult::kOk);
    rig.conn->close(CloseMode::kGraceful, "bye");
    rig.conn->timer.reset();
    rig.conn->onTimer();
    CHECK(rig.conn->timer.has_value());  // armed again, for the same deadline
    CHECK(rig.conn->interest() == kWrite);
    CHECK(rig.loop->runDeferred() == 0);
    CHECK(rig.events.log == Log{"open"});
  }
}

TEST_CASE("stream connection: the peer's EOF while open calls onPeerShutdown",
          "[core][unit][stream]") {
  SECTION("after the bytes sent before it; then the connection closes gracefully") {
    Rig rig;
    peerSend(rig.peer, "last");
    ::shutdown(rig.peer, SHUT_WR);
    rig.conn->onReady(true, false);  // one read per event: the bytes
    rig.conn->onReady(true, false);  // and the EOF
    CHECK(rig.events.received == "last");
    CHECK(rig.events.log == Log{"open", "data", "peer-shutdown"});
    // Nothing to flush and the EOF is in: the socket is shut and released.
    CHECK(rig.conn->interest() == kNone);
    CHECK(drainPeer(rig.peer).eof);
    CHECK(rig.loop->runDeferred() == 1);
    CHECK(rig.events.log == Log{"open", "data", "peer-shutdown", "close"});
    REQUIRE(rig.events.reason);
    CHECK(rig.events.reason->code == CloseCode::kPeerClosed);
    CHECK(rig.conn->released_with_abort == false);
  }
  SECTION("a handler that keeps sending stays open, no longer watching for input") {
    Rig rig;
    rig.events.keep_sending_after_eof = true;
    ::shutdown(rig.peer, SHUT_WR);
    rig.conn->onReady(true, false);
    CHECK(rig.events.log == Log{"open", "peer-shutdown"});
    CHECK(rig.conn->isOpen());
    CHECK(rig.conn->interest() == kNone);  // EOF stays readable: stop asking

    CHECK(rig.send("reply") == SendResult::kOk);
    PeerRead read = drainPeer(rig.peer);
    CHECK(read.bytes == "reply");
    CHECK_FALSE(read.eof);

    rig.conn->close(CloseMode::kGraceful, "done");
    CHECK(drainPeer(rig.peer).eof);
    CHECK(rig.loop->runDeferred() == 1);
    REQUIRE(rig.events.reason);
    CHECK(rig.events.reason->code == CloseCode::kLocalClose);
  }
}

