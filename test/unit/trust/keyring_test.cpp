#include "trust/keyring.hpp"

#include <catch2/catch.hpp>

#include "support/temp_dir.hpp"
#include "support/test_keys.hpp"
#include "util/fs.hpp"

using namespace ecuup;
using ecuup::test::KeyKind;

namespace {

auto now() { return std::chrono::system_clock::now(); }

ReleaseStatement sample_statement() {
  ReleaseStatement st;
  st.part = "bms";
  st.version = "1.1.0";
  st.hardware = {"BMS-HW-A"};
  st.security_version = 3;
  st.expires = "2099-01-01T00:00:00Z";
  st.expires_unix = 4070908800;
  st.artifacts = {{"bms-1.1.0.hex", std::string(64, 'a'), 1234}};
  return st;
}

}  // namespace

TEST_CASE("keyring: signatures made with RSA, ECDSA and Ed25519 keys verify against their CA only", "[trust]") {
  auto kind = GENERATE(KeyKind::rsa, KeyKind::ecdsa, KeyKind::ed25519);
  ecuup::test::TempDir dir;
  auto pki = ecuup::test::make_test_pki(dir.path(), "pub", kind);
  auto other = ecuup::test::make_test_pki(dir.path(), "other", kind);
  std::string content = release_statement_json(sample_statement());

  auto sig = sign_detached(content, pki.cert, pki.key);
  if (!sig) FAIL(sig.error().message);
  auto ring = Keyring::load(pki.ca);
  REQUIRE(ring.ok());
  CHECK(ring->verify_detached(content, *sig, now()).ok());

  SECTION("one changed byte of content is refused") {
    std::string changed = content;
    changed[changed.find("1.1.0")] = '9';
    auto r = ring->verify_detached(changed, *sig, now());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::verify);
  }
  SECTION("a keyring of another CA refuses it") {
    auto foreign = Keyring::load(other.ca);
    REQUIRE(foreign.ok());
    CHECK(foreign->verify_detached(content, *sig, now()).error().code == Errc::verify);
  }
  SECTION("a keyring directory holding both CAs accepts it") {
    std::filesystem::create_directory(dir / "ring");
    std::filesystem::copy(other.ca, dir / "ring/a.pem");
    std::filesystem::copy(pki.ca, dir / "ring/b.crt");
    auto both = Keyring::load(dir / "ring");
    REQUIRE(both.ok());
    CHECK(both->verify_detached(content, *sig, now()).ok());
  }
  SECTION("after the signer's certificate expired it is refused") {
    auto later = now() + std::chrono::hours(24 * 400);
    CHECK_FALSE(ring->verify_detached(content, *sig, later).ok());
  }
  SECTION("a corrupted signature is refused, not crashed on") {
    std::string bad = *sig;
    bad[bad.size() - 5] ^= 0x55;
    CHECK_FALSE(ring->verify_detached(content, bad, now()).ok());
    CHECK_FALSE(ring->verify_detached(content, bad.substr(0, bad.size() / 2), now()).ok());
    CHECK_FALSE(ring->verify_detached(content, "", now()).ok());
  }
}

TEST_CASE("keyring: interoperates with the openssl command for RSA and ECDSA", "[trust]") {
  auto kind = GENERATE(KeyKind::rsa, KeyKind::ecdsa);
  ecuup::test::TempDir dir;
  auto pki = ecuup::test::make_test_pki(dir.path(), "pub", kind);
  std::string content = release_statement_json(sample_statement());
  REQUIRE(write_file_atomic(dir / "st.json", content).ok());
  auto ring = Keyring::load(pki.ca);
  REQUIRE(ring.ok());

  // openssl signs (PEM and DER), ecuup verifies.
  ecuup::test::sh("openssl cms -sign -binary -in " + (dir / "st.json").string() + " -signer " + pki.cert.string() +
                  " -inkey " + pki.key.string() + " -outform DER -out " + (dir / "st.der").string());
  ecuup::test::sh("openssl cms -sign -binary -in " + (dir / "st.json").string() + " -signer " + pki.cert.string() +
                  " -inkey " + pki.key.string() + " -outform PEM -out " + (dir / "st.pem").string());
  CHECK(ring->verify_detached(content, *read_text_file(dir / "st.der"), now()).ok());
  CHECK(ring->verify_detached(content, *read_text_file(dir / "st.pem"), now()).ok());

  // ecuup signs, openssl verifies.
  auto sig = sign_detached(content, pki.cert, pki.key);
  REQUIRE(sig.ok());
  REQUIRE(write_file_atomic(dir / "ours.p7s", *sig).ok());
  ecuup::test::sh("openssl cms -verify -binary -inform DER -in " + (dir / "ours.p7s").string() + " -content " +
                  (dir / "st.json").string() + " -CAfile " + pki.ca.string() + " -out /dev/null");
}

