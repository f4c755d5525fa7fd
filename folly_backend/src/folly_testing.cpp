#include "folly_testing.h"

#include "loop_core.h"

namespace spool::folly_backend::testing {

void armProducerMutant(bool armed) noexcept { core::testing::armProducerMutant(armed); }

}  // namespace spool::folly_backend::testing
