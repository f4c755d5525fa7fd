// libFuzzer target: meta commands. Each line goes through the tokenizer and
// the flag parser directly, then the whole input through a Session.
#include "fuzz_session.h"
#include "meta_protocol.h"
#include "text_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  if (!input.empty() && static_cast<unsigned char>(input[0]) == 0x80) {
    input.remove_prefix(1);
  }
  std::string_view rest = input;
  while (!rest.empty()) {
    const std::size_t nl = rest.find('\n');
    const spoold::Tokens tokens = spoold::tokenize(rest.substr(0, nl));
    if (tokens.count >= 2) {
      spoold::MetaFlags flags;
      std::string key;
      (void)spoold::parseMetaFlags(tokens, 2, flags, key);
    }
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
  }
  spoold::fuzz::runSession(input);
  return 0;
}
