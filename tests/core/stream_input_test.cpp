// StreamInput: where a connection's reads land. The tests drive it the way
// StreamConnection does (prepare, read, commit, hand over, settle) against a
// scratch buffer of the loop's size, and check the memory rules: an idle
// connection owns nothing, leftovers are copied out of the shared scratch
// buffer, and a large frame is read where it will stay.
#include "stream_input.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

using spool::Buffer;
using spool::core::StreamInput;

namespace {

// What LoopCore::readScratch() hands out.
constexpr std::size_t kScratchBytes = 64 << 10;

/// The loop's scratch buffer, shared by every connection of the loop.
struct Scratch {
  std::vector<std::byte> bytes = std::vector<std::byte>(kScratchBytes);
  std::span<std::byte> span() { return bytes; }
  [[nodiscard]] bool holds(const std::byte* at) const {
    return at >= bytes.data() && at < bytes.data() + bytes.size();
  }
  /// What the next connection's read does to it.
  void overwrite() { std::fill(bytes.begin(), bytes.end(), std::byte{'Z'}); }
};

/// One read of `text`, as recv() would put it: prepare, copy, commit.
/// @return where the bytes landed.
const std::byte* read(StreamInput& input, Scratch& scratch, std::string_view text) {
  const std::span<std::byte> room = input.prepare(scratch.span(), SIZE_MAX);
  REQUIRE(room.size() >= text.size());
  std::memcpy(room.data(), text.data(), text.size());
  input.commit(text.size());
  return room.data();
}

std::string held(StreamInput& input) { return std::string(input.text(input.size())); }

std::string pattern(std::size_t size) {
  std::string text(size, '\0');
  for (std::size_t i = 0; i < size; ++i) {
    text[i] = static_cast<char>('a' + i % 26);
  }
  return text;
}

}  // namespace

TEST_CASE("stream input: a read consumed whole leaves the connection owning nothing",
          "[core][unit][input]") {
  Scratch scratch;
  StreamInput input;
  const std::byte* at = read(input, scratch, "GET / HTTP/1.1\r\n\r\n");
  CHECK(scratch.holds(at));  // read into the loop's buffer, not one of ours
  CHECK(held(input) == "GET / HTTP/1.1\r\n\r\n");
  CHECK(input.contiguous(4).data() == at);  // handed over where it was read
  input.consume(input.size());
  REQUIRE(input.settle());
  CHECK(input.size() == 0);
  CHECK(input.ownedCapacity() == 0);

  // The next read reuses the scratch buffer from its start.
  CHECK(read(input, scratch, "x") == scratch.bytes.data());
}

TEST_CASE("stream input: leftovers are kept exactly and survive the scratch buffer's reuse",
          "[core][unit][input]") {
  Scratch scratch;
  StreamInput input;
  read(input, scratch, "GET /a\r\nGET /b");
  input.consume(8);  // the handler took the first request
  REQUIRE(input.settle());
  CHECK(input.ownedCapacity() == 1024);  // the partial request, in one granule
  const std::byte* const own = input.firstChunk().data();
  CHECK_FALSE(scratch.holds(own));

  scratch.overwrite();  // another connection's read
  CHECK(held(input) == "GET /b");

  // The next read brings the leftover back in front of the new bytes, in
  // the scratch buffer; the connection keeps its buffer for what this read
  // leaves over.
  const std::byte* at = read(input, scratch, " HTTP/1.1\r\nGET /c");
  CHECK(at == scratch.bytes.data() + 6);
  CHECK(input.ownedCapacity() == 1024);  // kept while the read is in scratch
  CHECK(held(input) == "GET /b HTTP/1.1\r\nGET /c");
  input.consume(17);
  REQUIRE(input.settle());
  // A pipelining client's reads each end mid-request: the same buffer
  // takes every leftover, no allocation per read.
  CHECK(input.firstChunk().data() == own);
  CHECK(held(input) == "GET /c");

  // Once nothing is held, the connection owns nothing.
  read(input, scratch, "\r\n");
  input.consume(input.size());
  REQUIRE(input.settle());
  CHECK(input.ownedCapacity() == 0);
}

