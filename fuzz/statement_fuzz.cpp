// libFuzzer target: a signed release statement's JSON (trust/statement.hpp), as a repository
// hands it over before its signature is checked. What parses keeps the promises of the header and
// survives being written out and read again unchanged.
#include <algorithm>
#include <string>

#include "fuzz_support.hpp"
#include "trust/statement.hpp"

using namespace ecuup;
using ecuup::fuzz::require;

namespace {

bool lower_hex(const std::string& s, std::size_t length) {
  return s.size() == length &&
         std::all_of(s.begin(), s.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool same(const ReleaseStatement& a, const ReleaseStatement& b) {
  if (a.part != b.part || a.version != b.version || a.hardware != b.hardware ||
      a.security_version != b.security_version || a.expires != b.expires || a.expires_unix != b.expires_unix ||
      a.artifacts.size() != b.artifacts.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.artifacts.size(); ++i) {
    const auto& x = a.artifacts[i];
    const auto& y = b.artifacts[i];
    if (x.name != y.name || x.sha256 != y.sha256 || x.size != y.size) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = fuzz::as_text(data, size);
  auto statement = parse_release_statement(text);
  if (size <= 64) {
    auto time = parse_utc_time(text);
    if (!time) require(time.error().code == Errc::verify || time.error().code == Errc::config);
  }
  if (!statement) {
    require(statement.error().code == Errc::verify);
    return 0;
  }
  require(!statement->hardware.empty() && !statement->artifacts.empty());
  for (const auto& artifact : statement->artifacts) require(lower_hex(artifact.sha256, 64));
  auto expires = parse_utc_time(statement->expires);
  require(expires.ok() && *expires == statement->expires_unix);

  const std::string written = release_statement_json(*statement);
  require(!written.empty() && written.back() == '\n');
  auto reread = parse_release_statement(written);
  require(reread.ok() && same(*reread, *statement));
  require(release_statement_json(*reread) == written);
  return 0;
}
