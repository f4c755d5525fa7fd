#include "meta_protocol.h"

#include <algorithm>

#include "base64.h"
#include <fmt/format.h>

#include "numbers.h"

namespace spoold {
namespace {

constexpr std::string_view kBadFormat = "CLIENT_ERROR bad command line format";
constexpr std::string_view kFlagsTooLong = "CLIENT_ERROR options flags too long";
constexpr std::string_view kBadFlag = "CLIENT_ERROR invalid or duplicate flag";
constexpr std::string_view kOpaqueTooLong = "CLIENT_ERROR opaque token too long";

void line(Output& out, std::string_view text) {
  out.append(text);
  out.append("\r\n");
}

void appendUnsigned(Output& out, std::uint64_t value) {
  char* p = out.reserve(20);
  out.commit(static_cast<std::size_t>(formatU64(value, p) - p));
}

void appendFlag(Output& out, char flag, std::uint64_t value) {
  out.append(' ');
  out.append(flag);
  appendUnsigned(out, value);
}

/// The `t` flag: seconds left, or -1 for an item that never expires.
void appendTtl(Output& out, RelTime exptime, RelTime now) {
  if (exptime == 0) {
    out.append(" t-1");
  } else {
    appendFlag(out, 't', static_cast<RelTime>(exptime - now));
  }
}

/// Whether mg bumps the item it found. memcached bumps during the lookup,
/// except with flags that lock the item (N T R h l): then it bumps after the
/// response, which a too long opaque skips.
bool bumpsHit(const Tokens& tokens, const MetaFlags& flags, bool bad_opaque) {
  if (flags.no_update || !bad_opaque) {
    return !flags.no_update;
  }
  const auto end = tokens.token.begin() + static_cast<std::ptrdiff_t>(tokens.count);
  const bool locks_item = std::any_of(tokens.token.begin() + 2, end, [](std::string_view t) {
    return t[0] == 'N' || t[0] == 'T' || t[0] == 'R' || t[0] == 'h' || t[0] == 'l';
  });
  return !locks_item;
}

}  // namespace

Step MetaProtocol::run(const Tokens& tokens, std::size_t next, std::string_view input, Output& out) {
  switch (tokens[0][1]) {
    case 'g': get(tokens, out); break;
    case 's': return set(tokens, next, input, out);
    case 'd': remove(tokens, out); break;
    case 'a': arithmetic(tokens, out); break;
    case 'n': line(out, "MN"); out.markFlushed(); break;  // memcached flushes at mn
    case 'e': debug(tokens, out); break;
    default: line(out, "ERROR"); break;
  }
  return Step::done(next);
}

void MetaProtocol::appendKey(Output& out) const { appendKeyAs(out, key_, flags_.key_binary); }

void MetaProtocol::appendKeyAs(Output& out, std::string_view key, bool binary) {
  out.append(" k");
  if (binary) {
    std::string encoded;
    base64Encode(key, encoded);
    out.append(encoded);
    out.append(" b");
  } else {
    out.append(key);
  }
}

void MetaProtocol::appendOpaqueAndKey(const Tokens& tokens, std::size_t first, Output& out) const {
  for (std::size_t i = first; i < tokens.count; ++i) {
    if (tokens[i][0] == 'O') {
      out.append(' ');
      out.append(tokens[i]);
    } else if (tokens[i][0] == 'k') {
      appendKey(out);
    }
  }
}

void MetaProtocol::finishLine(Output& out, std::size_t mark, bool quiet) {
  if (quiet) {
    out.truncate(mark);
  } else {
    out.append("\r\n");
  }
}

bool MetaProtocol::prepare(const Tokens& tokens, std::string_view too_many_flags,
                           std::string_view flag_error, Output& out, bool check_opaque) {
  std::string_view error;
  if (tokens.ntokens() < 3) {
    error = "ERROR";
  } else if (tokens[1].size() > kMaxKeyLength) {
    error = kBadFormat;
  } else if (tokens.ntokens() > kMaxFlagTokens) {
    error = too_many_flags;
  } else if (const auto parse_error = parseMetaFlags(tokens, 2, flags_, key_); !parse_error.empty()) {
    error = flag_error.empty() ? parse_error : flag_error;
  } else if (check_opaque && opaqueTooLong(tokens, 2)) {
    error = kOpaqueTooLong;
  }
  if (!error.empty()) {
    line(out, error);
  }
  return error.empty();
}

void MetaProtocol::get(const Tokens& tokens, Output& out) {
  // A too long opaque is found after the lookup, as memcached: N has
  // created the item and T retimed it by then.
  if (!prepare(tokens, "CLIENT_ERROR options flags are too long", {}, out, false)) {
    return;
  }
  const std::size_t mark = out.size();
  const bool bad_opaque = opaqueTooLong(tokens, 2);
  bool ttl_set = false;
  const auto respond = [&](Item& item, bool created) { writeHit(tokens, item, created, ttl_set, out); };
  const LookupOptions options{bumpsHit(tokens, flags_, bad_opaque), false, 0,
                              flags_.new_ttl ? ClassCounter::kTouchHits : ClassCounter::kGetHits};
  const bool hit =
      flags_.vivify
          ? ctx_.store.lookupOrCreate(key_, options, 0, respond)  // N sets the time in flag order
          : ctx_.store.lookup(key_, options, [&](Item& item) { respond(item, false); });
  if (bad_opaque && hit) {
    out.truncate(mark);
    return line(out, kOpaqueTooLong);  // memcached counts no hit either
  }
  if (ttl_set) {
    ctx_.stats.add(Counter::kCmdTouch);
    ctx_.stats.add(hit ? Counter::kTouchHits : Counter::kTouchMisses);
  } else {
    ctx_.stats.add(Counter::kCmdGet);
    ctx_.stats.add(hit ? Counter::kGetHits : Counter::kGetMisses);
  }
  if (bad_opaque) {
    return line(out, kOpaqueTooLong);  // a miss: counted, then refused
  }
  if (!hit && !flags_.no_reply) {
    out.append("EN");
    appendOpaqueAndKey(tokens, 2, out);
    out.append("\r\n");
  }
}

void MetaProtocol::writeHit(const Tokens& tokens, Item& item, bool created, bool& ttl_set, Output& out) {
  const Clock& clock = ctx_.clock;
  const RelTime now = clock.now();
  bool won = false;
  if (flags_.value) {
    out.append("VA ");
    appendUnsigned(out, item.value_size);
  } else {
    out.append("HD");
  }
  const std::size_t end = flagsBeforeBadOpaque(tokens, 2);
  for (std::size_t i = 2; i < end; ++i) {
    switch (tokens[i][0]) {
      case 'T': ttl_set = true; item.exptime = clock.toRelative(flags_.exptime); break;
      case 'N':
        if (created) {
          item.exptime = clock.toRelative(flags_.autoviv_exptime);
          won = true;
        }
        break;
      case 'R':
        won = won || (!item.token_sent && !created && item.exptime != 0 &&
                      item.exptime < clock.toRelative(flags_.recache_time));
        break;
      case 's': appendFlag(out, 's', item.value_size); break;
      case 't': appendTtl(out, item.exptime, now); break;
      case 'c': appendFlag(out, 'c', item.cas); break;
      case 'f': appendFlag(out, 'f', item.flags); break;
      case 'l': appendFlag(out, 'l', now - item.time); break;
      case 'h': out.append(item.fetched ? " h1" : " h0"); break;
      case 'O': out.append(' '); out.append(tokens[i]); break;
      case 'k': appendKeyAs(out, item.key(), item.key_binary); break;  // as stored, as memcached
      default: break;
    }
  }
  appendTokenState(item, won, out);
  out.append("\r\n");
  if (flags_.value) {
    out.append(item.value());
    out.append("\r\n");
  }
}

/// memcached's recache tokens: Z (someone already won), X (stale), W (you won).
void MetaProtocol::appendTokenState(Item& item, bool won, Output& out) {
  if (item.token_sent) {
    out.append(" Z");
  }
  if (item.stale) {
    out.append(" X");
    won = won || !item.token_sent;
  }
  if (won) {
    out.append(" W");
    item.token_sent = true;
  }
}

Step MetaProtocol::set(const Tokens& tokens, std::size_t next, std::string_view input, Output& out) {
  if (tokens.ntokens() < 3) {
    line(out, "ERROR");
    return Step::done(next);
  }
  std::int32_t length = 0;
  if (const std::string_view error = checkSetLine(tokens, length); !error.empty()) {
    line(out, error);  // the value's length is not known: none is skipped
    return Step::done(next);
  }
  const auto value_size = static_cast<std::size_t>(length);
  Step refused = Step::done(next);
  refused.swallow = value_size + 2;  // errors from here on skip the value, as memcached does
  StoreMode mode = StoreMode::kSet;
  if (const std::string_view error = checkSetFlags(tokens, mode); !error.empty()) {
    line(out, error);
    return refused;
  }
  if (ctx_.store.tooLarge(key_.size(), value_size, flags_.client_flags)) {
    ctx_.stats.add(Counter::kStoreTooLarge);
    ctx_.store.remove(key_);
    line(out, "SERVER_ERROR object too large for cache");
    return refused;
  }
  if (!ctx_.store.hasRoom(key_, value_size, flags_.client_flags)) {
    ctx_.stats.add(Counter::kStoreNoMemory);  // -M and full: as memcached, the old value goes too
    ctx_.store.remove(key_);
    line(out, "SERVER_ERROR out of memory storing object");
    return refused;
  }
  const std::size_t end = next + value_size + 2;
  if (input.size() < end) {
    return Step::needMore(end);
  }
  ctx_.stats.add(Counter::kCmdSet);
  if (!input.substr(next, end - next).ends_with("\r\n")) {
    line(out, "CLIENT_ERROR bad data chunk");
    return Step::done(end);
  }
  std::uint64_t cas = 0;
  const StoreResult result = ctx_.store.store(mode, key_, input.substr(next, value_size), flags_.client_flags,
                                              ctx_.clock.toRelative(flags_.exptime), flags_.req_cas, &cas);
  if (mode == StoreMode::kCas || mode == StoreMode::kCasOrStale) {
    countCas(ctx_.stats, result);
  }
  if (result == StoreResult::kStored && flags_.key_binary) {
    markKeyBinary();
  }
  writeSetResult(tokens, result, cas, out);
  return Step::done(end);
}

void MetaProtocol::markKeyBinary() {
  ctx_.store.lookup(key_, LookupOptions{false, false, 0, ClassCounter::kCount},
                    [](Item& item) { item.key_binary = true; });
}

std::string_view MetaProtocol::checkSetFlags(const Tokens& tokens, StoreMode& mode) {
  std::string_view error = parseMetaFlags(tokens, 3, flags_, key_);
  if (error.empty() && opaqueTooLong(tokens, 3)) {
    error = kOpaqueTooLong;
  }
  switch (flags_.mode) {  // memcached 1.6.18 takes upper case modes only
    case 0: case 'S': mode = StoreMode::kSet; break;
    case 'E': mode = StoreMode::kAdd; break;
    case 'A': mode = StoreMode::kAppend; break;
    case 'P': mode = StoreMode::kPrepend; break;
    case 'R': mode = StoreMode::kReplace; break;
    default: if (error.empty()) error = "CLIENT_ERROR invalid mode for ms M token"; break;
  }
  if (flags_.has_cas && (mode == StoreMode::kSet || mode == StoreMode::kReplace)) {
    // A C flag turns set and replace into compare-and-swap; with I, an older
    // CAS still stores, marking the item stale (invalidate-on-CAS).
    mode = flags_.set_stale ? StoreMode::kCasOrStale : StoreMode::kCas;
  }
  return error;
}

void MetaProtocol::writeSetResult(const Tokens& tokens, StoreResult result, std::uint64_t cas, Output& out) {
  const std::size_t mark = out.size();
  switch (result) {
    case StoreResult::kStored: out.append("HD"); break;
    case StoreResult::kExists: out.append("EX"); break;
    case StoreResult::kNotFound: out.append("NF"); break;
    case StoreResult::kNotStored: out.append("NS"); break;
    case StoreResult::kTooLarge: return line(out, "SERVER_ERROR object too large for cache");
    case StoreResult::kNoMemory: return line(out, "SERVER_ERROR out of memory storing object");
  }
  for (std::size_t i = 3; i < tokens.count; ++i) {
    if (tokens[i][0] == 'O') {
      out.append(' ');
      out.append(tokens[i]);
    } else if (tokens[i][0] == 'k') {
      appendKey(out);
    } else if (tokens[i][0] == 'c') {
      appendFlag(out, 'c', cas);
    }
  }
  finishLine(out, mark, flags_.no_reply && result == StoreResult::kStored);
}

void MetaProtocol::remove(const Tokens& tokens, Output& out) {
  if (!prepare(tokens, kFlagsTooLong, kBadFlag, out)) {
    return;
  }
  DeleteResult result = DeleteResult::kNotFound;
  if (flags_.set_stale) {
    // Invalidate instead of deleting: the next reader wins the recache token.
    ctx_.store.lookup(key_, LookupOptions{false, false, 0, ClassCounter::kCount}, [&](Item& item) {
      if (flags_.has_cas && item.cas != flags_.req_cas) {
        result = DeleteResult::kExists;
        return;
      }
      if (flags_.new_ttl) {
        item.exptime = ctx_.clock.toRelative(flags_.exptime);
      }
      item.stale = true;
      item.token_sent = false;
      item.cas = ctx_.store.nextCas();
      result = DeleteResult::kDeleted;
    });
  } else {
    result = ctx_.store.remove(key_, flags_.has_cas ? flags_.req_cas : 0);
  }
  ctx_.stats.add(result == DeleteResult::kDeleted ? Counter::kDeleteHits : Counter::kDeleteMisses);
  const std::size_t mark = out.size();
  out.append(result == DeleteResult::kDeleted ? "HD" : result == DeleteResult::kExists ? "EX" : "NF");
  appendOpaqueAndKey(tokens, 2, out);
  finishLine(out, mark, flags_.no_reply && result == DeleteResult::kDeleted);
}

void MetaProtocol::arithmetic(const Tokens& tokens, Output& out) {
  if (!prepare(tokens, kFlagsTooLong, kBadFlag, out, false)) {
    return;
  }
  bool incr = true;
  switch (flags_.mode) {
    case 0: case 'I': case '+': break;
    case 'D': case '-': incr = false; break;
    default: return line(out, "CLIENT_ERROR invalid mode for ma M token");
  }
  const std::size_t mark = out.size();
  if (runDelta(tokens, incr, out) && opaqueTooLong(tokens, 2)) {
    out.truncate(mark);  // as memcached, found once the counter has changed
    line(out, kOpaqueTooLong);
  }
}

bool MetaProtocol::runDelta(const Tokens& tokens, bool incr, Output& out) {
  DeltaOutcome outcome;
  const DeltaResult result =
      ctx_.store.delta(key_, incr, flags_.delta, flags_.has_cas ? flags_.req_cas : 0, outcome);
  if (result == DeltaResult::kNonNumeric) {
    line(out, "CLIENT_ERROR cannot increment or decrement non-numeric value");
    return false;
  }
  if (result == DeltaResult::kOk) {
    ctx_.stats.add(incr ? Counter::kIncrHits : Counter::kDecrHits);
    writeCounter(tokens, outcome, false, out);
    return true;
  }
  const std::size_t mark = out.size();
  if (result == DeltaResult::kExists) {
    out.append("EX");
  } else if (!flags_.vivify) {
    ctx_.stats.add(incr ? Counter::kIncrMisses : Counter::kDecrMisses);
    out.append("NF");
  } else if (vivifyCounter(outcome)) {
    writeCounter(tokens, outcome, true, out);
    return true;
  } else {
    out.append("NS");
  }
  appendOpaqueAndKey(tokens, 2, out);
  finishLine(out, mark, false);
  return true;
}

bool MetaProtocol::vivifyCounter(DeltaOutcome& outcome) {
  char digits[24];
  const std::string_view initial(digits, static_cast<std::size_t>(formatU64(flags_.initial, digits) - digits));
  // Created never expiring: N (and T) set its time in flag order, as memcached.
  if (ctx_.store.store(StoreMode::kAdd, key_, initial, 0, 0, 0, &outcome.cas) != StoreResult::kStored) {
    return false;
  }
  outcome.value = flags_.initial;
  outcome.exptime = 0;
  return true;
}

bool MetaProtocol::appendCounterFlags(const Tokens& tokens, DeltaOutcome& outcome, bool created,
                                      Output& out) {
  const Clock& clock = ctx_.clock;
  const RelTime now = clock.now();
  bool retimed = false;
  const std::size_t end = flagsBeforeBadOpaque(tokens, 2);
  for (std::size_t i = 2; i < end; ++i) {
    switch (tokens[i][0]) {
      case 'c': appendFlag(out, 'c', outcome.cas); break;
      case 't': appendTtl(out, outcome.exptime, now); break;
      case 'T': outcome.exptime = clock.toRelative(flags_.exptime); retimed = true; break;
      case 'N':
        if (created) {
          outcome.exptime = clock.toRelative(flags_.autoviv_exptime);
          retimed = true;
        }
        break;
      case 'O': out.append(' '); out.append(tokens[i]); break;
      case 'k': appendKey(out); break;
      default: break;
    }
  }
  return retimed;
}

void MetaProtocol::writeCounter(const Tokens& tokens, DeltaOutcome& outcome, bool created, Output& out) {
  char digits[24];
  const std::string_view number(digits, static_cast<std::size_t>(formatU64(outcome.value, digits) - digits));
  const std::size_t mark = out.size();
  if (flags_.value) {
    out.append("VA ");
    appendUnsigned(out, number.size());
  } else {
    out.append("HD");
  }
  if (appendCounterFlags(tokens, outcome, created, out)) {
    ctx_.store.lookup(key_, LookupOptions{false, true, outcome.exptime, ClassCounter::kCount}, [](Item&) {});
  }
  if (flags_.no_reply && !created) {
    return out.truncate(mark);  // q hides a plain success; memcached still answers a vivify
  }
  out.append("\r\n");
  if (flags_.value) {
    line(out, number);
  }
}

void MetaProtocol::debug(const Tokens& tokens, Output& out) {
  if (tokens.ntokens() < 3 || tokens[1].size() > kMaxKeyLength) {
    return line(out, kBadFormat);
  }
  key_.assign(tokens[1]);
  flags_ = MetaFlags{};
  if (tokens.ntokens() >= 4 && tokens[2] == "b") {
    std::string decoded;
    if (!base64Decode(tokens[1], decoded)) {
      return line(out, kBadFormat);
    }
    key_ = std::move(decoded);
    flags_.key_binary = true;
  }
  ctx_.stats.add(Counter::kCmdMeta);
  const RelTime now = ctx_.clock.now();
  const LookupOptions peek{false, false, 0, ClassCounter::kCount};
  const bool hit = ctx_.store.lookup(key_, peek, [&](const Item& item) {
    out.append("ME ");
    if (flags_.key_binary) {
      std::string encoded;
      base64Encode(key_, encoded);
      out.append(encoded);
    } else {
      out.append(key_);
    }
    const long long exp = item.exptime == 0 ? -1 : static_cast<long long>(now) - item.exptime;
    out.append(fmt::format(" exp={} la={} cas={} fetch={} cls={} size={}\r\n", exp, now - item.time,
                           item.cas, item.fetched ? "yes" : "no", item.slab_class, item.totalSize()));
  });
  if (!hit) {
    line(out, "EN");
  }
}

}  // namespace spoold
