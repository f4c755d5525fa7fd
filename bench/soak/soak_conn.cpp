#include "soak_conn.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "usage.h"

namespace spool::bench {
namespace {

constexpr std::string_view kRejectLine = "ERROR Too many open connections";

/// poll() bounded by an absolute deadline; false once it has passed.
bool pollUntil(int fd, short events, std::uint64_t deadline_ns) {
  const std::uint64_t now = nowNs();
  if (now >= deadline_ns) {
    return false;
  }
  pollfd p{fd, events, 0};
  const auto ms =
      static_cast<int>(std::min<std::uint64_t>((deadline_ns - now) / 1'000'000 + 1, 1000));
  return ::poll(&p, 1, ms) >= 0 || errno == EINTR;
}

/// A non-blocking connect bounded by the deadline (a server whose accept
/// queue is full would otherwise hold a blocking connect for minutes).
int connectBounded(const SoakTarget& target, std::uint64_t deadline_ns, std::string& why) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(target.port));
  if (inet_pton(AF_INET, target.host.c_str(), &addr.sin_addr) != 1) {
    why = "not an IPv4 address: " + target.host;
    return -1;
  }
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  int err = fd < 0 ? errno : 0;
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    err = errno == EINPROGRESS ? ETIMEDOUT : errno;
    while (err == ETIMEDOUT && nowNs() < deadline_ns) {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, 100) > 0) {
        socklen_t length = sizeof(err);
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &length);
      }
    }
  }
  if (err != 0) {
    why = std::string("connect: ") + std::strerror(err);
    if (fd >= 0) {
      ::close(fd);
    }
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

}  // namespace

SoakConn::SoakConn(std::unique_ptr<ClientChannel> channel)
    : channel_(std::move(channel)), buffer_(256 << 10) {}

Opened SoakConn::open(const SoakTarget& target, std::uint64_t deadline_ns,
                      std::unique_ptr<SoakConn>& out, std::string& why, OpenMode mode) {
  out.reset();
  const int fd = connectBounded(target, deadline_ns, why);
  if (fd < 0) {
    return Opened::kError;
  }
  const bool tls = mode.tls && target.tls != nullptr;
  static const TlsClient kPlain;
  std::unique_ptr<SoakConn> conn(new SoakConn(makeClientChannel(fd, tls ? *target.tls : kPlain)));
  Opened result = tls ? conn->handshake(deadline_ns, why) : Opened::kOk;
  if (result == Opened::kOk && mode.probe) {
    result = conn->probe(deadline_ns, why);
  }
  if (result == Opened::kOk) {
    out = std::move(conn);
  }
  return result;
}

Opened SoakConn::handshake(std::uint64_t deadline_ns, std::string& why) {
  for (;;) {
    const long r = channel_->handshake();
    if (r == 1) {
      return Opened::kOk;
    }
    if (r == kFailed) {
      // The refusal at -c is plain text on a TLS port: the handshake fails.
      why = channel_->error();
      return Opened::kRefused;
    }
    if (!await(0, deadline_ns)) {
      why = "TLS handshake timed out";
      return Opened::kError;
    }
  }
}

Opened SoakConn::probe(std::uint64_t deadline_ns, std::string& why) {
  if (!sendAll("version\r\n", deadline_ns)) {
    why = "version: " + error_;
    return Opened::kRefused;  // the server closed at once: a refusal racing our write
  }
  std::string line;
  while (line.find("\r\n") == std::string::npos) {
    const long n = readSome(buffer_.data(), buffer_.size(), deadline_ns);
    if (n == kTimedOut) {
      why = "no reply to version";
      return Opened::kError;
    }
    if (n <= 0) {  // closed or reset before any reply: refused
      why = "closed before VERSION";
      return Opened::kRefused;
    }
    line.append(buffer_.data(), static_cast<std::size_t>(n));
  }
  line.resize(line.find("\r\n"));
  if (line.starts_with("VERSION ")) {
    return Opened::kOk;
  }
  why = "version answered \"" + printable(line) + "\"";
  return line == kRejectLine ? Opened::kRefused : Opened::kError;
}

short SoakConn::channelEvents() const noexcept {
  return channel_->waitingFor() == IoWait::kRead ? POLLIN : POLLOUT;
}

