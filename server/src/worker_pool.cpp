#include "worker_pool.h"

#include <pthread.h>

namespace spoold {

WorkerPool::WorkerPool(unsigned threads, std::string name) {
  threads_.reserve(threads);
  for (unsigned i = 0; i < threads; ++i) {
    threads_.emplace_back([this, thread_name = name.substr(0, 11) + "-" + std::to_string(i)] {
      pthread_setname_np(pthread_self(), thread_name.c_str());
      loop();
    });
  }
}

WorkerPool::~WorkerPool() { stop(); }

void WorkerPool::submit(TaskPtr task) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      return;
    }
    queue_.push_back(std::move(task));
  }
  work_cv_.notify_one();
}

void WorkerPool::drain() {
  std::unique_lock lock(mutex_);
  idle_cv_.wait(lock, [this] { return queue_.empty() && running_ == 0; });
}

void WorkerPool::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      return;
    }
    stopping_ = true;
  }
  work_cv_.notify_all();
  threads_.clear();  // joins; each thread empties the queue before it exits
}

void WorkerPool::loop() {
  std::unique_lock lock(mutex_);
  for (;;) {
    work_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) {
      return;  // stopping, nothing left
    }
    TaskPtr task = std::move(queue_.front());
    queue_.pop_front();
    ++running_;
    lock.unlock();
    task->run();
    task.reset();
    lock.lock();
    --running_;
    if (queue_.empty() && running_ == 0) {
      idle_cv_.notify_all();
    }
  }
}

}  // namespace spoold
