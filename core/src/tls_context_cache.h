// One client TLS context per distinct TlsConfig, shared while in use.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "spool/tls.h"

namespace spool::core {

/// A key that is equal for two TlsConfigs exactly when every field is.
std::string tlsConfigKey(const TlsConfig& config);

/// Outgoing connections made with the same TlsConfig share one context
/// (`T`: the backend's wrapper around a core::TlsContext), so connect()
/// reads the certificate files and builds an SSL_CTX once per distinct
/// configuration, not once per call. Entries are weak: a context lives while
/// a connection uses it, and the next connect() after the last one has gone
/// reads the files again (a rotated certificate is then picked up).
/// Thread-safe.
template <typename T>
class TlsContextCache {
 public:
  /// The live context for `config`, or a new one from `make()` (which may
  /// throw SetupError).
  template <typename Make>
  std::shared_ptr<const T> get(const TlsConfig& config, Make&& make) {
    const std::string key = tlsConfigKey(config);
    std::lock_guard lock(mutex_);
    if (auto found = entries_.find(key); found != entries_.end()) {
      if (auto live = found->second.lock()) {
        return live;
      }
    }
    std::shared_ptr<const T> made = make();
    std::erase_if(entries_, [](const auto& entry) { return entry.second.expired(); });
    entries_[key] = made;
    return made;
  }

 private:
  std::mutex mutex_;  // connect() only, never the data path
  std::map<std::string, std::weak_ptr<const T>> entries_;
};

}  // namespace spool::core
