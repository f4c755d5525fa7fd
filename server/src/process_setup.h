// What spoold does to its own process for memcached's process flags: the
// user (-u), daemon mode (-d), the pid file (-P), memory locking (-k) and
// the core file limit (-r). Used by main() only, never by the in-process
// servers of the tests.
#pragma once

#include <optional>
#include <string>

#include "settings.h"

namespace spoold {

/// Why the process cannot go on, with memcached's exit status (sysexits).
struct SetupFailure {
  int exit_code = 1;
  std::string message;
};

/// Before anything starts: as root, -u must name an existing user (memcached:
/// "can't run as root without the -u switch", EX_USAGE; "can't find the user
/// X to switch to", EX_NOUSER). Not root: -u is ignored, as memcached does.
std::optional<SetupFailure> checkUser(const Settings& s);

/// After the listeners are bound: becomes the -u user (its groups, then its
/// gid, then its uid), so that privileged ports, unix sockets and the pid
/// file could still be set up as root. Nothing to do unless root with -u.
std::optional<SetupFailure> dropPrivileges(const Settings& s);

/// -r: raises the core file size limit to unlimited, or to the hard limit
/// when that is not allowed; fails, as memcached does, when the limit stays 0.
std::optional<SetupFailure> raiseCoreLimit();

/// -k: mlockall(current and future pages). On failure memcached warns and
/// goes on; so does spoold, with memcached's words.
void lockMemory();

/// -d: forks, the parent exits 0, the child starts a new session; chdir("/")
/// unless -r (so a core file lands where it used to); stdin/stdout/stderr
/// to /dev/null unless -v. Must run before any thread starts.
std::optional<SetupFailure> daemonize(const Settings& s);

/// -P: writes the pid and a newline, as memcached does (also without -d);
/// like memcached, a pid file that cannot be written is reported, not fatal.
/// Written while still root (so any directory root may write works), then
/// given to the -u user.
void writePidFile(const Settings& s);
/// -d -P at a clean exit, as memcached does (not without -d).
void removePidFile(const std::string& path);

}  // namespace spoold
