// memcached-style command-line parsing for spoold.
#pragma once

#include <iosfwd>

#include "settings.h"

namespace spoold {

struct CommandLine {
  bool run = false;   ///< start the server with `settings`
  int exit_code = 0;  ///< otherwise exit with this (0 after -h/-V, 2 for bad flags)
  Settings settings;
};

/// Parses memcached's flags (-p -l -t -m -c -I -U -v -h -V -Z -o -u) plus
/// spoold's own (--exec=inline|workers, --workers N). Usage goes to `out`
/// for -h and to `err` with the reason for a bad flag.
CommandLine parseCommandLine(int argc, char** argv, std::ostream& out, std::ostream& err);

/// The usage text.
void printUsage(std::ostream& out);

}  // namespace spoold
