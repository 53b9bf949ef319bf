#include "api/trust_gate.hpp"

#include <fmt/format.h>

#include "trust/policy.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"

namespace ecuup::api {

namespace fs = std::filesystem;

namespace {

TargetFacts facts_of(const EcuConfig& ecu, const EcuState& st, const std::string& version) {
  TargetFacts t;
  t.ecu = ecu.name;
  t.part = ecu.part.empty() ? ecu.name : ecu.part;
  t.version = version;
  t.hardware = ecu_hardware(ecu, st);
  t.installed_security_version = st.security_version;
  return t;
}

Error unsigned_target(const std::string& ecu, const std::string& version, const std::string& why) {
  // A keyring with CRLs checks revocation: a missing, expired or foreign CRL is the keyring's to mend.
  if (why.find("CRL") != std::string::npos)
    return make_error(Errc::verify, fmt::format("{} {}: refused by rule 'signature': {}; the keyring holds CRLs, so "
                                                "every CA of a signer's chain needs a current CRL in it: put the "
                                                "CA's latest CRL into the keyring (`openssl ca -gencrl`)",
                                                ecu, version, why));
  if (why.find("revoked") != std::string::npos)
    return make_error(Errc::verify, fmt::format("{} {}: refused by rule 'signature': {}; a CRL in the keyring "
                                                "revokes the signer's certificate: ask the publisher to sign the "
                                                "release again with a key that is not revoked",
                                                ecu, version, why));
  return make_error(Errc::verify, fmt::format("{} {}: refused by rule 'signature': {}; `trust:` in the config accepts "
                                              "only releases signed by its keyring (publish it with `ecuup-repo sign`, "
                                              "or ask the publisher for a signed statement)",
                                              ecu, version, why));
}

}  // namespace

std::string ecu_hardware(const EcuConfig& ecu, const EcuState& st) {
  if (!ecu.hardware.empty()) return ecu.hardware;
  if (!st.installed) return {};
  auto it = st.installed->extra.find("hardware");
  return it == st.installed->extra.end() ? std::string() : it->second;
}

void record_security_version(EcuState& st, const TaskState& task) {
  if (task.security_version) st.security_version = std::max(st.security_version.value_or(0), *task.security_version);
}

Result<TrustGate> TrustGate::open(const Config& config) {
  TrustGate gate;
  if (config.trust_keyring.empty()) return gate;
  auto keyring = Keyring::load(config.trust_keyring);
  if (!keyring) return std::move(keyring).error().context(config.file.string() + ": trust");
  gate.m_keyring = std::make_shared<const Keyring>(std::move(*keyring));
  return gate;
}

std::vector<std::string> TrustGate::renewal_notes() const {
  if (!enabled()) return {};
  return m_keyring->renewal_notes(std::chrono::system_clock::now());
}

Result<std::optional<ReleaseStatement>> TrustGate::admit(const EcuConfig& ecu, const EcuState& st,
                                                         const Task& task) const {
  if (!enabled()) return std::optional<ReleaseStatement>();
  if (task.statement.empty() || task.signature.empty())
    return unsigned_target(ecu.name, task.target_version,
                           task.statement.empty() ? "the release has no signed statement" : "the statement has no signature");
  std::vector<SignedArtifact> offered;
  for (const auto& a : task.artifacts) offered.push_back(SignedArtifact{a.name, a.sha256, a.size});
  ECUUP_ASSIGN(ReleaseStatement statement, verified(ecu, st, task.target_version, task.statement, task.signature,
                                                     std::move(offered)));
  return std::optional<ReleaseStatement>(std::move(statement));
}

Result<ReleaseStatement> TrustGate::verified(const EcuConfig& ecu, const EcuState& st, const std::string& version,
                                             const std::string& text, const std::string& signature,
                                             std::vector<SignedArtifact> offered) const {
  auto statement = verify_release_statement(*m_keyring, text, signature, std::chrono::system_clock::now());
  if (!statement) {
    const std::string& why = statement.error().message;
    if (why.find("rule '") != std::string::npos) return std::move(statement).error();
    return unsigned_target(ecu.name, version, why);
  }
  TargetFacts t = facts_of(ecu, st, version);
  t.offered = std::move(offered);
  ECUUP_TRY(check_target(*statement, t));
  return std::move(*statement);
}

Result<void> TrustGate::keep(Session& s, const EcuConfig& ecu, const Task& task, const ReleaseStatement& statement,
                             TaskState& recorded) {
  // Content-addressed, so a re-report of the same release changes nothing on disk.
  const std::string rel = fmt::format("statements/{}/{}{}", ecu.name, sha256_hex(task.statement), k_statement_suffix);
  const fs::path file = s.state_path(rel);
  ECUUP_TRY(ensure_directory(file.parent_path()));
  fs::path signature = file;
  signature += std::string(k_signature_suffix);
  ECUUP_TRY(write_file_atomic(file, task.statement));
  ECUUP_TRY(write_file_atomic(signature, task.signature));
  recorded.statement = rel;
  recorded.security_version = statement.security_version;
  // The signed sizes and hashes are what fetch holds the download to.
  for (auto& a : recorded.artifacts)
    for (const auto& signed_artifact : statement.artifacts)
      if (signed_artifact.name == a.name) {
        a.sha256 = signed_artifact.sha256;
        a.size = signed_artifact.size;
      }
  return success();
}

Result<std::optional<ReleaseStatement>> TrustGate::recheck(const Session& s, const EcuConfig& ecu,
                                                           const EcuState& st) const {
  if (!enabled() || !st.task) return std::optional<ReleaseStatement>();
  const TaskState& task = *st.task;
  if (task.statement.empty())
    return unsigned_target(ecu.name, task.target_version,
                           "the task was recorded without a signed statement (before `trust:` was configured?); run "
                           "`ecuup report` again");
  const fs::path file = s.state_path(task.statement);
  fs::path signature_file = file;
  signature_file += std::string(k_signature_suffix);
  auto text = read_text_file(file);
  auto signature = read_text_file(signature_file);
  if (!text || !signature)
    return unsigned_target(ecu.name, task.target_version,
                           fmt::format("its kept statement {} is missing; run `ecuup report` again", file.string()));
  std::vector<SignedArtifact> offered;
  for (const auto& a : task.artifacts) offered.push_back(SignedArtifact{a.name, a.sha256, a.size});
  ECUUP_ASSIGN(ReleaseStatement statement, verified(ecu, st, task.target_version, *text, *signature, std::move(offered)));
  // The one report admitted, or a swapped file: its security version is what the task recorded.
  if (!task.security_version || statement.security_version != *task.security_version)
    return make_error(Errc::verify, fmt::format("{} {}: the kept statement is not the one report admitted; run "
                                                "`ecuup report` again",
                                                ecu.name, task.target_version));
  return std::optional<ReleaseStatement>(std::move(statement));
}

Result<void> TrustGate::check_artifact(const Session& s, const ReleaseStatement& statement, const EcuState& st) {
  if (!st.task || !st.download || st.task->artifacts.empty())
    return make_error(Errc::verify, "nothing downloaded to check against the signed statement");
  const std::string& name = st.task->artifacts.front().name;
  auto it = std::find_if(statement.artifacts.begin(), statement.artifacts.end(),
                         [&](const SignedArtifact& a) { return a.name == name; });
  if (it == statement.artifacts.end())
    return make_error(Errc::verify, fmt::format("'{}' is not in the signed statement", name));
  const fs::path file = s.state_path(st.download->artifact);
  std::error_code ec;
  auto size = fs::file_size(file, ec);
  if (ec || size != it->size)
    return make_error(Errc::verify, fmt::format("'{}': {} bytes on disk, the statement signs {}; run `ecuup fetch` "
                                                "again",
                                                name, ec ? 0 : size, it->size));
  ECUUP_ASSIGN(std::string sha, sha256_file(file));
  if (sha != it->sha256)
    return make_error(Errc::verify, fmt::format("'{}': sha256 {} on disk, the statement signs {}; run `ecuup fetch` "
                                                "again",
                                                name, sha, it->sha256));
  return success();
}

}  // namespace ecuup::api
