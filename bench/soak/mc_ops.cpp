#include "mc_ops.h"

namespace spool::bench {
namespace {

std::string textValueHeader(std::string_view key, const Stored& stored) {
  return "VALUE " + std::string(key) + " " + std::to_string(stored.flags) + " " +
         std::to_string(stored.value->size()) + "\r\n";
}

}  // namespace

void addSet(Batch& batch, Dialect dialect, std::string_view key, const Stored& stored, bool quiet) {
  const std::string size = std::to_string(stored.value->size());
  const std::string flags = std::to_string(stored.flags);
  const std::string line =
      dialect == Dialect::kText
          ? "set " + std::string(key) + " " + flags + " 0 " + size + (quiet ? " noreply" : "")
          : "ms " + std::string(key) + " " + size + " F" + flags + (quiet ? " q" : "");
  batch.out += line + "\r\n";
  batch.out += *stored.value;
  batch.out += "\r\n";
  ++batch.requests;
  if (!quiet) {
    batch.checker->expect(dialect == Dialect::kText ? "STORED\r\n" : "HD\r\n");
    batch.checker->endReply(line);
  }
}

void addGet(Batch& batch, Dialect dialect, std::string_view key, const Slot& slot) {
  ReplyChecker& check = *batch.checker;
  const std::string line =
      dialect == Dialect::kText ? "get " + std::string(key) : "mg " + std::string(key) + " v f";
  batch.out += line + "\r\n";
  if (dialect == Dialect::kText) {
    if (slot) {
      check.expect(textValueHeader(key, *slot));
      check.expect(slot->value);
      check.expect("\r\n");
    }
    check.expect("END\r\n");
  } else if (slot) {
    check.expect("VA " + std::to_string(slot->value->size()) + " f" + std::to_string(slot->flags) +
                 "\r\n");
    check.expect(slot->value);
    check.expect("\r\n");
  } else {
    check.expect("EN\r\n");
  }
  check.endReply(line);
  ++batch.requests;
}

void addMultiGet(Batch& batch, std::span<const std::string> keys,
                 std::span<const Slot* const> slots) {
  std::string line = "get";
  for (std::size_t i = 0; i < keys.size(); ++i) {
    line += " " + keys[i];
    if (const Slot& slot = *slots[i]) {
      batch.checker->expect(textValueHeader(keys[i], *slot));
      batch.checker->expect(slot->value);
      batch.checker->expect("\r\n");
    }
  }
  batch.out += line + "\r\n";
  batch.checker->expect("END\r\n");
  batch.checker->endReply(line);
  ++batch.requests;
}

void addDelete(Batch& batch, Dialect dialect, std::string_view key, bool held) {
  const std::string line = (dialect == Dialect::kText ? "delete " : "md ") + std::string(key);
  batch.out += line + "\r\n";
  if (dialect == Dialect::kText) {
    batch.checker->expect(held ? "DELETED\r\n" : "NOT_FOUND\r\n");
  } else {
    batch.checker->expect(held ? "HD\r\n" : "NF\r\n");
  }
  batch.checker->endReply(line);
  ++batch.requests;
}

ValuePtr randomValue(std::mt19937_64& rng, std::size_t size) {
  std::string value(size, '\0');
  std::size_t i = 0;
  for (; i + 8 <= size; i += 8) {
    const std::uint64_t word = rng();
    for (int b = 0; b < 8; ++b) {
      value[i + static_cast<std::size_t>(b)] = static_cast<char>(word >> (8 * b));
    }
  }
  for (const std::uint64_t word = rng(); i < size; ++i) {
    value[i] = static_cast<char>(word >> (8 * (i % 8)));
  }
  return std::make_shared<const std::string>(std::move(value));
}

}  // namespace spool::bench
