#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "server/sqlite.hpp"
#include "server/store.hpp"
#include "support/temp_dir.hpp"
#include "support/test_keys.hpp"
#include "server/token_hash.hpp"
#include "trust/keyring.hpp"
#include "trust/statement.hpp"
#include "util/fs.hpp"

using namespace ecuup;
using namespace ecuup::server;
using ecuup::test::TempDir;

namespace {

std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every byte SQLite keeps for the data directory: the database and its WAL.
std::string database_bytes(const std::filesystem::path& dir) {
  return slurp(dir / Store::k_db_file) + slurp(dir / (std::string(Store::k_db_file) + "-wal"));
}

mode_t mode_of(const std::filesystem::path& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

std::filesystem::path write_file(const std::filesystem::path& path, const std::string& content) {
  REQUIRE(write_file_atomic(path, std::string_view(content)));
  return path;
}

StatementFacts facts(std::vector<std::string> hardware = {"HW-1"}) {
  return {std::move(hardware), 3, unix_now() + 3600};
}

const ArtifactInfo* find_role(const ModuleInfo& m, ArtifactRole role) {
  for (const auto& a : m.artifacts) {
    if (a.role == role) return &a;
  }
  return nullptr;
}

// The schema ecuup-server 0.1 wrote (user_version 1): vehicle tokens in plain text.
const char* k_schema_v1 = R"sql(
CREATE TABLE vehicles(id TEXT PRIMARY KEY, token TEXT NOT NULL, created_at INTEGER NOT NULL,
  reported_at INTEGER, attributes_requested INTEGER NOT NULL DEFAULT 1);
CREATE TABLE attributes(vehicle_id TEXT NOT NULL REFERENCES vehicles(id) ON DELETE CASCADE, key TEXT NOT NULL,
  value TEXT NOT NULL, PRIMARY KEY(vehicle_id, key)) WITHOUT ROWID;
CREATE TABLE modules(id INTEGER PRIMARY KEY AUTOINCREMENT, part TEXT NOT NULL, version TEXT NOT NULL,
  created_at INTEGER NOT NULL, UNIQUE(part, version));
CREATE TABLE artifacts(module_id INTEGER NOT NULL REFERENCES modules(id), filename TEXT NOT NULL,
  size INTEGER NOT NULL, sha1 TEXT NOT NULL, md5 TEXT NOT NULL, sha256 TEXT NOT NULL, created_at INTEGER NOT NULL,
  PRIMARY KEY(module_id, filename));
PRAGMA user_version=1;
)sql";

}  // namespace

TEST_CASE("store: vehicle tokens are stored as hashes and still authenticate", "[server][store]") {
  TempDir dir;
  auto store = Store::open(dir.path());
  REQUIRE(store);
  const std::string token = "3f1c0a9be27d4c55a1f0e6d2b8c47a19";
  auto added = (*store)->add_vehicle("V1", token);
  REQUIRE(added);
  CHECK(*added == token);
  auto generated = (*store)->add_vehicle("V2", "");
  REQUIRE(generated);
  auto state = (*store)->poll_state("V1");
  REQUIRE(state);
  REQUIRE(*state);
  CHECK(is_token_hash((*state)->token_hash));
  CHECK(token_matches((*state)->token_hash, token));
  auto bytes = database_bytes(dir.path());
  CHECK(bytes.find(token) == std::string::npos);
  CHECK(bytes.find(*generated) == std::string::npos);
}

TEST_CASE("store: a schema 1 database's plain tokens are hashed on open and leave no trace",
          "[server][store]") {
  TempDir dir;
  const std::string token = "plain-token-0123456789abcdef";
  {
    auto conn = Connection::open((dir.path() / Store::k_db_file).string());
    REQUIRE(conn);
    REQUIRE((*conn)->exec(k_schema_v1));
    REQUIRE((*conn)->exec("INSERT INTO vehicles(id, token, created_at) VALUES('V1', '" + token + "', 1)"));
  }
  REQUIRE(database_bytes(dir.path()).find(token) != std::string::npos);
  {
    auto store = Store::open(dir.path());
    REQUIRE(store);
    auto state = (*store)->poll_state("V1");
    REQUIRE(state);
    REQUIRE(*state);
    CHECK(token_matches((*state)->token_hash, token));
    CHECK(database_bytes(dir.path()).find(token) == std::string::npos);
  }
  CHECK(database_bytes(dir.path()).find(token) == std::string::npos);
  // Opening it again changes nothing.
  auto again = Store::open(dir.path());
  REQUIRE(again);
  auto state = (*again)->poll_state("V1");
  REQUIRE(state);
  CHECK(token_matches((**state).token_hash, token));
}

