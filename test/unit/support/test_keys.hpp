#pragma once
// Signing keys and certificates made at test time with the openssl command (never committed):
// a CA, and a signer certificate it issued, for RSA, ECDSA P-256 or Ed25519.
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "support/temp_dir.hpp"

namespace ecuup::test {

enum class KeyKind { rsa, ecdsa, ed25519 };

inline const char* genpkey_args(KeyKind kind) {
  switch (kind) {
    case KeyKind::rsa: return "-algorithm RSA -pkeyopt rsa_keygen_bits:2048";
    case KeyKind::ecdsa: return "-algorithm EC -pkeyopt ec_paramgen_curve:P-256";
    case KeyKind::ed25519: return "-algorithm ED25519";
  }
  return "";
}

inline void sh(const std::string& command) {
  if (std::system((command + " >/dev/null 2>&1").c_str()) != 0) throw std::runtime_error("failed: " + command);
}

// dir/<name>-ca.pem (the anchor), dir/<name>.pem + dir/<name>.key (the signer, issued by the CA).
struct TestPki {
  std::filesystem::path ca, cert, key;
};

inline TestPki make_test_pki(const std::filesystem::path& dir, const std::string& name, KeyKind kind,
                             const std::string& signer_days = "30") {
  std::string d = dir.string() + "/" + name;
  sh("openssl genpkey " + std::string(genpkey_args(kind)) + " -out " + d + "-ca.key");
  sh("openssl req -x509 -new -key " + d + "-ca.key -subj /CN=" + name + "-ca -days 30 -out " + d + "-ca.pem");
  sh("openssl genpkey " + std::string(genpkey_args(kind)) + " -out " + d + ".key");
  sh("openssl req -new -key " + d + ".key -subj /CN=" + name + "-signer -out " + d + ".csr");
  sh("openssl x509 -req -in " + d + ".csr -CA " + d + "-ca.pem -CAkey " + d + "-ca.key -CAcreateserial -days " +
     signer_days + " -out " + d + ".pem");
  return TestPki{d + "-ca.pem", d + ".pem", d + ".key"};
}

}  // namespace ecuup::test
