#pragma once
// Publishing to a `dir` repository (ecuup-repo): put an artifact beside releases.yaml, write its
// entry, sign its release statement, and check what a repository offers before vehicles see it.
//   releases.yaml                 releases: { <part>: { version, artifact, sha256, size, statement } }
//   <artifact>                    the file an entry names
//   <part>-<version>.release.json the signed statement (trust/statement.hpp), when signed
//   <...>.release.json.p7s        its detached CMS signature (DER)
//   .releases.yaml.lock           held while releases.yaml is rewritten, so publishers queue
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "trust/keyring.hpp"
#include "trust/statement.hpp"
#include "util/result.hpp"

namespace ecuup {

inline constexpr std::string_view k_releases_file = "releases.yaml";
inline constexpr std::string_view k_releases_lock = ".releases.yaml.lock";
// How long a publisher waits for another one to finish before it gives up (Errc::locked).
inline constexpr std::chrono::seconds k_publish_lock_wait{60};
inline constexpr std::uint32_t k_default_valid_days = 365;

// One release as releases.yaml lists it.
struct ReleaseEntry {
  std::string part;
  std::string version;
  std::string artifact;                // path inside the repository, as written
  std::string url;                     // optional mirror of the artifact (http/https); kept by `sign`
  std::string sha256;
  std::optional<std::uint64_t> size;   // absent: the reader takes the file's size
  std::string statement;               // file name beside releases.yaml; empty: unsigned
  bool operator==(const ReleaseEntry&) const = default;
};

// What a statement says beyond the artifact, and who signs it.
struct SigningRequest {
  std::filesystem::path cert;  // the signer's PEM certificate (its chain may follow in the file)
  std::filesystem::path key;   // its PEM private key
  std::vector<std::string> hardware;               // `sign`: empty = the current statement's
  std::optional<std::uint64_t> security_version;   // default 0 (`sign`: the current statement's)
  std::optional<std::string> expires;              // "YYYY-MM-DDTHH:MM:SSZ"
  std::optional<std::uint32_t> valid_days;         // instead of `expires`; default 365
};

struct AddRequest {
  std::filesystem::path repo;
  std::string part;
  std::string version;
  std::filesystem::path file;
  std::optional<SigningRequest> signing;
};

struct SignRequest {
  std::filesystem::path repo;
  std::string part;
  SigningRequest signing;
};

struct Published {
  ReleaseEntry entry;
  bool copied = false;                       // false: the repository already had this very file
  std::optional<ReleaseStatement> statement; // the statement written, when signed
};

// `ecuup-repo add`: copies `file` into the repository (an existing file of the same name must be
// the same bytes), writes the part's entry (other entries and comments stay as they are) and,
// with `signing`, the signed statement. A version once published keeps its artifact: publishing
// the same part and version with other bytes is refused (Errc::config).
Result<Published> add_release(const AddRequest& request, std::chrono::system_clock::time_point now);
// `ecuup-repo sign`: (re)writes and signs the statement of the part's current release, after
// checking the artifact still has the sha256 and size releases.yaml gives (Errc::verify if not).
Result<Published> sign_release(const SignRequest& request, std::chrono::system_clock::time_point now);

// `ecuup-repo verify`: every problem found with one release (empty: good).
struct ReleaseCheck {
  ReleaseEntry entry;
  std::optional<ReleaseStatement> statement;  // when it verified
  std::vector<std::string> problems;
  bool ok() const { return problems.empty(); }
};
// Checks each release (or only `part`): the artifact against sha256 and size, the statement's
// signature against `keyring` at `now`, its expiry, and that it names this part, version and
// artifact with the same sha256 and size. Problems are findings, not errors: the Result fails only
// when releases.yaml cannot be read (Errc::config) or has no release of `part` (Errc::usage).
Result<std::vector<ReleaseCheck>> verify_releases(const std::filesystem::path& repo, const Keyring& keyring,
                                                  const std::optional<std::string>& part,
                                                  std::chrono::system_clock::time_point now);

// `ecuup-repo list`: the entries, with what their statements say (read, not verified).
struct ListedRelease {
  ReleaseEntry entry;
  std::optional<ReleaseStatement> statement;
  std::string statement_problem;  // the statement is named but missing or unreadable
};
Result<std::vector<ListedRelease>> list_releases(const std::filesystem::path& repo);

// Output of the subcommands: human text, or JSON (documented in ecuup-repo(1)).
std::string describe_published(const Published& published);
std::string format_release_table(const std::vector<ListedRelease>& releases);
std::string releases_json(const std::filesystem::path& repo, const std::vector<ListedRelease>& releases);
std::string format_verify_report(const std::vector<ReleaseCheck>& checks);
std::string verify_json(const std::filesystem::path& repo, const std::vector<ReleaseCheck>& checks);
// Errc::verify naming how many releases failed, or success when all passed.
Result<void> verify_outcome(const std::vector<ReleaseCheck>& checks);

// The pieces, for tests. releases.yaml's entries in their order, with their values as written,
// checked as the dir repository reads them (Errc::config with file:line:col); empty text and a
// bare `releases:` are a repository without releases (the reader wants `releases: {}`).
Result<std::vector<ReleaseEntry>> parse_release_entries(std::string_view text, const std::filesystem::path& file);
// `text` with `entry` in place of the part's entry (or added after the others): the other
// entries, comments and blank lines are kept byte for byte where the layout allows (block
// style); otherwise the file is written anew from its entries. What it returns, the dir
// repository's own reader (parse_releases, dir_repository.hpp) has read without complaint.
Result<std::string> set_release_entry(std::string_view text, const std::filesystem::path& file,
                                      const ReleaseEntry& entry);
// "<part>-<version>.release.json", with characters unsafe in a file name replaced by '_'.
std::string statement_file_name(std::string_view part, std::string_view version);

}  // namespace ecuup
