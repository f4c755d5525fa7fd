// OutputStage: how small payloads are laid out in a connection's output
// evbuffer. Staged bytes are never moved once committed, and with TLS (each
// chain its own SSL_write) chains are cache blocks of two full records.
#include <catch2/catch.hpp>

#include <event2/buffer.h>

#include <memory>
#include <string>
#include <vector>

#include "output_stage.h"

using spool::libevent::OutputStage;

namespace {

struct EvbufferFree {
  void operator()(evbuffer* b) const noexcept { evbuffer_free(b); }
};
using EvbufferPtr = std::unique_ptr<evbuffer, EvbufferFree>;

std::vector<evbuffer_iovec> chains(evbuffer* output) {
  std::vector<evbuffer_iovec> vecs(static_cast<std::size_t>(evbuffer_peek(output, -1, nullptr, nullptr, 0)));
  evbuffer_peek(output, -1, nullptr, vecs.data(), static_cast<int>(vecs.size()));
  return vecs;
}

/// Stages `count` payloads of `size` bytes (payload i filled with 'a' + i % 26), commits.
void stage(OutputStage& stage, evbuffer* output, int count, std::size_t size, int first = 0) {
  for (int i = first; i < first + count; ++i) {
    const std::string payload(size, static_cast<char>('a' + i % 26));
    bool opened = false;
    REQUIRE(stage.copy(output, payload.data(), payload.size(), opened));
  }
  REQUIRE(stage.commit(output));
}

std::string contents(evbuffer* output) {
  std::string out(evbuffer_get_length(output), '\0');
  evbuffer_copyout(output, out.data(), out.size());
  return out;
}

std::string expected(int count, std::size_t size) {
  std::string out;
  for (int i = 0; i < count; ++i) {
    out.append(size, static_cast<char>('a' + i % 26));
  }
  return out;
}

}  // namespace

TEST_CASE("staged payloads are never moved once committed", "[libevent][output-stage]") {
  EvbufferPtr output(evbuffer_new());
  OutputStage plain(false);
  stage(plain, output.get(), 3, 1024);
  const void* first = chains(output.get()).at(0).iov_base;
  // Batches of 1 KiB payloads that do not fit what the last chain has left:
  // libevent, asked for one contiguous extent, would copy that chain's bytes
  // into a larger one.
  for (int batch = 1; batch < 8; ++batch) {
    stage(plain, output.get(), 3, 1024, batch * 3);
    REQUIRE(chains(output.get()).at(0).iov_base == first);
  }
  CHECK(contents(output.get()) == expected(24, 1024));
  for (const evbuffer_iovec& chain : chains(output.get())) {
    CHECK(chain.iov_len <= 4096);  // one 4 KiB allocation each
  }
}

TEST_CASE("TLS output is staged in referenced blocks of two full records", "[libevent][output-stage]") {
  EvbufferPtr output(evbuffer_new());
  OutputStage tls(true);
  constexpr std::size_t kBlock = OutputStage::kRecordBlockBytes;
  // 40 KiB in one batch: a full block, referenced (one SSL_write of two
  // records), then an 8 KiB tail, under half a block, copied.
  stage(tls, output.get(), 40, 1024);
  auto vecs = chains(output.get());
  REQUIRE(vecs.size() == 2);
  CHECK(vecs[0].iov_len == kBlock);
  CHECK(vecs[1].iov_len == (40 << 10) - kBlock);
  // A batch that fills more than half a block is referenced as it is.
  stage(tls, output.get(), 20, 1024, 40);
  vecs = chains(output.get());
  REQUIRE(vecs.size() == 3);
  CHECK(vecs[2].iov_len == (20 << 10));
  CHECK(contents(output.get()) == expected(60, 1024));
  // Draining releases the blocks to the cache (AddressSanitizer sees a leak otherwise).
  evbuffer_drain(output.get(), evbuffer_get_length(output.get()));
}

TEST_CASE("a TLS payload larger than a block goes in whole, in order", "[libevent][output-stage]") {
  EvbufferPtr output(evbuffer_new());
  OutputStage tls(true);
  stage(tls, output.get(), 1, 100);
  const std::string big(OutputStage::kRecordBlockBytes + 1, 'b');
  bool opened = false;
  REQUIRE(tls.copy(output.get(), big.data(), big.size(), opened));
  stage(tls, output.get(), 1, 300, 2);
  CHECK(contents(output.get()) == expected(1, 100) + big + std::string(300, 'c'));
}

TEST_CASE("a payload larger than the reservation goes in whole", "[libevent][output-stage]") {
  EvbufferPtr output(evbuffer_new());
  OutputStage plain(false);
  stage(plain, output.get(), 1, 100);
  stage(plain, output.get(), 1, 40 << 10, 1);
  CHECK(contents(output.get()) == expected(1, 100) + std::string(40 << 10, 'b'));
}
