#include "repository/publish.hpp"

#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "config/config.hpp"
#include "repository/dir_repository.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"
#include "util/lock.hpp"
#include "util/time.hpp"
#include "util/version.hpp"

namespace ecuup {

namespace fs = std::filesystem;
using Clock = std::chrono::system_clock;

namespace {

constexpr std::size_t k_name_max = 255;  // as a statement allows for part, hardware and artifact names

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool is_hex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

// What a statement accepts for a name: 1..255 printable ASCII characters, no blank at either end.
Result<void> check_name(std::string_view what, std::string_view name) {
  if (name.empty() || name.size() > k_name_max)
    return make_error(Errc::usage, fmt::format("{} must have 1 to {} characters", what, k_name_max));
  for (unsigned char c : name)
    if (c < 0x20 || c > 0x7e) return make_error(Errc::usage, fmt::format("{} '{}' has a non-printable or non-ASCII character", what, name));
  if (name.front() == ' ' || name.back() == ' ')
    return make_error(Errc::usage, fmt::format("{} '{}' begins or ends with a blank", what, name));
  return success();
}

// An artifact lands beside releases.yaml under its own name; it must not be one of the
// repository's own files, nor something the reader refuses ("..").
Result<void> check_artifact_name(const std::string& name) {
  ECUUP_TRY(check_name("the artifact's file name", name));
  if (name.starts_with(".") || name.find("..") != std::string::npos || name == k_releases_file ||
      name.ends_with(k_statement_suffix) || name.ends_with(k_signature_suffix))
    return make_error(Errc::usage, fmt::format("'{}' cannot be an artifact's name in a repository (a hidden file, '..', "
                                               "releases.yaml, *{} and *{} are not); rename the file",
                                               name, k_statement_suffix, k_signature_suffix));
  return success();
}

Result<void> check_repository_dir(const fs::path& repo) {
  std::error_code ec;
  if (!fs::is_directory(repo, ec))
    return make_error(Errc::config, fmt::format("repository directory {} does not exist", repo.string()));
  return success();
}

// releases.yaml's text; a repository without one is a repository without releases.
Result<std::string> read_releases_text(const fs::path& repo) {
  auto text = read_text_file(repo / k_releases_file);
  if (!text && text.error().code == Errc::not_found) return std::string();
  return text;
}

// Reading as a publisher must: the file has to exist.
Result<std::vector<ReleaseEntry>> load_entries(const fs::path& repo) {
  ECUUP_TRY(check_repository_dir(repo));
  fs::path file = repo / k_releases_file;
  auto text = read_text_file(file);
  if (!text) {
    if (text.error().code == Errc::not_found)
      return make_error(Errc::config, fmt::format("{} has no {}: not a dir repository (ecuup-repo add makes one)",
                                                  repo.string(), k_releases_file));
    return std::move(text).error();
  }
  // The vehicles' reader has the last word on what the file means.
  ECUUP_TRY(parse_releases(*text, file, repo));
  return parse_release_entries(*text, file);
}

const ReleaseEntry* find_entry(const std::vector<ReleaseEntry>& entries, std::string_view part) {
  for (const auto& e : entries)
    if (e.part == part) return &e;
  return nullptr;
}

// --- writing YAML ---------------------------------------------------------------------------

// A scalar the reader gets back verbatim: plain when that is unambiguous, else double-quoted.
std::string yaml_scalar(std::string_view s) {
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  bool plain = !s.empty() && word(s.front()) && std::all_of(s.begin(), s.end(), [&](char c) {
    return word(c) || c == '.' || c == '/' || c == '+' || c == '-';
  });
  bool null_like = s == "null" || s == "Null" || s == "NULL";
  if (plain && !null_like) return std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::vector<std::string> render_entry(const ReleaseEntry& e, std::size_t indent) {
  std::string key(indent, ' ');
  std::string field(indent + 2, ' ');
  std::vector<std::string> lines{key + yaml_scalar(e.part) + ":",
                                 field + "version: " + yaml_scalar(e.version),
                                 field + "artifact: " + yaml_scalar(e.artifact)};
  if (!e.url.empty()) lines.push_back(field + "url: " + yaml_scalar(e.url));
  lines.push_back(field + "sha256: " + yaml_scalar(e.sha256));
  if (e.size) lines.push_back(field + "size: " + std::to_string(*e.size));
  if (!e.statement.empty()) lines.push_back(field + "statement: " + yaml_scalar(e.statement));
  return lines;
}

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> lines;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t nl = text.find('\n', at);
    if (nl == std::string_view::npos) nl = text.size();
    lines.emplace_back(text.substr(at, nl - at));
    at = nl + 1;
  }
  return lines;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

bool blank_or_comment(const std::string& line) {
  auto first = line.find_first_not_of(" \t\r");
  return first == std::string::npos || line[first] == '#';
}

// The lines of the block-mapping entry whose key sits at (line, column): up to the next line as
// little indented, without the blank and comment lines before it (they belong to what follows).
std::size_t entry_end(const std::vector<std::string>& lines, std::size_t line, std::size_t column) {
  std::size_t i = line + 1;
  for (; i < lines.size(); ++i) {
    if (blank_or_comment(lines[i])) continue;
    if (lines[i].find_first_not_of(' ') <= column) break;
  }
  while (i > line + 1 && blank_or_comment(lines[i - 1])) --i;
  return i;
}

// "releases:", "releases: ~", "releases: {}", each perhaps with a comment.
bool empty_releases_line(std::string_view line) {
  constexpr std::string_view k_key = "releases:";
  if (!line.starts_with(k_key)) return false;
  std::string rest(line.substr(k_key.size()));
  if (auto hash = rest.find(" #"); hash != std::string::npos) rest.resize(hash);
  if (auto hash = rest.find("\t#"); hash != std::string::npos) rest.resize(hash);
  std::erase_if(rest, [](char c) { return c == ' ' || c == '\t' || c == '\r'; });
  return rest.empty() || rest == "~" || rest == "null" || rest == "{}";
}

// Edits the lines of the part's entry only; nullopt when the layout is not one this can edit
// safely (flow style, odd indentation): the caller then writes the file anew.
std::optional<std::string> edit_in_place(std::string_view text, const ReleaseEntry& entry) {
  std::vector<std::string> lines = split_lines(text);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception&) {
    return std::nullopt;
  }
  auto insert = [&](std::size_t at, std::size_t indent) {
    auto added = render_entry(entry, indent);
    lines.insert(lines.begin() + static_cast<std::ptrdiff_t>(at), added.begin(), added.end());
    return join_lines(lines);
  };
  if (!root || root.IsNull()) {  // empty, or comments only
    lines.push_back("releases:");
    return insert(lines.size(), 2);
  }
  if (!root.IsMap() || root.Style() == YAML::EmitterStyle::Flow) return std::nullopt;
  YAML::Node key_node, rels;
  for (const auto& kv : root) {
    if (kv.first.IsScalar() && kv.first.Scalar() == "releases") {
      key_node = kv.first;
      rels = kv.second;
    }
  }
  if (!key_node) {
    lines.push_back("releases:");
    return insert(lines.size(), 2);
  }
  auto key_line = static_cast<std::size_t>(key_node.Mark().line);
  if (key_line >= lines.size() || key_node.Mark().column != 0) return std::nullopt;
  if (rels.IsNull() || (rels.IsMap() && rels.size() == 0)) {
    // "releases:", "releases: ~" or "releases: {}": becomes "releases:" and the entry.
    if (!empty_releases_line(lines[key_line])) return std::nullopt;
    lines[key_line] = "releases:";
    return insert(key_line + 1, 2);
  }
  if (!rels.IsMap() || rels.Style() == YAML::EmitterStyle::Flow) return std::nullopt;
  std::optional<std::size_t> indent;
  std::size_t last_line = 0;
  for (const auto& kv : rels) {
    auto line = static_cast<std::size_t>(kv.first.Mark().line);
    auto column = static_cast<std::size_t>(kv.first.Mark().column);
    if (line >= lines.size() || line <= key_line || column == 0) return std::nullopt;
    if (!indent) indent = column;
    if (kv.first.Scalar() == entry.part) {
      std::size_t end = entry_end(lines, line, column);
      lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(line), lines.begin() + static_cast<std::ptrdiff_t>(end));
      return insert(line, column);
    }
    last_line = std::max(last_line, line);
  }
  return insert(entry_end(lines, last_line, *indent), *indent);
}

