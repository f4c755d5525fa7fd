// Base64 for meta commands' binary keys (the `b` flag).
#pragma once

#include <string>
#include <string_view>

namespace spoold {

/// Decodes base64 as memcached's decoder does: bytes outside the alphabet
/// are skipped, the rest must come in groups of four, and the first group
/// with padding ('=' anywhere in it) ends the data ("YQ==YQ==" is "a").
/// @return false when nothing decodes.
bool base64Decode(std::string_view in, std::string& out);
void base64Encode(std::string_view in, std::string& out);

}  // namespace spoold
