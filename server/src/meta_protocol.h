// memcached's meta commands: mg, ms, md, ma, mn, me.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "meta_flags.h"
#include "output.h"
#include "protocol.h"
#include "server_context.h"
#include "text_parser.h"

namespace spoold {

/// Runs meta commands. Not thread-safe: one per connection.
class MetaProtocol {
 public:
  explicit MetaProtocol(ServerContext& ctx) : ctx_(ctx) {}

  /// Runs the meta command in `tokens`; `next` is where its line ends in `input`.
  Step run(const Tokens& tokens, std::size_t next, std::string_view input, Output& out);

 private:
  /// memcached's checks before mg/md/ma: token count, key length, flags
  /// (`flag_error` replaces the parser's message when not empty), opaque.
  /// @return false after writing the error.
  bool prepare(const Tokens& tokens, std::string_view too_many_flags, std::string_view flag_error,
               Output& out, bool check_opaque = true);
  void get(const Tokens& tokens, Output& out);
  /// The response line (and value) of an mg hit, flags in request order.
  void writeHit(const Tokens& tokens, Item& item, bool created, bool& ttl_set, Output& out);
  static void appendTokenState(Item& item, bool won, Output& out);
  Step set(const Tokens& tokens, std::size_t next, std::string_view input, Output& out);
  /// ms's flags and mode (M); @return memcached's error line, or empty.
  std::string_view checkSetFlags(const Tokens& tokens, StoreMode& mode);
  void writeSetResult(const Tokens& tokens, StoreResult result, std::uint64_t cas, Output& out);
  void remove(const Tokens& tokens, Output& out);
  void arithmetic(const Tokens& tokens, Output& out);
  /// ma's delta (or vivify) and response. @return false when it wrote an error instead.
  bool runDelta(const Tokens& tokens, bool incr, Output& out);
  /// ma N on a miss: creates the counter with the J value. @return false when it could not.
  bool vivifyCounter(DeltaOutcome& outcome);
  /// The ma response; `created`: by N just now. T and N retime it in flag order.
  void writeCounter(const Tokens& tokens, DeltaOutcome& outcome, bool created, Output& out);
  /// ma's response flags in request order. @return whether T or N changed the time.
  bool appendCounterFlags(const Tokens& tokens, DeltaOutcome& outcome, bool created, Output& out);
  void debug(const Tokens& tokens, Output& out);
  /// Appends the O (opaque) and k (key) flags found in the request.
  void appendOpaqueAndKey(const Tokens& tokens, std::size_t first, Output& out) const;
  void appendKey(Output& out) const;
  /// ` k<key>`, base64 with ` b` after it when `binary`.
  static void appendKeyAs(Output& out, std::string_view key, bool binary);
  /// After an ms with b: mg's k then shows the key in base64 (memcached's ITEM_KEY_BINARY).
  void markKeyBinary();
  void finishLine(Output& out, std::size_t mark, bool quiet);

  ServerContext& ctx_;
  MetaFlags flags_;
  std::string key_;  // the decoded key of the command being run
};

}  // namespace spoold
