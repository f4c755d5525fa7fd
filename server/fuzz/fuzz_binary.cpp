// libFuzzer target: the binary protocol. The input is forced onto the
// binary parser by a leading 0x80.
#include "binary_codec.h"
#include "fuzz_session.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string input(reinterpret_cast<const char*>(data), size);
  if (input.empty() || static_cast<unsigned char>(input[0]) != spoold::binary::kRequestMagic) {
    input.insert(input.begin(), static_cast<char>(spoold::binary::kRequestMagic));
  }
  if (input.size() >= spoold::binary::kHeaderSize) {
    (void)spoold::binary::decodeHeader(input);
  }
  spoold::fuzz::runSession(input);
  return 0;
}