TEST_CASE("store: the data directory is 0700 and the database files 0600 whatever the umask", "[server][store]") {
  TempDir dir;
  auto data = dir.path() / "data";
  mode_t old = ::umask(0);
  auto store = Store::open(data);
  REQUIRE(store);
  REQUIRE((*store)->add_vehicle("V1", ""));
  ::umask(old);
  CHECK(mode_of(data) == 0700);
  CHECK(mode_of(data / Store::k_artifact_dir) == 0700);
  CHECK(mode_of(data / Store::k_db_file) == 0600);
  CHECK(mode_of(data / (std::string(Store::k_db_file) + "-wal")) == 0600);
  CHECK(mode_of(data / (std::string(Store::k_db_file) + "-shm")) == 0600);
}

TEST_CASE("store: configData quotas", "[server][store]") {
  TempDir dir;
  auto store = Store::open(dir.path());
  REQUIRE(store);
  REQUIRE((*store)->add_vehicle("V1", ""));
  auto long_key = (*store)->put_config_data("V1", ConfigMode::merge, {{std::string(200, 'k'), "v"}});
  REQUIRE_FALSE(long_key);
  CHECK(long_key.error().code == Errc::usage);
  std::map<std::string, std::string> many;
  for (std::size_t i = 0; i <= Store::k_max_attributes; ++i) many["key" + std::to_string(i)] = "v";
  auto too_many = (*store)->put_config_data("V1", ConfigMode::merge, many);
  REQUIRE_FALSE(too_many);
  CHECK(too_many.error().code == Errc::usage);
  many.erase(many.begin());
  CHECK((*store)->put_config_data("V1", ConfigMode::merge, many));
}

TEST_CASE("store: statement facts without a key stay pending; with one the server signs them", "[server][store]") {
  TempDir dir;
  auto pki = ecuup::test::make_test_pki(dir.path(), "sign", ecuup::test::KeyKind::ecdsa);
  auto store = Store::open(dir.path() / "data");
  REQUIRE(store);
  auto app = write_file(dir / "app.bin", "application image");
  auto pending = (*store)->upload("bms", "2.0.0", app, "app.bin", facts({"HW-1", "HW-2"}));
  REQUIRE(pending);
  CHECK(pending->statement == StatementState::pending);
  CHECK(pending->artifacts.size() == 1);
  auto ids = (*store)->pending_statements();
  REQUIRE(ids);
  CHECK(*ids == std::vector<std::int64_t>{pending->id});

  SigningKey key{pki.cert, pki.key};
  (*store)->set_signing_key(&key);
  auto signed_now = (*store)->sign_pending(pending->id);
  REQUIRE(signed_now);
  CHECK(*signed_now);
  auto module = (*store)->module(pending->id);
  REQUIRE(module);
  CHECK(module->statement == StatementState::signed_by_server);
  const ArtifactInfo* statement = find_role(*module, ArtifactRole::statement);
  const ArtifactInfo* signature = find_role(*module, ArtifactRole::signature);
  REQUIRE(statement);
  REQUIRE(signature);
  CHECK(statement->filename == "bms-2.0.0.release.json");
  CHECK(signature->filename == "bms-2.0.0.release.json.p7s");
  std::string text = slurp((*store)->artifact_file(*statement));
  CHECK(static_cast<std::int64_t>(text.size()) == statement->size);

  auto keyring = Keyring::load(pki.ca);
  REQUIRE(keyring);
  auto verified = verify_release_statement(*keyring, text, slurp((*store)->artifact_file(*signature)),
                                           std::chrono::system_clock::now());
  REQUIRE(verified);
  CHECK(verified->part == "bms");
  CHECK(verified->version == "2.0.0");
  CHECK(verified->hardware == std::vector<std::string>{"HW-1", "HW-2"});
  CHECK(verified->security_version == 3);
  REQUIRE(verified->artifacts.size() == 1);
  CHECK(verified->artifacts[0].name == "app.bin");
  CHECK(verified->artifacts[0].sha256 == module->artifacts[0].sha256);

  // Another artifact: the statement is signed again and covers both.
  auto cal = write_file(dir / "cal.bin", "calibration");
  auto more = (*store)->upload("bms", "2.0.0", cal, "cal.bin");
  REQUIRE(more);
  CHECK(more->statement == StatementState::signed_by_server);
  const ArtifactInfo* resigned = find_role(*more, ArtifactRole::statement);
  REQUIRE(resigned);
  auto reparsed = parse_release_statement(slurp((*store)->artifact_file(*resigned)));
  REQUIRE(reparsed);
  CHECK(reparsed->artifacts.size() == 2);
}

