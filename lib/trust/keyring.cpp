#include "trust/keyring.hpp"

#include <algorithm>
#include <ctime>
#include <mutex>
#include <optional>

#include <fmt/format.h>
// pem.h first: cms.h declares PEM_read_bio_CMS only when it sees it.
#include <openssl/pem.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "util/fs.hpp"
#include "util/time.hpp"

namespace ecuup {

namespace fs = std::filesystem;

namespace {

// Owning handles for OpenSSL objects.
template <class T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
void free_cert_stack(STACK_OF(X509) * s) { sk_X509_pop_free(s, X509_free); }
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using CmsPtr = std::unique_ptr<CMS_ContentInfo, Deleter<CMS_ContentInfo, CMS_ContentInfo_free>>;
using CertPtr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using CertsPtr = std::unique_ptr<STACK_OF(X509), Deleter<STACK_OF(X509), free_cert_stack>>;
void free_info_stack(STACK_OF(X509_INFO) * s) { sk_X509_INFO_pop_free(s, X509_INFO_free); }
using InfosPtr = std::unique_ptr<STACK_OF(X509_INFO), Deleter<STACK_OF(X509_INFO), free_info_stack>>;
using CrlPtr = std::unique_ptr<X509_CRL, Deleter<X509_CRL, X509_CRL_free>>;
using KeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;
using StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX, X509_STORE_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;

// The first error OpenSSL queued, in its words, with the detail the queue carries (such as the
// X.509 verify error behind CMS's "certificate verify error"), and an empty queue for the next call.
std::string openssl_reason() {
  unsigned long first = 0;
  std::string detail;
  for (;;) {
    const char* data = nullptr;
    int flags = 0;
    unsigned long code = ERR_get_error_all(nullptr, nullptr, nullptr, &data, &flags);
    if (code == 0) break;
    if (first == 0) first = code;
    if (data && *data && (flags & ERR_TXT_STRING) != 0) detail = data;
  }
  if (first == 0) return "no reason given";
  const char* reason = ERR_reason_error_string(first);
  std::string text = reason ? reason : fmt::format("OpenSSL error {:#x}", first);
  std::string_view shown = detail;
  if (shown.starts_with("Verify error:")) shown.remove_prefix(std::string_view("Verify error:").size());
  while (shown.starts_with(' ')) shown.remove_prefix(1);
  if (!shown.empty()) text += fmt::format(" ({})", shown);
  return text;
}

// "CN=bms-signer": a certificate's subject or a CRL's issuer, for messages.
std::string name_text(const X509_NAME* name) {
  char text[256] = "";
  X509_NAME_oneline(name, text, sizeof text);
  return text[0] == '/' ? text + 1 : text;
}

std::string subject_of(X509* cert) {
  return cert ? name_text(X509_get_subject_name(cert)) : std::string("an unknown certificate");
}

// An ASN.1 time (a CRL's lastUpdate, nextUpdate) as a time point; nullopt when absent or unreadable.
std::optional<std::chrono::system_clock::time_point> time_point_of(const ASN1_TIME* at) {
  std::tm tm{};
  if (!at || ASN1_TIME_to_tm(at, &tm) != 1) return std::nullopt;
  return std::chrono::system_clock::from_time_t(::timegm(&tm));
}

BioPtr memory_bio(std::string_view data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

// What one keyring file holds: X.509 certificates (the anchors) and certificate revocation lists.
struct KeyringFile {
  CertsPtr certs{sk_X509_new_null()};
  std::vector<CrlPtr> crls;
};

// PEM certificates and CRLs, in any order; a file that is not PEM may be one DER CRL (what
// `openssl ca -gencrl -outform DER` writes, often named .crl).
Result<KeyringFile> read_keyring_file(const fs::path& file) {
  auto text = read_text_file(file);
  if (!text) return make_error(Errc::config, fmt::format("{}: {}", file.string(), text.error().message));
  KeyringFile out;
  ERR_clear_error();
  if (text->find("-----BEGIN") == std::string::npos) {
    BioPtr bio = memory_bio(*text);
    if (X509_CRL* crl = d2i_X509_CRL_bio(bio.get(), nullptr)) out.crls.emplace_back(crl);
    ERR_clear_error();
    return out;
  }
  BioPtr bio = memory_bio(*text);
  InfosPtr infos(PEM_X509_INFO_read_bio(bio.get(), nullptr, nullptr, nullptr));
  if (!infos) {
    return make_error(Errc::config, fmt::format("{}: not readable as PEM certificates or CRLs: {}", file.string(),
                                                openssl_reason()));
  }
  for (int i = 0; i < sk_X509_INFO_num(infos.get()); ++i) {
    X509_INFO* info = sk_X509_INFO_value(infos.get(), i);
    if (info->x509) {
      sk_X509_push(out.certs.get(), info->x509);
      info->x509 = nullptr;
    }
    if (info->crl) {
      out.crls.emplace_back(info->crl);
      info->crl = nullptr;
    }
  }
  ERR_clear_error();
  return out;
}

bool is_eddsa(EVP_PKEY* key) {
  int id = key ? EVP_PKEY_get_id(key) : 0;
  return id == EVP_PKEY_ED25519 || id == EVP_PKEY_ED448;
}

}  // namespace

struct Keyring::Impl {
  StorePtr store{X509_STORE_new()};
  CertsPtr anchors{sk_X509_new_null()};
  std::vector<CrlPtr> crls;  // also in the store; kept to tell when they run out
  std::string source;
  // X509_STORE's verification time is shared state; one verification at a time.
  mutable std::mutex mutex;
};

Keyring::Keyring(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}
Keyring::~Keyring() = default;
Keyring::Keyring(Keyring&&) noexcept = default;
Keyring& Keyring::operator=(Keyring&&) noexcept = default;

Result<Keyring> Keyring::load(const fs::path& file_or_dir) {
  auto impl = std::make_unique<Impl>();
  impl->source = file_or_dir.string();
  std::vector<fs::path> files;
  std::error_code ec;
  if (fs::is_directory(file_or_dir, ec)) {
    for (const auto& entry : fs::directory_iterator(file_or_dir, ec)) {
      auto ext = entry.path().extension();
      if (entry.is_regular_file() && (ext == ".pem" || ext == ".crt" || ext == ".crl")) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
  } else {
    files.push_back(file_or_dir);
  }
  for (const auto& file : files) {
    ECUUP_ASSIGN(KeyringFile read, read_keyring_file(file));
    while (sk_X509_num(read.certs.get()) > 0) {
      X509* cert = sk_X509_shift(read.certs.get());
      X509_STORE_add_cert(impl->store.get(), cert);
      sk_X509_push(impl->anchors.get(), cert);
    }
    for (auto& crl : read.crls) {
      X509_STORE_add_crl(impl->store.get(), crl.get());  // the store takes its own reference
      impl->crls.push_back(std::move(crl));
    }
  }
  ERR_clear_error();
  if (sk_X509_num(impl->anchors.get()) == 0)
    return make_error(Errc::config, fmt::format("trust keyring {}: no PEM certificate in it", file_or_dir.string()));
  // A keyring with a CRL checks revocation along the whole chain, the anchor's own issuer too:
  // each CA then needs a current CRL in the keyring, and a chain without one is refused.
  if (!impl->crls.empty()) X509_STORE_set_flags(impl->store.get(), X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
  return Keyring(std::move(impl));
}

std::vector<std::string> Keyring::renewal_notes(std::chrono::system_clock::time_point now) const {
  std::vector<std::string> notes;
  for (const auto& crl : m_impl->crls) {
    auto next = time_point_of(X509_CRL_get0_nextUpdate(crl.get()));
    auto last = time_point_of(X509_CRL_get0_lastUpdate(crl.get()));
    if (!next || !last) continue;  // no nextUpdate: it never runs out
    const std::string who = name_text(X509_CRL_get_issuer(crl.get()));
    const auto left = *next - now;
    if (left <= std::chrono::seconds(0)) {
      notes.push_back(fmt::format("trust: the CRL of {} in {} expired at {}: every release signed under that CA is "
                                  "refused until a fresh CRL of it is in the keyring",
                                  who, m_impl->source, to_iso8601(*next)));
    } else if (left * 4 <= *next - *last) {
      notes.push_back(fmt::format("trust: the CRL of {} in {} runs out at {} (in {} h): put a fresh CRL of that CA "
                                  "into the keyring before then, or every release signed under it is refused",
                                  who, m_impl->source, to_iso8601(*next),
                                  std::chrono::ceil<std::chrono::hours>(left).count()));
    }
  }
  return notes;
}

std::string Keyring::describe() const {
  int n = sk_X509_num(m_impl->anchors.get());
  const auto c = m_impl->crls.size();
  return fmt::format("{} certificate{}{} from {}", n, n == 1 ? "" : "s",
                     c == 0 ? std::string() : fmt::format(" and {} CRL{}", c, c == 1 ? "" : "s"), m_impl->source);
}

Result<void> Keyring::verify_detached(std::string_view content, std::string_view signature,
                                      std::chrono::system_clock::time_point now) const {
  auto bad = [](const std::string& why) { return make_error(Errc::verify, "signature: " + why); };
  if (signature.empty()) return bad("empty");
  if (signature.size() > k_statement_max_bytes) return bad("larger than any signature ecuup accepts");
  ERR_clear_error();
  BioPtr sig_bio = memory_bio(signature);
  CmsPtr cms(signature.starts_with("-----BEGIN") ? PEM_read_bio_CMS(sig_bio.get(), nullptr, nullptr, nullptr)
                                                 : d2i_CMS_bio(sig_bio.get(), nullptr));
  if (!cms) return bad("not a CMS (PKCS#7) structure: " + openssl_reason());
  if (OBJ_obj2nid(CMS_get0_type(cms.get())) != NID_pkcs7_signed) return bad("a CMS structure, but not signed data");
  if (CMS_is_detached(cms.get()) != 1) return bad("the content is embedded; ecuup takes detached signatures only");
  STACK_OF(CMS_SignerInfo)* signers = CMS_get0_SignerInfos(cms.get());
  int n_signers = signers ? sk_CMS_SignerInfo_num(signers) : 0;
  if (n_signers < 1) return bad("no signer");

  std::lock_guard lock(m_impl->mutex);
  X509_VERIFY_PARAM* param = X509_STORE_get0_param(m_impl->store.get());
  X509_VERIFY_PARAM_set_time(param, std::chrono::system_clock::to_time_t(now));

  // Signer certificates travel in the CMS; a signer may also be a keyring certificate itself.
  CMS_set1_signers_certs(cms.get(), m_impl->anchors.get(), 0);
  ERR_clear_error();
  bool eddsa = false;
  for (int i = 0; i < n_signers; ++i) {
    EVP_PKEY* key = nullptr;
    X509* signer = nullptr;
    CMS_SignerInfo_get0_algs(sk_CMS_SignerInfo_value(signers, i), &key, &signer, nullptr, nullptr);
    eddsa = eddsa || is_eddsa(signer ? X509_get0_pubkey(signer) : key);
  }

  if (!eddsa) {
    BioPtr data = memory_bio(content);
    if (CMS_verify(cms.get(), m_impl->anchors.get(), m_impl->store.get(), data.get(), nullptr, CMS_BINARY) != 1)
      return bad(openssl_reason());
    return success();
  }

  // EdDSA: OpenSSL 3.0's CMS_verify cannot run it (EdDSA has no streaming digest), so check the
  // chain and the pure signature over the content here (RFC 8419, no signed attributes).
  if (n_signers != 1) return bad("an Ed25519 signature must have exactly one signer");
  CMS_SignerInfo* si = sk_CMS_SignerInfo_value(signers, 0);
  if (CMS_signed_get_attr_count(si) >= 0)
    return bad("Ed25519 with signed attributes is not supported by this OpenSSL; sign without attributes "
               "(`ecuup-repo sign` does)");
  X509* signer = nullptr;
  CMS_SignerInfo_get0_algs(si, nullptr, &signer, nullptr, nullptr);
  if (!signer) return bad("the signer's certificate is neither in the signature nor in the keyring");
  CertsPtr untrusted(CMS_get1_certs(cms.get()));
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), m_impl->store.get(), signer, untrusted.get()) != 1)
    return bad(openssl_reason());
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SMIME_SIGN);
  if (X509_verify_cert(ctx.get()) != 1) {
    ERR_clear_error();
    return bad(fmt::format("certificate verify error ({}: {})", subject_of(X509_STORE_CTX_get_current_cert(ctx.get())),
                           X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()))));
  }
  ASN1_OCTET_STRING* sig = CMS_SignerInfo_get0_signature(si);
  MdCtxPtr md(EVP_MD_CTX_new());
  if (!md || EVP_DigestVerifyInit(md.get(), nullptr, nullptr, nullptr, X509_get0_pubkey(signer)) != 1 ||
      EVP_DigestVerify(md.get(), ASN1_STRING_get0_data(sig), static_cast<std::size_t>(ASN1_STRING_length(sig)),
                       reinterpret_cast<const unsigned char*>(content.data()), content.size()) != 1) {
    ERR_clear_error();
    return bad("content and signature do not match");
  }
  return success();
}

