// Types shared by the protocol engines (text, meta, binary).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace spoold {

/// What the connection must do after a command, beyond sending its output.
enum class Action : std::uint8_t {
  kNone,
  kClose,     ///< flush the output, then close (quit, garbage input, fatal binary errors)
  kMetadump,  ///< flush the output, then stream `lru_crawler metadump`
  kWatch,     ///< flush the output, then stream `watch` lines; later input is ignored
};

/// The outcome of parsing and running (at most) one command.
struct Step {
  std::size_t consumed = 0;  ///< input bytes used up
  std::size_t swallow = 0;   ///< further input bytes to discard (a refused value)
  bool need_more = false;    ///< nothing consumed: the command is incomplete
  std::size_t want = 0;      ///< with need_more: total bytes the command needs (0: unknown)
  Action action = Action::kNone;

  static Step needMore(std::size_t want = 0) { return Step{0, 0, true, want, Action::kNone}; }
  static Step done(std::size_t consumed, Action action = Action::kNone) {
    return Step{consumed, 0, false, 0, action};
  }
};

/// `lru_crawler metadump all|<ids>`: which slab classes to dump.
struct MetadumpRequest {
  bool all = true;
  std::vector<std::uint8_t> classes;
};

}  // namespace spoold
