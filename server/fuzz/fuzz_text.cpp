// libFuzzer target: the classic text protocol (storage, retrieval, admin).
#include "fuzz_session.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  if (!input.empty() && static_cast<unsigned char>(input[0]) == 0x80) {
    input.remove_prefix(1);  // keep this target on the text protocol
  }
  spoold::fuzz::runSession(input);
  return 0;
}