Result<ReleaseStatement> verify_release_statement(const Keyring& keyring, std::string_view statement,
                                                  std::string_view signature,
                                                  std::chrono::system_clock::time_point now) {
  ECUUP_TRY(keyring.verify_detached(statement, signature, now));
  ECUUP_ASSIGN(ReleaseStatement st, parse_release_statement(statement));
  auto now_unix = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (now_unix >= st.expires_unix)
    return make_error(Errc::verify,
                      fmt::format("rule 'expiry': the statement of {} {} expired at {}; ask the publisher for a "
                                  "freshly signed statement (a frozen or replayed release is refused)",
                                  st.part, st.version, st.expires));
  return st;
}

Result<std::string> sign_detached(std::string_view content, const fs::path& cert, const fs::path& key) {
  auto fail = [](const std::string& why) { return make_error(Errc::config, "sign: " + why); };
  ECUUP_ASSIGN(KeyringFile read, read_keyring_file(cert));
  CertsPtr chain = std::move(read.certs);
  if (sk_X509_num(chain.get()) == 0) return fail(cert.string() + ": no PEM certificate in it");
  CertPtr signer(sk_X509_shift(chain.get()));
  auto key_text = read_text_file(key);
  if (!key_text) return fail(fmt::format("{}: {}", key.string(), key_text.error().message));
  BioPtr key_bio = memory_bio(*key_text);
  KeyPtr pkey(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!pkey) return fail(fmt::format("{}: not a PEM private key ({})", key.string(), openssl_reason()));
  if (X509_check_private_key(signer.get(), pkey.get()) != 1)
    return fail(fmt::format("{} is not the key of {}", key.string(), cert.string()));

  if (EVP_PKEY_get_id(pkey.get()) == EVP_PKEY_ED448) return fail("Ed448 keys are not supported; use Ed25519");
  ERR_clear_error();
  CmsPtr cms;
  if (!is_eddsa(pkey.get())) {
    BioPtr data = memory_bio(content);
    cms.reset(CMS_sign(signer.get(), pkey.get(), chain.get(), data.get(), CMS_DETACHED | CMS_BINARY));
    if (!cms) return fail(openssl_reason());
  } else {
    // RFC 8419 without signed attributes: the signature is pure EdDSA over the content, which
    // OpenSSL 3.0's CMS_final cannot compute; build the SignerInfo, then sign with EVP_DigestSign.
    cms.reset(CMS_sign(nullptr, nullptr, chain.get(), nullptr, CMS_PARTIAL | CMS_DETACHED | CMS_BINARY));
    CMS_SignerInfo* si = cms ? CMS_add1_signer(cms.get(), signer.get(), pkey.get(), EVP_sha512(),
                                               CMS_PARTIAL | CMS_NOATTR | CMS_BINARY)
                             : nullptr;
    if (!si) return fail(openssl_reason());
    X509_ALGOR* sig_alg = nullptr;
    CMS_SignerInfo_get0_algs(si, nullptr, nullptr, nullptr, &sig_alg);
    X509_ALGOR_set0(sig_alg, OBJ_nid2obj(EVP_PKEY_get_id(pkey.get())), V_ASN1_UNDEF, nullptr);
    MdCtxPtr md(EVP_MD_CTX_new());
    std::size_t sig_len = 0;
    auto* data = reinterpret_cast<const unsigned char*>(content.data());
    if (!md || EVP_DigestSignInit(md.get(), nullptr, nullptr, nullptr, pkey.get()) != 1 ||
        EVP_DigestSign(md.get(), nullptr, &sig_len, data, content.size()) != 1)
      return fail(openssl_reason());
    std::string sig(sig_len, '\0');
    if (EVP_DigestSign(md.get(), reinterpret_cast<unsigned char*>(sig.data()), &sig_len, data, content.size()) != 1)
      return fail(openssl_reason());
    ASN1_STRING_set(CMS_SignerInfo_get0_signature(si), sig.data(), static_cast<int>(sig_len));
    CMS_set_detached(cms.get(), 1);
  }
  BioPtr out(BIO_new(BIO_s_mem()));
  if (i2d_CMS_bio(out.get(), cms.get()) != 1) return fail("encode: " + openssl_reason());
  char* bytes = nullptr;
  long n = BIO_get_mem_data(out.get(), &bytes);
  return std::string(bytes, static_cast<std::size_t>(n));
}

}  // namespace ecuup
