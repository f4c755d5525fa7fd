// The stream server on spool's public API.
#include <atomic>

#include "frame.h"
#include "json.h"
#include "spool/transport.h"
#include "stream_mode.h"
#include "usage.h"

namespace spool::bench {
namespace {

class SpoolSlot final : public StreamSlot {
 public:
  SpoolSlot(ConnectionPtr conn, std::size_t msg_size) : conn_(std::move(conn)), size_(msg_size) {}

  SendOutcome send() noexcept override {
    Buffer payload = Buffer::allocate(size_);
    encodeMessage(payload.mutableData(), size_, nowNs(), next_seq);
    payload.resize(size_);
    switch (conn_->send(std::move(payload))) {
      case SendResult::kOk: return SendOutcome::kOk;
      case SendResult::kBackpressure: return SendOutcome::kBackpressure;
      case SendResult::kClosed: break;
    }
    return SendOutcome::kClosed;
  }

 private:
  ConnectionPtr conn_;
  const std::size_t size_;
};

/// Registers each connection with the producers, or (loop mode) feeds it
/// from the loop thread until the send budget refuses, then again from
/// onWritable.
class StreamHandler final : public ConnectionHandler {
 public:
  StreamHandler(const StreamConfig& config, SlotRegistry& registry, std::atomic<std::uint64_t>& loop_sent)
      : config_(config), registry_(registry), loop_sent_(loop_sent) {}

  void onOpen(Connection& conn) override {
    slot_ = std::make_shared<SpoolSlot>(conn.ptr(), config_.msg_size);
    registry_.add(slot_);
    fill();
  }
  void onData(Connection&, InputBuffer& input) override { input.consume(input.size()); }
  void onWritable(Connection&) override {
    slot_->announceWritable();
    fill();
  }
  void onClose(Connection&, const CloseReason&) override {
    if (!slot_) {
      return;  // closed before onOpen: a failed TLS handshake
    }
    registry_.markClosed(*slot_);
    slot_.reset();
  }

 private:
  void fill() {
    if (config_.mode != "loop") {
      return;
    }
    // Bounded: every accepted send grows the backlog, which only the loop
    // (this thread) shrinks, so the budget refuses within window/msg_size sends.
    std::uint64_t count = 0;
    while (slot_->send() == SendOutcome::kOk) {
      ++slot_->next_seq;
      ++count;
    }
    loop_sent_.fetch_add(count, std::memory_order_relaxed);
  }

  const StreamConfig& config_;
  SlotRegistry& registry_;
  std::atomic<std::uint64_t>& loop_sent_;
  std::shared_ptr<SpoolSlot> slot_;
};

class SpoolStreamMode final : public StreamMode {
 public:
  SpoolStreamMode(const StreamConfig& config, SlotRegistry& registry) : config_(config), registry_(registry) {}

  std::uint16_t start() override {
    TransportOptions options;
    options.name = "stream";
    options.loops = config_.loops;
    transport_ = Transport::create(options);
    transport_->start();
    ListenOptions listen;
    listen.host = "127.0.0.1";
    listen.port = config_.port;
    listen.connection.send_high_watermark = config_.highWatermark();
    listen.connection.send_low_watermark = config_.lowWatermark();
    if (config_.tls()) {
      TlsConfig tls;
      tls.certificate_chain_file = config_.tls_cert;
      tls.private_key_file = config_.tls_key;
      listen.tls = std::move(tls);
    }
    listener_ = transport_->listen(listen, [this] {
      return std::make_unique<StreamHandler>(config_, registry_, loop_sent_);
    });
    return listener_->port();
  }
  void stop() override {
    if (transport_) {
      stats_ = total(transport_->stats());
      transport_->stop();
    }
  }
  std::uint64_t loopMessages() const override { return loop_sent_.load(); }
  std::string statsJson() const override {
    JsonObject o;
    o.add("messages_drained", stats_.messages_drained)
        .add("messages_direct", stats_.messages_direct)
        .add("wakeups_requested", stats_.wakeups_requested)
        .add("wakeups_served", stats_.wakeups_served)
        .add("drain_batches", stats_.drain_batches)
        .add("largest_batch", stats_.largest_batch)
        .add("backpressure_refusals", stats_.backpressure_refusals)
        .add("bytes_out", stats_.bytes_out)
        .add("tls_handshakes", stats_.tls_handshakes)
        .add("tls_failures", stats_.tls_failures);
    return o.str();
  }

 private:
  const StreamConfig& config_;
  SlotRegistry& registry_;
  std::unique_ptr<Transport> transport_;
  ListenerPtr listener_;
  std::atomic<std::uint64_t> loop_sent_{0};
  LoopStats stats_;
};

}  // namespace

std::unique_ptr<StreamMode> makeSpoolStreamMode(const StreamConfig& config, SlotRegistry& registry) {
  return std::make_unique<SpoolStreamMode>(config, registry);
}

}  // namespace spool::bench