TEST_CASE("keyring: an embedded (not detached) signature and an empty keyring are refused", "[trust]") {
  ecuup::test::TempDir dir;
  auto pki = ecuup::test::make_test_pki(dir.path(), "pub", KeyKind::ecdsa);
  REQUIRE(write_file_atomic(dir / "st.json", "{}").ok());
  ecuup::test::sh("openssl cms -sign -nodetach -binary -in " + (dir / "st.json").string() + " -signer " +
                  pki.cert.string() + " -inkey " + pki.key.string() + " -outform DER -out " + (dir / "att.der").string());
  auto ring = Keyring::load(pki.ca);
  REQUIRE(ring.ok());
  CHECK(ring->verify_detached("{}", *read_text_file(dir / "att.der"), now()).error().code == Errc::verify);

  REQUIRE(write_file_atomic(dir / "empty.pem", "not a certificate\n").ok());
  CHECK(Keyring::load(dir / "empty.pem").error().code == Errc::config);
  CHECK(Keyring::load(dir / "missing.pem").error().code == Errc::config);
}

TEST_CASE("verify_release_statement: signature, then format, then expiry", "[trust]") {
  ecuup::test::TempDir dir;
  auto pki = ecuup::test::make_test_pki(dir.path(), "pub", KeyKind::ecdsa);
  auto ring = Keyring::load(pki.ca);
  REQUIRE(ring.ok());
  ReleaseStatement st = sample_statement();
  st.expires = "2030-01-01T00:00:00Z";
  std::string doc = release_statement_json(st);
  auto sig = sign_detached(doc, pki.cert, pki.key);
  REQUIRE(sig.ok());

  auto ok = verify_release_statement(*ring, doc, *sig, now());
  REQUIRE(ok.ok());
  CHECK(ok->part == "bms");
  CHECK(ok->security_version == 3);

  // Past its expiry (the certificate is valid for 30 days, so move the statement instead).
  st.expires = "2020-01-01T00:00:00Z";
  doc = release_statement_json(st);
  sig = sign_detached(doc, pki.cert, pki.key);
  REQUIRE(sig.ok());
  auto expired = verify_release_statement(*ring, doc, *sig, now());
  REQUIRE_FALSE(expired.ok());
  CHECK(expired.error().code == Errc::verify);
  CHECK(expired.error().message.find("expiry") != std::string::npos);
}

