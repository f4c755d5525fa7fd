// Base64 for meta commands' binary keys (the `b` flag).
#pragma once

#include <string>
#include <string_view>

namespace spoold {

/// Decodes standard base64 (with padding). @return false on malformed input.
bool base64Decode(std::string_view in, std::string& out);
void base64Encode(std::string_view in, std::string& out);

}  // namespace spoold