// The file written anew: its leading comments, its other top-level keys, then the releases.
std::string render_anew(std::string_view text, const std::vector<ReleaseEntry>& entries) {
  std::vector<std::string> out;
  for (const auto& line : split_lines(text)) {
    if (!blank_or_comment(line)) break;
    out.push_back(line);
  }
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception&) {
  }
  if (root && root.IsMap()) {
    for (const auto& kv : root) {
      if (kv.first.IsScalar() && kv.first.Scalar() == "releases") continue;
      YAML::Emitter emit;
      emit << YAML::BeginMap << YAML::Key << kv.first << YAML::Value << kv.second << YAML::EndMap;
      for (auto& line : split_lines(emit.c_str())) out.push_back(std::move(line));
    }
  }
  if (entries.empty()) {
    out.push_back("releases: {}");
  } else {
    out.push_back("releases:");
    for (const auto& e : entries)
      for (auto& line : render_entry(e, 2)) out.push_back(std::move(line));
  }
  return join_lines(out);
}

// --- files ----------------------------------------------------------------------------------

// A temporary file in the repository that is removed unless it was committed.
class TempFile {
 public:
  explicit TempFile(fs::path path) : m_path(std::move(path)) {}
  ~TempFile() {
    std::error_code ec;
    if (!m_path.empty()) fs::remove(m_path, ec);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const fs::path& path() const { return m_path; }
  void release() { m_path.clear(); }

 private:
  fs::path m_path;
};

struct FileFacts {
  std::string sha256;
  std::uint64_t size = 0;
};

Result<FileFacts> file_facts(const fs::path& file) {
  std::error_code ec;
  auto size = fs::file_size(file, ec);
  if (ec) return make_error(Errc::io, fmt::format("{}: {}", file.string(), ec.message()));
  ECUUP_ASSIGN(std::string sha, sha256_file(file));
  return FileFacts{std::move(sha), size};
}

// A statement or signature is small; read at most what one may have.
Result<std::string> read_small(const fs::path& file) {
  std::error_code ec;
  auto size = fs::file_size(file, ec);
  if (ec) return make_error(Errc::not_found, fmt::format("{} is missing", file.filename().string()));
  if (size > k_statement_max_bytes)
    return make_error(Errc::verify, fmt::format("{}: {} bytes, more than a statement may have", file.filename().string(), size));
  return read_text_file(file);
}

Result<FileLock> lock_repository(const fs::path& repo) {
  auto lock = FileLock::acquire(repo / k_releases_lock, std::chrono::milliseconds(k_publish_lock_wait));
  if (!lock && lock.error().code == Errc::locked)
    return make_error(Errc::locked, fmt::format("{} is being changed by another ecuup-repo and was not released within {} s "
                                                "(lock {})",
                                                (repo / k_releases_file).string(), k_publish_lock_wait.count(),
                                                (repo / k_releases_lock).string()));
  return lock;
}

// The validated signing settings: hardware list and expiry text.
struct SigningTerms {
  std::vector<std::string> hardware;
  std::uint64_t security_version = 0;
  std::string expires;
  std::int64_t expires_unix = 0;
};

Result<SigningTerms> signing_terms(const SigningRequest& s, const ReleaseStatement* current, Clock::time_point now) {
  SigningTerms t;
  if (s.expires && s.valid_days) return make_error(Errc::usage, "give --expires or --valid-days, not both");
  if (s.expires) {
    auto when = parse_utc_time(*s.expires);
    if (!when) return make_error(Errc::usage, "--expires: " + when.error().message);
    t.expires = *s.expires;
    t.expires_unix = *when;
  } else {
    std::uint32_t days = s.valid_days.value_or(k_default_valid_days);
    if (days == 0 || days > 100 * 366) return make_error(Errc::usage, "--valid-days must be 1 to 36600");
    auto until = std::chrono::time_point_cast<std::chrono::seconds>(now) + std::chrono::hours(24) * days;
    t.expires = to_iso8601(until);
    t.expires_unix = std::chrono::duration_cast<std::chrono::seconds>(until.time_since_epoch()).count();
  }
  if (t.expires_unix <= std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count())
    return make_error(Errc::usage, fmt::format("--expires {} is not in the future", t.expires));
  for (const auto& h : s.hardware) {
    ECUUP_TRY(check_name("--hardware", h));
    if (std::find(t.hardware.begin(), t.hardware.end(), h) == t.hardware.end()) t.hardware.push_back(h);
  }
  if (t.hardware.empty() && current) t.hardware = current->hardware;
  if (t.hardware.empty())
    return make_error(Errc::usage, "a signed statement names the hardware it is for: give --hardware (repeatable) with "
                                   "the hardware part numbers the ECUs report (UDS DID 0xF191)");
  t.security_version = s.security_version.value_or(current ? current->security_version : 0);
  return t;
}

struct SignedStatement {
  ReleaseStatement statement;
  std::string document;
  std::string signature;
};

Result<SignedStatement> make_signed_statement(const ReleaseEntry& entry, const FileFacts& facts, const SigningTerms& t,
                                              const SigningRequest& s) {
  SignedStatement out;
  ReleaseStatement& st = out.statement;
  st.part = entry.part;
  st.version = entry.version;
  st.hardware = t.hardware;
  st.security_version = t.security_version;
  st.expires = t.expires;
  st.expires_unix = t.expires_unix;
  st.artifacts.push_back(SignedArtifact{fs::path(entry.artifact).filename().string(), lower(facts.sha256), facts.size});
  out.document = release_statement_json(st);
  // What a reader will check: the document must parse back as it was meant.
  ECUUP_TRY(parse_release_statement(out.document).with_context("statement of " + entry.part));
  ECUUP_ASSIGN(out.signature, sign_detached(out.document, s.cert, s.key));
  return out;
}

// A statement file that another part or version already uses is not overwritten.
Result<void> check_statement_slot(const fs::path& repo, const std::string& name, const ReleaseEntry& entry) {
  auto existing = read_small(repo / name);
  if (!existing) return success();
  auto st = parse_release_statement(*existing);
  if (st && (st->part != entry.part || st->version != entry.version))
    return make_error(Errc::config, fmt::format("{} already holds the statement of {} {}; not overwritten", name,
                                                st->part, st->version));
  return success();
}

Result<void> write_statement(const fs::path& repo, const std::string& name, const SignedStatement& signed_st) {
  // The signature first: a reader between the two renames sees the old statement with a new
  // signature, which fails like a torn download and is retried, never a new statement unsigned.
  ECUUP_TRY(write_file_atomic(repo / (name + std::string(k_signature_suffix)), signed_st.signature));
  return write_file_atomic(repo / name, signed_st.document);
}

Result<void> write_entry(const fs::path& repo, const std::string& text, const ReleaseEntry& entry) {
  fs::path file = repo / k_releases_file;
  ECUUP_ASSIGN(std::string updated, set_release_entry(text, file, entry));
  if (updated == text) return success();
  return write_file_atomic(file, updated);
}

std::string join(const std::vector<std::string>& items, const char* sep) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
  return out;
}

}  // namespace