TEST_CASE("keyring: a CRL in the keyring refuses a revoked signer, and every CA then needs a current CRL", "[trust]") {
  auto kind = GENERATE(KeyKind::ecdsa, KeyKind::ed25519);
  ecuup::test::TempDir dir;
  namespace fs = std::filesystem;
  auto pki = ecuup::test::make_test_pki(dir.path(), "pub", kind);
  auto kept = ecuup::test::add_signer(pki, dir.path(), "kept-signer", kind);
  std::string content = release_statement_json(sample_statement());
  auto leaked_sig = sign_detached(content, pki.cert, pki.key);
  auto kept_sig = sign_detached(content, kept.cert, kept.key);
  REQUIRE(leaked_sig.ok());
  REQUIRE(kept_sig.ok());
  auto keyring_of = [&](const std::vector<fs::path>& files) {
    std::string text;
    for (const auto& f : files) text += *read_text_file(f);
    REQUIRE(write_file_atomic(dir / "ring.pem", text).ok());
    auto ring = Keyring::load(dir / "ring.pem");
    REQUIRE(ring.ok());
    return std::move(*ring);
  };

  SECTION("the revoked signer is refused, the other one of the same CA still verifies") {
    auto crl = ecuup::test::make_crl(pki, dir / "pub.crl", {pki.cert});
    auto ring = keyring_of({pki.ca, crl});
    CHECK(ring.describe() == "1 certificate and 1 CRL from " + (dir / "ring.pem").string());
    auto r = ring.verify_detached(content, *leaked_sig, now());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::verify);
    CHECK_THAT(r.error().message, Catch::Contains("certificate revoked"));
    CHECK(ring.verify_detached(content, *kept_sig, now()).ok());
  }
  SECTION("a keyring directory with a DER .crl file") {
    fs::create_directory(dir / "ring");
    fs::copy(pki.ca, dir / "ring/ca.pem");
    ecuup::test::make_crl(pki, dir / "ring/ca.crl", {pki.cert}, 24, /*der=*/true);
    auto ring = Keyring::load(dir / "ring");
    REQUIRE(ring.ok());
    CHECK_THAT(ring->describe(), Catch::Contains("and 1 CRL"));
    CHECK_THAT(ring->verify_detached(content, *leaked_sig, now()).error().message, Catch::Contains("revoked"));
    CHECK(ring->verify_detached(content, *kept_sig, now()).ok());
  }
  SECTION("a CRL that revokes nothing: both verify") {
    auto ring = keyring_of({pki.ca, ecuup::test::make_crl(pki, dir / "empty.crl", {})});
    CHECK(ring.verify_detached(content, *leaked_sig, now()).ok());
    CHECK(ring.verify_detached(content, *kept_sig, now()).ok());
  }
  SECTION("past the CRL's next update, every signature of that CA is refused") {
    auto ring = keyring_of({pki.ca, ecuup::test::make_crl(pki, dir / "short.crl", {}, 1)});
    auto later = now() + std::chrono::hours(2);
    auto r = ring.verify_detached(content, *kept_sig, later);
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Catch::Contains("CRL has expired"));
  }
  SECTION("a CRL in the last quarter of its validity, or past it, is noted") {
    auto ring = keyring_of({pki.ca, ecuup::test::make_crl(pki, dir / "four.crl", {}, 4)});
    CHECK(ring.renewal_notes(now()).empty());
    CHECK(ring.renewal_notes(now() + std::chrono::hours(2)).empty());
    auto soon = ring.renewal_notes(now() + std::chrono::minutes(210));
    REQUIRE(soon.size() == 1);
    CHECK_THAT(soon[0], Catch::Contains("trust: the CRL of CN=pub-ca in ") && Catch::Contains("runs out at") &&
                            Catch::Contains("(in 1 h)"));
    auto past = ring.renewal_notes(now() + std::chrono::hours(5));
    REQUIRE(past.size() == 1);
    CHECK_THAT(past[0], Catch::Contains("expired at") && Catch::Contains("until a fresh CRL of it is in the keyring"));
    CHECK(keyring_of({pki.ca}).renewal_notes(now() + std::chrono::hours(5)).empty());
  }
  SECTION("a second CA without a CRL in a keyring that has one: its signers are refused") {
    auto other = ecuup::test::make_test_pki(dir.path(), "other", kind);
    auto other_sig = sign_detached(content, other.cert, other.key);
    REQUIRE(other_sig.ok());
    auto ring = keyring_of({pki.ca, other.ca, ecuup::test::make_crl(pki, dir / "pub.crl", {})});
    auto r = ring.verify_detached(content, *other_sig, now());
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Catch::Contains("unable to get certificate CRL"));
    CHECK(ring.verify_detached(content, *kept_sig, now()).ok());
  }
  SECTION("a CRL signed by another CA does not count") {
    auto other = ecuup::test::make_test_pki(dir.path(), "other", kind);
    auto ring = keyring_of({pki.ca, ecuup::test::make_crl(other, dir / "foreign.crl", {})});
    CHECK_FALSE(ring.verify_detached(content, *kept_sig, now()).ok());
  }
}

TEST_CASE("keyring: the openssl command agrees on a revoked signer", "[trust]") {
  ecuup::test::TempDir dir;
  auto pki = ecuup::test::make_test_pki(dir.path(), "pub", KeyKind::rsa);
  std::string content = release_statement_json(sample_statement());
  REQUIRE(write_file_atomic(dir / "st.json", content).ok());
  auto sig = sign_detached(content, pki.cert, pki.key);
  REQUIRE(sig.ok());
  REQUIRE(write_file_atomic(dir / "st.p7s", *sig).ok());
  auto crl = ecuup::test::make_crl(pki, dir / "pub.crl", {pki.cert});
  REQUIRE(write_file_atomic(dir / "ring.pem", *read_text_file(pki.ca) + *read_text_file(crl)).ok());
  auto ring = Keyring::load(dir / "ring.pem");
  REQUIRE(ring.ok());
  CHECK_FALSE(ring->verify_detached(content, *sig, now()).ok());
  const std::string verify = "openssl cms -verify -binary -inform DER -in " + (dir / "st.p7s").string() +
                             " -content " + (dir / "st.json").string() + " -out /dev/null -CAfile ";
  CHECK_NOTHROW(ecuup::test::sh(verify + pki.ca.string()));
  CHECK_THROWS(ecuup::test::sh(verify + (dir / "ring.pem").string() + " -crl_check_all"));
}
