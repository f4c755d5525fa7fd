// Builds one flat JSON object: what every benchmark prints with --json.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace spool::bench {

/// Appends `"key": value` pairs in insertion order. Nested objects are added
/// as already-rendered JSON (raw()).
class JsonObject {
 public:
  JsonObject& add(std::string_view key, std::string_view value);
  JsonObject& add(std::string_view key, const char* value) { return add(key, std::string_view(value)); }
  JsonObject& add(std::string_view key, double value);
  JsonObject& add(std::string_view key, std::uint64_t value);
  JsonObject& add(std::string_view key, std::int64_t value);
  JsonObject& add(std::string_view key, unsigned value) { return add(key, std::uint64_t{value}); }
  JsonObject& add(std::string_view key, int value) { return add(key, std::int64_t{value}); }
  JsonObject& add(std::string_view key, bool value);
  /// `json` must be valid JSON (an object or an array).
  JsonObject& raw(std::string_view key, std::string_view json);

  [[nodiscard]] std::string str() const { return "{" + body_ + "}"; }

 private:
  void key(std::string_view k);
  std::string body_;
};

/// `text` as a JSON string literal, quotes included.
std::string jsonQuote(std::string_view text);

}  // namespace spool::bench
