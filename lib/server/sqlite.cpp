#include "server/sqlite.hpp"

#include <sqlite3.h>

namespace ecuup::server {

namespace {
// A writer waits this long for another process's (the admin CLI's) write lock.
constexpr int k_busy_timeout_ms = 10000;

Error sqlite_error(sqlite3* db, const std::string& what) {
  return make_error(Errc::io, what + ": " + sqlite3_errmsg(db));
}
}  // namespace

Statement::~Statement() { sqlite3_finalize(m_stmt); }

void Statement::bind(int index, std::int64_t value) { sqlite3_bind_int64(m_stmt, index, value); }

void Statement::bind(int index, std::string_view value) {
  sqlite3_bind_text(m_stmt, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
}

void Statement::bind(int index, std::nullopt_t) { sqlite3_bind_null(m_stmt, index); }

Result<bool> Statement::step() {
  int rc = sqlite3_step(m_stmt);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Error err = sqlite_error(m_db, std::string("SQL \"") + sqlite3_sql(m_stmt) + "\"");
  sqlite3_reset(m_stmt);
  return err;
}

Result<void> Statement::run() {
  ECUUP_ASSIGN(bool row, step());
  while (row) {
    ECUUP_ASSIGN(row, step());
  }
  reset();
  return success();
}

std::int64_t Statement::column_int(int col) const { return sqlite3_column_int64(m_stmt, col); }

std::string Statement::column_text(int col) const {
  const auto* text = sqlite3_column_text(m_stmt, col);
  if (!text) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<std::size_t>(sqlite3_column_bytes(m_stmt, col)));
}

bool Statement::column_null(int col) const { return sqlite3_column_type(m_stmt, col) == SQLITE_NULL; }

void Statement::reset() {
  sqlite3_reset(m_stmt);
  sqlite3_clear_bindings(m_stmt);
}

Result<std::unique_ptr<Connection>> Connection::open(const std::string& path, Access access) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
  if (sqlite3_open_v2(path.c_str(), &db, flags, nullptr) != SQLITE_OK) {
    Error err = make_error(Errc::io, "open database " + path + ": " +
                                         (db ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close(db);
    return err;
  }
  sqlite3_busy_timeout(db, k_busy_timeout_ms);
  auto conn = std::unique_ptr<Connection>(new Connection(db));
  // WAL: readers never block the writer or each other; NORMAL sync is durable across process
  // crashes (only a power loss may drop the last commits).
  ECUUP_TRY(conn->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"));
  ECUUP_TRY(conn->exec("PRAGMA cache_size=-" + std::to_string(k_cache_kib)));
  if (access == Access::read_only) ECUUP_TRY(conn->exec("PRAGMA query_only=ON"));
  return conn;
}

Connection::~Connection() {
  m_cache.clear();
  sqlite3_close(m_db);
}

Result<Query> Connection::prepare(const std::string& sql) {
  auto it = m_cache.find(sql);
  if (it != m_cache.end()) return Query(it->second.get());
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v3(m_db, sql.c_str(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &stmt, nullptr) != SQLITE_OK) {
    return sqlite_error(m_db, "prepare \"" + sql + "\"");
  }
  auto* raw = new Statement(m_db, stmt);
  m_cache.emplace(sql, std::unique_ptr<Statement>(raw));
  return Query(raw);
}

Result<void> Connection::exec(const std::string& sql) {
  char* message = nullptr;
  if (sqlite3_exec(m_db, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message ? message : sqlite3_errmsg(m_db);
    sqlite3_free(message);
    return make_error(Errc::io, "SQL \"" + sql.substr(0, 60) + "\": " + text);
  }
  return success();
}

std::int64_t Connection::last_insert_id() const { return sqlite3_last_insert_rowid(m_db); }

int Connection::changes() const { return sqlite3_changes(m_db); }

Result<Transaction> Transaction::begin(Connection& conn) {
  ECUUP_TRY(conn.exec("BEGIN IMMEDIATE"));
  return Transaction(conn);
}

Transaction::~Transaction() {
  if (m_conn) (void)m_conn->exec("ROLLBACK");
}

Result<void> Transaction::commit() {
  Connection* conn = m_conn;
  m_conn = nullptr;
  return conn->exec("COMMIT");
}

}  // namespace ecuup::server
