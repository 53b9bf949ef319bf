#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "server/store_pool.hpp"
#include "support/temp_dir.hpp"

using namespace ecuup;
using namespace ecuup::server;
using ecuup::test::TempDir;

TEST_CASE("store pool: the writer creates the schema, readers see its commits", "[server][store_pool]") {
  TempDir tmp;
  auto pool = StorePool::open(tmp.path() / "data", 2);
  REQUIRE(pool);
  CHECK((*pool)->readers_open() == 0);
  {
    auto writer = (*pool)->write();
    REQUIRE(writer->add_vehicle("car-1", "secret"));
  }
  auto reader = (*pool)->read();
  REQUIRE(reader);
  auto state = (*reader)->poll_state("car-1");
  REQUIRE(state);
  REQUIRE(state->has_value());
  CHECK((*pool)->readers_open() == 1);
}

TEST_CASE("store pool: a reader cannot write", "[server][store_pool]") {
  TempDir tmp;
  auto pool = StorePool::open(tmp.path() / "data", 1);
  REQUIRE(pool);
  auto reader = (*pool)->read();
  REQUIRE(reader);
  auto added = (*reader)->add_vehicle("car-1", "secret");
  REQUIRE_FALSE(added);
  CHECK(added.error().code == Errc::io);
}

TEST_CASE("store pool: readers are reused, never more than the limit", "[server][store_pool]") {
  TempDir tmp;
  auto pool = StorePool::open(tmp.path() / "data", 2);
  REQUIRE(pool);
  StorePool& p = **pool;
  {
    auto a = p.read();
    auto b = p.read();
    REQUIRE(a);
    REQUIRE(b);
    CHECK(&**a != &**b);
  }
  CHECK(p.readers_open() == 2);
  // Many threads, many reads: still two connections, whatever served them.
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        auto lease = p.read();
        if (!lease || !(*lease)->vehicles()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  CHECK(p.readers_open() == 2);
}

TEST_CASE("store pool: writes from many threads are serialised through the one writer", "[server][store_pool]") {
  TempDir tmp;
  auto pool = StorePool::open(tmp.path() / "data", 2);
  REQUIRE(pool);
  StorePool& p = **pool;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  constexpr int k_threads = 4;
  constexpr int k_each = 25;
  for (int t = 0; t < k_threads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < k_each; ++i) {
        auto writer = p.write();
        if (!writer->add_vehicle("car-" + std::to_string(t) + "-" + std::to_string(i), "tok")) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  auto reader = p.read();
  REQUIRE(reader);
  auto vehicles = (*reader)->vehicles();
  REQUIRE(vehicles);
  CHECK(vehicles->size() == k_threads * k_each);
}
