// OutputQueue: a connection's unwritten bytes. What the tests pin down is what
// the writer relies on: the bytes come out in order, small payloads share
// blocks (few iovecs per writev), large ones are written from where the
// sender put them, and every block is released exactly once.
#include "output_queue.h"

#include <catch2/catch.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

using spool::Buffer;
using spool::core::OutputQueue;
using spool::detail::BufferBlock;

namespace {

// The transport's default: payloads up to this size are copied.
constexpr std::size_t kThreshold = 2048;

/// A payload as the inbox hands it over: a copy of `text`.
BufferBlock* copied(std::string_view text) { return Buffer::copyOf(text).release(); }

/// A payload pointing at `text` itself, counting its releases in `releases`.
BufferBlock* wrapped(const std::string& text, int& releases) {
  return Buffer::wrap(
             text.data(), text.size(),
             [](void* context, const std::byte* /*data*/, std::size_t /*size*/) noexcept {
               ++*static_cast<int*>(context);
             },
             &releases)
      .release();
}

std::vector<iovec> gatherAll(const OutputQueue& queue) {
  std::vector<iovec> vecs(256);
  vecs.resize(queue.gather(vecs.data(), vecs.size()));
  return vecs;
}

std::vector<std::size_t> lengths(const std::vector<iovec>& vecs) {
  std::vector<std::size_t> out;
  for (const iovec& v : vecs) {
    out.push_back(v.iov_len);
  }
  return out;
}

/// Everything unwritten, as a writev would send it.
std::string contents(const OutputQueue& queue) {
  std::string out;
  for (const iovec& v : gatherAll(queue)) {
    out.append(static_cast<const char*>(v.iov_base), v.iov_len);
  }
  return out;
}

std::string pattern(std::size_t size, char first) {
  std::string text(size, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    text[i] = static_cast<char>(first + static_cast<char>(i % 23));
  }
  return text;
}

}  // namespace

TEST_CASE("output queue: an empty queue holds no block", "[core][unit][output]") {
  OutputQueue queue;
  CHECK(queue.empty());
  CHECK(gatherAll(queue).empty());
  CHECK(queue.front().first == nullptr);

  SECTION("an empty payload is not linked") {
    REQUIRE(queue.append(copied(""), kThreshold));
    CHECK(gatherAll(queue).empty());
  }
  SECTION("consuming everything lets go of the last block") {
    REQUIRE(queue.append(copied("abc"), kThreshold));
    queue.consume(3);
    CHECK(queue.empty());
    CHECK(gatherAll(queue).empty());  // not one empty iovec left behind
    CHECK(queue.front().first == nullptr);
    // And it starts a fresh block after that.
    REQUIRE(queue.append(copied("de"), kThreshold));
    CHECK(contents(queue) == "de");
  }
}

TEST_CASE("output queue: order is kept across copied and referenced payloads",
          "[core][unit][output]") {
  int releases = 0;
  const std::string big1 = pattern(3000, 'A');
  const std::string big2 = pattern(5000, 'a');
  // An allocated payload with room to spare: a queue that kept copying into
  // its tail would write the next small payload into it.
  Buffer roomy = Buffer::allocate(8192);
  const std::string big3 = pattern(4000, '0');
  roomy.append(big3);

  OutputQueue queue;
  REQUIRE(queue.append(copied("1"), kThreshold));
  REQUIRE(queue.append(wrapped(big1, releases), kThreshold));
  REQUIRE(queue.append(copied("2"), kThreshold));
  REQUIRE(queue.append(copied("3"), kThreshold));
  REQUIRE(queue.append(wrapped(big2, releases), kThreshold));
  REQUIRE(queue.append(roomy.release(), kThreshold));
  REQUIRE(queue.append(copied("4"), kThreshold));

  CHECK(contents(queue) == "1" + big1 + "23" + big2 + big3 + "4");
  // Small neighbours share a block; a referenced payload is its own iovec.
  CHECK(lengths(gatherAll(queue)) == std::vector<std::size_t>{1, 3000, 2, 5000, 4000, 1});
  CHECK(queue.size() == 1 + 3000 + 2 + 5000 + 4000 + 1);
}

TEST_CASE("output queue: many small payloads leave as one iovec", "[core][unit][output]") {
  OutputQueue queue;
  std::string expected;
  for (int i = 0; i < 100; ++i) {
    const std::string reply = "reply " + std::to_string(i) + "\r\n";
    expected += reply;
    REQUIRE(queue.append(copied(reply), kThreshold));
  }
  const auto vecs = gatherAll(queue);
  REQUIRE(vecs.size() == 1);
  CHECK(contents(queue) == expected);
}

