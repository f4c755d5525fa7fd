// A fixed pool of worker threads running tasks in submission order.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace spoold {

/// A unit of work for the pool.
class Task {
 public:
  virtual ~Task() = default;
  /// Runs on a worker thread.
  virtual void run() = 0;
};
using TaskPtr = std::shared_ptr<Task>;

/// N threads sharing one queue (a mutex and a condition variable: a task is
/// a whole batch of a connection's commands, so the queue is not the hot
/// spot). Thread-safe.
class WorkerPool {
 public:
  explicit WorkerPool(unsigned threads, std::string name = "spoold-worker");
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  /// Queues `task`. Thread-safe. After stop() the task is dropped.
  void submit(TaskPtr task);
  /// Blocks until the queue is empty and no task is running. Thread-safe,
  /// not from a worker.
  void drain();
  /// Finishes queued tasks, then joins the threads. Idempotent.
  void stop();
  [[nodiscard]] unsigned size() const noexcept { return static_cast<unsigned>(threads_.size()); }

 private:
  void loop();

  std::mutex mutex_;
  std::condition_variable work_cv_;
  std::condition_variable idle_cv_;
  std::deque<TaskPtr> queue_;
  std::size_t running_ = 0;
  bool stopping_ = false;
  std::vector<std::jthread> threads_;
};

}  // namespace spoold
