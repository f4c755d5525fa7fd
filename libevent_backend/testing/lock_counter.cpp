#include "lock_counter.h"

#include <event2/thread.h>
#include <pthread.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <mutex>

namespace spool::libevent::testing {
namespace {

thread_local std::uint64_t t_locks_taken = 0;
std::atomic<std::uint64_t> g_locks_taken{0};

void* lockAlloc(unsigned locktype) {
  auto* mutex = new pthread_mutex_t;
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  if (locktype & EVTHREAD_LOCKTYPE_RECURSIVE) {
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  }
  pthread_mutex_init(mutex, &attr);
  pthread_mutexattr_destroy(&attr);
  return mutex;
}

void lockFree(void* lock, unsigned) {
  auto* mutex = static_cast<pthread_mutex_t*>(lock);
  pthread_mutex_destroy(mutex);
  delete mutex;
}

int lockLock(unsigned mode, void* lock) {
  ++t_locks_taken;
  g_locks_taken.fetch_add(1, std::memory_order_relaxed);
  auto* mutex = static_cast<pthread_mutex_t*>(lock);
  return mode & EVTHREAD_TRY ? pthread_mutex_trylock(mutex) : pthread_mutex_lock(mutex);
}

int lockUnlock(unsigned, void* lock) {
  return pthread_mutex_unlock(static_cast<pthread_mutex_t*>(lock));
}

void* condAlloc(unsigned) {
  auto* cond = new pthread_cond_t;
  pthread_cond_init(cond, nullptr);
  return cond;
}

void condFree(void* cond) {
  pthread_cond_destroy(static_cast<pthread_cond_t*>(cond));
  delete static_cast<pthread_cond_t*>(cond);
}

int condSignal(void* cond, int broadcast) {
  auto* c = static_cast<pthread_cond_t*>(cond);
  return broadcast ? pthread_cond_broadcast(c) : pthread_cond_signal(c);
}

int condWait(void* cond, void* lock, const timeval* tv) {
  auto* c = static_cast<pthread_cond_t*>(cond);
  auto* m = static_cast<pthread_mutex_t*>(lock);
  if (tv == nullptr) {
    return pthread_cond_wait(c, m) == 0 ? 0 : -1;
  }
  timespec deadline{};
  clock_gettime(CLOCK_REALTIME, &deadline);
  deadline.tv_sec += tv->tv_sec;
  deadline.tv_nsec += tv->tv_usec * 1000;
  if (deadline.tv_nsec >= 1'000'000'000) {
    deadline.tv_sec += 1;
    deadline.tv_nsec -= 1'000'000'000;
  }
  const int rc = pthread_cond_timedwait(c, m, &deadline);
  return rc == 0 ? 0 : (rc == ETIMEDOUT ? 1 : -1);
}

unsigned long threadId() { return static_cast<unsigned long>(pthread_self()); }

}  // namespace

void installCountingLocks() {
  static std::once_flag once;
  std::call_once(once, [] {
    evthread_lock_callbacks locks{EVTHREAD_LOCK_API_VERSION, EVTHREAD_LOCKTYPE_RECURSIVE,
                                  &lockAlloc, &lockFree, &lockLock, &lockUnlock};
    evthread_condition_callbacks conds{EVTHREAD_CONDITION_API_VERSION, &condAlloc, &condFree,
                                       &condSignal, &condWait};
    if (evthread_set_lock_callbacks(&locks) != 0 || evthread_set_condition_callbacks(&conds) != 0) {
      std::fprintf(stderr, "installCountingLocks: libevent refused the callbacks\n");
      std::abort();
    }
    evthread_set_id_callback(&threadId);
  });
}

std::uint64_t locksTakenByThisThread() noexcept { return t_locks_taken; }
std::uint64_t locksTakenTotal() noexcept { return g_locks_taken.load(std::memory_order_relaxed); }

}  // namespace spool::libevent::testing
