// Input a pipeline runner has taken but not yet executed.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace spoold {

/// The unexecuted rest of a connection's input, kept by its runner between
/// turns: the tail of a chunk after a yield (-R), a parked response or a
/// hand-off, or the start of a command whose end has not arrived.
///
/// Consuming from the front only moves an offset, so a runner that takes
/// -R commands per turn out of a large chunk pays for what it runs, not for
/// what is left (erasing the front each turn made a deep pipeline
/// quadratic). Appending first drops what was consumed, so the string holds
/// at most the unconsumed bytes plus the chunk being appended.
/// Not thread-safe: the runner owns it.
class InputCarry {
 public:
  [[nodiscard]] bool empty() const noexcept { return offset_ == bytes_.size(); }
  /// The unconsumed bytes; valid until the next append() or assign().
  [[nodiscard]] std::string_view view() const noexcept {
    return std::string_view(bytes_).substr(offset_);
  }
  void consume(std::size_t n) noexcept {
    offset_ += n;
    if (empty()) {
      clear();
    }
  }
  /// Adds `more` after the unconsumed bytes.
  void append(std::string_view more) {
    bytes_.erase(0, offset_);
    offset_ = 0;
    bytes_.append(more);
  }
  /// Replaces everything with `rest`.
  void assign(std::string_view rest) {
    bytes_.assign(rest);
    offset_ = 0;
  }
  /// Empties it; a large allocation (a yielded chunk's tail, a large
  /// value) is given back, so an idle connection does not keep it.
  void clear() noexcept {
    if (bytes_.capacity() > kKeepBytes) {
      std::string().swap(bytes_);
    } else {
      bytes_.clear();
    }
    offset_ = 0;
  }

 private:
  static constexpr std::size_t kKeepBytes = 4096;
  std::string bytes_;
  std::size_t offset_ = 0;
};

}  // namespace spoold
