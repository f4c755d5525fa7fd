// OutputStage: how small payloads are laid out in a connection's output
// evbuffer. Staged bytes are never moved once committed, and with TLS (each
// chain its own SSL_write: a record and a write(2)) chains hold a full record.
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
  stage.commit(output);
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

TEST_CASE("TLS output is staged in chains of one full record", "[libevent][output-stage]") {
  EvbufferPtr output(evbuffer_new());
  OutputStage tls(true);
  stage(tls, output.get(), 15, 1024);
  // 15 KiB in one chain: one SSL_write, one record, one write(2).
  CHECK(chains(output.get()).size() == 1);
  stage(tls, output.get(), 17, 1024, 15);
  CHECK(contents(output.get()) == expected(32, 1024));
  for (const evbuffer_iovec& chain : chains(output.get())) {
    CHECK(chain.iov_len <= 16384);  // never more than a record's payload
  }
  CHECK(chains(output.get()).size() <= 3);
}

TEST_CASE("a payload larger than the reservation goes in whole", "[libevent][output-stage]") {
  EvbufferPtr output(evbuffer_new());
  OutputStage plain(false);
  stage(plain, output.get(), 1, 100);
  stage(plain, output.get(), 1, 40 << 10, 1);
  CHECK(contents(output.get()) == expected(1, 100) + std::string(40 << 10, 'b'));
}
