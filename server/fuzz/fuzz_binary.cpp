// libFuzzer target: the binary protocol.
//
// Input layout: two bytes (little-endian) choose where the packets are split
// into the two segments a connection would read, modulo their size plus one;
// the rest is the packet stream, forced onto the binary parser by a leading
// 0x80 (added when missing). The split is thus the fuzzer's own choice, not a
// function of the packets (whose first byte is always 0x80).
#include "binary_codec.h"
#include "fuzz_session.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) {
    return 0;
  }
  const std::size_t selector = data[0] | (std::size_t{data[1]} << 8);
  std::string input(reinterpret_cast<const char*>(data + 2), size - 2);
  if (input.empty() || static_cast<unsigned char>(input[0]) != spoold::binary::kRequestMagic) {
    input.insert(input.begin(), static_cast<char>(spoold::binary::kRequestMagic));
  }
  if (input.size() >= spoold::binary::kHeaderSize) {
    (void)spoold::binary::decodeHeader(input);
  }
  spoold::fuzz::runSession(input, selector % (input.size() + 1));
  return 0;
}
