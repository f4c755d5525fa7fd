// Garbage senders: random bytes, and binary protocol headers that lie
// (unknown opcodes, impossible lengths, wrong magic). Whatever the server
// answers is read and dropped; it must close or carry on, never fall over.
// Nothing sent can touch another client's keys: random bytes never start
// with the binary magic, and no header uses a flush or a soak: key.
#include "soak_client.h"
#include "usage.h"

namespace spool::bench {
namespace {

constexpr std::size_t kMaxRandomBytes = 4096;
constexpr unsigned char kRequestMagic = 0x80;

struct BinaryHeader {
  unsigned char magic = kRequestMagic;
  unsigned char opcode = 0;
  std::uint16_t key_length = 0;
  unsigned char extras_length = 0;
  unsigned char data_type = 0;
  std::uint32_t body_length = 0;

  [[nodiscard]] std::string encode() const {
    std::string h(24, '\0');
    h[0] = static_cast<char>(magic);
    h[1] = static_cast<char>(opcode);
    h[2] = static_cast<char>(key_length >> 8);
    h[3] = static_cast<char>(key_length);
    h[4] = static_cast<char>(extras_length);
    h[5] = static_cast<char>(data_type);
    for (int i = 0; i < 4; ++i) {
      h[8 + static_cast<std::size_t>(i)] = static_cast<char>(body_length >> (24 - 8 * i));
    }
    return h;
  }
};

class GarbageClient final : ClientBase {
 public:
  GarbageClient(const ClientContext& ctx, unsigned id) : ClientBase(ctx, "garbage-", id) {}

  void run() {
    while (running()) {
      const bool binary = chance(0.5);
      std::unique_ptr<SoakConn> conn = binary ? openBinary() : openRandom();
      if (!conn) {
        return;
      }
      conn->sendAll(binary ? badHeaders() : randomBytes(), nowNs() + kStallNs);
      tally_.fault(binary ? Fault::kGarbageBinary : Fault::kGarbageRandom);
      // Let the server react (an error, a close), then leave either way.
      conn->drainUntilClosed(nowNs() + uniform(5, 100) * 1'000'000);
      if (chance(0.5)) {
        SoakConn::abortWithReset(std::move(conn));
      }
    }
  }

 private:
  /// Plain: the raw socket, so the garbage picks the protocol. TLS: half
  /// the time garbage instead of a handshake, half inside a session.
  std::unique_ptr<SoakConn> openRandom() {
    const bool in_session = ctx_.target.tls != nullptr && chance(0.5);
    return openConn({.tls = in_session, .probe = in_session});
  }

  /// A session whose first byte is the binary magic.
  std::unique_ptr<SoakConn> openBinary() { return openConn({.tls = true, .probe = false}); }

  std::string randomBytes() {
    std::string bytes = *randomValue(rng_, uniform(1, kMaxRandomBytes));
    if (static_cast<unsigned char>(bytes[0]) == kRequestMagic) {
      bytes[0] = 'x';
    }
    return bytes;
  }

  std::string badHeaders() {
    std::string out;
    for (auto n = uniform(1, 4); n > 0; --n) {
      out += badHeader();
    }
    return out;
  }

  std::string badHeader() {
    BinaryHeader h;
    std::string body;
    switch (uniform(0, 5)) {
      case 0:  // an opcode nobody defines, with a body
        h.opcode = static_cast<unsigned char>(uniform(0xe0, 0xef));
        body = *randomValue(rng_, uniform(0, 64));
        break;
      case 1:  // get with extras it must not have
        h.extras_length = 4, h.key_length = 8, body = std::string(4, '\0') + "garbage:";
        break;
      case 2:  // a key longer than the body
        h.key_length = 200, body = "garbage:xx";
        break;
      case 3:  // set without its 8 bytes of extras
        h.opcode = 0x01, h.key_length = 9, body = "garbage:kvalue";
        break;
      case 4:  // the response magic in a request
        h.magic = 0x81, h.opcode = 0x0a;
        break;
      default:  // a body far over the item size limit: the server closes
        h.opcode = 0x01, h.extras_length = 8, h.key_length = 9, h.body_length = 0x7fff'fff0;
        return h.encode() + std::string(8, '\0') + "garbage:k";
    }
    h.body_length = static_cast<std::uint32_t>(body.size());
    return h.encode() + body;
  }
};

}  // namespace

void runGarbageClient(const ClientContext& ctx, unsigned id) {
  GarbageClient(ctx, id).run();
}

}  // namespace spool::bench
