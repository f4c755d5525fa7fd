#include "table.h"

#include <fmt/format.h>

#include <algorithm>

namespace spool::bench {

void TextTable::print(std::FILE* out) const {
  std::vector<std::size_t> widths(headers_.size(), 0);
  const auto widen = [&](const std::vector<std::string>& row) {
    for (std::size_t i = 0; i < row.size() && i < widths.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  };
  widen(headers_);
  for (const auto& row : rows_) {
    widen(row);
  }
  const auto line = [&](const std::vector<std::string>& row) {
    std::string text;
    for (std::size_t i = 0; i < widths.size(); ++i) {
      const std::string cell = i < row.size() ? row[i] : "";
      text += i == 0 ? fmt::format("{:<{}}", cell, widths[i]) : fmt::format("  {:>{}}", cell, widths[i]);
    }
    std::fprintf(out, "%s\n", text.c_str());
  };
  line(headers_);
  for (const auto& row : rows_) {
    line(row);
  }
}

std::string siNumber(double value) {
  const char* suffix = "";
  if (value >= 1e9) {
    value /= 1e9;
    suffix = "G";
  } else if (value >= 1e6) {
    value /= 1e6;
    suffix = "M";
  } else if (value >= 1e3) {
    value /= 1e3;
    suffix = "k";
  }
  return fmt::format("{:.{}f}{}", value, value >= 100 ? 0 : (value >= 10 ? 1 : 2), suffix);
}

std::string duration(std::uint64_t ns) {
  if (ns < 1000) {
    return fmt::format("{}ns", ns);
  }
  if (ns < 1'000'000) {
    return fmt::format("{:.1f}us", static_cast<double>(ns) / 1e3);
  }
  return fmt::format("{:.2f}ms", static_cast<double>(ns) / 1e6);
}

}  // namespace spool::bench
