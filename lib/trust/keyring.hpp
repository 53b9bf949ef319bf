#pragma once
// Trust anchors and CMS signatures, all through OpenSSL's libcrypto. A keyring is one PEM file
// of X.509 CA certificates, or a directory of them (`trust.keyring` in the config), as RAUC has.
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "trust/statement.hpp"
#include "util/result.hpp"

namespace ecuup {

class Keyring {
 public:
  // Refuses (Errc::config) a missing or unreadable file, or one with no certificate in it.
  static Result<Keyring> load(const std::filesystem::path& file_or_dir);
  ~Keyring();
  Keyring(Keyring&&) noexcept;
  Keyring& operator=(Keyring&&) noexcept;

  // Checks `signature` (DER or PEM CMS, detached) over exactly `content`: the signer's chain must
  // end at a certificate of this keyring and be valid at `now`. RSA, ECDSA and Ed25519 signers
  // all work (Ed25519 as RFC 8419 without signed attributes: OpenSSL 3.0's CMS cannot stream
  // it). Errc::verify with the reason on failure.
  Result<void> verify_detached(std::string_view content, std::string_view signature,
                               std::chrono::system_clock::time_point now) const;
  std::string describe() const;  // "2 certificates from keys/ca.pem"
  // A note for each CRL past its nextUpdate, or in the last quarter of its validity: once one runs
  // out, every signature under its CA is refused. Empty when all are current (or none is held).
  std::vector<std::string> renewal_notes(std::chrono::system_clock::time_point now) const;

 private:
  struct Impl;
  explicit Keyring(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> m_impl;
};

// Signature, then statement: verify_detached() and parse_release_statement(), then the expiry.
Result<ReleaseStatement> verify_release_statement(const Keyring& keyring, std::string_view statement,
                                                  std::string_view signature,
                                                  std::chrono::system_clock::time_point now);

// A detached CMS signature (DER) over `content`, for publishing tools and ecuup-server. `cert`
// is the signer's PEM certificate (further PEM certificates in the same file travel along as its
// chain), `key` its PEM private key: RSA, ECDSA or Ed25519.
Result<std::string> sign_detached(std::string_view content, const std::filesystem::path& cert,
                                  const std::filesystem::path& key);

}  // namespace ecuup
