#pragma once
// The signed release statement: a small JSON document that binds a part, a version, the sha256
// and size of every artifact, the hardware it is for, an expiry and a security version. A CMS
// (PKCS#7) detached signature over its exact bytes travels beside it (`<name>.release.json` and
// `<name>.release.json.p7s`, in a dir repository and as DDI artifacts alike).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace ecuup {

inline constexpr std::string_view k_statement_suffix = ".release.json";
inline constexpr std::string_view k_signature_suffix = ".p7s";
// Statements and signatures are small; anything bigger is not one (a hostile server's endless data).
inline constexpr std::size_t k_statement_max_bytes = 64 * 1024;

struct SignedArtifact {
  std::string name;
  std::string sha256;  // lower-case hex, 64 characters
  std::uint64_t size = 0;
};

struct ReleaseStatement {
  std::string part;
  std::string version;
  std::vector<std::string> hardware;  // hardware part numbers it may be flashed into; never empty
  std::uint64_t security_version = 0; // anti-rollback counter: only rises
  std::string expires;                // RFC 3339 UTC, "2027-06-30T00:00:00Z"
  std::int64_t expires_unix = 0;
  std::vector<SignedArtifact> artifacts;  // never empty
};

// Strict: unknown keys, missing keys, wrong types, bad hashes, an empty hardware or artifact list
// and a version that fails valid_version() are all refused (Errc::verify).
Result<ReleaseStatement> parse_release_statement(std::string_view json);
// The document a signing tool writes: stable key order, one trailing newline.
std::string release_statement_json(const ReleaseStatement& statement);
// "2027-06-30T00:00:00Z" -> seconds since the epoch; only this exact UTC form is accepted.
Result<std::int64_t> parse_utc_time(std::string_view text);

}  // namespace ecuup
