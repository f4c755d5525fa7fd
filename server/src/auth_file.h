// memcached's -Y file: the users and passwords of ASCII authentication.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spoold {

/// `user:password` lines, as memcached 1.6.18 reads them. Immutable once
/// loaded: thread-safe to check from any thread.
class AuthFile {
 public:
  /// Reads `path`. @return false with `error` set (memcached's words when
  /// the file cannot be opened) when it cannot be read or a line has no ':'.
  bool load(const std::string& path, std::string& error);
  /// True when `user` and `password` match one line exactly.
  [[nodiscard]] bool check(std::string_view user, std::string_view password) const noexcept;
  [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }

 private:
  std::vector<std::pair<std::string, std::string>> entries_;
};

}  // namespace spoold
