#include "auth_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>

namespace spoold {

bool AuthFile::load(const std::string& path, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    const char* why = std::strerror(errno);
    error = "Could not open authfile [" + path + "] for reading, error " + why + ": " + why;
    return false;
  }
  entries_.clear();
  std::string line;
  for (unsigned number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') {
      line.pop_back();
    }
    if (line.empty()) {
      continue;
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos || colon == 0) {
      error = "Invalid line " + std::to_string(number) + " in authfile [" + path +
              "]: expected user:password";
      return false;
    }
    entries_.emplace_back(line.substr(0, colon), line.substr(colon + 1));
  }
  return true;
}

bool AuthFile::check(std::string_view user, std::string_view password) const noexcept {
  for (const auto& [u, p] : entries_) {
    if (u == user && p == password) {
      return true;
    }
  }
  return false;
}

}  // namespace spoold
