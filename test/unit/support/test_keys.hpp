#pragma once
// Signing keys and certificates made at test time with the openssl command (never committed):
// a CA, and a signer certificate it issued, for RSA, ECDSA P-256 or Ed25519.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

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
  std::filesystem::path ca, cert, key, ca_key;
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
  return TestPki{d + "-ca.pem", d + ".pem", d + ".key", d + "-ca.key"};
}

// Another signer issued by `pki`'s CA: dir/<name>.pem + dir/<name>.key.
inline TestPki add_signer(const TestPki& pki, const std::filesystem::path& dir, const std::string& name, KeyKind kind) {
  std::string d = dir.string() + "/" + name;
  sh("openssl genpkey " + std::string(genpkey_args(kind)) + " -out " + d + ".key");
  sh("openssl req -new -key " + d + ".key -subj /CN=" + name + " -out " + d + ".csr");
  sh("openssl x509 -req -in " + d + ".csr -CA " + pki.ca.string() + " -CAkey " + pki.ca_key.string() +
     " -CAcreateserial -days 30 -out " + d + ".pem");
  return TestPki{pki.ca, d + ".pem", d + ".key", pki.ca_key};
}

// A CRL of `pki`'s CA (`openssl ca -gencrl`) revoking `revoked` (certificate files), valid for
// `hours`; PEM, or DER when `der`. Each call starts a fresh CA database.
inline std::filesystem::path make_crl(const TestPki& pki, const std::filesystem::path& out,
                                      const std::vector<std::filesystem::path>& revoked, int hours = 24,
                                      bool der = false) {
  const std::string base = out.string();
  std::ofstream(base + ".cnf") << "[ ca ]\ndefault_ca = CA_default\n[ CA_default ]\ndatabase = " << base
                               << ".index\ncrlnumber = " << base << ".number\ndefault_md = default\n";
  std::ofstream(base + ".index") << "";
  std::ofstream(base + ".number") << "1000\n";
  const std::string ca = "openssl ca -batch -config " + base + ".cnf -keyfile " + pki.ca_key.string() + " -cert " +
                         pki.ca.string();
  for (const auto& cert : revoked) sh(ca + " -revoke " + cert.string());
  sh(ca + " -gencrl -crlhours " + std::to_string(hours) + " -out " + base + ".made");
  sh(der ? "openssl crl -in " + base + ".made -outform DER -out " + base : "mv " + base + ".made " + base);
  return out;
}

}  // namespace ecuup::test
