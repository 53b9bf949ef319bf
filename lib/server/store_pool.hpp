#pragma once
// The server's database connections: a few read-only Stores lent to whichever worker needs one,
// and exactly one writing Store that requests take in turn. SQLite in WAL mode lets the readers
// run beside the writer; serialising the writes here means no two of them ever wait on SQLite's
// lock. Memory is the page caches of at most `max_readers` + 1 connections: it grows neither
// with the fleet nor with the number of threads that ever served a request.
#include <condition_variable>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>

#include "server/store.hpp"
#include "util/result.hpp"

namespace ecuup::server {

class StorePool {
 public:
  // Opens the writer (creating or upgrading the schema); readers are opened when first needed.
  static Result<std::unique_ptr<StorePool>> open(const std::filesystem::path& data_dir, std::size_t max_readers);
  StorePool(const StorePool&) = delete;
  StorePool& operator=(const StorePool&) = delete;

  // The key every Store of the pool signs pending statements with (only the writer can).
  void set_signing_key(const SigningKey* key);

  // A Store lent until the lease ends.
  class Lease {
   public:
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Store& operator*() const { return *m_store; }
    Store* operator->() const { return m_store; }

   private:
    friend class StorePool;
    Lease(StorePool* pool, Store* store, bool writer) : m_pool(pool), m_store(store), m_writer(writer) {}
    StorePool* m_pool;
    Store* m_store;
    bool m_writer;
  };

  // A read-only Store; waits while all `max_readers` are lent. Errc::io if a new connection
  // cannot be opened.
  Result<Lease> read();
  // The writing Store; waits while another request holds it.
  Lease write();

  // Read connections opened so far (at most max_readers).
  std::size_t readers_open() const;

 private:
  StorePool(std::filesystem::path data_dir, std::size_t max_readers, std::unique_ptr<Store> writer)
      : m_data_dir(std::move(data_dir)), m_max_readers(max_readers), m_writer(std::move(writer)) {}
  void give_back(Store* store, bool writer);

  const std::filesystem::path m_data_dir;
  const std::size_t m_max_readers;
  const SigningKey* m_signing_key = nullptr;

  std::unique_ptr<Store> m_writer;
  std::mutex m_writer_mutex;
  std::condition_variable m_writer_free;
  bool m_writer_lent = false;

  mutable std::mutex m_readers_mutex;
  std::condition_variable m_reader_free;
  std::vector<std::unique_ptr<Store>> m_readers;  // every reader opened
  std::vector<Store*> m_idle;                     // those not lent
};

}  // namespace ecuup::server
