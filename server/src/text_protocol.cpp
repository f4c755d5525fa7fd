#include "text_protocol.h"

#include <algorithm>
#include <climits>

#include "admin_commands.h"
#include "crawler_commands.h"
#include "numbers.h"
#include "stats_report.h"

namespace spoold {
namespace {

constexpr std::string_view kError = "ERROR";
constexpr std::string_view kBadFormat = "CLIENT_ERROR bad command line format";
constexpr std::string_view kBadExptime = "CLIENT_ERROR invalid exptime argument";

struct StorageCommand {
  std::string_view name;
  StoreMode mode;
};
constexpr std::array<StorageCommand, 6> kStorageCommands{{
    {"set", StoreMode::kSet},
    {"add", StoreMode::kAdd},
    {"replace", StoreMode::kReplace},
    {"append", StoreMode::kAppend},
    {"prepend", StoreMode::kPrepend},
    {"cas", StoreMode::kCas},
}};

std::string_view storeReply(StoreResult result) {
  switch (result) {
    case StoreResult::kStored: return "STORED";
    case StoreResult::kNotStored: return "NOT_STORED";
    case StoreResult::kExists: return "EXISTS";
    case StoreResult::kNotFound: return "NOT_FOUND";
    case StoreResult::kTooLarge: return "SERVER_ERROR object too large for cache";
    case StoreResult::kNoMemory: return "SERVER_ERROR out of memory storing object";
  }
  return "SERVER_ERROR Unhandled storage type.";
}

}  // namespace

TextProtocol::TextProtocol(ServerContext& ctx, MetadumpRequest& metadump)
    : ctx_(ctx), metadump_(metadump), meta_(ctx), authenticated_(ctx.settings.auth_file.empty()) {}

void TextProtocol::reply(Output& out, std::string_view line) {
  if (noreply_) {
    noreply_ = false;
    return;
  }
  out.append(line);
  out.append("\r\n");
}

Step TextProtocol::step(std::string_view input, Output& out) {
  LineEnd end;
  if (!findLineEnd(input, scanned_, end)) {
    scanned_ = input.size();
    if (input.size() > kMaxLine && (!authenticated_ || !mayBeLongGet(input.substr(0, kMaxLine)) ||
                                     input.size() > kMaxGetLine)) {
      scanned_ = 0;
      return Step::done(0, Action::kClose);  // memcached drops such a connection
    }
    return Step::needMore();
  }
  scanned_ = 0;
  noreply_ = false;
  if (!authenticated_) {
    return authenticate(input.substr(0, end.content), end.next, input, out);
  }
  return command(input.substr(0, end.content), end.next, input, out);
}

Step TextProtocol::command(std::string_view line, std::size_t next, std::string_view input,
                           Output& out) {
  const Tokens tokens = tokenize(line);
  if (tokens.ntokens() < 2 || tokens[0].size() < 2) {
    reply(out, kError);
    return Step::done(next);
  }
  if (tokens[0][0] == 'm' && tokens[0].size() == 2) {
    return meta_.run(tokens, next, input, out);
  }
  return dispatchClassic(tokens, next, input, out);
}

Step TextProtocol::dispatchClassic(const Tokens& tokens, std::size_t next, std::string_view input,
                                   Output& out) {
  const std::string_view cmd = tokens[0];
  const std::size_t n = tokens.ntokens();
  if (cmd == "get" || cmd == "gets" || cmd == "gat" || cmd == "gats" || cmd == "bget") {
    if (n < 3) {
      reply(out, kError);
    } else {
      retrieval(tokens, cmd == "gets" || cmd == "gats", cmd == "gat" || cmd == "gats", out);
    }
  } else if (std::any_of(kStorageCommands.begin(), kStorageCommands.end(),
                         [&](const StorageCommand& c) { return c.name == cmd; })) {
    const std::size_t base = cmd == "cas" ? 7 : 6;
    if (n != base && n != base + 1) {
      reply(out, kError);
      return Step::done(next);
    }
    return storage(tokens, next, input, out);
  } else if (cmd == "incr" || cmd == "decr") {
    n == 4 || n == 5 ? arithmetic(tokens, cmd == "incr", out) : reply(out, kError);
  } else if (cmd == "delete") {
    n >= 3 && n <= 5 ? remove(tokens, out) : reply(out, kError);
  } else if (cmd == "touch") {
    n == 4 || n == 5 ? touch(tokens, out) : reply(out, kError);
  } else if (cmd == "stats") {
    stats(tokens, out);
  } else if (cmd == "flush_all") {
    n >= 2 && n <= 4 ? flushAll(tokens, out) : reply(out, kError);
  } else if (cmd == "version") {
    out.append("VERSION ");
    out.append(kVersion);
    out.append("\r\n");
  } else if (cmd == "quit") {
    return Step::done(next, Action::kClose);
  } else if (cmd == "verbosity") {
    n == 3 || n == 4 ? verbosity(tokens, out) : reply(out, kError);
  } else if (cmd == "lru_crawler") {
    return lruCrawler(tokens, next, out);
  } else if (cmd == "refresh_certs") {
    refreshCerts(tokens, out);
  } else if (cmd == "shutdown") {
    return shutdown(tokens, next, out);
  } else {
    return misc(tokens, next, out);
  }
  return Step::done(next);
}

Step TextProtocol::storage(const Tokens& tokens, std::size_t next, std::string_view input,
                           Output& out) {
  noreply_ = tokens.lastIsNoreply();
  const std::string_view key = tokens[1];
  std::uint32_t flags = 0;
  std::int32_t exptime = 0;
  std::int32_t length = 0;
  std::uint64_t req_cas = 0;
  const bool is_cas = tokens[0] == "cas";
  if (key.size() > kMaxKeyLength || !parseU32(tokens[2], flags) || !parseI32(tokens[3], exptime) ||
      !parseI32(tokens[4], length) || (is_cas && !parseU64(tokens[5], req_cas)) || length < 0 ||
      length > INT_MAX - 2) {
    reply(out, kBadFormat);
    return Step::done(next);
  }
  if (ctx_.detail_enabled.load(std::memory_order_relaxed)) {
    ctx_.prefix_stats.recordSet(key);  // every storage command that parsed, stored or not
  }
  const std::size_t total = static_cast<std::size_t>(length) + 2;
  const auto mode = std::find_if(kStorageCommands.begin(), kStorageCommands.end(),
                                 [&](const StorageCommand& c) { return c.name == tokens[0]; })->mode;
  if (const StoreResult refusal = admit(key, static_cast<std::size_t>(length), flags);
      refusal != StoreResult::kStored) {
    reply(out, storeReply(refusal));
    if (mode == StoreMode::kSet) {
      ctx_.store.remove(key);  // memcached drops the stale value too
    }
    Step step = Step::done(next);
    step.swallow = total;  // skip the value without buffering it
    return step;
  }
  if (input.size() < next + total) {
    return Step::needMore(next + total);
  }
  const std::string_view data = input.substr(next, total);
  ctx_.stats.add(Counter::kCmdSet);
  if (!data.ends_with("\r\n")) {
    reply(out, "CLIENT_ERROR bad data chunk");
    return Step::done(next + total);
  }
  const StoreResult result = ctx_.store.store(mode, key, data.substr(0, total - 2), flags,
                                              ctx_.clock.toRelative(exptime), req_cas);
  if (mode == StoreMode::kCas) {
    countCas(ctx_.stats, result);
  }
  reply(out, storeReply(result));
  return Step::done(next + total);
}

StoreResult TextProtocol::admit(std::string_view key, std::size_t value_size, std::uint32_t flags) {
  if (ctx_.store.tooLarge(key.size(), value_size, flags)) {
    ctx_.stats.add(Counter::kStoreTooLarge);
    return StoreResult::kTooLarge;
  }
  if (Item::totalSize(key.size(), value_size, flags, ctx_.settings.cas_enabled) > ctx_.store.memoryLimit() ||
      !ctx_.store.hasRoom(key, value_size, flags)) {
    ctx_.stats.add(Counter::kStoreNoMemory);
    return StoreResult::kNoMemory;
  }
  return StoreResult::kStored;
}

void TextProtocol::retrieval(const Tokens& tokens, bool with_cas, bool touch, Output& out) {
  RelTime exptime = 0;
  std::size_t first = 1;
  if (touch) {
    std::int32_t value = 0;
    if (!parseI32(tokens[1], value)) {
      reply(out, kBadExptime);
      return;
    }
    exptime = ctx_.clock.toRelative(value);
    first = 2;
  }
  const std::size_t mark = out.size();
  Tokens batch = tokens;
  for (;;) {
    for (std::size_t i = first; i < batch.count; ++i) {
      if (!getKey(batch.token[i], with_cas, touch, exptime, out)) {
        out.truncate(mark);  // memcached drops the hits already gathered
        reply(out, kBadFormat);
        return;
      }
    }
    if (batch.rest.empty()) {
      break;
    }
    batch = tokenize(batch.rest);  // more keys than one tokenizer pass holds
    first = 0;
  }
  out.append("END\r\n");
  out.markFlushed();  // memcached sends a get's answer (and all before it) at once
}

bool TextProtocol::getKey(std::string_view key, bool with_cas, bool touch, RelTime exptime,
                          Output& out) {
  if (key.size() > kMaxKeyLength) {
    return false;
  }
  const LookupOptions options{true, touch, exptime,
                              touch ? ClassCounter::kTouchHits : ClassCounter::kGetHits};
  const bool hit = ctx_.store.lookup(key, options, [&](const Item& item) {
    const std::string_view value = item.value();
    char* p = out.reserve(6 + key.size() + 3 * 21 + 4 + value.size() + 2);
    char* const start = p;
    p = std::copy_n("VALUE ", 6, p);
    p = std::copy(key.begin(), key.end(), p);
    *p++ = ' ';
    p = formatU64(item.flags, p);
    *p++ = ' ';
    p = formatU64(value.size(), p);
    if (with_cas) {
      *p++ = ' ';
      p = formatU64(item.cas, p);
    }
    p = std::copy_n("\r\n", 2, p);
    p = std::copy(value.begin(), value.end(), p);
    p = std::copy_n("\r\n", 2, p);
    out.commit(static_cast<std::size_t>(p - start));
  });
  if (ctx_.detail_enabled.load(std::memory_order_relaxed)) {
    ctx_.prefix_stats.recordGet(key, hit);  // gat too, as memcached
  }
  if (touch) {
    ctx_.stats.add(Counter::kCmdTouch);
    ctx_.stats.add(hit ? Counter::kTouchHits : Counter::kTouchMisses);
  } else {
    ctx_.stats.add(Counter::kCmdGet);
    ctx_.stats.add(hit ? Counter::kGetHits : Counter::kGetMisses);
  }
  return true;
}

void TextProtocol::arithmetic(const Tokens& tokens, bool incr, Output& out) {
  noreply_ = tokens.lastIsNoreply();
  std::uint64_t amount = 0;
  if (tokens[1].size() > kMaxKeyLength) {
    reply(out, kBadFormat);
    return;
  }
  if (!parseU64(tokens[2], amount)) {
    reply(out, "CLIENT_ERROR invalid numeric delta argument");
    return;
  }
  DeltaOutcome outcome;
  switch (ctx_.store.delta(tokens[1], incr, amount, 0, outcome)) {
    case DeltaResult::kOk: {
      ctx_.stats.add(incr ? Counter::kIncrHits : Counter::kDecrHits);
      char digits[24];
      reply(out, std::string_view(digits, static_cast<std::size_t>(formatU64(outcome.value, digits) - digits)));
      break;
    }
    case DeltaResult::kNonNumeric:
      reply(out, "CLIENT_ERROR cannot increment or decrement non-numeric value");
      break;
    case DeltaResult::kNotFound:
    case DeltaResult::kExists:
      ctx_.stats.add(incr ? Counter::kIncrMisses : Counter::kDecrMisses);
      reply(out, "NOT_FOUND");
      break;
  }
}

void TextProtocol::remove(const Tokens& tokens, Output& out) {
  const std::size_t n = tokens.ntokens();
  if (n > 3) {
    const bool hold_is_zero = tokens[2] == "0";
    noreply_ = tokens.lastIsNoreply();
    const bool valid = (n == 4 && (hold_is_zero || noreply_)) || (n == 5 && hold_is_zero && noreply_);
    if (!valid) {
      reply(out, "CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]");
      return;
    }
  }
  if (tokens[1].size() > kMaxKeyLength) {
    reply(out, kBadFormat);
    return;
  }
  if (ctx_.detail_enabled.load(std::memory_order_relaxed)) {
    ctx_.prefix_stats.recordDelete(tokens[1]);  // found or not, as memcached (incr/decr: never)
  }
  const bool deleted = ctx_.store.remove(tokens[1]) == DeleteResult::kDeleted;
  ctx_.stats.add(deleted ? Counter::kDeleteHits : Counter::kDeleteMisses);
  reply(out, deleted ? "DELETED" : "NOT_FOUND");
}

void TextProtocol::touch(const Tokens& tokens, Output& out) {
  noreply_ = tokens.lastIsNoreply();
  std::int32_t exptime = 0;
  if (tokens[1].size() > kMaxKeyLength) {
    reply(out, kBadFormat);
    return;
  }
  if (!parseI32(tokens[2], exptime)) {
    reply(out, kBadExptime);
    return;
  }
  const bool hit = ctx_.store.touch(tokens[1], ctx_.clock.toRelative(exptime));
  ctx_.stats.add(Counter::kCmdTouch);
  ctx_.stats.add(hit ? Counter::kTouchHits : Counter::kTouchMisses);
  reply(out, hit ? "TOUCHED" : "NOT_FOUND");
}

void TextProtocol::verbosity(const Tokens& tokens, Output& out) {
  noreply_ = tokens.lastIsNoreply();
  std::uint32_t level = 0;
  if (!parseU32(tokens[1], level)) {
    reply(out, kBadFormat);
    return;
  }
  ctx_.verbosity.store(static_cast<int>(std::min<std::uint32_t>(level, 2)));
  reply(out, "OK");
}

void TextProtocol::flushAll(const Tokens& tokens, Output& out) {
  noreply_ = tokens.lastIsNoreply();
  ctx_.stats.add(Counter::kCmdFlush);  // counted even when refused, as memcached
  if (!ctx_.settings.flush_enabled) {
    reply(out, "CLIENT_ERROR flush_all not allowed");
    return;
  }
  std::int32_t exptime = 0;
  if (tokens.ntokens() != (noreply_ ? 3u : 2u) && !parseI32(tokens[1], exptime)) {
    reply(out, kBadExptime);
    return;
  }
  ctx_.store.flushAll(exptime > 0 ? ctx_.clock.toRelative(exptime) : 0);
  reply(out, "OK");
}

void TextProtocol::stats(const Tokens& tokens, Output& out) {
  const std::string_view group = tokens[1];
  if (group == "reset") {
    ctx_.stats.reset();
    ctx_.store.resetStats();
    ctx_.prefix_stats.clear();
    reply(out, "RESET");
  } else if (group == "detail") {
    const std::string_view mode = tokens[2];
    if (mode == "on" || mode == "off") {
      ctx_.detail_enabled.store(mode == "on", std::memory_order_relaxed);
      reply(out, "OK");
    } else if (mode == "dump") {
      out.append(ctx_.prefix_stats.dump());
    } else {
      reply(out, "CLIENT_ERROR usage: stats detail on|off|dump");
    }
  } else if (group == "cachedump") {
    std::uint32_t id = 0;
    std::uint32_t limit = 0;
    if (!ctx_.settings.dump_enabled) {
      reply(out, "CLIENT_ERROR stats cachedump not allowed");
    } else if (tokens.ntokens() < 5) {
      reply(out, "CLIENT_ERROR bad command line");
    } else if (!parseU32(tokens[2], id) || !parseU32(tokens[3], limit)) {
      reply(out, kBadFormat);
    } else {
      out.append("END\r\n");
    }
  } else if (!appendTextStats(ctx_, tokens.count > 1 ? group : std::string_view{}, out)) {
    reply(out, kError);
  }
}

Step TextProtocol::lruCrawler(const Tokens& tokens, std::size_t next, Output& out) {
  const std::size_t n = tokens.ntokens();
  const std::string_view sub = tokens[1];
  if (n == 4 && sub == "metadump") {
    if (!ctx_.maintainer.crawlerEnabled()) {
      reply(out, "CLIENT_ERROR lru crawler disabled");
    } else if (!ctx_.settings.dump_enabled) {
      reply(out, "ERROR metadump not allowed");
    } else if (!out.empty()) {
      reply(out, "ERROR cannot pipeline other commands before metadump");
    } else if (parseMetadumpClasses(tokens[2], ctx_.store.slabClasses().count(), metadump_)) {
      return Step::done(next, Action::kMetadump);
    } else {
      reply(out, "BADCLASS invalid class id");
    }
  } else if (n == 4 && sub == "crawl") {
    reply(out, startCrawl(ctx_.maintainer, tokens[2]));
  } else if (n == 4 && (sub == "tocrawl" || sub == "sleep")) {
    std::uint32_t value = 0;
    reply(out, !parseU32(tokens[2], value)                 ? kBadFormat
               : sub == "sleep" && value > 1000000         ? "CLIENT_ERROR sleep must be one second or less"
                                                           : "OK");
  } else if (n == 3 && (sub == "enable" || sub == "disable")) {
    reply(out, switchCrawler(ctx_.maintainer, sub == "enable"));
  } else {
    reply(out, kError);
  }
  return Step::done(next);
}

void TextProtocol::refreshCerts(const Tokens& tokens, Output& out) {
  noreply_ = tokens.lastIsNoreply();
  const std::string error = ctx_.refresh_certs ? ctx_.refresh_certs() : "Error TLS not enabled\r\n";
  if (error.empty()) {
    reply(out, "OK");
  } else {
    out.append(error);  // as memcached: the error line is sent even with noreply
    noreply_ = false;
  }
}

Step TextProtocol::shutdown(const Tokens& tokens, std::size_t next, Output& out) {
  const std::size_t n = tokens.ntokens();
  if (!ctx_.settings.shutdown_enabled) {
    reply(out, "ERROR: shutdown not enabled");
  } else if (n == 2 || (n == 3 && tokens[1] == "graceful")) {
    // memcached closes the connection without a reply, then stops; spoold's
    // stop is always graceful (responses in flight are sent), so both modes
    // are the same here.
    if (ctx_.request_shutdown) {
      ctx_.request_shutdown();
    }
    return Step::done(next, Action::kClose);
  } else {
    reply(out, "CLIENT_ERROR invalid shutdown mode");
  }
  return Step::done(next);
}

Step TextProtocol::misc(const Tokens& tokens, std::size_t next, Output& out) {
  const std::string_view cmd = tokens[0];
  if (cmd == "watch" && !ctx_.settings.watch_enabled) {
    reply(out, "CLIENT_ERROR watch commands not allowed");
  } else if (cmd == "watch") {
    std::vector<std::string_view> args;
    for (std::size_t i = 1; i + 1 < tokens.ntokens(); ++i) {
      args.push_back(tokens[i]);
    }
    if (!parseWatchFlags(args, watch_flags_)) {
      reply(out, kError);
    } else {
      reply(out, "OK");
      return Step::done(next, Action::kWatch);
    }
  } else if (isAdminCommand(cmd)) {
    const std::string_view line = runAdminCommand(ctx_, tokens, noreply_);
    reply(out, line);
  } else if (looksLikeHttp(tokens)) {
    // A browser tricked into posting to the port: no answer at all, and
    // like memcached's conn_closing, drop what this batch had queued since
    // memcached last wrote its responses out (after a get or `mn`).
    out.truncate(out.flushed());
    return Step::done(next, Action::kClose);
  } else {
    reply(out, kError);
  }
  return Step::done(next);
}

bool appendTextStats(ServerContext& ctx, std::string_view group, Output& out) {
  const bool known = reportStats(ctx, group, [&](std::string_view name, std::string_view value) {
    out.append("STAT ");
    out.append(name);
    out.append(' ');
    out.append(value);
    out.append("\r\n");
  });
  if (known) {
    out.append("END\r\n");
  }
  return known;
}

}  // namespace spoold
