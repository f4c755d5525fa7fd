#include "ev_conn.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace spool::bench {
namespace {

// spool's core gathers as many iovecs per sendmsg.
constexpr std::size_t kMaxIovecs = 64;
// Reads of discarded input per readiness event.
constexpr int kReadsPerEvent = 4;

}  // namespace

EvConn::~EvConn() { release(); }

void EvConn::release() noexcept {
  if (added_) {
    event_del(&ev_);
    added_ = false;
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

void EvConn::watch(bool write) noexcept {
  if (added_ && write == write_interest_) {
    return;
  }
  if (added_) {
    event_del(&ev_);
  }
  // Not added, so it may be re-assigned.
  event_assign(&ev_, base_, fd_, static_cast<short>(EV_PERSIST | EV_READ | (write ? EV_WRITE : 0)),
               &onEventCb, this);
  added_ = event_add(&ev_, nullptr) == 0;
  write_interest_ = write;
}

void EvConn::onEventCb(evutil_socket_t, short what, void* ctx) {
  auto* conn = static_cast<EvConn*>(ctx);
  if ((what & EV_READ) != 0) {
    conn->onReadable();
  }
  if ((what & EV_WRITE) != 0 && conn->isOpen()) {
    conn->onWritable();
  }
}

void EvConn::onReadable() noexcept {
  char discard[4096];
  for (int i = 0; i < kReadsPerEvent; ++i) {
    const ssize_t n = ::recv(fd_, discard, sizeof(discard), MSG_DONTWAIT);
    if (n > 0) {
      continue;
    }
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return;
    }
    close();  // EOF or a reset
    return;
  }
}

EvConn::WriteResult EvConn::writeChain(OutputChain& chain, std::size_t& written) noexcept {
  written = 0;
  while (!chain.empty()) {
    iovec vecs[kMaxIovecs];
    msghdr message{};
    message.msg_iov = vecs;
    message.msg_iovlen = chain.gather(vecs, kMaxIovecs);
    std::size_t wanted = 0;
    for (std::size_t i = 0; i < message.msg_iovlen; ++i) {
      wanted += vecs[i].iov_len;
    }
    const ssize_t n = ::sendmsg(fd_, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
    ++counters_.write_calls;
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        ++counters_.write_refusals;
        return WriteResult::kRefused;
      }
      close();
      return WriteResult::kFailed;
    }
    chain.consume(static_cast<std::size_t>(n));
    written += static_cast<std::size_t>(n);
    counters_.bytes_out += static_cast<std::uint64_t>(n);
    if (static_cast<std::size_t>(n) < wanted) {
      ++counters_.write_refusals;  // the kernel is full: the next call would be refused
      return WriteResult::kRefused;
    }
  }
  return WriteResult::kDone;
}

void EvConn::close() noexcept {
  if (fd_ < 0) {
    return;
  }
  beforeClose();
  release();
  registry_.markClosed(*this);
}

}  // namespace spool::bench
