#include "binary_protocol.h"

#include <string>

#include "stats_report.h"

namespace spoold {

using namespace binary;

Step BinaryProtocol::step(std::string_view input, Output& out) {
  if (input.size() < kHeaderSize) {
    return Step::needMore(kHeaderSize);
  }
  Request r;
  r.header = decodeHeader(input);
  const Header& h = r.header;
  if (h.magic != kRequestMagic) {
    return Step::done(0, Action::kClose);  // memcached closes without a word
  }
  const std::size_t head = kHeaderSize + h.extras_length + h.key_length;
  if (std::size_t{h.key_length} + h.extras_length > h.body_length) {
    error(r, kUnknownCommand, out);
    return Step::done(0, Action::kClose);
  }
  if (h.body_length > maxBody()) {
    error(r, kInvalidArguments, out);
    return Step::done(0, Action::kClose);
  }
  if (input.size() < head) {
    return Step::needMore(head);
  }
  r.command = loudOpcode(h.opcode, r.quiet);
  r.extras = input.substr(kHeaderSize, h.extras_length);
  r.key = input.substr(kHeaderSize + h.extras_length, h.key_length);
  if (h.key_length > kMaxKeyLength || !wellFormed(r)) {
    error(r, kInvalidArguments, out);
    return Step::done(head, Action::kClose);
  }
  Step step = Step::done(head);
  if (refuseLargeValue(r, out, step)) {
    return step;
  }
  const std::size_t total = kHeaderSize + h.body_length;
  if (input.size() < total) {
    return Step::needMore(total);
  }
  r.value = input.substr(head, total - head);
  step = Step::done(total);
  execute(r, out, step.action);
  return step;
}

bool BinaryProtocol::wellFormed(const Request& r) const noexcept {
  const Header& h = r.header;
  const std::size_t key = h.key_length;
  const std::size_t ext = h.extras_length;
  const std::size_t body = h.body_length;
  switch (r.command) {
    case kVersionOp: case kNoop: case kQuit: return ext == 0 && key == 0 && body == 0;
    case kFlush: return key == 0 && body == ext && (ext == 0 || ext == 4);
    case kSet: case kAdd: case kReplace: return ext == 8 && key != 0 && body >= key + 8;
    case kGet: case kGetK: return ext == 0 && body == key && key > 0;
    case kDelete: return key > 0 && ext == 0 && body == key;
    case kIncrement: case kDecrement: return key > 0 && ext == 20 && body == key + ext;
    case kAppend: case kPrepend: return key > 0 && ext == 0;
    case kStat: return ext == 0;
    case kTouch: case kGat: case kGatK: return ext == 4 && key != 0;
    default: return true;  // unknown commands are answered, not refused
  }
}

bool BinaryProtocol::refuseLargeValue(const Request& r, Output& out, Step& step) {
  const Header& h = r.header;
  const std::size_t value_size = h.body_length - h.extras_length - h.key_length;
  switch (r.command) {
    case kSet: case kAdd: case kReplace: case kAppend: case kPrepend:
      break;
    case kGet: case kGetK: case kDelete: case kIncrement: case kDecrement: case kQuit:
    case kFlush: case kNoop: case kVersionOp: case kStat: case kTouch: case kGat: case kGatK:
      return false;
    default:
      // Unknown (SASL, verbosity, ...): answer and skip its body.
      error(r, kUnknownCommand, out);
      step.swallow = value_size;
      return true;
  }
  const std::uint32_t flags = h.extras_length >= 4 ? readU32(r.extras.data()) : 0;
  if (ctx_.store.tooLarge(h.key_length, value_size, flags)) {
    ctx_.stats.add(Counter::kStoreTooLarge);
    error(r, kTooLarge, out);
  } else if (!ctx_.store.hasRoom(r.key, value_size, flags)) {
    // -M and full. memcached's binary path says more, and does not count
    // store_no_memory.
    respond(r, kOutOfMemory, {}, {}, "Out of memory allocating item", 0, out);
  } else {
    return false;
  }
  if (r.command == kSet) {
    ctx_.store.remove(r.key);  // as memcached: no stale value survives a failed set
  }
  step.swallow = value_size;
  return true;
}

void BinaryProtocol::execute(const Request& r, Output& out, Action& action) {
  switch (r.command) {
    case kGet: case kGetK: case kTouch: case kGat: case kGatK: get(r, out); break;
    case kSet: case kAdd: case kReplace: case kAppend: case kPrepend: update(r, out); break;
    case kDelete: remove(r, out); break;
    case kIncrement: case kDecrement: arithmetic(r, out); break;
    case kFlush: flush(r, out); break;
    case kStat: stat(r, out); break;
    case kNoop: success(r, out); break;
    case kVersionOp: success(r, out, 0, kVersion); break;
    case kQuit:
      success(r, out);
      action = Action::kClose;
      break;
    default: error(r, kUnknownCommand, out); break;
  }
}

void BinaryProtocol::respond(const Request& r, std::uint16_t status, std::string_view extras,
                             std::string_view key, std::string_view value, std::uint64_t cas,
                             Output& out) {
  ResponseHeader header;
  header.opcode = r.header.opcode;
  header.status = status;
  header.extras_length = static_cast<std::uint8_t>(extras.size());
  header.key_length = static_cast<std::uint16_t>(key.size());
  header.body_length = static_cast<std::uint32_t>(extras.size() + key.size() + value.size());
  header.opaque = r.header.opaque;
  header.cas = cas;
  char* p = out.reserve(kHeaderSize);
  encodeResponseHeader(header, p);
  out.commit(kHeaderSize);
  out.append(extras);
  out.append(key);
  out.append(value);
}

void BinaryProtocol::success(const Request& r, Output& out, std::uint64_t cas, std::string_view value) {
  if (!r.quiet) {
    respond(r, kSuccess, {}, {}, value, cas, out);
  }
}

void BinaryProtocol::error(const Request& r, std::uint16_t status, Output& out) {
  respond(r, status, {}, {}, statusMessage(status), 0, out);
}

void BinaryProtocol::get(const Request& r, Output& out) {
  const bool touch = r.command == kTouch || r.command == kGat || r.command == kGatK;
  const bool with_key = r.command == kGetK || r.command == kGatK;
  LookupOptions options;
  if (touch) {
    options.hit = ClassCounter::kTouchHits;
    options.touch = true;
    options.exptime = expiration(r.extras.data());
  }
  const bool hit = ctx_.store.lookup(r.key, options, [&](const Item& item) {
    char flags[4];
    writeU32(item.flags, flags);
    respond(r, kSuccess, std::string_view(flags, 4), with_key ? r.key : std::string_view{},
            r.command == kTouch ? std::string_view{} : item.value(), item.cas, out);
  });
  if (ctx_.detail_enabled.load(std::memory_order_relaxed)) {
    ctx_.prefix_stats.recordGet(r.key, hit);  // touch and gat too, as memcached's process_bin_get_or_touch
  }
  ctx_.stats.add(touch ? Counter::kCmdTouch : Counter::kCmdGet);
  ctx_.stats.add(touch ? (hit ? Counter::kTouchHits : Counter::kTouchMisses)
                       : (hit ? Counter::kGetHits : Counter::kGetMisses));
  if (hit || r.quiet) {
    return;
  }
  if (with_key) {
    respond(r, kKeyNotFound, {}, r.key, {}, 0, out);
  } else {
    error(r, kKeyNotFound, out);
  }
}

void BinaryProtocol::update(const Request& r, Output& out) {
  StoreMode mode = StoreMode::kSet;
  std::uint32_t flags = 0;
  RelTime exptime = 0;
  switch (r.command) {
    case kAdd: mode = StoreMode::kAdd; break;
    case kReplace: mode = StoreMode::kReplace; break;
    case kAppend: mode = StoreMode::kAppend; break;
    case kPrepend: mode = StoreMode::kPrepend; break;
    default: break;
  }
  if (r.extras.size() == 8) {
    flags = readU32(r.extras.data());
    exptime = expiration(r.extras.data() + 4);
  }
  const bool is_update = mode == StoreMode::kSet || mode == StoreMode::kAdd || mode == StoreMode::kReplace;
  if (is_update && r.header.cas != 0) {
    mode = StoreMode::kCas;
  }
  ctx_.stats.add(Counter::kCmdSet);
  if (ctx_.detail_enabled.load(std::memory_order_relaxed)) {
    ctx_.prefix_stats.recordSet(r.key);
  }
  std::uint64_t cas = 0;
  const StoreResult result = ctx_.store.store(mode, r.key, r.value, flags, exptime, r.header.cas, &cas);
  if (mode == StoreMode::kCas) {
    countCas(ctx_.stats, result);
  }
  switch (result) {
    case StoreResult::kStored: return success(r, out, cas);
    case StoreResult::kExists: return error(r, kKeyExists, out);
    case StoreResult::kNotFound: return error(r, kKeyNotFound, out);
    default:
      return error(r, r.command == kAdd ? kKeyExists : r.command == kReplace ? kKeyNotFound : kNotStored, out);
  }
}

void BinaryProtocol::remove(const Request& r, Output& out) {
  if (ctx_.detail_enabled.load(std::memory_order_relaxed)) {
    ctx_.prefix_stats.recordDelete(r.key);
  }
  const DeleteResult result = ctx_.store.remove(r.key, r.header.cas);
  ctx_.stats.add(result == DeleteResult::kNotFound ? Counter::kDeleteMisses : Counter::kDeleteHits);
  if (result == DeleteResult::kDeleted) {
    success(r, out);
  } else {
    error(r, result == DeleteResult::kExists ? kKeyExists : kKeyNotFound, out);
  }
}

void BinaryProtocol::arithmetic(const Request& r, Output& out) {
  const bool incr = r.command == kIncrement;
  const std::uint64_t amount = readU64(r.extras.data());
  const std::uint64_t initial = readU64(r.extras.data() + 8);
  const std::uint32_t exptime = readU32(r.extras.data() + 16);
  DeltaOutcome outcome;
  const DeltaResult result = ctx_.store.delta(r.key, incr, amount, r.header.cas, outcome);
  char value[8];
  if (result == DeltaResult::kOk) {
    ctx_.stats.add(incr ? Counter::kIncrHits : Counter::kDecrHits);
    writeU64(outcome.value, value);
    return success(r, out, outcome.cas, std::string_view(value, 8));
  }
  if (result == DeltaResult::kNonNumeric) {
    return error(r, kDeltaBadValue, out);
  }
  if (result == DeltaResult::kExists) {
    return error(r, kKeyExists, out);
  }
  if (exptime == 0xffffffffu) {  // memcached: "do not create", not a time
    ctx_.stats.add(incr ? Counter::kIncrMisses : Counter::kDecrMisses);
    return error(r, kKeyNotFound, out);
  }
  const std::string digits = std::to_string(initial);
  std::uint64_t cas = 0;
  if (ctx_.store.store(StoreMode::kAdd, r.key, digits, 0, ctx_.clock.toRelative(exptime), 0,
                       &cas) != StoreResult::kStored) {
    return error(r, kNotStored, out);
  }
  writeU64(initial, value);
  success(r, out, cas, std::string_view(value, 8));
}

void BinaryProtocol::flush(const Request& r, Output& out) {
  if (!ctx_.settings.flush_enabled) {
    error(r, kAuthError, out);  // memcached -F: an authentication error, even for FLUSHQ
    return;
  }
  const std::uint32_t exptime = r.extras.size() == 4 ? readU32(r.extras.data()) : 0;
  ctx_.store.flushAll(exptime > 0 ? ctx_.clock.toRelative(exptime) : 0);
  ctx_.stats.add(Counter::kCmdFlush);
  success(r, out);
}

void BinaryProtocol::stat(const Request& r, Output& out) {
  const std::string_view group = r.key;
  const auto emit = [&](std::string_view name, std::string_view value) {
    respond(r, kSuccess, {}, name, value, 0, out);
  };
  // memcached compares the groups by prefix (strncmp): "reset_x" resets,
  // "settingsx" is settings, "detail onx" turns detail on.
  if (group.starts_with("reset")) {
    ctx_.stats.reset();
    ctx_.prefix_stats.clear();
  } else if (group.starts_with("settings")) {
    reportStats(ctx_, "settings", emit);
  } else if (group.starts_with("detail")) {
    const std::string_view mode = group.substr(6);
    if (mode.starts_with(" dump")) {
      emit("detailed", ctx_.prefix_stats.dump());  // memcached's key for the text dump
    } else if (mode.starts_with(" on") || mode.starts_with(" off")) {
      ctx_.detail_enabled.store(mode.starts_with(" on"), std::memory_order_relaxed);
    } else {
      return error(r, kKeyNotFound, out);
    }
  } else if (!reportStats(ctx_, group, emit)) {
    return error(r, kKeyNotFound, out);
  }
  respond(r, kSuccess, {}, {}, {}, 0, out);  // the terminating empty stat
}

}  // namespace spoold
