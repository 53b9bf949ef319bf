#pragma once
// Whether a verified statement allows this target on this ECU: part, version, hardware,
// anti-rollback and the artifacts offered. Pure logic; each refusal names its rule and what a
// person can do about it.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "trust/statement.hpp"
#include "util/result.hpp"

namespace ecuup {

struct TargetFacts {
  std::string ecu;
  std::string part;
  std::string version;
  std::string hardware;  // as read from the ECU (inventory); empty: unknown
  std::optional<std::uint64_t> installed_security_version;  // the highest one flashed into this ECU
  std::vector<SignedArtifact> offered;  // what the server offers (name, sha256, size as announced)
};

Result<void> check_target(const ReleaseStatement& statement, const TargetFacts& target);

}  // namespace ecuup
