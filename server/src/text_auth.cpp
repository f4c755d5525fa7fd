// memcached's ASCII authentication (-Y): the one command a connection may
// send before it has authenticated. Part of TextProtocol.
#include "numbers.h"
#include "text_protocol.h"

namespace spoold {

void TextProtocol::authReply(Output& out, std::string_view line) {
  // Before authentication nothing else writes to `out`: a reply still there
  // (not yet sent) starts at auth_reply_at_.
  if (auth_reply_at_ < out.size()) {
    out.truncate(auth_reply_at_);
  }
  auth_reply_at_ = out.size();
  out.append(line);
}

Step TextProtocol::authenticate(std::string_view line, std::size_t next, std::string_view input,
                                Output& out) {
  const Tokens tokens = tokenize(line);
  std::uint32_t size = 0;
  if (tokens.ntokens() < 6 || tokens[0] != "set" || !parseU32(tokens[4], size)) {
    authReply(out, "CLIENT_ERROR unauthenticated\r\n");
    return Step::done(next);
  }
  const std::size_t total = next + static_cast<std::size_t>(size) + 2;
  if (input.size() < total) {
    return Step::needMore(total);
  }
  const std::string_view data = input.substr(next, static_cast<std::size_t>(size) + 2);
  if (!data.ends_with("\r\n")) {
    authReply(out, "CLIENT_ERROR bad command line termination\r\n");
    return Step::done(total);
  }
  const Tokens credentials = tokenize(data.substr(0, size));
  if (credentials.ntokens() < 3) {
    authReply(out, "CLIENT_ERROR bad authentication token format\r\n");
    return Step::done(total);
  }
  ctx_.stats.add(Counter::kAuthCmds);
  authenticated_ = ctx_.auth.check(credentials[0], credentials[1]);
  if (!authenticated_) {
    ctx_.stats.add(Counter::kAuthErrors);
  }
  authReply(out, authenticated_ ? "STORED\r\n" : "CLIENT_ERROR authentication failure\r\n");
  return Step::done(total);
}

}  // namespace spoold
