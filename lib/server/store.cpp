#include "server/store.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <set>
#include <tuple>

#include "server/token_hash.hpp"
#include "trust/keyring.hpp"
#include "trust/statement.hpp"
#include "util/bytes.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"

namespace ecuup::server {

namespace {

// 2: vehicle tokens hashed (vehicles.token_hash), release statements (modules.statement and its
// facts, artifacts.role).
constexpr int k_schema_version = 2;
constexpr std::size_t k_copy_block = 1 << 20;
constexpr mode_t k_private_dir_mode = 0700;
constexpr mode_t k_private_file_mode = 0600;
// SQLite's companions of the database file in WAL mode.
constexpr const char* k_db_sidecars[] = {"-wal", "-shm"};
// configData keys that carry an ECU's installed version: ecu.<part>.version.
constexpr const char* k_version_key_prefix = "ecu.";
constexpr const char* k_version_key_suffix = ".version";

const char* k_schema = R"sql(
CREATE TABLE IF NOT EXISTS vehicles(
  id TEXT PRIMARY KEY,
  token_hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  reported_at INTEGER,
  attributes_requested INTEGER NOT NULL DEFAULT 1);
CREATE TABLE IF NOT EXISTS attributes(
  vehicle_id TEXT NOT NULL REFERENCES vehicles(id) ON DELETE CASCADE,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  PRIMARY KEY(vehicle_id, key)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS attributes_key_value ON attributes(key, value);
CREATE TABLE IF NOT EXISTS modules(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  part TEXT NOT NULL,
  version TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  statement TEXT NOT NULL DEFAULT 'none',
  hardware TEXT NOT NULL DEFAULT '[]',
  security_version INTEGER NOT NULL DEFAULT 0,
  expires_at INTEGER NOT NULL DEFAULT 0,
  UNIQUE(part, version));
CREATE TABLE IF NOT EXISTS artifacts(
  module_id INTEGER NOT NULL REFERENCES modules(id),
  filename TEXT NOT NULL,
  size INTEGER NOT NULL,
  sha1 TEXT NOT NULL,
  md5 TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  role TEXT NOT NULL DEFAULT 'software',
  PRIMARY KEY(module_id, filename));
CREATE TABLE IF NOT EXISTS assignments(
  vehicle_id TEXT NOT NULL REFERENCES vehicles(id) ON DELETE CASCADE,
  part TEXT NOT NULL,
  module_id INTEGER NOT NULL REFERENCES modules(id),
  mode TEXT NOT NULL,
  assigned_at INTEGER NOT NULL,
  PRIMARY KEY(vehicle_id, part)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS assignments_module ON assignments(module_id, vehicle_id);
CREATE TABLE IF NOT EXISTS actions(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  vehicle_id TEXT NOT NULL REFERENCES vehicles(id) ON DELETE CASCADE,
  state TEXT NOT NULL,
  result TEXT NOT NULL,
  mode TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  closed_at INTEGER);
CREATE INDEX IF NOT EXISTS actions_vehicle_state ON actions(vehicle_id, state, result);
CREATE TABLE IF NOT EXISTS action_chunks(
  action_id INTEGER NOT NULL REFERENCES actions(id) ON DELETE CASCADE,
  part TEXT NOT NULL,
  module_id INTEGER NOT NULL REFERENCES modules(id),
  PRIMARY KEY(action_id, part)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS action_chunks_module ON action_chunks(module_id, action_id);
CREATE TABLE IF NOT EXISTS feedback(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  action_id INTEGER NOT NULL REFERENCES actions(id) ON DELETE CASCADE,
  kind TEXT NOT NULL,
  at INTEGER NOT NULL,
  execution TEXT NOT NULL,
  finished TEXT NOT NULL,
  progress_cnt INTEGER,
  progress_of INTEGER,
  details TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS feedback_action ON feedback(action_id, id);
)sql";

// Schema 1 -> 2, before the plain tokens are hashed and their column dropped (migrate_from_1).
const char* k_upgrade_from_1 = R"sql(
ALTER TABLE vehicles ADD COLUMN token_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE modules ADD COLUMN statement TEXT NOT NULL DEFAULT 'none';
ALTER TABLE modules ADD COLUMN hardware TEXT NOT NULL DEFAULT '[]';
ALTER TABLE modules ADD COLUMN security_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE modules ADD COLUMN expires_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE artifacts ADD COLUMN role TEXT NOT NULL DEFAULT 'software';
)sql";

ActionState parse_state(const std::string& text) {
  if (text == "canceling") return ActionState::canceling;
  if (text == "closed") return ActionState::closed;
  return ActionState::open;
}

std::string version_key(const std::string& part) {
  return k_version_key_prefix + part + k_version_key_suffix;
}

ArtifactRole parse_role(const std::string& text) {
  if (text == "statement") return ArtifactRole::statement;
  if (text == "signature") return ArtifactRole::signature;
  return ArtifactRole::software;
}

StatementState parse_statement_state(const std::string& text) {
  if (text == "pending") return StatementState::pending;
  if (text == "signed") return StatementState::signed_by_server;
  if (text == "uploaded") return StatementState::uploaded;
  return StatementState::none;
}

// A directory only its owner can enter, whatever the umask; an existing one is left as it is.
Result<void> ensure_private_directory(const std::filesystem::path& dir) {
  std::error_code ec;
  if (std::filesystem::is_directory(dir, ec)) return success();
  if (dir.has_parent_path()) ECUUP_TRY(ensure_directory(dir.parent_path()));
  if (::mkdir(dir.c_str(), k_private_dir_mode) != 0 && errno != EEXIST) {
    return make_error(Errc::io, "create directory " + dir.string() + ": " + std::strerror(errno));
  }
  // mkdir's mode passed through the umask, which may have taken more bits than wanted.
  if (::chmod(dir.c_str(), k_private_dir_mode) != 0) {
    return make_error(Errc::io, "chmod " + dir.string() + ": " + std::strerror(errno));
  }
  return success();
}

// Creates `file` empty if missing and sets it to owner read/write only.
Result<void> ensure_private_file(const std::filesystem::path& file) {
  int fd = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, k_private_file_mode);
  if (fd < 0) return make_error(Errc::io, "open " + file.string() + ": " + std::strerror(errno));
  int rc = ::fchmod(fd, k_private_file_mode);
  int err = errno;
  ::close(fd);
  if (rc != 0) return make_error(Errc::io, "chmod " + file.string() + ": " + std::strerror(err));
  return success();
}

// Copy `from` to `to` and hash it in the same pass (constant memory, any size).
Result<StoredFile> copy_and_hash(const std::filesystem::path& from, const std::filesystem::path& to) {
  int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return make_error(Errc::io, "open " + from.string() + ": " + std::strerror(errno));
  int out = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, k_private_file_mode);
  if (out < 0) {
    ::close(in);
    return make_error(Errc::io, "create " + to.string() + ": " + std::strerror(errno));
  }
  Sha256 sha256;
  Sha1 sha1;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md5(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(md5.get(), EVP_md5(), nullptr);
  Bytes buf(k_copy_block);
  StoredFile hashes;
  Result<void> status = success();
  for (;;) {
    ssize_t n = ::read(in, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = make_error(Errc::io, "read " + from.string() + ": " + std::strerror(errno));
      break;
    }
    if (n == 0) break;
    ByteView chunk(buf.data(), static_cast<std::size_t>(n));
    sha256.update(chunk);
    sha1.update(chunk);
    EVP_DigestUpdate(md5.get(), chunk.data(), chunk.size());
    hashes.size += n;
    std::size_t written = 0;
    while (written < chunk.size()) {
      ssize_t w = ::write(out, chunk.data() + written, chunk.size() - written);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        status = make_error(Errc::io, "write " + to.string() + ": " + std::strerror(errno));
        break;
      }
      written += static_cast<std::size_t>(w);
    }
    if (!status) break;
  }
  ::close(in);
  if (::close(out) != 0 && status) {
    status = make_error(Errc::io, "close " + to.string() + ": " + std::strerror(errno));
  }
  if (!status) return std::move(status).error();
  std::array<std::uint8_t, EVP_MAX_MD_SIZE> md{};
  unsigned int md_len = 0;
  EVP_DigestFinal_ex(md5.get(), md.data(), &md_len);
  hashes.md5 = to_hex(ByteView(md.data(), md_len));
  hashes.sha1 = sha1.hex_digest();
  hashes.sha256 = sha256.hex_digest();
  return hashes;
}

// Puts `file` into the artifact directory `dir` under its sha256 (a temporary copy first, so a
// crash never leaves a half file under a real name).
Result<StoredFile> store_file(const std::filesystem::path& dir, const std::filesystem::path& file) {
  std::string tmpl = (dir / ".upload-XXXXXX").string();
  int fd = ::mkstemp(tmpl.data());
  if (fd < 0) return make_error(Errc::io, "create a temporary file in " + dir.string());
  ::close(fd);
  std::filesystem::path tmp(tmpl);
  auto hashed = copy_and_hash(file, tmp);
  if (!hashed) {
    std::filesystem::remove(tmp);
    return std::move(hashed).error();
  }
  auto commit = commit_file_atomic(tmp, dir / hashed->sha256);
  if (!commit) {
    std::filesystem::remove(tmp);
    return std::move(commit).error();
  }
  return hashed;
}

// Same, for bytes in memory (a statement, a signature).
Result<StoredFile> store_bytes(const std::filesystem::path& dir, std::string_view bytes) {
  std::string tmpl = (dir / ".upload-XXXXXX").string();
  int fd = ::mkstemp(tmpl.data());
  if (fd < 0) return make_error(Errc::io, "create a temporary file in " + dir.string());
  std::size_t written = 0;
  while (written < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    written += static_cast<std::size_t>(n);
  }
  ::close(fd);
  std::filesystem::path tmp(tmpl);
  if (written != bytes.size()) {
    std::filesystem::remove(tmp);
    return make_error(Errc::io, "write " + tmp.string());
  }
  auto stored = store_file(dir, tmp);
  std::filesystem::remove(tmp);
  return stored;
}

// Names ending so are what clients take for a statement or its signature (ecuup-config(5)).
bool reserved_for_statements(const std::string& name) {
  std::string signature_suffix = std::string(k_statement_suffix) + std::string(k_signature_suffix);
  return name.ends_with(k_statement_suffix) || name.ends_with(signature_suffix);
}

bool valid_artifact_name(const std::string& name) {
  return !name.empty() && name.find('/') == std::string::npos && name != "." && name != "..";
}

// The server-written statement's name: "<part>-<version>.release.json", with characters that do
// not belong in a file name replaced.
std::string statement_name(const std::string& part, const std::string& version) {
  std::string name = part + "-" + version;
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_' && c != '+') c = '_';
  }
  return name + std::string(k_statement_suffix);
}

std::string utc_text(std::int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

ReleaseStatement make_statement(const ModuleInfo& module, const StatementFacts& facts) {
  ReleaseStatement s;
  s.part = module.part;
  s.version = module.version;
  s.hardware = facts.hardware;
  s.security_version = facts.security_version;
  s.expires = utc_text(facts.expires_at);
  s.expires_unix = facts.expires_at;
  for (const auto& a : module.artifacts) {
    if (a.role == ArtifactRole::software) {
      s.artifacts.push_back({a.filename, a.sha256, static_cast<std::uint64_t>(a.size)});
    }
  }
  return s;
}

// Facts a client would refuse are refused when given, not when the statement is signed later.
Result<void> check_facts(const ModuleInfo& module, const StatementFacts& facts) {
  std::string what = "statement facts of " + module.part + " " + module.version;
  if (facts.hardware.empty()) return make_error(Errc::usage, what + ": no hardware");
  for (const auto& h : facts.hardware) {
    if (h.empty()) return make_error(Errc::usage, what + ": an empty hardware part number");
  }
  if (facts.expires_at <= unix_now()) {
    return make_error(Errc::usage, what + ": expiry " + utc_text(facts.expires_at) + " is not in the future");
  }
  ReleaseStatement statement = make_statement(module, facts);
  if (statement.artifacts.empty()) return success();
  auto parsed = parse_release_statement(release_statement_json(statement));
  if (!parsed) return make_error(Errc::usage, what + ": " + parsed.error().message);
  return success();
}

}  // namespace

Result<StatementFacts> make_statement_facts(const std::vector<std::string>& hardware,
                                            const std::string& security_version, const std::string& expires) {
  StatementFacts facts;
  for (const auto& item : hardware) {
    std::size_t pos = 0;
    while (pos <= item.size()) {
      std::size_t comma = std::min(item.find(',', pos), item.size());
      std::string one = item.substr(pos, comma - pos);
      if (one.empty()) return make_error(Errc::usage, "hardware '" + item + "': an empty part number");
      facts.hardware.push_back(one);
      pos = comma + 1;
    }
  }
  if (facts.hardware.empty()) return make_error(Errc::usage, "a release statement needs at least one hardware");
  if (!security_version.empty()) {
    const char* end = security_version.data() + security_version.size();
    auto [ptr, ec] = std::from_chars(security_version.data(), end, facts.security_version);
    if (ec != std::errc() || ptr != end) {
      return make_error(Errc::usage, "security version '" + security_version + "' is not a whole number");
    }
  }
  if (expires.empty()) {
    facts.expires_at = unix_now() + k_default_statement_lifetime_s;
  } else {
    auto at = parse_utc_time(expires);
    if (!at) return make_error(Errc::usage, "expiry '" + expires + "': expected UTC like 2027-06-30T00:00:00Z");
    facts.expires_at = *at;
  }
  return facts;
}

const char* artifact_role_name(ArtifactRole role) {
  switch (role) {
    case ArtifactRole::software: return "software";
    case ArtifactRole::statement: return "statement";
    case ArtifactRole::signature: return "signature";
  }
  return "software";
}

const char* statement_state_name(StatementState state) {
  switch (state) {
    case StatementState::none: return "none";
    case StatementState::pending: return "pending";
    case StatementState::signed_by_server: return "signed";
    case StatementState::uploaded: return "uploaded";
  }
  return "none";
}

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

const char* update_mode_name(UpdateMode mode) {
  switch (mode) {
    case UpdateMode::forced: return "forced";
    case UpdateMode::attempt: return "attempt";
    case UpdateMode::download_only: return "downloadonly";
  }
  return "forced";
}

Result<UpdateMode> parse_update_mode(const std::string& text) {
  if (text == "forced") return UpdateMode::forced;
  if (text == "attempt" || text == "soft") return UpdateMode::attempt;
  if (text == "downloadonly" || text == "download-only") return UpdateMode::download_only;
  return make_error(Errc::usage, "unknown update mode '" + text + "' (forced, attempt, downloadonly)");
}

Result<VehicleSelector> make_selector(const std::string& vehicle, bool all, const std::string& match) {
  VehicleSelector selector;
  if (!vehicle.empty()) selector.vehicle = vehicle;
  selector.all = all;
  if (!match.empty()) {
    auto eq = match.find('=');
    if (eq == std::string::npos || eq == 0) {
      return make_error(Errc::usage, "match '" + match + "' is not ATTR=VALUE");
    }
    selector.match = std::make_pair(match.substr(0, eq), match.substr(eq + 1));
  }
  if ((selector.vehicle ? 1 : 0) + (all ? 1 : 0) + (selector.match ? 1 : 0) != 1) {
    return make_error(Errc::usage, "assign to exactly one of: a vehicle, all vehicles, a match");
  }
  return selector;
}

const char* action_state_name(ActionState state) {
  switch (state) {
    case ActionState::open: return "open";
    case ActionState::canceling: return "canceling";
    case ActionState::closed: return "closed";
  }
  return "open";
}

Result<std::unique_ptr<Store>> Store::open(const std::filesystem::path& data_dir, Schema schema, Access access) {
  if (schema == Schema::create) {
    ECUUP_TRY(ensure_private_directory(data_dir));
    ECUUP_TRY(ensure_private_directory(data_dir / k_artifact_dir));
    // SQLite creates the -wal and -shm files with the database file's mode: make that 0600 first.
    ECUUP_TRY(ensure_private_file(data_dir / k_db_file));
    for (const char* sidecar : k_db_sidecars) {
      auto path = data_dir / (std::string(k_db_file) + sidecar);
      std::error_code ec;
      if (std::filesystem::exists(path, ec)) ECUUP_TRY(ensure_private_file(path));
    }
  }
  ECUUP_ASSIGN(auto conn, Connection::open((data_dir / k_db_file).string(), access));
  auto store = std::unique_ptr<Store>(new Store(data_dir, std::move(conn)));
  if (schema == Schema::create) ECUUP_TRY(store->migrate());
  return store;
}

Result<void> Store::migrate() {
  ECUUP_ASSIGN(auto tx, Transaction::begin(*m_conn));
  ECUUP_ASSIGN(auto q, m_conn->prepare("PRAGMA user_version"));
  ECUUP_ASSIGN(bool row, q->step());
  std::int64_t version = row ? q->column_int(0) : 0;
  q->reset();
  if (version > k_schema_version) {
    return make_error(Errc::config, "database " + (m_data_dir / k_db_file).string() +
                                        " has schema version " + std::to_string(version) +
                                        ", newer than this ecuup-server (" +
                                        std::to_string(k_schema_version) + ")");
  }
  if (version == k_schema_version) return success();
  bool had_plain_tokens = version == 1;
  if (had_plain_tokens) {
    // The plain tokens' bytes must not survive in freed pages or the WAL.
    ECUUP_TRY(m_conn->exec("PRAGMA secure_delete=ON"));
    ECUUP_TRY(migrate_from_1());
  }
  ECUUP_TRY(m_conn->exec(k_schema));
  ECUUP_TRY(m_conn->exec("PRAGMA user_version=" + std::to_string(k_schema_version)));
  ECUUP_TRY(tx.commit());
  if (had_plain_tokens) {
    ECUUP_TRY(m_conn->exec("PRAGMA wal_checkpoint(TRUNCATE)"));
    ECUUP_TRY(m_conn->exec("PRAGMA secure_delete=OFF"));
  }
  return success();
}

// Hashes every plain token and drops the column that held them.
Result<void> Store::migrate_from_1() {
  ECUUP_TRY(m_conn->exec(k_upgrade_from_1));
  std::vector<std::pair<std::string, std::string>> tokens;
  {
    ECUUP_ASSIGN(auto q, m_conn->prepare("SELECT id, token FROM vehicles"));
    q->reset();
    for (;;) {
      ECUUP_ASSIGN(bool row, q->step());
      if (!row) break;
      tokens.emplace_back(q->column_text(0), q->column_text(1));
    }
  }
  for (const auto& [id, token] : tokens) {
    std::string hashed;
    if (is_token_hash(token)) {
      hashed = token;
    } else {
      ECUUP_ASSIGN(hashed, hash_token(token));
    }
    ECUUP_ASSIGN(auto q, m_conn->prepare("UPDATE vehicles SET token_hash=?2 WHERE id=?1"));
    q->bind_all(id, hashed);
    ECUUP_TRY(q->run());
  }
  return m_conn->exec("ALTER TABLE vehicles DROP COLUMN token");
}

std::filesystem::path Store::artifact_file(const ArtifactInfo& artifact) const {
  return m_data_dir / k_artifact_dir / artifact.sha256;
}

Result<bool> Store::vehicle_exists(const std::string& vehicle) {
  ECUUP_ASSIGN(auto q, m_conn->prepare("SELECT 1 FROM vehicles WHERE id=?1"));
  q->bind_all(vehicle);
  return q->step();
}

Result<std::optional<PollState>> Store::poll_state(const std::string& vehicle) {
  ECUUP_ASSIGN(auto q, m_conn->prepare(
      "SELECT v.token_hash, v.reported_at IS NULL OR v.attributes_requested,"
      " (SELECT id FROM actions WHERE vehicle_id=v.id AND state<>'closed' ORDER BY id DESC LIMIT 1),"
      " (SELECT state FROM actions WHERE vehicle_id=v.id AND state<>'closed' ORDER BY id DESC LIMIT 1),"
      " (SELECT max(id) FROM actions WHERE vehicle_id=v.id AND state='closed' AND result='success')"
      " FROM vehicles v WHERE v.id=?1"));
  q->bind_all(vehicle);
  ECUUP_ASSIGN(bool row, q->step());
  if (!row) return std::optional<PollState>();
  PollState state;
  state.token_hash = q->column_text(0);
  state.attributes_wanted = q->column_int(1) != 0;
  state.open_action = q->column_int(2);
  state.open_state = parse_state(q->column_text(3));
  state.installed_action = q->column_int(4);
  return std::optional<PollState>(std::move(state));
}

Result<void> Store::register_vehicle_if_missing(const std::string& vehicle) {
  ECUUP_ASSIGN(bool exists, vehicle_exists(vehicle));
  if (exists) return success();
  // A gateway's vehicle gets a random token nobody knows: it acts through the gateway until an
  // admin gives it one of its own (admin vehicle add --token).
  ECUUP_ASSIGN(std::string token, random_token());
  ECUUP_ASSIGN(std::string hashed, hash_token(token));
  ECUUP_ASSIGN(auto q, m_conn->prepare(
      "INSERT OR IGNORE INTO vehicles(id, token_hash, created_at) VALUES(?1, ?2, ?3)"));
  q->bind_all(vehicle, hashed, unix_now());
  return q->run();
}

Result<void> Store::put_config_data(const std::string& vehicle, ConfigMode mode,
                                    const std::map<std::string, std::string>& data) {
  for (const auto& [key, value] : data) {
    if (key.empty() || key.size() > k_max_attribute_key_bytes || value.size() > k_max_attribute_value_bytes) {
      return make_error(Errc::usage, "configData: keys are 1 to " + std::to_string(k_max_attribute_key_bytes) +
                                         " bytes, values at most " + std::to_string(k_max_attribute_value_bytes));
    }
  }
  ECUUP_ASSIGN(auto tx, Transaction::begin(*m_conn));
  ECUUP_ASSIGN(bool exists, vehicle_exists(vehicle));
  if (!exists) return make_error(Errc::not_found, "vehicle " + vehicle + " is not registered");
  if (mode == ConfigMode::replace) {
    ECUUP_ASSIGN(auto del, m_conn->prepare("DELETE FROM attributes WHERE vehicle_id=?1"));
    del->bind_all(vehicle);
    ECUUP_TRY(del->run());
  }
  for (const auto& [key, value] : data) {
    if (mode == ConfigMode::remove) {
      ECUUP_ASSIGN(auto del, m_conn->prepare("DELETE FROM attributes WHERE vehicle_id=?1 AND key=?2"));
      del->bind_all(vehicle, key);
      ECUUP_TRY(del->run());
    } else {
      ECUUP_TRY(set_attribute(vehicle, key, value));
    }
  }
  {
    ECUUP_ASSIGN(auto count, m_conn->prepare("SELECT count(*) FROM attributes WHERE vehicle_id=?1"));
    count->bind_all(vehicle);
    ECUUP_ASSIGN(bool row, count->step());
    if (row && count->column_int(0) > static_cast<std::int64_t>(k_max_attributes)) {
      return make_error(Errc::usage, "configData: at most " + std::to_string(k_max_attributes) +
                                         " attributes per vehicle");
    }
  }
  ECUUP_ASSIGN(auto upd, m_conn->prepare(
      "UPDATE vehicles SET reported_at=?2, attributes_requested=0 WHERE id=?1"));
  upd->bind_all(vehicle, unix_now());
  ECUUP_TRY(upd->run());
  ECUUP_TRY(reconcile(vehicle, Trigger::report));
  return tx.commit();
}

Result<std::optional<std::pair<std::int64_t, ActionState>>> Store::open_action_of(
    const std::string& vehicle) {
  using Found = std::optional<std::pair<std::int64_t, ActionState>>;
  ECUUP_ASSIGN(auto q, m_conn->prepare(
      "SELECT id, state FROM actions WHERE vehicle_id=?1 AND state<>'closed' ORDER BY id DESC LIMIT 1"));
  q->bind_all(vehicle);
  ECUUP_ASSIGN(bool row, q->step());
  if (!row) return Found();
  return Found(std::make_pair(q->column_int(0), parse_state(q->column_text(1))));
}

// Applies the server rule after the vehicle reported (Trigger::report) or its assignment changed
// (Trigger::assignment). A report never disturbs an action in progress unless the vehicle now runs
// every version the action carries; an assignment change supersedes an open action whose parts
// no longer match.
Result<void> Store::reconcile(const std::string& vehicle, Trigger trigger) {
  struct Target {
    std::string part;
    std::int64_t module_id;
    std::string mode;
    std::string from;
    std::string to;
  };
  std::vector<Target> targets;
  {
    ECUUP_ASSIGN(auto q, m_conn->prepare(
        "SELECT a.part, a.module_id, a.mode, r.value, m.version FROM assignments a"
        " JOIN modules m ON m.id=a.module_id"
        " JOIN attributes r ON r.vehicle_id=a.vehicle_id AND r.key='ecu.' || a.part || '.version'"
        " WHERE a.vehicle_id=?1 AND r.value<>m.version ORDER BY a.part"));
    q->bind_all(vehicle);
    for (;;) {
      ECUUP_ASSIGN(bool row, q->step());
      if (!row) break;
      targets.push_back({q->column_text(0), q->column_int(1), q->column_text(2), q->column_text(3),
                         q->column_text(4)});
    }
  }
  ECUUP_ASSIGN(auto open, open_action_of(vehicle));
  if (open) {
    auto [action_id, state] = *open;
    ECUUP_ASSIGN(auto chunks, action_chunks(action_id));
    if (trigger == Trigger::report) {
      if (state != ActionState::open) return success();
      // The vehicle runs every version its action was to install: the action is done.
      for (const auto& chunk : chunks) {
        ECUUP_ASSIGN(auto q, m_conn->prepare("SELECT value FROM attributes WHERE vehicle_id=?1 AND key=?2"));
        q->bind_all(vehicle, version_key(chunk.part));
        ECUUP_ASSIGN(bool row, q->step());
        if (!row || q->column_text(0) != chunk.version) return success();
      }
      ECUUP_TRY(add_feedback(action_id, "server",
                             {"closed", "success", {}, {}, {"vehicle reported the versions of this action"}}));
      return close_action(action_id, "success");
    }
    bool same = chunks.size() == targets.size();
    for (std::size_t i = 0; same && i < chunks.size(); ++i) {
      same = chunks[i].part == targets[i].part && chunks[i].id == targets[i].module_id;
    }
    if (same) return success();
    ECUUP_TRY(add_feedback(action_id, "server",
                           {"canceled", "none", {}, {}, {"superseded by a new assignment"}}));
    ECUUP_TRY(close_action(action_id, "canceled"));
  }
  if (targets.empty()) return success();

  // The strongest mode among the targets decides how the whole deployment is offered.
  UpdateMode mode = UpdateMode::download_only;
  for (const auto& t : targets) {
    auto m = parse_update_mode(t.mode);
    if (m && *m == UpdateMode::forced) mode = UpdateMode::forced;
    if (m && *m == UpdateMode::attempt && mode == UpdateMode::download_only) mode = UpdateMode::attempt;
  }
  ECUUP_ASSIGN(auto ins, m_conn->prepare(
      "INSERT INTO actions(vehicle_id, state, result, mode, created_at) VALUES(?1, 'open', 'none', ?2, ?3)"));
  ins->bind_all(vehicle, update_mode_name(mode), unix_now());
  ECUUP_TRY(ins->run());
  std::int64_t action_id = m_conn->last_insert_id();
  FeedbackInput created{"scheduled", "none", {}, {}, {}};
  for (const auto& t : targets) {
    ECUUP_ASSIGN(auto chunk, m_conn->prepare(
        "INSERT INTO action_chunks(action_id, part, module_id) VALUES(?1, ?2, ?3)"));
    chunk->bind_all(action_id, t.part, t.module_id);
    ECUUP_TRY(chunk->run());
    created.details.push_back(t.part + ": " + t.from + " -> " + t.to);
  }
  return add_feedback(action_id, "server", created);
}

Result<void> Store::close_action(std::int64_t action_id, const std::string& result) {
  ECUUP_ASSIGN(auto q, m_conn->prepare(
      "UPDATE actions SET state='closed', result=?2, closed_at=?3 WHERE id=?1"));
  q->bind_all(action_id, result, unix_now());
  ECUUP_TRY(q->run());
  // The vehicle's versions changed (or may have): ask it to report them again.
  ECUUP_ASSIGN(auto v, m_conn->prepare(
      "UPDATE vehicles SET attributes_requested=1"
      " WHERE id=(SELECT vehicle_id FROM actions WHERE id=?1)"));
  v->bind_all(action_id);
  return v->run();
}

Result<void> Store::set_attribute(const std::string& vehicle, const std::string& key,
                                 const std::string& value) {
  ECUUP_ASSIGN(auto put, m_conn->prepare(
      "INSERT INTO attributes(vehicle_id, key, value) VALUES(?1, ?2, ?3)"
      " ON CONFLICT(vehicle_id, key) DO UPDATE SET value=excluded.value"));
  put->bind_all(vehicle, key, value);
  return put->run();
}

Result<void> Store::add_feedback(std::int64_t action_id, const std::string& kind,
                                 const FeedbackInput& feedback) {
  ECUUP_ASSIGN(auto q, m_conn->prepare(
      "INSERT INTO feedback(action_id, kind, at, execution, finished, progress_cnt, progress_of, details)"
      " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"));
  q->bind_all(action_id, kind, unix_now(), feedback.execution, feedback.finished, std::nullopt,
              std::nullopt, nlohmann::json(feedback.details).dump());
  if (feedback.progress_cnt) q->bind(6, *feedback.progress_cnt);
  if (feedback.progress_of) q->bind(7, *feedback.progress_of);
  ECUUP_TRY(q->run());
  ECUUP_ASSIGN(auto trim, m_conn->prepare(
      "DELETE FROM feedback WHERE action_id=?1 AND id<=(SELECT id FROM feedback WHERE action_id=?1"
      " ORDER BY id DESC LIMIT 1 OFFSET ?2)"));
  trim->bind_all(action_id, k_max_feedback_per_action);
  return trim->run();
}

Result<std::vector<ArtifactInfo>> Store::module_artifacts(std::int64_t module_id) {
  ECUUP_ASSIGN(auto q, m_conn->prepare(
      "SELECT filename, size, sha1, md5, sha256, role FROM artifacts WHERE module_id=?1 ORDER BY filename"));
  q->bind_all(module_id);
  std::vector<ArtifactInfo> out;
  for (;;) {
    ECUUP_ASSIGN(bool row, q->step());
    if (!row) break;
    out.push_back({module_id, q->column_text(0), q->column_int(1), q->column_text(2),
                   q->column_text(3), q->column_text(4), parse_role(q->column_text(5))});
  }
  return out;
}

Result<std::vector<ModuleInfo>> Store::action_chunks(std::int64_t action_id) {
  std::vector<ModuleInfo> chunks;
  {
    ECUUP_ASSIGN(auto q, m_conn->prepare(
        "SELECT c.module_id FROM action_chunks c WHERE c.action_id=?1 ORDER BY c.part"));
    q->bind_all(action_id);
    for (;;) {
      ECUUP_ASSIGN(bool row, q->step());
      if (!row) break;
      ModuleInfo m;
      m.id = q->column_int(0);
      chunks.push_back(std::move(m));
    }
  }
  for (auto& m : chunks) ECUUP_TRY(load_module_row(m));
  return chunks;
}

Result<std::vector<FeedbackEntry>> Store::action_history(std::int64_t action_id, int limit) {
  std::vector<FeedbackEntry> out;
  if (limit == 0) return out;
  ECUUP_ASSIGN(auto q, m_conn->prepare(
      "SELECT at, kind, execution, finished, progress_cnt, progress_of, details FROM feedback"
      " WHERE action_id=?1 ORDER BY id DESC LIMIT ?2"));
  q->bind_all(action_id, limit < 0 ? std::int64_t{-1} : std::int64_t{limit});
  for (;;) {
    ECUUP_ASSIGN(bool row, q->step());
    if (!row) break;
    FeedbackEntry e;
    e.at = q->column_int(0);
    e.kind = q->column_text(1);
    e.execution = q->column_text(2);
    e.finished = q->column_text(3);
    if (!q->column_null(4)) e.progress_cnt = q->column_int(4);
    if (!q->column_null(5)) e.progress_of = q->column_int(5);
    auto details = nlohmann::json::parse(q->column_text(6), nullptr, false);
    if (details.is_array()) {
      for (const auto& d : details) {
        if (d.is_string()) e.details.push_back(d.get<std::string>());
      }
    }
    out.push_back(std::move(e));
  }
  std::reverse(out.begin(), out.end());  // oldest first
  return out;
}

Result<std::optional<ActionDetails>> Store::load_action(std::int64_t action_id, int history_limit) {
  ActionDetails a;
  {
    ECUUP_ASSIGN(auto q, m_conn->prepare(
        "SELECT vehicle_id, state, result, mode, created_at, closed_at FROM actions WHERE id=?1"));
    q->bind_all(action_id);
    ECUUP_ASSIGN(bool row, q->step());
    if (!row) return std::optional<ActionDetails>();
    a.id = action_id;
    a.vehicle_id = q->column_text(0);
    a.state = parse_state(q->column_text(1));
    a.result = q->column_text(2);
    auto mode = parse_update_mode(q->column_text(3));
    a.mode = mode ? *mode : UpdateMode::forced;
    a.created_at = q->column_int(4);
    a.closed_at = q->column_null(5) ? 0 : q->column_int(5);
  }
  ECUUP_ASSIGN(a.chunks, action_chunks(action_id));
  ECUUP_ASSIGN(a.history, action_history(action_id, history_limit));
  return std::optional<ActionDetails>(std::move(a));
}

Result<std::optional<ActionDetails>> Store::action(const std::string& vehicle, std::int64_t action_id,
                                                   int history_limit) {
  ECUUP_ASSIGN(auto a, load_action(action_id, history_limit));
  if (a && a->vehicle_id != vehicle) return std::optional<ActionDetails>();
  return a;
}

Result<FeedbackOutcome> Store::deployment_feedback(const std::string& vehicle, std::int64_t action_id,
                                                   const FeedbackInput& feedback) {
  ECUUP_ASSIGN(auto tx, Transaction::begin(*m_conn));
  ECUUP_ASSIGN(auto a, action(vehicle, action_id, 0));
  if (!a) return FeedbackOutcome::not_found;
  if (a->state == ActionState::closed) return FeedbackOutcome::gone;
  ECUUP_TRY(add_feedback(action_id, "deployment", feedback));
  if (feedback.execution == "closed") {
    std::string result = feedback.finished == "success" || feedback.finished == "failure"
                             ? feedback.finished
                             : std::string("none");
    ECUUP_TRY(close_action(action_id, result));
    if (result == "success") {
      // The chunks are installed now: record their versions as the vehicle's reported ones.
      for (const auto& chunk : a->chunks) ECUUP_TRY(set_attribute(vehicle, version_key(chunk.part), chunk.version));
    }
  }
  ECUUP_TRY(tx.commit());
  return FeedbackOutcome::recorded;
}

Result<FeedbackOutcome> Store::cancel_feedback(const std::string& vehicle, std::int64_t action_id,
                                               const FeedbackInput& feedback) {
  ECUUP_ASSIGN(auto tx, Transaction::begin(*m_conn));
  ECUUP_ASSIGN(auto a, action(vehicle, action_id, 0));
  if (!a) return FeedbackOutcome::not_found;
  if (a->state == ActionState::closed) return FeedbackOutcome::gone;
  if (a->state != ActionState::canceling) return FeedbackOutcome::conflict;
  ECUUP_TRY(add_feedback(action_id, "cancel", feedback));
  if (feedback.execution == "closed" && feedback.finished == "success") {
    ECUUP_TRY(close_action(action_id, "canceled"));
    // A confirmed cancel withdraws the vehicle's assignment for the action's parts; otherwise its
    // next report would recreate the same action.
    for (const auto& chunk : a->chunks) {
      ECUUP_ASSIGN(auto del, m_conn->prepare(
          "DELETE FROM assignments WHERE vehicle_id=?1 AND part=?2 AND module_id=?3"));
      del->bind_all(vehicle, chunk.part, chunk.id);
      ECUUP_TRY(del->run());
    }
  } else if (feedback.execution == "rejected" || feedback.execution == "closed") {
    // The vehicle refused to stop (e.g. flashing had started): the action carries on.
    ECUUP_ASSIGN(auto q, m_conn->prepare("UPDATE actions SET state='open' WHERE id=?1"));
    q->bind_all(action_id);
    ECUUP_TRY(q->run());
  }
  ECUUP_TRY(tx.commit());
  return FeedbackOutcome::recorded;
}

Result<std::optional<ArtifactInfo>> Store::artifact_for(const std::string& vehicle,
                                                        std::int64_t module_id,
                                                        const std::string& filename,
                                                        bool any_vehicle) {
  ECUUP_ASSIGN(auto q, m_conn->prepare(
      "SELECT size, sha1, md5, sha256, role FROM artifacts WHERE module_id=?1 AND filename=?2 AND (?4"
      " OR EXISTS(SELECT 1 FROM assignments WHERE module_id=?1 AND vehicle_id=?3)"
      " OR EXISTS(SELECT 1 FROM action_chunks c JOIN actions a ON a.id=c.action_id"
      "           WHERE c.module_id=?1 AND a.vehicle_id=?3))"));
  q->bind_all(module_id, filename, vehicle, any_vehicle ? 1 : 0);
  ECUUP_ASSIGN(bool row, q->step());
  if (!row) return std::optional<ArtifactInfo>();
  return std::optional<ArtifactInfo>(ArtifactInfo{module_id, filename, q->column_int(0),
                                                  q->column_text(1), q->column_text(2),
                                                  q->column_text(3), parse_role(q->column_text(4))});
}

Result<ModuleInfo> Store::upload(const std::string& part, const std::string& version,
                                 const std::filesystem::path& file, const std::string& filename,
                                 const std::optional<StatementFacts>& facts) {
  if (part.empty() || version.empty()) return make_error(Errc::usage, "upload needs a part and a version");
  ECUUP_ASSIGN(StagedUpload staged, stage_upload(m_data_dir, file, filename));
  return commit_upload(part, version, staged, facts);
}

Result<Store::StagedUpload> Store::stage_upload(const std::filesystem::path& data_dir,
                                                const std::filesystem::path& file, const std::string& filename) {
  std::string name = filename.empty() ? file.filename().string() : filename;
  if (!valid_artifact_name(name)) return make_error(Errc::usage, "bad artifact file name '" + name + "'");
  if (reserved_for_statements(name)) {
    return make_error(Errc::usage, "artifact name '" + name + "' is taken for release statements (" +
                                       std::string(k_statement_suffix) + ", " + std::string(k_statement_suffix) +
                                       std::string(k_signature_suffix) + ")");
  }
  ECUUP_ASSIGN(StoredFile stored, store_file(data_dir / k_artifact_dir, file).with_context("upload " + file.string()));
  return StagedUpload{name, stored};
}

Result<ModuleInfo> Store::commit_upload(const std::string& part, const std::string& version,
                                        const StagedUpload& staged, const std::optional<StatementFacts>& facts) {
  if (part.empty() || version.empty()) return make_error(Errc::usage, "upload needs a part and a version");
  const std::string& name = staged.filename;
  const StoredFile& stored = staged.file;
  ECUUP_ASSIGN(auto tx, Transaction::begin(*m_conn));
  {
    ECUUP_ASSIGN(auto ins, m_conn->prepare(
        "INSERT OR IGNORE INTO modules(part, version, created_at) VALUES(?1, ?2, ?3)"));
    ins->bind_all(part, version, unix_now());
    ECUUP_TRY(ins->run());
  }
  ECUUP_ASSIGN(auto module, find_module(part, version));
  if (!module) return make_error(Errc::internal, "module " + part + " " + version + " vanished");
  ECUUP_TRY(put_artifact(module->id, name, stored, ArtifactRole::software));
  if (facts) {
    ECUUP_ASSIGN(ModuleInfo updated, this->module(module->id));
    ECUUP_TRY(check_facts(updated, *facts));
    ECUUP_TRY(drop_statement_artifacts(module->id));
    ECUUP_TRY(set_statement_state(module->id, StatementState::pending, facts));
  } else {
    ECUUP_TRY(invalidate_statement(module->id));
  }
  ECUUP_TRY(sign_in_transaction(module->id));
  ECUUP_TRY(tx.commit());
  return this->module(module->id);
}

Result<ModuleInfo> Store::set_statement_facts(const std::string& part, const std::string& version,
                                              const StatementFacts& facts) {
  ECUUP_ASSIGN(auto tx, Transaction::begin(*m_conn));
  ECUUP_ASSIGN(auto module, find_module(part, version));
  if (!module) return make_error(Errc::not_found, "no software uploaded for part " + part + " version " + version);
  ECUUP_TRY(check_facts(*module, facts));
  ECUUP_TRY(drop_statement_artifacts(module->id));
  ECUUP_TRY(set_statement_state(module->id, StatementState::pending, facts));
  ECUUP_TRY(sign_in_transaction(module->id));
  ECUUP_TRY(tx.commit());
  return this->module(module->id);
}

Result<ModuleInfo> Store::upload_statement(const std::string& part, const std::string& version,
                                           const std::string& filename, const std::string& statement,
                                           const std::string& signature) {
  if (!valid_artifact_name(filename) || !filename.ends_with(k_statement_suffix)) {
    return make_error(Errc::usage, "a release statement's name must end in " + std::string(k_statement_suffix) +
                                       " (and hold no /): '" + filename + "'");
  }
  if (statement.size() > k_statement_max_bytes || signature.size() > k_statement_max_bytes) {
    return make_error(Errc::usage, "a release statement and its signature are at most " +
                                       std::to_string(k_statement_max_bytes) + " bytes each");
  }
  if (signature.empty()) return make_error(Errc::usage, "the statement's signature is empty");
  ECUUP_ASSIGN(ReleaseStatement parsed, parse_release_statement(statement).with_context("statement " + filename));

  ECUUP_ASSIGN(auto tx, Transaction::begin(*m_conn));
  ECUUP_ASSIGN(auto module, find_module(part, version));
  if (!module) return make_error(Errc::not_found, "no software uploaded for part " + part + " version " + version);
  if (parsed.part != part || parsed.version != version) {
    return make_error(Errc::verify, "statement " + filename + " is for " + parsed.part + " " + parsed.version +
                                        ", not " + part + " " + version);
  }
  // Exactly the module's software, byte for byte: what a client checks the artifacts against.
  std::set<std::tuple<std::string, std::string, std::uint64_t>> listed;
  std::set<std::tuple<std::string, std::string, std::uint64_t>> present;
  for (const auto& a : parsed.artifacts) listed.emplace(a.name, a.sha256, a.size);
  for (const auto& a : module->artifacts) {
    if (a.role == ArtifactRole::software) present.emplace(a.filename, a.sha256, static_cast<std::uint64_t>(a.size));
  }
  if (listed != present) {
    return make_error(Errc::verify, "statement " + filename + " does not list exactly the artifacts of " + part +
                                        " " + version + " (names, sha256 and sizes)");
  }
  auto dir = m_data_dir / k_artifact_dir;
  ECUUP_ASSIGN(StoredFile stored_statement, store_bytes(dir, statement));
  ECUUP_ASSIGN(StoredFile stored_signature, store_bytes(dir, signature));
  ECUUP_TRY(drop_statement_artifacts(module->id));
  ECUUP_TRY(put_artifact(module->id, filename, stored_statement, ArtifactRole::statement));
  ECUUP_TRY(put_artifact(module->id, filename + std::string(k_signature_suffix), stored_signature,
                         ArtifactRole::signature));
  StatementFacts facts{parsed.hardware, parsed.security_version, parsed.expires_unix};
  ECUUP_TRY(set_statement_state(module->id, StatementState::uploaded, facts));
  ECUUP_TRY(tx.commit());
  return this->module(module->id);
}

Result<bool> Store::sign_pending(std::int64_t module_id) {
  if (!m_signing_key) return false;
  ECUUP_ASSIGN(auto tx, Transaction::begin(*m_conn));
  ECUUP_ASSIGN(bool signed_now, sign_in_transaction(module_id));
  ECUUP_TRY(tx.commit());
  return signed_now;
}

Result<std::vector<std::int64_t>> Store::pending_statements() {
  ECUUP_ASSIGN(auto q, m_conn->prepare("SELECT id FROM modules WHERE statement='pending' ORDER BY id"));
  q->reset();
  std::vector<std::int64_t> out;
  for (;;) {
    ECUUP_ASSIGN(bool row, q->step());
    if (!row) break;
    out.push_back(q->column_int(0));
  }
  return out;
}

Result<ModuleInfo> Store::module(std::int64_t module_id) {
  ModuleInfo m;
  m.id = module_id;
  ECUUP_TRY(load_module_row(m));
  return m;
}

Result<std::optional<ModuleInfo>> Store::find_module(const std::string& part, const std::string& version) {
  std::int64_t id = 0;
  {
    ECUUP_ASSIGN(auto q, m_conn->prepare("SELECT id FROM modules WHERE part=?1 AND version=?2"));
    q->bind_all(part, version);
    ECUUP_ASSIGN(bool row, q->step());
    if (!row) return std::optional<ModuleInfo>();
    id = q->column_int(0);
  }
  ECUUP_ASSIGN(ModuleInfo m, module(id));
  return std::optional<ModuleInfo>(std::move(m));
}

// Fills `module` (its id set) from its row and its artifacts.
Result<void> Store::load_module_row(ModuleInfo& module) {
  {
    ECUUP_ASSIGN(auto q, m_conn->prepare(
        "SELECT part, version, created_at, statement, hardware, security_version, expires_at FROM modules"
        " WHERE id=?1"));
    q->bind_all(module.id);
    ECUUP_ASSIGN(bool row, q->step());
    if (!row) return make_error(Errc::not_found, "no software module " + std::to_string(module.id));
    module.part = q->column_text(0);
    module.version = q->column_text(1);
    module.created_at = q->column_int(2);
    module.statement = parse_statement_state(q->column_text(3));
    module.facts = {};
    auto hardware = nlohmann::json::parse(q->column_text(4), nullptr, false);
    if (hardware.is_array()) {
      for (const auto& h : hardware) {
        if (h.is_string()) module.facts.hardware.push_back(h.get<std::string>());
      }
    }
    module.facts.security_version = static_cast<std::uint64_t>(q->column_int(5));
    module.facts.expires_at = q->column_int(6);
  }
  ECUUP_ASSIGN(module.artifacts, module_artifacts(module.id));
  return success();
}

Result<void> Store::put_artifact(std::int64_t module_id, const std::string& filename, const StoredFile& file,
                                 ArtifactRole role) {
  ECUUP_ASSIGN(auto put, m_conn->prepare(
      "INSERT INTO artifacts(module_id, filename, size, sha1, md5, sha256, created_at, role)"
      " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(module_id, filename) DO UPDATE SET"
      " size=excluded.size, sha1=excluded.sha1, md5=excluded.md5, sha256=excluded.sha256,"
      " created_at=excluded.created_at, role=excluded.role"));
  put->bind_all(module_id, filename, file.size, file.sha1, file.md5, file.sha256, unix_now(),
                artifact_role_name(role));
  return put->run();
}

Result<void> Store::set_statement_state(std::int64_t module_id, StatementState state,
                                        const std::optional<StatementFacts>& facts) {
  if (facts) {
    ECUUP_ASSIGN(auto q, m_conn->prepare(
        "UPDATE modules SET statement=?2, hardware=?3, security_version=?4, expires_at=?5 WHERE id=?1"));
    q->bind_all(module_id, statement_state_name(state), nlohmann::json(facts->hardware).dump(),
                static_cast<std::int64_t>(facts->security_version), facts->expires_at);
    return q->run();
  }
  ECUUP_ASSIGN(auto q, m_conn->prepare("UPDATE modules SET statement=?2 WHERE id=?1"));
  q->bind_all(module_id, statement_state_name(state));
  return q->run();
}

Result<void> Store::drop_statement_artifacts(std::int64_t module_id) {
  ECUUP_ASSIGN(auto q, m_conn->prepare("DELETE FROM artifacts WHERE module_id=?1 AND role<>'software'"));
  q->bind_all(module_id);
  return q->run();
}

Result<void> Store::invalidate_statement(std::int64_t module_id) {
  ECUUP_ASSIGN(ModuleInfo m, module(module_id));
  switch (m.statement) {
    case StatementState::none:
    case StatementState::pending: return success();
    case StatementState::signed_by_server:
      ECUUP_TRY(drop_statement_artifacts(module_id));
      return set_statement_state(module_id, StatementState::pending, std::nullopt);
    case StatementState::uploaded:
      // Someone else's signature over other artifacts: nothing the server may stand in for.
      ECUUP_TRY(drop_statement_artifacts(module_id));
      return set_statement_state(module_id, StatementState::none, std::nullopt);
  }
  return success();
}

// Writes and signs the statement of a pending module (the caller holds a write transaction).
Result<bool> Store::sign_in_transaction(std::int64_t module_id) {
  if (!m_signing_key) return false;
  ECUUP_ASSIGN(ModuleInfo m, module(module_id));
  if (m.statement != StatementState::pending) return false;
  ReleaseStatement statement = make_statement(m, m.facts);
  if (statement.artifacts.empty()) return false;  // nothing to vouch for yet
  std::string text = release_statement_json(statement);
  std::string what = "release statement of " + m.part + " " + m.version;
  // Never sign what a client would refuse to read.
  ECUUP_TRY(parse_release_statement(text).with_context(what));
  ECUUP_ASSIGN(std::string signature,
               sign_detached(text, m_signing_key->cert, m_signing_key->key).with_context("sign " + what));
  auto dir = m_data_dir / k_artifact_dir;
  ECUUP_ASSIGN(StoredFile stored_statement, store_bytes(dir, text));
  ECUUP_ASSIGN(StoredFile stored_signature, store_bytes(dir, signature));
  std::string name = statement_name(m.part, m.version);
  ECUUP_TRY(drop_statement_artifacts(module_id));
  ECUUP_TRY(put_artifact(module_id, name, stored_statement, ArtifactRole::statement));
  ECUUP_TRY(put_artifact(module_id, name + std::string(k_signature_suffix), stored_signature,
                         ArtifactRole::signature));
  ECUUP_TRY(set_statement_state(module_id, StatementState::signed_by_server, std::nullopt));
  return true;
}

Result<std::string> Store::add_vehicle(const std::string& id, const std::string& token) {
  if (id.empty() || id.find('/') != std::string::npos) {
    return make_error(Errc::usage, "bad vehicle id '" + id + "'");
  }
  std::string t = token;
  if (t.empty()) {
    ECUUP_ASSIGN(t, random_token());
  }
  ECUUP_ASSIGN(std::string hashed, hash_token(t));
  ECUUP_ASSIGN(auto tx, Transaction::begin(*m_conn));
  ECUUP_ASSIGN(bool exists, vehicle_exists(id));
  if (exists) {
    if (token.empty()) return make_error(Errc::usage, "vehicle " + id + " is already registered");
    ECUUP_ASSIGN(auto q, m_conn->prepare("UPDATE vehicles SET token_hash=?2 WHERE id=?1"));
    q->bind_all(id, hashed);
    ECUUP_TRY(q->run());
  } else {
    ECUUP_ASSIGN(auto q, m_conn->prepare(
        "INSERT INTO vehicles(id, token_hash, created_at) VALUES(?1, ?2, ?3)"));
    q->bind_all(id, hashed, unix_now());
    ECUUP_TRY(q->run());
  }
  ECUUP_TRY(tx.commit());
  return t;
}

Result<std::vector<AssignOutcome>> Store::assign(const std::string& part, const std::string& version,
                                                 const VehicleSelector& selector, UpdateMode mode) {
  ECUUP_ASSIGN(auto tx, Transaction::begin(*m_conn));
  std::int64_t module_id = 0;
  {
    ECUUP_ASSIGN(auto q, m_conn->prepare("SELECT id FROM modules WHERE part=?1 AND version=?2"));
    q->bind_all(part, version);
    ECUUP_ASSIGN(bool row, q->step());
    if (!row) {
      return make_error(Errc::not_found, "no software uploaded for part " + part + " version " + version);
    }
    module_id = q->column_int(0);
  }
  std::vector<std::string> ids;
  if (selector.vehicle) {
    ECUUP_ASSIGN(bool exists, vehicle_exists(*selector.vehicle));
    if (!exists) return make_error(Errc::not_found, "vehicle " + *selector.vehicle + " is not registered");
    ids.push_back(*selector.vehicle);
  } else {
    std::string sql = selector.match
                          ? "SELECT vehicle_id FROM attributes WHERE key=?1 AND value=?2 ORDER BY vehicle_id"
                          : "SELECT id FROM vehicles ORDER BY id";
    ECUUP_ASSIGN(auto q, m_conn->prepare(sql));
    if (selector.match) {
      q->bind_all(selector.match->first, selector.match->second);
    } else {
      q->reset();
    }
    for (;;) {
      ECUUP_ASSIGN(bool row, q->step());
      if (!row) break;
      ids.push_back(q->column_text(0));
    }
  }
  std::vector<AssignOutcome> out;
  for (const auto& id : ids) {
    ECUUP_ASSIGN(auto put, m_conn->prepare(
        "INSERT INTO assignments(vehicle_id, part, module_id, mode, assigned_at) VALUES(?1, ?2, ?3, ?4, ?5)"
        " ON CONFLICT(vehicle_id, part) DO UPDATE SET module_id=excluded.module_id,"
        " mode=excluded.mode, assigned_at=excluded.assigned_at"));
    put->bind_all(id, part, module_id, update_mode_name(mode), unix_now());
    ECUUP_TRY(put->run());
    ECUUP_TRY(reconcile(id, Trigger::assignment));
    ECUUP_ASSIGN(auto open, open_action_of(id));
    out.push_back({id, open ? open->first : 0});
  }
  ECUUP_TRY(tx.commit());
  return out;
}

Result<std::int64_t> Store::cancel(const std::string& vehicle) {
  ECUUP_ASSIGN(auto tx, Transaction::begin(*m_conn));
  ECUUP_ASSIGN(auto open, open_action_of(vehicle));
  if (!open) return make_error(Errc::not_found, "vehicle " + vehicle + " has no open action");
  if (open->second == ActionState::open) {
    ECUUP_ASSIGN(auto q, m_conn->prepare("UPDATE actions SET state='canceling' WHERE id=?1"));
    q->bind_all(open->first);
    ECUUP_TRY(q->run());
    ECUUP_TRY(add_feedback(open->first, "server", {"canceled", "none", {}, {}, {"cancel requested"}}));
  }
  ECUUP_TRY(tx.commit());
  return open->first;
}

Result<std::vector<VehicleInfo>> Store::vehicles() {
  std::vector<VehicleInfo> out;
  {
    ECUUP_ASSIGN(auto q, m_conn->prepare(
        "SELECT id, created_at, reported_at,"
        " (SELECT id FROM actions WHERE vehicle_id=v.id AND state<>'closed' ORDER BY id DESC LIMIT 1)"
        " FROM vehicles v ORDER BY id"));
    q->reset();
    for (;;) {
      ECUUP_ASSIGN(bool row, q->step());
      if (!row) break;
      VehicleInfo v;
      v.id = q->column_text(0);
      v.created_at = q->column_int(1);
      v.reported_at = q->column_null(2) ? 0 : q->column_int(2);
      v.open_action = q->column_int(3);
      out.push_back(std::move(v));
    }
  }
  const std::string prefix = k_version_key_prefix;
  const std::string suffix = k_version_key_suffix;
  for (auto& v : out) {
    {
      ECUUP_ASSIGN(auto q, m_conn->prepare("SELECT key, value FROM attributes WHERE vehicle_id=?1"));
      q->bind_all(v.id);
      for (;;) {
        ECUUP_ASSIGN(bool row, q->step());
        if (!row) break;
        std::string key = q->column_text(0);
        std::string value = q->column_text(1);
        if (key.size() > prefix.size() + suffix.size() && key.starts_with(prefix) &&
            key.ends_with(suffix)) {
          v.reported[key.substr(prefix.size(), key.size() - prefix.size() - suffix.size())] = value;
        }
        v.attributes[key] = value;
      }
    }
    ECUUP_ASSIGN(auto q, m_conn->prepare(
        "SELECT a.part, m.version FROM assignments a JOIN modules m ON m.id=a.module_id"
        " WHERE a.vehicle_id=?1"));
    q->bind_all(v.id);
    for (;;) {
      ECUUP_ASSIGN(bool row, q->step());
      if (!row) break;
      v.assigned[q->column_text(0)] = q->column_text(1);
    }
  }
  return out;
}

Result<std::vector<ActionDetails>> Store::actions(const std::optional<std::string>& vehicle) {
  std::vector<std::int64_t> ids;
  {
    ECUUP_ASSIGN(auto q, m_conn->prepare(
        "SELECT id FROM actions WHERE ?1 IS NULL OR vehicle_id=?1 ORDER BY id"));
    q->bind_all(std::nullopt);
    if (vehicle) q->bind(1, *vehicle);
    for (;;) {
      ECUUP_ASSIGN(bool row, q->step());
      if (!row) break;
      ids.push_back(q->column_int(0));
    }
  }
  std::vector<ActionDetails> out;
  for (auto id : ids) {
    ECUUP_ASSIGN(auto a, load_action(id, -1));
    if (a) out.push_back(std::move(*a));
  }
  return out;
}

Result<std::vector<ModuleInfo>> Store::modules() {
  std::vector<ModuleInfo> out;
  {
    ECUUP_ASSIGN(auto q, m_conn->prepare("SELECT id FROM modules ORDER BY part, id"));
    q->reset();
    for (;;) {
      ECUUP_ASSIGN(bool row, q->step());
      if (!row) break;
      ModuleInfo m;
      m.id = q->column_int(0);
      out.push_back(std::move(m));
    }
  }
  for (auto& m : out) ECUUP_TRY(load_module_row(m));
  return out;
}

}  // namespace ecuup::server
