#include "tls_options.h"

#include <algorithm>
#include <fmt/format.h>

#include "extended_options.h"
#include "numbers.h"

namespace spoold {
namespace {

/// ssl_min_version: memcached's numbers, or the names it reports.
bool parseMinVersion(const std::string& value, std::string& out, std::string& why) {
  static constexpr std::string_view kNames[] = {"tlsv1.0", "tlsv1.1", "tlsv1.2", "tlsv1.3"};
  for (std::size_t i = 0; i < 4; ++i) {
    if (value == kNames[i] || value == std::to_string(i)) {
      if (i < 2) {
        why = fmt::format("-o ssl_min_version={} ({}) is not supported: spool accepts TLS 1.2 and 1.3 only",
                          value, kNames[i]);
        return false;
      }
      out = kNames[i];
      return true;
    }
  }
  why = fmt::format("invalid ssl_min_version '{}': use 0, 1, 2, 3 or tlsv1.2, tlsv1.3", value);
  return false;
}

bool parseNumber(std::string_view key, const std::string& value, std::uint64_t max,
                 std::uint64_t& out, std::string& why) {
  if (!parseU64(value, out) || out > max) {
    why = fmt::format("invalid {} '{}'", key, value);
    return false;
  }
  return true;
}

}  // namespace

bool applyTlsOption(std::string_view key, const std::string& value, Settings& s,
                    std::string& why) {
  std::uint64_t number = 0;
  if (key == "ssl_chain_cert") {
    s.ssl_chain_cert = value;
  } else if (key == "ssl_key") {
    s.ssl_key = value;
  } else if (key == "ssl_ca_cert") {
    s.ssl_ca_cert = value;
  } else if (key == "ssl_ciphers") {
    s.ssl_ciphers = value;
  } else if (key == "ssl_verify_mode") {
    if (!parseNumber(key, value, 3, number, why)) {
      return false;
    }
    s.ssl_verify_mode = static_cast<int>(number);
  } else if (key == "ssl_min_version") {
    return parseMinVersion(value, s.ssl_min_version, why);
  } else if (key == "ssl_keyformat") {
    if (!parseNumber(key, value, 1'000'000, number, why)) {
      return false;
    }
    if (number != 1) {
      why = fmt::format("-o ssl_keyformat={} is not supported: keys must be PEM (1)", value);
      return false;
    }
  } else if (key == "ssl_wbuf_size") {
    if (!parseNumber(key, value, 1u << 20, number, why)) {
      return false;
    }
    s.ssl_wbuf_size = number << 10;
    addNoEffect(s, "-o ssl_wbuf_size",
                "spool writes TLS records of up to 16 KiB from its own buffers");
  } else if (key == "ssl_session_cache") {
    s.ssl_session_cache = true;  // any value turns it on, as in memcached
  } else if (key == "ssl_kernel_tls") {
    // memcached falls back to user-space TLS where the kernel cannot; so
    // does spool, always.
    s.ssl_kernel_tls = true;
    addNoEffect(s, "-o ssl_kernel_tls", "spool does not offload TLS to the kernel");
  } else {
    why = fmt::format("unknown -o option '{}'", key);
    return false;
  }
  return true;
}

spool::TlsConfig tlsConfig(const Settings& s) {
  spool::TlsConfig tls;
  tls.certificate_chain_file = s.ssl_chain_cert;
  tls.private_key_file = s.ssl_key;
  tls.ca_file = s.ssl_ca_cert;
  switch (s.ssl_verify_mode) {
    case 0: tls.verify_peer = spool::PeerVerification::kNone; break;
    case 1: tls.verify_peer = spool::PeerVerification::kOptional; break;
    default: tls.verify_peer = spool::PeerVerification::kRequired; break;  // 2 require, 3 once
  }
  tls.min_version =
      s.ssl_min_version == "tlsv1.3" ? spool::TlsVersion::kTls13 : spool::TlsVersion::kTls12;
  tls.cipher_list = s.ssl_ciphers;
  return tls;
}

int reportedVerifyMode(int mode) noexcept {
  static constexpr int kFlags[] = {0, 1, 3, 7};  // NONE, PEER, +FAIL_IF_NO_PEER_CERT, +CLIENT_ONCE
  return mode >= 0 && mode <= 3 ? kFlags[mode] : mode;
}

namespace {

/// One -l entry, "notls:" already taken off: <host>[:<port>] or
/// [<ipv6>][:<port>]; an unbracketed IPv6 address (more than one colon)
/// has no port.
bool parseListenEntry(std::string_view entry, ListenAddress& out, std::string& error) {
  std::string_view host;
  bool bracketed = false;
  if (entry.starts_with('[')) {
    const std::size_t close = entry.find(']');
    if (close == std::string_view::npos) {
      error = "Invalid IPV6 address: \"" + std::string(entry) + "\"";
      return false;
    }
    host = entry.substr(1, close - 1);
    entry.remove_prefix(close + 1);
    bracketed = true;
  }
  const std::size_t colon = entry.find(':');
  if (colon != std::string_view::npos &&
      (bracketed || entry.find(':', colon + 1) == std::string_view::npos)) {
    const std::string_view port = entry.substr(colon + 1);
    std::uint64_t number = 0;
    if (!parseU64(port, number) || number > 65535) {
      error = "Invalid port number: \"" + std::string(port) + "\"";
      return false;
    }
    out.port = static_cast<std::uint16_t>(number);
    entry = entry.substr(0, colon);
  }
  if (!bracketed) {
    host = entry;
  }
  out.host = host == "*" ? std::string() : std::string(host);
  return true;
}

}  // namespace

bool parseListenList(std::string_view list, std::uint16_t port, bool tls,
                     std::vector<ListenAddress>& out, std::string& error) {
  constexpr std::string_view kNoTls = "notls";
  while (!list.empty()) {
    const std::size_t end = list.find_first_of(",;");
    std::string_view entry = list.substr(0, end);
    list = end == std::string_view::npos ? std::string_view{} : list.substr(end + 1);
    if (entry.empty()) {
      continue;  // strtok skips empty tokens
    }
    ListenAddress address{"", port, tls};
    if (entry.starts_with(kNoTls)) {
      if (!tls) {
        error = "'notls' option is valid only when SSL is enabled";
        return false;
      }
      address.tls = false;
      entry.remove_prefix(std::min(entry.size(), kNoTls.size() + 1));
    }
    if (!parseListenEntry(entry, address, error)) {
      return false;
    }
    out.push_back(std::move(address));
  }
  return true;
}

std::string refreshCertsError(const spool::TlsFileError& error) {
  using Kind = spool::TlsFileError::Kind;
  const char* what = error.kind() == Kind::kCertificateChain
                         ? "Error loading the certificate chain: "
                     : error.kind() == Kind::kPrivateKey ? "Error loading the key: "
                                                         : "Error loading the CA certificate: ";
  return what + error.file() + " : " + error.reason() + "\r\n";
}

}  // namespace spoold
