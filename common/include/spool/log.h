// Minimal leveled logging to a replaceable sink.
#pragma once

#include <fmt/format.h>

#include <functional>
#include <string_view>

namespace spool {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

using LogSink = std::function<void(LogLevel, std::string_view)>;

/// Replaces the sink (default: one line to stderr). Not thread-safe: call
/// before starting transports.
void setLogSink(LogSink sink);
/// Messages below `level` are dropped (default kWarning). Thread-safe.
void setLogLevel(LogLevel level) noexcept;
[[nodiscard]] bool logEnabled(LogLevel level) noexcept;
void logLine(LogLevel level, std::string_view line);

template <typename... Args>
void log(LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
  if (logEnabled(level)) {
    logLine(level, fmt::format(format, std::forward<Args>(args)...));
  }
}

}  // namespace spool
