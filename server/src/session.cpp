#include "session.h"

#include <algorithm>

namespace spoold {

Session::Protocol Session::boundProtocol(const Settings& s) noexcept {
  if (s.binding == Binding::kAscii || !s.auth_file.empty()) {
    return Protocol::kText;
  }
  return s.binding == Binding::kBinary ? Protocol::kBinary : Protocol::kUnknown;
}

Session::Result Session::process(std::string_view input, Output& out, unsigned* budget) {
  Result result;
  std::size_t pos = 0;
  while (pos < input.size()) {
    if (budget != nullptr && *budget == 0) {
      result.yield = true;  // -R: this turn's commands have run and more wait
      break;
    }
    if (swallow_ > 0) {
      const std::size_t n = std::min(swallow_, input.size() - pos);
      swallow_ -= n;
      pos += n;
      continue;
    }
    if (protocol_ == Protocol::kUnknown) {
      protocol_ = static_cast<std::uint8_t>(input[pos]) == binary::kRequestMagic ? Protocol::kBinary
                                                                                  : Protocol::kText;
    }
    const std::string_view rest = input.substr(pos);
    const Step step = protocol_ == Protocol::kText ? text_.step(rest, out) : binary_.step(rest, out);
    if (step.need_more) {
      result.need_more = true;
      result.want = step.want;
      break;
    }
    pos += step.consumed;
    swallow_ = step.swallow;
    if (step.action != Action::kNone) {
      result.action = step.action;
      break;
    }
    if (budget != nullptr && *budget > 0) {
      --*budget;
    }
    if (out.size() >= kFlushBytes) {
      break;
    }
  }
  result.consumed = pos;
  return result;
}

}  // namespace spoold