bool SoakConn::await(short events, std::uint64_t deadline_ns) {
  if (channel_->hasBuffered()) {
    return true;
  }
  return pollUntil(channel_->fd(), static_cast<short>(events | channelEvents()), deadline_ns);
}

bool SoakConn::sendAll(std::string_view data, std::uint64_t deadline_ns) {
  while (!data.empty()) {
    const long n = channel_->write(data.data(), data.size());
    if (n == kFailed) {
      error_ = channel_->error();
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
    if (n == 0 && !await(0, deadline_ns)) {
      error_ = "write timed out";
      return false;
    }
  }
  return true;
}

long SoakConn::readSome(char* data, std::size_t size, std::uint64_t deadline_ns) {
  for (;;) {
    const long n = channel_->read(data, size);
    if (n != kWouldBlock) {
      if (n == kFailed) {
        error_ = channel_->error();
      }
      return n;
    }
    if (!await(0, deadline_ns)) {
      error_ = "read timed out";
      return kTimedOut;
    }
  }
}

Exchanged SoakConn::exchange(std::string_view out, ReplyChecker& checker, std::size_t until_pending,
                             std::uint64_t deadline_ns, ReadPace pace) {
  std::size_t written = 0;
  for (;;) {
    if (written == out.size() && checker.pending() <= until_pending) {
      return Exchanged::kDone;
    }
    Step step;
    std::optional<Exchanged> end;
    if (written < out.size()) {
      end = writeStep(out, written, step);
    }
    // Read while writing too: a server blocked on its output would never
    // take the rest of a long pipeline.
    if (!end) {
      end = readStep(checker, pace, step);
    }
    if (end) {
      return *end;
    }
    if (!step.moved && !await(step.events, deadline_ns)) {
      error_ = "stalled: " + std::to_string(checker.pending()) + " replies pending, " +
               std::to_string(out.size() - written) + " request bytes unwritten";
      return Exchanged::kStalled;
    }
  }
}

std::optional<Exchanged> SoakConn::writeStep(std::string_view out, std::size_t& written,
                                             Step& step) {
  const long n = channel_->write(out.data() + written, out.size() - written);
  if (n == kFailed) {
    error_ = "write: " + channel_->error();
    return Exchanged::kError;
  }
  written += static_cast<std::size_t>(n);
  step.moved = step.moved || n > 0;
  step.events |= n > 0 ? 0 : channelEvents();
  return std::nullopt;
}

std::optional<Exchanged> SoakConn::readStep(ReplyChecker& checker, ReadPace pace, Step& step) {
  const long n = channel_->read(buffer_.data(), std::min(buffer_.size(), pace.chunk));
  if (n == kWouldBlock) {
    step.events |= channelEvents();
    return std::nullopt;
  }
  if (n == 0) {
    error_ = "the server closed the connection with " + std::to_string(checker.pending()) +
             " replies pending";
    return Exchanged::kClosed;
  }
  if (n == kFailed) {
    error_ = "read: " + channel_->error();
    return Exchanged::kError;
  }
  if (!checker.consume({buffer_.data(), static_cast<std::size_t>(n)})) {
    return Exchanged::kMismatch;
  }
  step.moved = true;
  if (pace.pause_us > 0) {
    std::this_thread::sleep_for(std::chrono::microseconds(pace.pause_us));  // pacing, not waiting
  }
  return std::nullopt;
}

bool SoakConn::drainUntilClosed(std::uint64_t deadline_ns) {
  for (;;) {
    const long n = readSome(buffer_.data(), buffer_.size(), deadline_ns);
    if (n == 0 || n == kFailed) {
      return true;
    }
    if (n == kTimedOut) {
      return false;
    }
  }
}

void SoakConn::shutdownWrite() noexcept {
  ::shutdown(channel_->fd(), SHUT_WR);
}

void SoakConn::abortWithReset(std::unique_ptr<SoakConn> conn) noexcept {
  if (!conn) {
    return;
  }
  const linger reset{1, 0};
  ::setsockopt(conn->fd(), SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
  conn.reset();  // the channel's destructor frees the SSL (no close_notify) and closes: RST
}

}  // namespace spool::bench
