// Per-thread caches of small buffer blocks, so that a block allocated on a
// producer thread and freed on a loop thread costs neither side a trip
// through the allocator's locks.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "spool/buffer.h"

namespace spool::detail {

/// Blocks (header plus bytes) of a few power-of-two sizes, cached per thread.
///
/// The thread that made a block is its owner. The owner frees into its local
/// lists with no atomic operation at all. Any other thread (typically the
/// loop that wrote the payload) collects the blocks it frees into a chain per
/// owner and size, and hands the chain back with one compare-and-swap (every
/// kBatch blocks, when the owner changes, or at flushFrees()); the owner takes
/// a whole returned chain with one exchange when its local list runs dry.
///
/// Classes go up to 32 KiB, so a 16 KiB payload (a full TLS record's worth)
/// is cached too: above the cache, blocks freed in batches by the loop let
/// glibc trim the producer's arena, and the producer wrote every block into
/// freshly faulted pages (docs/benchmarks.md; stream at 16 KiB +21%).
///
/// Memory: a thread's cache keeps what comes back, so it holds at most the
/// peak number of its blocks that were in flight at once; blocks are reused,
/// not returned to the allocator, while the process runs. A cache outlives its
/// thread: at exit it is abandoned and the next thread to start adopts it, so
/// blocks still in flight always have a home.
class BlockCache {
 public:
  static constexpr std::size_t kClasses = 8;  // 256 B .. 32 KiB blocks
  static constexpr std::size_t kMinBlock = 256;
  static constexpr std::size_t kBatch = 64;   // blocks per hand-back

  /// A block able to hold `total` bytes (header included), from the calling
  /// thread's cache; nullptr when `total` is above the largest class.
  static BufferBlock* allocate(std::size_t total, std::size_t header) noexcept;
  /// Returns a block made by allocate(). Any thread.
  static void free(BufferBlock* block) noexcept;
  /// Hands back the blocks this thread freed for other owners and still
  /// holds in its batch. Loops call it after each drain.
  static void flushFrees() noexcept;

  /// The size of blocks of class `size_class`.
  static constexpr std::size_t classBytes(std::size_t size_class) noexcept {
    return kMinBlock << size_class;
  }

 private:
  /// What a cached block holds while it is free.
  struct FreeBlock {
    FreeBlock* next;
  };
  /// A freeing thread's chain of blocks bound for one owner's class.
  struct OutgoingBatch {
    BlockCache* owner = nullptr;
    std::size_t size_class = 0;
    FreeBlock* head = nullptr;
    FreeBlock* tail = nullptr;
    std::size_t count = 0;
  };
  /// Per-class remote stack, on its own cache line.
  struct alignas(64) RemoteStack {
    std::atomic<FreeBlock*> head{nullptr};
  };

  BufferBlock* take(std::size_t size_class, std::size_t header) noexcept;
  void putLocal(FreeBlock* block, std::size_t size_class) noexcept;
  void putRemote(FreeBlock* head, FreeBlock* tail, std::size_t size_class) noexcept;
  static void flush(OutgoingBatch& batch) noexcept;
  static BlockCache* forThisThread() noexcept;
  friend struct CacheRegistry;
  friend struct ThreadSlot;

  FreeBlock* local_[kClasses] = {};
  RemoteStack remote_[kClasses];
};

}  // namespace spool::detail
