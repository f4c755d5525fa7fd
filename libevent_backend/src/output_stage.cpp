#include "output_stage.h"

#include <algorithm>
#include <cstring>

namespace spool::libevent {

bool OutputStage::copy(evbuffer* output, const void* data, std::size_t size, bool& opened) noexcept {
  opened = false;
  if (!open_ || used_ + size > space_.iov_len) {
    commit(output);
    const auto want = static_cast<ev_ssize_t>(std::max(kReserveBytes, size));
    if (evbuffer_reserve_space(output, want, &space_, 1) != 1) {
      space_ = {};
      return false;
    }
    open_ = opened = true;
  }
  std::memcpy(static_cast<char*>(space_.iov_base) + used_, data, size);
  used_ += size;
  return true;
}

void OutputStage::commit(evbuffer* output) noexcept {
  if (!open_) {
    return;
  }
  space_.iov_len = used_;
  evbuffer_commit_space(output, &space_, 1);
  space_ = {};
  used_ = 0;
  open_ = false;
}

}  // namespace spool::libevent