TEST_CASE("stream input: a frame larger than the scratch buffer is read into its own buffer",
          "[core][unit][input]") {
  constexpr std::size_t kFrame = 200000;  // > kScratchBytes
  const std::string frame = pattern(kFrame);
  Scratch scratch;
  StreamInput input;

  // The header arrives; the handler asks for the whole frame and consumes nothing.
  read(input, scratch, std::string_view(frame).substr(0, 100));
  input.wantBytes(kFrame);
  REQUIRE(input.settle());
  CHECK(input.ownedCapacity() == 1024);

  // The next read goes into the connection's buffer, grown to the frame at
  // once, rather than into the scratch buffer.
  std::span<std::byte> room = input.prepare(scratch.span(), SIZE_MAX);
  REQUIRE_FALSE(room.empty());
  CHECK_FALSE(scratch.holds(room.data()));
  REQUIRE(room.size() == kFrame - 100);
  CHECK(input.ownedCapacity() == kFrame);
  const std::byte* const base = room.data() - 100;
  std::memcpy(room.data(), frame.data() + 100, 50000);
  input.commit(50000);
  REQUIRE(input.settle());
  CHECK(input.ownedCapacity() == kFrame);  // kept: the frame is not complete

  // The rest lands right behind, in the same buffer: nothing was moved.
  scratch.overwrite();
  room = input.prepare(scratch.span(), SIZE_MAX);
  CHECK(room.data() == base + 50100);
  REQUIRE(room.size() >= kFrame - 50100);
  std::memcpy(room.data(), frame.data() + 50100, kFrame - 50100);
  input.commit(kFrame - 50100);
  REQUIRE(input.settle());

  CHECK(input.size() == kFrame);
  CHECK(input.ownedCapacity() == kFrame);
  CHECK(input.contiguous(kFrame).data() == base);  // no copy to make it contiguous
  CHECK(held(input) == frame);

  // Handled whole: the buffer goes.
  input.resetWanted();
  input.consume(kFrame);
  REQUIRE(input.settle());
  CHECK(input.ownedCapacity() == 0);
  CHECK(scratch.holds(read(input, scratch, "next")));
}

TEST_CASE("stream input: a read cannot be larger than asked", "[core][unit][input]") {
  Scratch scratch;
  StreamInput input;
  CHECK(input.prepare(scratch.span(), 10).size() == 10);
  input.commit(0);
  REQUIRE(input.settle());
}

TEST_CASE("stream input: find, copyOut, take and consume", "[core][unit][input]") {
  Scratch scratch;
  StreamInput input;
  read(input, scratch, "key: value\r\nnext: line\r\n");

  SECTION("find looks only within the limit, from the front") {
    CHECK(input.find("\r\n", 100) == 10u);
    CHECK(input.find("\r\n", 12) == 10u);  // the needle ends at the limit
    CHECK_FALSE(input.find("\r\n", 11));   // it ends past the limit
    CHECK_FALSE(input.find("absent", 100));
    CHECK_FALSE(input.find("", 100));
    input.consume(12);
    CHECK(input.find("\r\n", 100) == 10u);  // from the new front
    CHECK(input.find("next", 100) == 0u);
  }
  SECTION("copyOut copies without consuming") {
    std::string out(5, '\0');
    input.copyOut(std::as_writable_bytes(std::span(out)));
    CHECK(out == "key: ");
    CHECK(input.size() == 24);
    input.consume(5);
    input.copyOut(std::as_writable_bytes(std::span(out)));
    CHECK(out == "value");
  }
  SECTION("take moves bytes into a Buffer of their own and consumes them") {
    Buffer first = input.take(12);
    CHECK(first.view() == "key: value\r\n");
    CHECK(input.size() == 12);
    CHECK(held(input) == "next: line\r\n");
    // The Buffer does not point into the (shared) scratch buffer.
    scratch.overwrite();
    CHECK(first.view() == "key: value\r\n");
    Buffer empty = input.take(0);
    CHECK(empty.size() == 0);
    CHECK(input.size() == 12);
  }
  SECTION("consume of everything empties it; the next read starts at the front") {
    input.consume(input.size());
    CHECK(input.size() == 0);
    CHECK(input.firstChunk().empty());
    REQUIRE(input.settle());
    CHECK(read(input, scratch, "x") == scratch.bytes.data());
  }
  REQUIRE(input.settle());
}

TEST_CASE("stream input: release() drops the bytes and frees the buffer", "[core][unit][input]") {
  Scratch scratch;
  StreamInput input;
  read(input, scratch, "partial");
  REQUIRE(input.settle());
  REQUIRE(input.ownedCapacity() == 1024);

  input.release();
  CHECK(input.size() == 0);
  CHECK(input.ownedCapacity() == 0);
  // Usable again, from the scratch buffer.
  CHECK(read(input, scratch, "fresh") == scratch.bytes.data());
  CHECK(held(input) == "fresh");

  // Also in the middle of a read (a connection closing from its handler).
  input.release();
  CHECK(input.size() == 0);
  CHECK(input.ownedCapacity() == 0);
  CHECK(read(input, scratch, "again") == scratch.bytes.data());
  REQUIRE(input.settle());
  CHECK(held(input) == "again");
}
