// Human-readable output: aligned text tables and compact number formats.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace spool::bench {

/// Columns right-aligned except the first; printed once at the end.
class TextTable {
 public:
  explicit TextTable(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void addRow(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }
  void print(std::FILE* out = stdout) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

/// 43.1M, 812k, 950: three significant digits with an SI suffix.
std::string siNumber(double value);
/// Nanoseconds as "850ns", "12.3us", "4.56ms".
std::string duration(std::uint64_t ns);

}  // namespace spool::bench
