// The deleter of every owning handle to a C library object in the benchmarks
// (libevent's in ev_handles.h, OpenSSL's in client_channel.h).
#pragma once

namespace spool::bench {

/// std::unique_ptr<T, CDeleter<&T_free>> calls T_free on the handle.
template <auto FreeFn>
struct CDeleter {
  template <typename T>
  void operator()(T* handle) const noexcept {
    FreeFn(handle);
  }
};

}  // namespace spool::bench
