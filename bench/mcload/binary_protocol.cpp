#include "binary_protocol.h"

#include <arpa/inet.h>

#include <cstring>

namespace spool::bench {
namespace {

constexpr std::uint8_t kRequestMagic = 0x80;
constexpr std::uint8_t kResponseMagic = 0x81;
constexpr std::uint8_t kOpGet = 0x00;
constexpr std::uint8_t kOpSet = 0x01;
constexpr std::uint16_t kStatusOk = 0x0000;
constexpr std::uint16_t kStatusNotFound = 0x0001;
constexpr std::size_t kHeader = 24;
constexpr std::uint32_t kMaxBody = 2 << 20;

struct Header {
  std::uint8_t magic, opcode;
  std::uint16_t key_length;
  std::uint8_t extras_length, data_type;
  std::uint16_t status;  // vbucket in requests
  std::uint32_t body_length, opaque;
  std::uint64_t cas;
};

void appendHeader(std::string& out, std::uint8_t opcode, std::uint16_t key_length, std::uint8_t extras_length,
                  std::uint32_t body_length, std::uint32_t opaque) {
  char h[kHeader] = {};
  h[0] = static_cast<char>(kRequestMagic);
  h[1] = static_cast<char>(opcode);
  const std::uint16_t key_be = htons(key_length);
  std::memcpy(h + 2, &key_be, 2);
  h[4] = static_cast<char>(extras_length);
  const std::uint32_t body_be = htonl(body_length);
  std::memcpy(h + 8, &body_be, 4);
  std::memcpy(h + 12, &opaque, 4);  // echoed verbatim: byte order is ours
  out.append(h, kHeader);
}

Header readHeader(const char* p) {
  Header h{};
  h.magic = static_cast<std::uint8_t>(p[0]);
  h.opcode = static_cast<std::uint8_t>(p[1]);
  std::memcpy(&h.key_length, p + 2, 2);
  h.key_length = ntohs(h.key_length);
  h.extras_length = static_cast<std::uint8_t>(p[4]);
  h.data_type = static_cast<std::uint8_t>(p[5]);
  std::memcpy(&h.status, p + 6, 2);
  h.status = ntohs(h.status);
  std::memcpy(&h.body_length, p + 8, 4);
  h.body_length = ntohl(h.body_length);
  std::memcpy(&h.opaque, p + 12, 4);
  return h;
}

ParsedReply bad(const std::string& why) { return {Reply::kBad, 0, why}; }

class BinaryProtocol final : public McProtocol {
 public:
  void encode(const McOp& op, const KeySpace& keys, std::string& out) const override {
    keys.key(op.key, key_);
    const auto key_length = static_cast<std::uint16_t>(key_.size());
    if (op.kind == OpKind::kGet) {
      appendHeader(out, kOpGet, key_length, 0, key_length, op.opaque);
      out.append(key_);
      return;
    }
    const auto value = keys.value(op.key);
    appendHeader(out, kOpSet, key_length, 8, static_cast<std::uint32_t>(8 + key_length + value.size()), op.opaque);
    out.append(8, '\0');  // flags 0, expiry 0
    out.append(key_).append(value);
  }

  ParsedReply parse(std::string_view in, const McOp& op, const KeySpace& keys) const override {
    if (in.size() < kHeader) {
      return {};
    }
    const Header h = readHeader(in.data());
    if (h.magic != kResponseMagic || h.body_length > kMaxBody) {
      return bad("not a binary response header");
    }
    if (in.size() < kHeader + h.body_length) {
      return {};
    }
    const std::size_t total = kHeader + h.body_length;
    const std::uint8_t expected_op = op.kind == OpKind::kGet ? kOpGet : kOpSet;
    if (h.opcode != expected_op || h.opaque != op.opaque) {
      return bad("response out of order (opcode " + std::to_string(h.opcode) + ")");
    }
    if (op.kind == OpKind::kSet) {
      return h.status == kStatusOk ? ParsedReply{Reply::kStored, total, {}}
                                   : bad("set failed with status " + std::to_string(h.status));
    }
    if (h.status == kStatusNotFound) {
      return {Reply::kMiss, total, {}};
    }
    const std::size_t skip = std::size_t{h.extras_length} + h.key_length;
    if (h.status != kStatusOk || skip > h.body_length ||
        in.substr(kHeader + skip, h.body_length - skip) != keys.value(op.key)) {
      return bad("get returned status " + std::to_string(h.status) + " or a value that does not match");
    }
    return {Reply::kHit, total, {}};
  }

 private:
  mutable std::string key_;
};

}  // namespace

std::unique_ptr<McProtocol> makeBinaryProtocol() { return std::make_unique<BinaryProtocol>(); }

}  // namespace spool::bench