TEST_CASE("output queue: a copy larger than a block fills it, then the next, in order",
          "[core][unit][output]") {
  OutputQueue queue;
  REQUIRE(queue.append(copied("head"), kThreshold));
  const std::string text = pattern(2 * OutputQueue::kCopyBlockBytes + 100, 'k');
  REQUIRE(queue.copy(text.data(), text.size()));
  const auto blocks = gatherAll(queue);
  CHECK(blocks.size() == 3);
  for (std::size_t i = 0; i + 1 < blocks.size(); ++i) {
    CHECK(blocks[i].iov_len >= OutputQueue::kCopyBlockBytes);  // full before the next
  }
  CHECK(contents(queue) == "head" + text);
}

TEST_CASE("output queue: a payload above the copy threshold is linked, not copied",
          "[core][unit][output]") {
  int releases = 0;
  const std::string at_threshold = pattern(kThreshold, 'a');
  const std::string above = pattern(kThreshold + 1, 'A');
  OutputQueue queue;
  REQUIRE(queue.append(wrapped(at_threshold, releases), kThreshold));
  CHECK(releases == 1);  // copied: the sender's memory is free at once
  REQUIRE(queue.append(wrapped(above, releases), kThreshold));
  CHECK(releases == 1);  // linked: still needed

  const auto vecs = gatherAll(queue);
  REQUIRE(vecs.size() == 2);
  CHECK(vecs[0].iov_base != at_threshold.data());
  CHECK(vecs[1].iov_base == above.data());  // written from where the sender put it
  CHECK(vecs[1].iov_len == above.size());
}

TEST_CASE("output queue: consume across block boundaries and partial blocks",
          "[core][unit][output]") {
  int releases = 0;
  const std::string big = pattern(3000, 'B');
  OutputQueue queue;
  REQUIRE(queue.append(copied("hello"), kThreshold));
  REQUIRE(queue.append(wrapped(big, releases), kThreshold));
  REQUIRE(queue.append(copied("world"), kThreshold));
  std::string expected = "hello" + big + "world";

  // Part of the first block: the front moves inside it.
  queue.consume(3);
  expected.erase(0, 3);
  CHECK(queue.size() == expected.size());
  CHECK(contents(queue) == expected);
  CHECK(std::string_view(reinterpret_cast<const char*>(queue.front().first), queue.front().second) ==
        "lo");

  // The rest of the first block and part of the second.
  queue.consume(2 + 100);
  expected.erase(0, 102);
  CHECK(contents(queue) == expected);
  CHECK(queue.front().first == reinterpret_cast<const std::byte*>(big.data()) + 100);
  CHECK(queue.front().second == 2900);
  CHECK(releases == 0);  // the referenced payload is only partly written

  // Past the referenced payload into the last block.
  queue.consume(2900 + 1);
  expected.erase(0, 2901);
  CHECK(releases == 1);
  CHECK(contents(queue) == "orld");
  CHECK(lengths(gatherAll(queue)) == std::vector<std::size_t>{4});

  queue.consume(4);
  CHECK(queue.empty());
  CHECK(gatherAll(queue).empty());
  CHECK(releases == 1);
}

TEST_CASE("output queue: a referenced payload is released exactly once", "[core][unit][output]") {
  int releases = 0;
  const std::string big = pattern(10000, 'r');

  SECTION("when its last byte is consumed") {
    OutputQueue queue;
    REQUIRE(queue.append(wrapped(big, releases), kThreshold));
    queue.consume(9999);
    CHECK(releases == 0);
    queue.consume(1);
    CHECK(releases == 1);
    CHECK(queue.clear() == 0);
    CHECK(releases == 1);
  }
  SECTION("on clear(), which says how much was never written") {
    OutputQueue queue;
    REQUIRE(queue.append(wrapped(big, releases), kThreshold));
    REQUIRE(queue.append(copied("abcde"), kThreshold));  // the tail is a copy block
    queue.consume(7);
    CHECK(queue.clear() == 5 + 10000 - 7);
    CHECK(releases == 1);
    CHECK(queue.empty());
    CHECK(gatherAll(queue).empty());
    CHECK(queue.clear() == 0);
    CHECK(releases == 1);
    // Still usable: a new payload starts a new block.
    REQUIRE(queue.append(copied("again"), kThreshold));
    CHECK(contents(queue) == "again");
  }
  SECTION("when the queue is destroyed") {
    {
      OutputQueue queue;
      REQUIRE(queue.append(wrapped(big, releases), kThreshold));
    }
    CHECK(releases == 1);
  }
}