TEST_CASE("store: bad statement facts and reserved names are refused", "[server][store]") {
  TempDir dir;
  auto store = Store::open(dir.path() / "data");
  REQUIRE(store);
  auto app = write_file(dir / "app.bin", "x");
  auto reserved = (*store)->upload("bms", "1.0", app, "app.release.json");
  REQUIRE_FALSE(reserved);
  CHECK(reserved.error().code == Errc::usage);
  auto expired = (*store)->upload("bms", "1.0", app, "app.bin", StatementFacts{{"HW"}, 0, unix_now() - 1});
  REQUIRE_FALSE(expired);
  CHECK(expired.error().code == Errc::usage);
  auto missing = (*store)->set_statement_facts("nope", "1.0", facts());
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::not_found);
  CHECK_FALSE(make_statement_facts({}, "", ""));
  CHECK_FALSE(make_statement_facts({"A,,B"}, "", ""));
  CHECK_FALSE(make_statement_facts({"A"}, "-1", ""));
  CHECK_FALSE(make_statement_facts({"A"}, "", "2027-06-30"));
  auto made = make_statement_facts({"A,B", "C"}, "7", "2027-06-30T00:00:00Z");
  REQUIRE(made);
  CHECK(made->hardware == std::vector<std::string>{"A", "B", "C"});
  CHECK(made->security_version == 7);
  CHECK(made->expires_at == 1814313600);
}

TEST_CASE("store: an uploaded statement must list exactly the module's software, and is served unchanged",
          "[server][store]") {
  TempDir dir;
  auto pki = ecuup::test::make_test_pki(dir.path(), "oem", ecuup::test::KeyKind::rsa);
  auto store = Store::open(dir.path() / "data");
  REQUIRE(store);
  auto app = write_file(dir / "app.bin", "application image");
  auto module = (*store)->upload("bms", "2.0.0", app, "app.bin");
  REQUIRE(module);
  ReleaseStatement s{"bms", "2.0.0", {"HW-1"}, 1, "2030-01-01T00:00:00Z", 1893456000,
                     {{"app.bin", module->artifacts[0].sha256, static_cast<std::uint64_t>(module->artifacts[0].size)}}};
  std::string text = release_statement_json(s);
  auto signature = sign_detached(text, pki.cert, pki.key);
  REQUIRE(signature);

  auto wrong = s;
  wrong.artifacts[0].size += 1;
  auto refused = (*store)->upload_statement("bms", "2.0.0", "bms.release.json", release_statement_json(wrong), *signature);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::verify);
  auto bad_name = (*store)->upload_statement("bms", "2.0.0", "bms.json", text, *signature);
  REQUIRE_FALSE(bad_name);
  CHECK(bad_name.error().code == Errc::usage);

  auto uploaded = (*store)->upload_statement("bms", "2.0.0", "oem.release.json", text, *signature);
  REQUIRE(uploaded);
  CHECK(uploaded->statement == StatementState::uploaded);
  CHECK(uploaded->facts.hardware == std::vector<std::string>{"HW-1"});
  const ArtifactInfo* statement = find_role(*uploaded, ArtifactRole::statement);
  const ArtifactInfo* sig = find_role(*uploaded, ArtifactRole::signature);
  REQUIRE(statement);
  REQUIRE(sig);
  CHECK(sig->filename == "oem.release.json.p7s");
  CHECK(slurp((*store)->artifact_file(*statement)) == text);
  CHECK(slurp((*store)->artifact_file(*sig)) == *signature);

  // New software: the uploaded statement no longer covers the module and is dropped.
  auto cal = write_file(dir / "cal.bin", "calibration");
  auto changed = (*store)->upload("bms", "2.0.0", cal, "cal.bin");
  REQUIRE(changed);
  CHECK(changed->statement == StatementState::none);
  CHECK(changed->artifacts.size() == 2);
  CHECK_FALSE(find_role(*changed, ArtifactRole::statement));
}

TEST_CASE("store: an action keeps its newest feedback entries only", "[server][store]") {
  TempDir dir;
  auto store = Store::open(dir.path() / "data");
  REQUIRE(store);
  REQUIRE((*store)->upload("bms", "2.0", write_file(dir / "app.bin", "x"), "app.bin"));
  REQUIRE((*store)->add_vehicle("V1", ""));
  REQUIRE((*store)->put_config_data("V1", ConfigMode::merge, {{"ecu.bms.version", "1.0"}}));
  auto assigned = (*store)->assign("bms", "2.0", *make_selector("V1", false, ""), UpdateMode::forced);
  REQUIRE(assigned);
  REQUIRE(assigned->size() == 1);
  std::int64_t action = assigned->front().action;
  REQUIRE(action != 0);
  const auto total = Store::k_max_feedback_per_action + 50;
  for (std::int64_t i = 0; i < total; ++i) {
    auto recorded = (*store)->deployment_feedback("V1", action, {"proceeding", "none", i, total, {}});
    REQUIRE(recorded);
  }
  auto details = (*store)->action("V1", action, -1);
  REQUIRE(details);
  REQUIRE(*details);
  const auto& history = (*details)->history;
  REQUIRE(static_cast<std::int64_t>(history.size()) == Store::k_max_feedback_per_action);
  CHECK(history.back().progress_cnt == total - 1);
  CHECK(history.front().progress_cnt == total - Store::k_max_feedback_per_action);
}
