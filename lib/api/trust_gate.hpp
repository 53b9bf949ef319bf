#pragma once
// What `trust:` asks of a target, at each step that could let it through: `report` admits a task
// only with a statement signed by a keyring anchor for that part, version, hardware and artifacts,
// not expired and not below the ECU's security version; `fetch` and `flash` check the kept
// statement again (it may have expired since, or been swapped on disk), and `flash` hashes the
// artifact against the signed sha256 and size before anything reads it.
#include <memory>
#include <optional>

#include "api/session.hpp"
#include "trust/keyring.hpp"

namespace ecuup::api {

class TrustGate {
 public:
  // No `trust:` in the config: a gate that admits everything (hashes are still checked elsewhere).
  static Result<TrustGate> open(const Config& config);
  bool enabled() const { return m_keyring != nullptr; }
  // Notes on the keyring's CRLs that ran out or soon will (Keyring::renewal_notes), for report and status.
  std::vector<std::string> renewal_notes() const;

  // report: verifies the task's statement for this ECU. Errc::verify naming the rule otherwise.
  Result<std::optional<ReleaseStatement>> admit(const EcuConfig& ecu, const EcuState& st, const Task& task) const;
  // Keeps an admitted statement and its signature under statements/ and records them in the task.
  static Result<void> keep(Session& s, const EcuConfig& ecu, const Task& task, const ReleaseStatement& statement,
                           TaskState& recorded);
  // fetch and flash: the kept statement, verified again against the recorded task.
  Result<std::optional<ReleaseStatement>> recheck(const Session& s, const EcuConfig& ecu, const EcuState& st) const;
  // flash: the downloaded artifact against the signed sha256 and size, read from disk now.
  static Result<void> check_artifact(const Session& s, const ReleaseStatement& statement, const EcuState& st);

 private:
  // Signature and expiry, then the policy (trust/policy.hpp) for this ECU and what is offered.
  Result<ReleaseStatement> verified(const EcuConfig& ecu, const EcuState& st, const std::string& version,
                                    const std::string& text, const std::string& signature,
                                    std::vector<SignedArtifact> offered) const;
  std::shared_ptr<const Keyring> m_keyring;
};

// The ECU's hardware part number: the config's `hardware:` or what inventory read (DID F191).
std::string ecu_hardware(const EcuConfig& ecu, const EcuState& st);
// After a successful flash: anti-rollback remembers the highest security version flashed.
void record_security_version(EcuState& st, const TaskState& task);

}  // namespace ecuup::api
