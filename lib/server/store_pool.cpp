#include "server/store_pool.hpp"

#include <algorithm>

namespace ecuup::server {

Result<std::unique_ptr<StorePool>> StorePool::open(const std::filesystem::path& data_dir, std::size_t max_readers) {
  ECUUP_ASSIGN(auto writer, Store::open(data_dir, Store::Schema::create, Access::read_write));
  return std::unique_ptr<StorePool>(new StorePool(data_dir, std::max<std::size_t>(1, max_readers), std::move(writer)));
}

void StorePool::set_signing_key(const SigningKey* key) {
  std::scoped_lock lock(m_writer_mutex, m_readers_mutex);
  m_signing_key = key;
  m_writer->set_signing_key(key);
  for (auto& reader : m_readers) reader->set_signing_key(key);
}

Result<StorePool::Lease> StorePool::read() {
  std::unique_lock lock(m_readers_mutex);
  m_reader_free.wait(lock, [&] { return !m_idle.empty() || m_readers.size() < m_max_readers; });
  if (!m_idle.empty()) {
    Store* store = m_idle.back();
    m_idle.pop_back();
    return Lease(this, store, false);
  }
  ECUUP_ASSIGN(auto store, Store::open(m_data_dir, Store::Schema::assume, Access::read_only));
  store->set_signing_key(m_signing_key);
  m_readers.push_back(std::move(store));
  return Lease(this, m_readers.back().get(), false);
}

StorePool::Lease StorePool::write() {
  std::unique_lock lock(m_writer_mutex);
  m_writer_free.wait(lock, [&] { return !m_writer_lent; });
  m_writer_lent = true;
  return Lease(this, m_writer.get(), true);
}

std::size_t StorePool::readers_open() const {
  std::scoped_lock lock(m_readers_mutex);
  return m_readers.size();
}

void StorePool::give_back(Store* store, bool writer) {
  if (writer) {
    {
      std::scoped_lock lock(m_writer_mutex);
      m_writer_lent = false;
    }
    m_writer_free.notify_one();
    return;
  }
  {
    std::scoped_lock lock(m_readers_mutex);
    m_idle.push_back(store);
  }
  m_reader_free.notify_one();
}

StorePool::Lease::Lease(Lease&& other) noexcept
    : m_pool(other.m_pool), m_store(other.m_store), m_writer(other.m_writer) {
  other.m_pool = nullptr;
}

StorePool::Lease::~Lease() {
  if (m_pool) m_pool->give_back(m_store, m_writer);
}

}  // namespace ecuup::server
