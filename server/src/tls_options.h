// memcached's -o ssl_* options, its -l list (with "notls:"), and its
// refresh_certs replies: what spoold serves of memcached's TLS settings.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "settings.h"
#include "spool/errors.h"
#include "spool/tls.h"

namespace spoold {

/// Applies one `-o ssl_<key>=<value>` option. False, with the reason in
/// `why`, for a bad value or an option whose effect spoold cannot provide
/// (never ignored silently).
bool applyTlsOption(std::string_view key, const std::string& value, Settings& s, std::string& why);

/// memcached's -o ssl_* settings as spool's TLS settings.
spool::TlsConfig tlsConfig(const Settings& s);

/// `ssl_verify_mode` as memcached reports it: OpenSSL's verify flags
/// (0, 1, 3 for PEER|FAIL_IF_NO_PEER_CERT, 7 with CLIENT_ONCE too).
int reportedVerifyMode(int mode) noexcept;

/// One entry of -l: an address and port, with or without TLS.
struct ListenAddress {
  std::string host;  ///< "" for "*" (every address)
  std::uint16_t port = 0;
  bool tls = false;
};

/// Parses -l as memcached: entries separated by ',' or ';', each
/// [notls:]<host>[:<port>] or [notls:][<ipv6>][:<port>] (an IPv6 address
/// with more than one colon and no brackets has no port); the port defaults
/// to `port`; "notls:" is valid only with -Z. False with the reason in
/// `error`.
bool parseListenList(std::string_view list, std::uint16_t port, bool tls,
                     std::vector<ListenAddress>& out, std::string& error);

/// memcached's refresh_certs error line for a TLS file that failed to load
/// ("Error loading the key: <file> : <OpenSSL's reason>\r\n").
std::string refreshCertsError(const spool::TlsFileError& error);

}  // namespace spoold
