#include "spool/log.h"

#include <atomic>
#include <cstdio>

namespace spool {
namespace {

std::atomic<LogLevel> g_level{LogLevel::kWarning};

LogSink& sink() {
  static LogSink instance = [](LogLevel level, std::string_view line) {
    static constexpr const char* kNames[] = {"debug", "info", "warning", "error"};
    std::fprintf(stderr, "spool %s: %.*s\n", kNames[static_cast<int>(level)],
                 static_cast<int>(line.size()), line.data());
  };
  return instance;
}

}  // namespace

void setLogSink(LogSink s) { sink() = std::move(s); }
void setLogLevel(LogLevel level) noexcept { g_level.store(level, std::memory_order_relaxed); }
bool logEnabled(LogLevel level) noexcept {
  return level >= g_level.load(std::memory_order_relaxed);
}
void logLine(LogLevel level, std::string_view line) { sink()(level, line); }

}  // namespace spool
