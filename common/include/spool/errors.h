// Errors of setup calls (never of the data path, which reports values).
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace spool {

/// A listener, connection or TLS context could not be set up; what() says why.
class SetupError : public std::runtime_error {
 public:
  explicit SetupError(const std::string& what) : std::runtime_error(what) {}
};

/// listen() found its address held by another socket: another process, or
/// another Transport (the loops of one Transport share theirs).
class AddressInUseError : public SetupError {
 public:
  using SetupError::SetupError;
};

/// A TLS certificate, private key or CA file could not be loaded. Besides
/// what(), it says which file failed and OpenSSL's first reason, for
/// servers that report these in a fixed format (memcached's refresh_certs).
class TlsFileError : public SetupError {
 public:
  enum class Kind { kCertificateChain, kPrivateKey, kCaFile };
  TlsFileError(const std::string& what, Kind kind, std::string file, std::string reason)
      : SetupError(what), kind_(kind), file_(std::move(file)), reason_(std::move(reason)) {}
  [[nodiscard]] Kind kind() const noexcept { return kind_; }
  [[nodiscard]] const std::string& file() const noexcept { return file_; }
  /// OpenSSL's first error for it ("error:0480006C:PEM routines::no start
  /// line"; a file that cannot be opened: "error:80000002:system
  /// library::No such file or directory").
  [[nodiscard]] const std::string& reason() const noexcept { return reason_; }

 private:
  Kind kind_;
  std::string file_;
  std::string reason_;
};

}  // namespace spool
