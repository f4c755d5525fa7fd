// memcached's text protocol: framing, classic commands, and dispatch to meta.
#pragma once

#include <cstddef>
#include <string_view>

#include "meta_protocol.h"
#include "output.h"
#include "protocol.h"
#include "server_context.h"
#include "text_parser.h"

namespace spoold {

/// Runs text-protocol commands (classic and meta) over a byte view.
///
/// Pure with respect to I/O: step() reads the unconsumed input of one
/// connection and appends the response of at most one command to `out`.
/// Not thread-safe: one per connection, used by one thread at a time.
class TextProtocol {
 public:
  TextProtocol(ServerContext& ctx, MetadumpRequest& metadump);
  /// The WatchFlag bits of the last `watch` (Action::kWatch).
  [[nodiscard]] unsigned watchFlags() const noexcept { return watch_flags_; }

  /// Parses and runs the first command of `input`.
  Step step(std::string_view input, Output& out);

  /// Longest line accepted while a large multi-get is still arriving.
  static constexpr std::size_t kMaxGetLine = 4u << 20;
  /// A line longer than this without a newline must be a get (memcached's rule).
  static constexpr std::size_t kMaxLine = 2048;

 private:
  Step command(std::string_view line, std::size_t next, std::string_view input, Output& out);
  /// -Y, before authentication: only `set <any> <any> <any> <len>` whose
  /// data is `<user> <password>` is understood, as memcached 1.6.18.
  Step authenticate(std::string_view line, std::size_t next, std::string_view input, Output& out);
  Step dispatchClassic(const Tokens& tokens, std::size_t next, std::string_view input, Output& out);
  Step storage(const Tokens& tokens, std::size_t next, std::string_view input, Output& out);
  /// Whether a value of this shape can be stored at all: kStored, or the
  /// refusal (too large for -I, or for all of -m), counted in stats.
  StoreResult admit(std::string_view key, std::size_t value_size, std::uint32_t flags);
  void retrieval(const Tokens& tokens, bool with_cas, bool touch, Output& out);
  bool getKey(std::string_view key, bool with_cas, bool touch, RelTime exptime, Output& out);
  void arithmetic(const Tokens& tokens, bool incr, Output& out);
  void remove(const Tokens& tokens, Output& out);
  void touch(const Tokens& tokens, Output& out);
  void verbosity(const Tokens& tokens, Output& out);
  void flushAll(const Tokens& tokens, Output& out);
  void stats(const Tokens& tokens, Output& out);
  Step lruCrawler(const Tokens& tokens, std::size_t next, Output& out);
  Step shutdown(const Tokens& tokens, std::size_t next, Output& out);
  /// The remaining commands; an unknown one that looks like HTTP closes.
  Step misc(const Tokens& tokens, std::size_t next, Output& out);
  /// refresh_certs: reloads the TLS certificate and key (memcached's replies).
  void refreshCerts(const Tokens& tokens, Output& out);
  /// memcached's out_string: suppressed once by noreply.
  void reply(Output& out, std::string_view line);

  ServerContext& ctx_;
  MetadumpRequest& metadump_;
  unsigned watch_flags_ = 0;  // of the last `watch`
  MetaProtocol meta_;
  std::size_t scanned_ = 0;  // bytes of the pending line known to hold no '\n'
  bool noreply_ = false;
  bool authenticated_;  // -Y: false until a `set` carries a user and password of the file
  /// Where the last reply before authentication starts in the output.
  std::size_t auth_reply_at_ = 0;
  /// Appends a reply before authentication the way memcached 1.6.18 does:
  /// it reuses one response object until then, so a reply replaces the one
  /// before it while both are still waiting to be sent.
  void authReply(Output& out, std::string_view line);
};

/// Appends "STAT name value\r\n" lines for `group`, then "END\r\n".
/// @return false (appending nothing) for an unknown group.
bool appendTextStats(ServerContext& ctx, std::string_view group, Output& out);

}  // namespace spoold
