#include "trust/policy.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace ecuup {

Result<void> check_target(const ReleaseStatement& st, const TargetFacts& t) {
  auto refuse = [&](const char* rule, const std::string& why) {
    return make_error(Errc::verify, fmt::format("{} {}: refused by rule '{}': {}", t.ecu, t.version, rule, why));
  };
  if (st.part != t.part)
    return refuse("part", fmt::format("the signed statement is for part '{}', not '{}' (a signature of another part "
                                      "does not carry over); publish a statement signed for '{}'",
                                      st.part, t.part, t.part));
  if (st.version != t.version)
    return refuse("version", fmt::format("the signed statement is for version '{}', the server offers '{}'; the "
                                         "server and the signed statement must agree",
                                         st.version, t.version));
  if (t.hardware.empty())
    return refuse("hardware", fmt::format("the hardware part number of {} is unknown, so it cannot be matched "
                                          "against the signed list ({}); run `ecuup inventory`, or set the ECU's "
                                          "`hardware:` in the config",
                                          t.ecu, fmt::join(st.hardware, ", ")));
  if (std::find(st.hardware.begin(), st.hardware.end(), t.hardware) == st.hardware.end())
    return refuse("hardware", fmt::format("it is signed for hardware {}, and {} is hardware '{}'; this software "
                                          "is not for this ECU",
                                          fmt::join(st.hardware, ", "), t.ecu, t.hardware));
  if (t.installed_security_version && st.security_version < *t.installed_security_version)
    return refuse("security version",
                  fmt::format("its security version {} is below {}, which {} already had; an older signed "
                              "release is a rollback, refused even with allow_downgrade; the publisher must sign "
                              "it again with security version {} or higher",
                              st.security_version, *t.installed_security_version, t.ecu,
                              *t.installed_security_version));
  for (const auto& offered : t.offered) {
    auto it = std::find_if(st.artifacts.begin(), st.artifacts.end(),
                           [&](const SignedArtifact& a) { return a.name == offered.name; });
    if (it == st.artifacts.end())
      return refuse("artifacts", fmt::format("the server offers '{}', which the signed statement does not list",
                                             offered.name));
    if (!offered.sha256.empty() && offered.sha256 != it->sha256)
      return refuse("artifacts", fmt::format("'{}': the server announces sha256 {}, the statement signs {}",
                                             offered.name, offered.sha256, it->sha256));
    if (offered.size != 0 && offered.size != it->size)
      return refuse("artifacts", fmt::format("'{}': the server announces {} bytes, the statement signs {}",
                                             offered.name, offered.size, it->size));
  }
  for (const auto& signed_artifact : st.artifacts) {
    bool offered = std::any_of(t.offered.begin(), t.offered.end(),
                               [&](const SignedArtifact& a) { return a.name == signed_artifact.name; });
    if (!offered)
      return refuse("artifacts", fmt::format("the signed statement lists '{}', which the server does not offer "
                                             "(a partial bundle)",
                                             signed_artifact.name));
  }
  return success();
}

}  // namespace ecuup
