// memcached's meta commands: mg, ms, md, ma, mn, me.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "output.h"
#include "protocol.h"
#include "server_context.h"
#include "text_parser.h"

namespace spoold {

/// The flags of one meta command, checked and decoded (memcached's
/// _meta_flag_preparse). Response flags are written later in request order.
struct MetaFlags {
  bool no_update = false;   // u
  bool vivify = false;      // N
  bool value = false;       // v
  bool set_stale = false;   // I
  bool no_reply = false;    // q
  bool has_cas = false;     // C
  bool new_ttl = false;     // T
  bool key_binary = false;  // b
  bool has_recache = false; // R
  char mode = 0;            // M
  std::int32_t exptime = 0;
  std::int32_t autoviv_exptime = 0;
  std::int32_t recache_time = 0;
  std::uint32_t client_flags = 0;
  std::uint64_t req_cas = 0;
  std::uint64_t delta = 1;
  std::uint64_t initial = 0;
};

/// Checks the flag tokens of a meta command starting at token `first`.
/// On success decodes a base64 key (flag b) into `key`. @return the error
/// line memcached would send, or an empty view.
std::string_view parseMetaFlags(const Tokens& tokens, std::size_t first, MetaFlags& flags,
                                std::string& key);

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
