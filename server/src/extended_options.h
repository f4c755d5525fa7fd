// memcached's -o sub-options other than TLS and the connection timeouts.
#pragma once

#include <string>
#include <string_view>

#include "settings.h"

namespace spoold {

/// Applies one memcached 1.6.18 `-o key[=value]` sub-option that
/// options.cpp does not handle itself: a tuning knob of memcached's
/// internals (recorded in Settings::tuning, reported by `stats settings`, no
/// effect), or one spoold refuses because a user would expect an effect it
/// does not have (extstore, sock_cookie_id, ...).
/// @return false with `error` set to the message to print: a refusal naming
///         the sub-option, a bad value, or memcached's `Illegal suboption`.
bool applyTuningOption(std::string_view key, std::string_view value, Settings& s,
                       std::string& error);

/// Records, once, that `flag` was accepted and does nothing in spoold, and
/// `why` (Settings::no_effect, printed at start-up with -v).
void addNoEffect(Settings& s, std::string_view flag, std::string_view why);

/// The checks memcached makes on its tuning once all flags are read.
/// @return the error message, empty when the combination is valid.
std::string checkTuning(const MemcachedTuning& t);

}  // namespace spoold
