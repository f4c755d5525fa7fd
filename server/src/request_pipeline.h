// One connection's command pipeline: ordering, execution mode, backpressure.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>

#include "buffer_queue.h"
#include "input_carry.h"
#include "metadump.h"
#include "output.h"
#include "server_context.h"
#include "session.h"
#include "spool/connection.h"
#include "spool/input_buffer.h"
#include "worker_pool.h"

namespace spoold {

/// Runs a connection's commands in order, inline on its loop thread or on
/// the worker pool, and sends each batch's responses as one spool::Buffer.
///
/// Ownership of the Session (and of `out_`, `carry_`) belongs to exactly one
/// "runner" at a time, recorded by `busy_` under `mutex_`: the loop thread
/// (inline mode), one worker (workers mode), or the metadump thread. Input
/// that arrives while someone else runs is queued and picked up by that
/// runner before it lets go, so responses keep request order with any
/// pipelining depth. There is never more than one batch of a connection in
/// flight.
///
/// Backpressure: when spool refuses a send, the runner parks the response
/// (`held_`) and stops; onWritable() (loop thread) sends it and restarts the
/// runner.
///
/// Queued input is bounded: once a connection has
/// Settings::queued_input_limit bytes queued and not yet executed (a worker
/// slower than its client, a metadump, a parked response), the loop stops
/// reading it; the runner that shrinks the queue to a quarter of the limit
/// resumes reading on the loop thread (Connection::runInLoop from a worker).
/// A client that does not read, or that sends faster than the commands run,
/// cannot grow server memory.
///
/// In inline mode every command runs on the loop thread: commands that
/// arrive during a metadump are handed back to the loop when it ends.
///
/// A turn runs at most Settings::reqs_per_event commands (memcached's -R);
/// then the runner flushes, counts `conn_yields`, and yields (yieldTurn()),
/// so that one pipelining client cannot starve the others on its loop.
///
/// Thread rules: onData/onWritable/onPeerShutdown/onClose on the loop
/// thread; run() on whichever thread runs the pipeline; sendPaced and
/// metadumpDone on the metadump thread.
class RequestPipeline final : public Task,
                              public MetadumpSink,
                              public std::enable_shared_from_this<RequestPipeline> {
 public:
  /// @param pool null for inline mode.
  RequestPipeline(ServerContext& ctx, spool::ConnectionPtr conn, WorkerPool* pool,
                  MetadumpService& metadump);

  // Loop thread.
  void onData(spool::InputBuffer& input);
  void onWritable();
  void onPeerShutdown();
  void onClose();

  // Task: runs queued input until it is used up, blocked, handed off or closed.
  void run() override;

  // MetadumpSink: the metadump thread.
  bool sendPaced(spool::Buffer&& payload, const std::atomic<bool>& stop) override;
  void metadumpDone() override;

 private:
  enum class Stop : std::uint8_t { kDrained, kBlocked, kClosed, kMetadump, kYield };
  struct Outcome {
    Stop stop = Stop::kDrained;
    std::size_t consumed = 0;
    std::size_t want = 0;
  };
  enum class Flush : std::uint8_t { kSent, kBlocked, kClosed };

  /// Runs the commands in `view` with the Session (runner only).
  Outcome runCommands(std::string_view view, bool flush_at_end);
  /// Sends out_ (runner only); parks it in held_ on backpressure.
  Flush flush();
  void runInline(spool::InputBuffer& input);
  /// Moves `input` to the queue (loop thread); pauses reading at the limit.
  void queueLocked(spool::InputBuffer& input);
  /// Takes the next queued chunk (runner). @return true when reading must
  /// resume: the caller posts resumeReadingInLoop() once it has unlocked.
  bool popLocked(spool::Buffer& chunk);
  /// Reading is due to resume and nobody has posted it yet: claims posting
  /// it. @return true when the caller posts resumeReadingInLoop() unlocked.
  bool claimResumeLocked();
  /// Reading is paused and the queue is down to a quarter of the limit.
  [[nodiscard]] bool resumeDueLocked() const noexcept;
  void resumeReadingInLoop();
  /// Runs `fn` now when on the connection's loop thread, else posts it there.
  void onLoopThread(void (RequestPipeline::*fn)());
  void raiseQueuedInputPeak() noexcept;
  /// The next input to run (runner): carry_ alone while it may hold complete
  /// commands, else the next queued chunk, after carry_'s incomplete command
  /// if it holds one. @return true when it is carry_'s view.
  bool nextInput(spool::Buffer& chunk, std::string_view& view);
  /// The runner lets go. @return true when it must go on instead (work
  /// arrived and nothing blocks it); `close` is set when it must close.
  bool releaseLocked(bool& close);
  [[nodiscard]] bool hasWorkLocked() const noexcept { return !queue_.empty() || carry_pending_; }
  /// Starts the runner: a worker, or (inline) the loop thread, posted there
  /// when called from another thread (the metadump thread).
  void schedule();
  /// -R: the runner ran its commands for this turn with input left. Still
  /// the runner (busy_), it goes on later: behind the other connections'
  /// events on the loop (inline, always posted), or at the back of the
  /// worker pool's queue. Input arriving meanwhile queues behind, in order.
  void yieldTurn();
  /// Hands the session to the metadump thread (the last thing a runner
  /// does). @return false when a dump is already running: BUSY was sent and
  /// the caller is still the runner.
  bool startMetadump();
  /// `watch`: sends the OK, registers the connection with the WatchLog and
  /// drops its later input (runner). @return the outcome that ends the runner.
  Outcome startWatch(std::size_t input_size);
  void closeConnection() { conn_->close(); }

  ServerContext& ctx_;
  const spool::ConnectionPtr conn_;
  WorkerPool* const pool_;  // non-owning; null in inline mode
  MetadumpService& metadump_;

  // Runner-owned.
  Session session_;
  Output out_;
  InputCarry carry_;  // input taken from the queue (or the socket) and not yet run
  unsigned budget_ = 0;  // commands left in this turn (-R)

  // Shared, under mutex_.
  std::mutex mutex_;
  std::condition_variable writable_cv_;
  BufferQueue queue_;
  std::size_t queued_bytes_ = 0;
  spool::Buffer held_;            // a refused response waiting for onWritable
  bool busy_ = false;             // a runner owns the session
  bool blocked_ = false;          // held_ is set
  bool carry_pending_ = false;    // carry_ may hold complete commands: run it before taking more
  bool writable_pending_ = false; // onWritable came while nobody was parked
  bool close_after_flush_ = false;
  bool eof_ = false;
  bool closed_ = false;
  bool watching_ = false;         // `watch`: input is dropped
  bool reading_paused_ = false;   // written on the loop thread only
  bool resume_posted_ = false;    // a resumeReadingInLoop() is on its way
};

}  // namespace spoold
