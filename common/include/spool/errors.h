// Errors of setup calls (never of the data path, which reports values).
#pragma once

#include <stdexcept>
#include <string>

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

}  // namespace spool
