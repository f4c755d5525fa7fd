// The soak's report: a readable block per configuration, or one JSON object.
#pragma once

#include <string>
#include <vector>

#include "soak_run.h"

namespace spool::bench {

/// One configuration, as text.
std::string reportText(const SoakOptions& options, const ConfigResult& result);
/// Every configuration and the verdict, as one JSON object.
std::string reportJson(const SoakOptions& options, const std::vector<ConfigResult>& results,
                       bool passed);

}  // namespace spool::bench
