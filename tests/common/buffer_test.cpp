// Buffer: ownership, copies, and the release callback of wrapped memory.
#include "spool/buffer.h"

#include <catch2/catch.hpp>

#include <string>

namespace {

struct ReleaseLog {
  int calls = 0;
  const std::byte* data = nullptr;
  std::size_t size = 0;
};

void onRelease(void* context, const std::byte* data, std::size_t size) noexcept {
  auto* log = static_cast<ReleaseLog*>(context);
  ++log->calls;
  log->data = data;
  log->size = size;
}

}  // namespace

TEST_CASE("an allocated buffer grows by append up to its capacity", "[buffer][unit]") {
  auto buffer = spool::Buffer::allocate(16);
  CHECK(buffer.size() == 0);
  CHECK(buffer.capacity() >= 16);  // rounded up to the block size
  buffer.append(std::string_view("hello "));
  buffer.append(std::string_view("world"));
  CHECK(buffer.view() == "hello world");
  buffer.resize(5);
  CHECK(buffer.view() == "hello");
  CHECK(buffer.mutableData() != nullptr);
}

TEST_CASE("copyOf holds its own copy", "[buffer][unit]") {
  std::string text = "payload";
  auto buffer = spool::Buffer::copyOf(text);
  text[0] = 'X';
  CHECK(buffer.view() == "payload");
}

TEST_CASE("moving a buffer moves ownership", "[buffer][unit]") {
  auto a = spool::Buffer::copyOf(std::string_view("abc"));
  spool::Buffer b = std::move(a);
  CHECK_FALSE(a);  // NOLINT(bugprone-use-after-move): the moved-from state is specified
  CHECK(b.view() == "abc");
  a = std::move(b);
  CHECK(a.view() == "abc");
}

TEST_CASE("wrapped memory is released exactly once, with its bytes", "[buffer][unit]") {
  static const char kText[] = "zero-copy";
  ReleaseLog log;
  SECTION("on destruction") {
    {
      auto buffer = spool::Buffer::wrap(kText, 9, &onRelease, &log);
      CHECK(buffer.view() == "zero-copy");
      CHECK(buffer.mutableData() == nullptr);
      spool::Buffer moved = std::move(buffer);
      CHECK(log.calls == 0);
    }
    CHECK(log.calls == 1);
    CHECK(log.data == reinterpret_cast<const std::byte*>(kText));
    CHECK(log.size == 9);
  }
  SECTION("on reset, and not again on destruction") {
    auto buffer = spool::Buffer::wrap(kText, 9, &onRelease, &log);
    buffer.reset();
    CHECK(log.calls == 1);
    buffer.reset();
    CHECK(log.calls == 1);
  }
  SECTION("when adopted back from a released block") {
    auto buffer = spool::Buffer::wrap(kText, 9, &onRelease, &log);
    auto* block = buffer.release();
    CHECK(log.calls == 0);
    { auto again = spool::Buffer::adopt(block); }
    CHECK(log.calls == 1);
  }
}
