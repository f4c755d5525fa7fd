#include "buffer_queue.h"

#include <catch2/catch.hpp>

#include <string>
#include <string_view>

namespace {

std::string text(const spool::Buffer& b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace

TEST_CASE("BufferQueue hands chunks back in the order they were pushed", "[server][buffer_queue]") {
  spoold::BufferQueue queue;
  CHECK(queue.empty());
  queue.push(spool::Buffer::copyOf(std::string_view("a")));
  queue.push(spool::Buffer::copyOf(std::string_view("b")));
  CHECK(text(queue.pop()) == "a");
  queue.push(spool::Buffer::copyOf(std::string_view("c")));
  CHECK(text(queue.pop()) == "b");
  CHECK(text(queue.pop()) == "c");
  CHECK(queue.empty());
}

TEST_CASE("BufferQueue keeps FIFO order across compaction when the reader never catches up",
          "[server][buffer_queue]") {
  spoold::BufferQueue queue;
  int pushed = 0;
  int popped = 0;
  // Two in, one out, for long enough to compact many times; then drain.
  for (int round = 0; round < 500; ++round) {
    queue.push(spool::Buffer::copyOf(std::to_string(pushed++)));
    queue.push(spool::Buffer::copyOf(std::to_string(pushed++)));
    REQUIRE(text(queue.pop()) == std::to_string(popped++));
  }
  while (!queue.empty()) {
    REQUIRE(text(queue.pop()) == std::to_string(popped++));
  }
  CHECK(popped == pushed);
}

TEST_CASE("BufferQueue clear() drops everything queued", "[server][buffer_queue]") {
  spoold::BufferQueue queue;
  queue.push(spool::Buffer::copyOf(std::string_view("x")));
  queue.clear();
  CHECK(queue.empty());
  queue.push(spool::Buffer::copyOf(std::string_view("y")));
  CHECK(text(queue.pop()) == "y");
}
