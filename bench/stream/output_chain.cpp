#include "output_chain.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace spool::bench {
namespace {

constexpr std::size_t kMaxSpareBlocks = 4;

}  // namespace

OutputChain::OutputChain() { spare_.reserve(kMaxSpareBlocks); }

OutputChain::~OutputChain() {
  clear();
  for (std::byte* block : spare_) {
    delete[] block;
  }
}

void OutputChain::copy(const std::byte* data, std::size_t size) {
  while (size > 0) {
    // Only the last piece may still take bytes, and only if it is a block.
    if (pieces_.empty() || !pieces_.back().block || pieces_.back().size == kBlockBytes) {
      std::byte* block;
      if (!spare_.empty()) {
        block = spare_.back();
        spare_.pop_back();
      } else {
        block = new std::byte[kBlockBytes];
      }
      pieces_.push_back({block, 0, true});
    }
    Piece& tail = pieces_.back();
    const std::size_t n = std::min(size, kBlockBytes - tail.size);
    std::memcpy(tail.data + tail.size, data, n);
    tail.size += n;
    size_ += n;
    data += n;
    size -= n;
  }
}

void OutputChain::reference(std::byte* data, std::size_t size) {
  pieces_.push_back({data, size, false});
  size_ += size;
}

std::size_t OutputChain::gather(iovec* vecs, std::size_t max) const noexcept {
  std::size_t count = 0;
  std::size_t skip = head_offset_;
  for (auto it = pieces_.begin(); it != pieces_.end() && count < max; ++it) {
    vecs[count].iov_base = it->data + skip;
    vecs[count].iov_len = it->size - skip;
    skip = 0;
    ++count;
  }
  return count;
}

void OutputChain::consume(std::size_t n) noexcept {
  size_ -= n;
  while (n > 0) {
    Piece& front = pieces_.front();
    const std::size_t left = front.size - head_offset_;
    if (n < left) {
      head_offset_ += n;
      return;
    }
    n -= left;
    head_offset_ = 0;
    // Written out: a referenced message is freed, a copy block goes back
    // to the spares (even the tail one: the next copy takes a spare).
    release(front);
    pieces_.pop_front();
  }
}

std::size_t OutputChain::clear() noexcept {
  const std::size_t dropped = size_;
  for (const Piece& piece : pieces_) {
    release(piece);
  }
  pieces_.clear();
  head_offset_ = 0;
  size_ = 0;
  return dropped;
}

void OutputChain::release(const Piece& piece) noexcept {
  if (!piece.block) {
    std::free(piece.data);
  } else if (spare_.size() < kMaxSpareBlocks) {
    spare_.push_back(piece.data);
  } else {
    delete[] piece.data;
  }
}

}  // namespace spool::bench