// --- reading releases.yaml --------------------------------------------------------------------

Result<std::vector<ReleaseEntry>> parse_release_entries(std::string_view text, const fs::path& file) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    return config_error_at(file, e.mark, e.msg);
  }
  std::vector<ReleaseEntry> out;
  if (!root || root.IsNull()) return out;
  const YAML::Node& const_root = root;
  YAML::Node rels = const_root.IsMap() ? const_root["releases"] : YAML::Node();
  if (!rels) return config_error_at(file, root, "expected 'releases:' mapping part names to releases");
  if (rels.IsNull()) return out;
  if (!rels.IsMap()) return config_error_at(file, rels, "expected 'releases:' mapping part names to releases");
  for (const auto& kv : rels) {
    const YAML::Node& r = kv.second;
    if (!kv.first.IsScalar()) return config_error_at(file, kv.first, "a part name must be a string");
    ReleaseEntry e;
    e.part = kv.first.Scalar();
    if (find_entry(out, e.part)) return config_error_at(file, kv.first, fmt::format("part '{}' is listed twice", e.part));
    if (!r.IsMap()) return config_error_at(file, kv.first, fmt::format("the release of '{}' must be a mapping", e.part));
    ECUUP_TRY(yaml_known_keys(file, r, {"version", "artifact", "url", "sha256", "size", "statement"}));
    ECUUP_ASSIGN(e.version, yaml_string(file, r, "version"));
    if (auto ok = check_version_text(e.version); !ok)
      return config_error_at(file, r["version"], "refused version: " + ok.error().message);
    ECUUP_ASSIGN(e.artifact, yaml_string(file, r, "artifact"));
    if (e.artifact.empty() || fs::path(e.artifact).is_absolute() || e.artifact.find("..") != std::string::npos)
      return config_error_at(file, r["artifact"], "'artifact' must be a path inside the repository");
    std::string none;
    ECUUP_ASSIGN(e.url, yaml_string(file, r, "url", &none));
    ECUUP_ASSIGN(e.sha256, yaml_string(file, r, "sha256"));
    if (!is_hex64(e.sha256)) return config_error_at(file, r["sha256"], "'sha256' must be 64 hex digits");
    ECUUP_ASSIGN(long long size, yaml_int(file, r, "size", -1, -1, 1LL << 50));
    if (size >= 0) e.size = static_cast<std::uint64_t>(size);
    ECUUP_ASSIGN(e.statement, yaml_string(file, r, "statement", &none));
    if (!e.statement.empty() && (fs::path(e.statement).is_absolute() || e.statement.find("..") != std::string::npos ||
                                 !e.statement.ends_with(k_statement_suffix)))
      return config_error_at(file, r["statement"],
                             fmt::format("'statement' must be a file in the repository named *{}", k_statement_suffix));
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::string> set_release_entry(std::string_view text, const fs::path& file, const ReleaseEntry& entry) {
  ECUUP_ASSIGN(std::vector<ReleaseEntry> entries, parse_release_entries(text, file));
  std::vector<ReleaseEntry> wanted = entries;
  auto it = std::find_if(wanted.begin(), wanted.end(), [&](const ReleaseEntry& e) { return e.part == entry.part; });
  if (it != wanted.end()) {
    *it = entry;
  } else {
    wanted.push_back(entry);
  }
  // Whatever the edit gave must read back as exactly the wanted entries, or the file is written anew.
  std::optional<std::string> out = edit_in_place(text, entry);
  if (out) {
    auto back = parse_release_entries(*out, file);
    if (!back || *back != wanted) out.reset();
  }
  if (!out) {
    out = render_anew(text, wanted);
    auto back = parse_release_entries(*out, file);
    if (!back || *back != wanted)
      return make_error(Errc::internal, fmt::format("{}: could not write the release of '{}' so that it reads back",
                                                    file.string(), entry.part));
  }
  // Never write what a vehicle would refuse to read (a non-http `url:` kept from another entry, say).
  ECUUP_TRY(parse_releases(*out, file, file.parent_path()));
  return std::move(*out);
}

std::string statement_file_name(std::string_view part, std::string_view version) {
  std::string name = std::string(part) + "-" + std::string(version);
  for (char& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '+' && c != '-') c = '_';
  // The reader refuses '..' anywhere in a path, and a leading '.' would hide the file.
  for (std::size_t at; (at = name.find("..")) != std::string::npos;) name[at] = '_';
  if (name.front() == '.') name.front() = '_';
  return name + std::string(k_statement_suffix);
}

// --- add and sign -----------------------------------------------------------------------------

Result<Published> add_release(const AddRequest& req, Clock::time_point now) {
  ECUUP_TRY(check_repository_dir(req.repo));
  ECUUP_TRY(check_name("--part", req.part));
  if (auto ok = check_version_text(req.version); !ok) return make_error(Errc::usage, "--version: " + ok.error().message);
  std::error_code ec;
  if (!fs::is_regular_file(req.file, ec))
    return make_error(Errc::config, fmt::format("{} is not a file", req.file.string()));
  const std::string name = req.file.filename().string();
  ECUUP_TRY(check_artifact_name(name));
  std::optional<SigningTerms> terms;
  if (req.signing) {
    ECUUP_ASSIGN(terms, signing_terms(*req.signing, nullptr, now));
  }

  // The copy is what gets hashed: what the repository holds is exactly what releases.yaml says.
  TempFile copy(req.repo / fmt::format(".{}.incoming.{}", name, ::getpid()));
  fs::copy_file(req.file, copy.path(), fs::copy_options::overwrite_existing, ec);
  if (ec) return make_error(Errc::io, fmt::format("cannot copy {} into {}: {}", req.file.string(), req.repo.string(), ec.message()));
  ECUUP_ASSIGN(FileFacts facts, file_facts(copy.path()));

  Published out;
  out.entry = ReleaseEntry{req.part, req.version, name, "", facts.sha256, facts.size, ""};
  std::optional<SignedStatement> signed_st;
  if (terms) {
    out.entry.statement = statement_file_name(req.part, req.version);
    ECUUP_ASSIGN(signed_st, make_signed_statement(out.entry, facts, *terms, *req.signing));
  }

  ECUUP_ASSIGN(FileLock lock, lock_repository(req.repo));
  ECUUP_ASSIGN(std::string text, read_releases_text(req.repo));
  fs::path releases = req.repo / k_releases_file;
  ECUUP_ASSIGN(std::vector<ReleaseEntry> entries, parse_release_entries(text, releases));
  if (const ReleaseEntry* current = find_entry(entries, req.part);
      current && current->version == req.version && lower(current->sha256) != facts.sha256)
    return make_error(Errc::config, fmt::format("{} {} is already published with other bytes (sha256 {}); a version keeps "
                                                "its artifact: publish the new build as a new version",
                                                req.part, req.version, current->sha256));
  fs::path target = req.repo / name;
  if (fs::exists(fs::symlink_status(target, ec))) {
    if (!fs::is_regular_file(fs::symlink_status(target, ec)))
      return make_error(Errc::config, fmt::format("{} exists and is not a regular file", target.string()));
    ECUUP_ASSIGN(FileFacts there, file_facts(target));
    if (there.sha256 != facts.sha256 || there.size != facts.size)
      return make_error(Errc::config, fmt::format("the repository already has a different {} (sha256 {}); it is not "
                                                  "overwritten: give the file another name, e.g. with its version",
                                                  name, there.sha256));
  } else {
    ECUUP_TRY(commit_file_atomic(copy.path(), target));
    copy.release();
    out.copied = true;
  }
  if (signed_st) {
    ECUUP_TRY(check_statement_slot(req.repo, out.entry.statement, out.entry));
    ECUUP_TRY(write_statement(req.repo, out.entry.statement, *signed_st));
    out.statement = signed_st->statement;
  }
  ECUUP_TRY(write_entry(req.repo, text, out.entry));
  return out;
}

Result<Published> sign_release(const SignRequest& req, Clock::time_point now) {
  ECUUP_TRY(check_repository_dir(req.repo));
  ECUUP_TRY(check_name("--part", req.part));
  ECUUP_ASSIGN(FileLock lock, lock_repository(req.repo));
  fs::path releases = req.repo / k_releases_file;
  auto text = read_text_file(releases);
  if (!text) {
    if (text.error().code == Errc::not_found)
      return make_error(Errc::config, fmt::format("{} has no {}: not a dir repository (ecuup-repo add makes one)",
                                                  req.repo.string(), k_releases_file));
    return std::move(text).error();
  }
  ECUUP_ASSIGN(std::vector<ReleaseEntry> entries, parse_release_entries(*text, releases));
  const ReleaseEntry* current = find_entry(entries, req.part);
  if (!current)
    return make_error(Errc::usage, fmt::format("{} has no release of part '{}' (ecuup-repo add publishes one)",
                                               releases.string(), req.part));
  Published out;
  out.entry = *current;
  const std::string artifact_name = fs::path(current->artifact).filename().string();
  ECUUP_TRY(check_name("the artifact's file name", artifact_name));

  // Sign only what is there: the artifact must still be what releases.yaml says.
  auto facts = file_facts(req.repo / current->artifact);
  if (!facts)
    return make_error(Errc::verify, fmt::format("{} {}: artifact {} cannot be read: {}", req.part, current->version,
                                                current->artifact, facts.error().message));
  if (lower(current->sha256) != facts->sha256 || (current->size && *current->size != facts->size))
    return make_error(Errc::verify, fmt::format("{} {}: artifact {} (sha256 {}, {} bytes) is not what {} says; not signed",
                                                req.part, current->version, current->artifact, facts->sha256,
                                                facts->size, k_releases_file));

  // Re-signing keeps what the current statement says unless told otherwise.
  std::optional<ReleaseStatement> previous;
  if (!current->statement.empty()) {
    if (auto doc = read_small(req.repo / current->statement)) {
      auto st = parse_release_statement(*doc);
      if (st && st->part == current->part && st->version == current->version) previous = std::move(*st);
    }
  }
  ECUUP_ASSIGN(SigningTerms terms, signing_terms(req.signing, previous ? &*previous : nullptr, now));
  out.entry.sha256 = facts->sha256;
  out.entry.size = facts->size;
  if (out.entry.statement.empty()) out.entry.statement = statement_file_name(current->part, current->version);
  ECUUP_ASSIGN(SignedStatement signed_st, make_signed_statement(out.entry, *facts, terms, req.signing));
  ECUUP_TRY(check_statement_slot(req.repo, out.entry.statement, out.entry));
  ECUUP_TRY(write_statement(req.repo, out.entry.statement, signed_st));
  out.statement = signed_st.statement;
  ECUUP_TRY(write_entry(req.repo, *text, out.entry));
  return out;
}

// --- verify and list --------------------------------------------------------------------------

Result<std::vector<ReleaseCheck>> verify_releases(const fs::path& repo, const Keyring& keyring,
                                                  const std::optional<std::string>& part, Clock::time_point now) {
  ECUUP_ASSIGN(std::vector<ReleaseEntry> entries, load_entries(repo));
  if (part && !find_entry(entries, *part))
    return make_error(Errc::usage, fmt::format("{} has no release of part '{}'", (repo / k_releases_file).string(), *part));
  std::vector<ReleaseCheck> out;
  for (const auto& entry : entries) {
    if (part && entry.part != *part) continue;
    ReleaseCheck c;
    c.entry = entry;
    auto problem = [&](std::string text) { c.problems.push_back(std::move(text)); };
    const std::string artifact_name = fs::path(entry.artifact).filename().string();
    std::optional<std::uint64_t> size = entry.size;

    auto facts = file_facts(repo / entry.artifact);
    if (!facts) {
      problem(fmt::format("artifact {} is missing or unreadable: {}", entry.artifact, facts.error().message));
    } else {
      if (entry.size && *entry.size != facts->size)
        problem(fmt::format("artifact {} has {} bytes; {} says {}", entry.artifact, facts->size, k_releases_file, *entry.size));
      if (lower(entry.sha256) != facts->sha256)
        problem(fmt::format("artifact {} has sha256 {}; {} says {}", entry.artifact, facts->sha256, k_releases_file,
                            lower(entry.sha256)));
      if (!size) size = facts->size;
    }

    if (entry.statement.empty()) {
      problem("not signed: releases.yaml names no statement (ecuup-repo sign writes one)");
      out.push_back(std::move(c));
      continue;
    }
    auto doc = read_small(repo / entry.statement);
    auto sig = read_small(repo / (entry.statement + std::string(k_signature_suffix)));
    if (!doc) problem(fmt::format("statement {}: {}", entry.statement, doc.error().message));
    if (!sig) problem(fmt::format("signature {}{}: {}", entry.statement, k_signature_suffix, sig.error().message));
    if (!doc || !sig) {
      out.push_back(std::move(c));
      continue;
    }
    auto st = verify_release_statement(keyring, *doc, *sig, now);
    if (!st) {
      problem(fmt::format("statement {}: {}", entry.statement, st.error().message));
      out.push_back(std::move(c));
      continue;
    }
    if (st->part != entry.part) problem(fmt::format("the statement is for part '{}', not '{}'", st->part, entry.part));
    if (st->version != entry.version)
      problem(fmt::format("the statement is for version {}, releases.yaml says {}", st->version, entry.version));
    auto art = std::find_if(st->artifacts.begin(), st->artifacts.end(),
                            [&](const SignedArtifact& a) { return a.name == artifact_name; });
    if (art == st->artifacts.end()) {
      problem(fmt::format("the statement does not list artifact {}", artifact_name));
    } else {
      if (art->sha256 != lower(entry.sha256))
        problem(fmt::format("the statement gives {} sha256 {}; releases.yaml says {}", artifact_name, art->sha256,
                            lower(entry.sha256)));
      if (size && art->size != *size)
        problem(fmt::format("the statement gives {} {} bytes; the release has {}", artifact_name, art->size, *size));
    }
    c.statement = std::move(*st);
    out.push_back(std::move(c));
  }
  return out;
}

Result<std::vector<ListedRelease>> list_releases(const fs::path& repo) {
  ECUUP_ASSIGN(std::vector<ReleaseEntry> entries, load_entries(repo));
  std::vector<ListedRelease> out;
  for (auto& entry : entries) {
    ListedRelease r;
    r.entry = std::move(entry);
    if (!r.entry.statement.empty()) {
      auto doc = read_small(repo / r.entry.statement);
      if (!doc) {
        r.statement_problem = doc.error().message;
      } else if (auto st = parse_release_statement(*doc); !st) {
        r.statement_problem = st.error().message;
      } else {
        r.statement = std::move(*st);
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

// --- output -----------------------------------------------------------------------------------

std::string describe_published(const Published& p) {
  const ReleaseEntry& e = p.entry;
  std::string out = fmt::format("{} {}: {} ({} bytes, sha256 {}){}\n", e.part, e.version, e.artifact, e.size.value_or(0),
                                e.sha256, p.copied ? "" : ", the same file was already in the repository");
  if (p.statement)
    out += fmt::format("  signed: {} and {}{}; hardware {}; security version {}; expires {}\n", e.statement, e.statement,
                       k_signature_suffix, join(p.statement->hardware, ", "), p.statement->security_version,
                       p.statement->expires);
  else
    out += "  not signed\n";
  return out;
}

std::string format_release_table(const std::vector<ListedRelease>& releases) {
  if (releases.empty()) return "no releases\n";
  std::vector<std::vector<std::string>> rows{
      {"PART", "VERSION", "ARTIFACT", "SIZE", "SIGNED", "SECURITY", "EXPIRES", "HARDWARE"}};
  for (const auto& r : releases) {
    const auto& st = r.statement;
    std::string signed_text = r.entry.statement.empty() ? "no" : st ? "yes" : "invalid";
    rows.push_back({r.entry.part, r.entry.version, r.entry.artifact,
                    r.entry.size ? std::to_string(*r.entry.size) : "-", signed_text,
                    st ? std::to_string(st->security_version) : "-", st ? st->expires : "-",
                    st ? join(st->hardware, ",") : "-"});
  }
  std::vector<std::size_t> width(rows.front().size(), 0);
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i)
      line += i + 1 < row.size() ? fmt::format("{:<{}}  ", row[i], width[i]) : row[i];
    out += line + "\n";
  }
  for (const auto& r : releases)
    if (!r.statement_problem.empty()) out += fmt::format("{}: statement {}: {}\n", r.entry.part, r.entry.statement, r.statement_problem);
  return out;
}

namespace {

nlohmann::json entry_json(const ReleaseEntry& e) {
  nlohmann::json j = {{"part", e.part},     {"version", e.version},
                      {"artifact", e.artifact}, {"sha256", lower(e.sha256)},
                      {"size", e.size ? nlohmann::json(*e.size) : nlohmann::json()},
                      {"statement", e.statement.empty() ? nlohmann::json() : nlohmann::json(e.statement)}};
  if (!e.url.empty()) j["url"] = e.url;
  return j;
}

void add_statement_json(nlohmann::json& j, const std::optional<ReleaseStatement>& st) {
  j["security_version"] = st ? nlohmann::json(st->security_version) : nlohmann::json();
  j["expires"] = st ? nlohmann::json(st->expires) : nlohmann::json();
  j["hardware"] = st ? nlohmann::json(st->hardware) : nlohmann::json::array();
}

}  // namespace

std::string releases_json(const fs::path& repo, const std::vector<ListedRelease>& releases) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto& r : releases) {
    nlohmann::json j = entry_json(r.entry);
    j["signed"] = r.statement.has_value();
    add_statement_json(j, r.statement);
    if (!r.statement_problem.empty()) j["problem"] = r.statement_problem;
    list.push_back(std::move(j));
  }
  return nlohmann::json{{"repository", repo.string()}, {"releases", std::move(list)}}.dump(2) + "\n";
}

std::string format_verify_report(const std::vector<ReleaseCheck>& checks) {
  if (checks.empty()) return "no releases\n";
  std::string out;
  for (const auto& c : checks) {
    if (c.ok()) {
      out += fmt::format("{} {}: ok ({}, signed for {}, security version {}, expires {})\n", c.entry.part, c.entry.version,
                         c.entry.artifact, join(c.statement->hardware, ", "), c.statement->security_version,
                         c.statement->expires);
      continue;
    }
    out += fmt::format("{} {}: FAILED\n", c.entry.part, c.entry.version);
    for (const auto& p : c.problems) out += fmt::format("  {}: {}\n", c.entry.part, p);
  }
  return out;
}

std::string verify_json(const fs::path& repo, const std::vector<ReleaseCheck>& checks) {
  nlohmann::json list = nlohmann::json::array();
  bool all_ok = true;
  for (const auto& c : checks) {
    nlohmann::json j = entry_json(c.entry);
    j["ok"] = c.ok();
    j["problems"] = c.problems;
    add_statement_json(j, c.statement);
    all_ok = all_ok && c.ok();
    list.push_back(std::move(j));
  }
  return nlohmann::json{{"repository", repo.string()}, {"ok", all_ok}, {"releases", std::move(list)}}.dump(2) + "\n";
}

Result<void> verify_outcome(const std::vector<ReleaseCheck>& checks) {
  std::vector<std::string> failed;
  for (const auto& c : checks)
    if (!c.ok()) failed.push_back(c.entry.part);
  if (failed.empty()) return success();
  return make_error(Errc::verify, fmt::format("{} of {} releases failed verification: {}", failed.size(), checks.size(),
                                              join(failed, ", ")));
}

}  // namespace ecuup
