#pragma once
// A thin RAII layer over the SQLite C API: a Connection is used by one thread at a time (the
// server lends them out, store_pool.hpp), statements are prepared once and cached by their SQL
// text, so a hot path (a DDI poll) only binds, steps and resets.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "util/result.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace ecuup::server {

class Statement {
 public:
  Statement(sqlite3* db, sqlite3_stmt* stmt) : m_db(db), m_stmt(stmt) {}
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Bind positional parameters (1-based) in order; resets the statement first.
  template <class... Args>
  Statement& bind_all(const Args&... args) {
    reset();
    int index = 1;
    (bind(index++, args), ...);
    return *this;
  }
  void bind(int index, std::int64_t value);
  void bind(int index, int value) { bind(index, static_cast<std::int64_t>(value)); }
  void bind(int index, std::string_view value);
  void bind(int index, const std::string& value) { bind(index, std::string_view(value)); }
  void bind(int index, const char* value) { bind(index, std::string_view(value)); }
  void bind(int index, std::nullopt_t);

  // true: a row is available; false: done. Errors become Errc::io with SQLite's message.
  Result<bool> step();
  // Run to completion (for statements without result rows).
  Result<void> run();

  std::int64_t column_int(int col) const;
  std::string column_text(int col) const;
  bool column_null(int col) const;

  void reset();

 private:
  sqlite3* m_db;
  sqlite3_stmt* m_stmt;
};

// A use of a cached Statement: resets it when the use ends, so a half-read statement never keeps
// a read transaction (and a stale WAL snapshot) open.
class Query {
 public:
  explicit Query(Statement* stmt) : m_stmt(stmt) {}
  Query(Query&& other) noexcept : m_stmt(other.m_stmt) { other.m_stmt = nullptr; }
  Query& operator=(Query&&) = delete;
  ~Query() {
    if (m_stmt) m_stmt->reset();
  }
  Statement* operator->() const { return m_stmt; }
  Statement& operator*() const { return *m_stmt; }

 private:
  Statement* m_stmt;
};

// read_only: the connection refuses to write (PRAGMA query_only), so a reader lent out for a
// query can never change the database behind the writer's back.
enum class Access { read_write, read_only };

class Connection {
 public:
  // Each connection keeps its own page cache of at most this many KiB (SQLite's default is about
  // 2 MB); the server's memory is this times its few connections, whatever the fleet's size.
  static constexpr int k_cache_kib = 2048;
  static Result<std::unique_ptr<Connection>> open(const std::string& path, Access access = Access::read_write);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // The cached prepared statement for `sql` (prepared on first use).
  Result<Query> prepare(const std::string& sql);
  Result<void> exec(const std::string& sql);
  std::int64_t last_insert_id() const;
  int changes() const;

 private:
  explicit Connection(sqlite3* db) : m_db(db) {}
  sqlite3* m_db;
  std::unordered_map<std::string, std::unique_ptr<Statement>> m_cache;
};

// BEGIN IMMEDIATE ... COMMIT; rolls back when destroyed uncommitted. IMMEDIATE takes the write
// lock up front, so two writers never deadlock upgrading from a read transaction.
class Transaction {
 public:
  static Result<Transaction> begin(Connection& conn);
  Transaction(Transaction&& other) noexcept : m_conn(other.m_conn) { other.m_conn = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  Result<void> commit();

 private:
  explicit Transaction(Connection& conn) : m_conn(&conn) {}
  Connection* m_conn;
};

}  // namespace ecuup::server
