#include "block_cache.h"

#include <mutex>
#include <new>
#include <vector>

namespace spool::detail {
namespace {

std::size_t classFor(std::size_t total) noexcept {
  std::size_t size_class = 0;
  while (size_class < BlockCache::kClasses && BlockCache::classBytes(size_class) < total) {
    ++size_class;
  }
  return size_class;
}

}  // namespace

/// All caches ever made. Caches are never destroyed while the process runs:
/// a thread that exits abandons its cache and a new thread adopts one.
struct CacheRegistry {
  std::mutex mutex;
  std::vector<BlockCache*> abandoned;
  std::vector<BlockCache*> all;  // keeps every cache reachable

  static CacheRegistry& instance() {
    static auto* registry = new CacheRegistry();  // never destroyed: outlives every thread
    return *registry;
  }
};

/// The calling thread's cache and its outgoing batch; abandons the cache when
/// the thread exits.
struct ThreadSlot {
  BlockCache* cache = nullptr;
  BlockCache::OutgoingBatch outgoing;
  ~ThreadSlot() {
    BlockCache::flush(outgoing);
    if (cache == nullptr) {
      return;
    }
    auto& registry = CacheRegistry::instance();
    std::lock_guard lock(registry.mutex);
    registry.abandoned.push_back(cache);
    cache = nullptr;  // frees later in this thread's exit go to the remote stacks
  }
};

namespace {
thread_local ThreadSlot t_slot;
}  // namespace

BlockCache* BlockCache::forThisThread() noexcept {
  if (t_slot.cache != nullptr) [[likely]] {
    return t_slot.cache;
  }
  auto& registry = CacheRegistry::instance();
  std::lock_guard lock(registry.mutex);
  if (!registry.abandoned.empty()) {
    t_slot.cache = registry.abandoned.back();
    registry.abandoned.pop_back();
  } else {
    t_slot.cache = new BlockCache();
    registry.all.push_back(t_slot.cache);
  }
  return t_slot.cache;
}

BufferBlock* BlockCache::allocate(std::size_t total, std::size_t header) noexcept {
  const std::size_t size_class = classFor(total);
  if (size_class >= kClasses) {
    return nullptr;
  }
  return forThisThread()->take(size_class, header);
}

BufferBlock* BlockCache::take(std::size_t size_class, std::size_t header) noexcept {
  if (local_[size_class] == nullptr &&
      remote_[size_class].head.load(std::memory_order_relaxed) != nullptr) {
    // Take everything other threads handed back, in one exchange.
    local_[size_class] = remote_[size_class].head.exchange(nullptr, std::memory_order_acquire);
  }
  void* raw = local_[size_class];
  if (raw != nullptr) {
    local_[size_class] = local_[size_class]->next;
  } else {
    raw = ::operator new(classBytes(size_class), std::nothrow);
    if (raw == nullptr) {
      return nullptr;
    }
  }
  auto* block = new (raw) BufferBlock();
  block->data = static_cast<std::byte*>(raw) + header;
  block->capacity = classBytes(size_class) - header;
  block->inline_data = true;
  block->cache = this;
  block->size_class = static_cast<std::uint8_t>(size_class);
  return block;
}

void BlockCache::free(BufferBlock* block) noexcept {
  BlockCache* owner = block->cache;
  const std::size_t size_class = block->size_class;
  block->~BufferBlock();
  auto* node = reinterpret_cast<FreeBlock*>(block);
  if (t_slot.cache == owner) {
    owner->putLocal(node, size_class);
    return;
  }
  OutgoingBatch& batch = t_slot.outgoing;
  if (batch.owner != owner || batch.size_class != size_class) {
    flush(batch);
    batch.owner = owner;
    batch.size_class = size_class;
    batch.tail = node;
  }
  node->next = batch.head;
  batch.head = node;
  if (++batch.count >= kBatch) {
    flush(batch);
  }
}

void BlockCache::flushFrees() noexcept { flush(t_slot.outgoing); }

void BlockCache::flush(OutgoingBatch& batch) noexcept {
  if (batch.head != nullptr) {
    batch.owner->putRemote(batch.head, batch.tail, batch.size_class);
  }
  batch = OutgoingBatch{};
}

void BlockCache::putLocal(FreeBlock* block, std::size_t size_class) noexcept {
  block->next = local_[size_class];
  local_[size_class] = block;
}

void BlockCache::putRemote(FreeBlock* head, FreeBlock* tail, std::size_t size_class) noexcept {
  auto& stack = remote_[size_class].head;
  FreeBlock* top = stack.load(std::memory_order_relaxed);
  do {
    tail->next = top;
  } while (!stack.compare_exchange_weak(top, head, std::memory_order_release,
                                        std::memory_order_relaxed));
}

}  // namespace spool::detail
