#include <catch2/catch.hpp>

#include <fstream>

#include "store/backups.hpp"
#include "support/temp_dir.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"

using namespace ecuup;
namespace fs = std::filesystem;

namespace {

fs::path write(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

std::string sha_of(const std::string& text) {
  Sha256 h;
  h.update(std::string_view(text));
  return h.hex_digest();
}

}  // namespace

TEST_CASE("a copied backup is hashed, sized and stored under its sha256; the source stays", "[store][backups]") {
  test::TempDir tmp;
  BackupStore store(tmp.path());
  const fs::path source = write(tmp / "image.bin", "new software");
  auto rec = store.add("bms", source, "1.1.0", "flash");
  REQUIRE(rec);
  CHECK(rec->sha256 == sha_of("new software"));
  CHECK(rec->size == 12);
  CHECK(rec->path == "backups/bms/" + rec->sha256 + ".img");
  CHECK(rec->version == "1.1.0");
  CHECK(rec->source == "flash");
  CHECK(fs::exists(source));
  CHECK(store.verify(*rec));
  // Nothing but the backup is left in the ECU's directory.
  CHECK(std::distance(fs::directory_iterator(tmp / "backups/bms"), fs::directory_iterator()) == 1);
}

TEST_CASE("a read-out is moved into the store, never needing twice its size", "[store][backups]") {
  test::TempDir tmp;
  BackupStore store(tmp.path());
  fs::create_directories(tmp / "backups");
  const fs::path readout = write(tmp / "backups/.readout-bms", "what the ECU held");
  auto rec = store.add("bms", readout, "1.0.0", "read", BackupSource::move);
  REQUIRE(rec);
  CHECK_FALSE(fs::exists(readout));
  CHECK(rec->sha256 == sha_of("what the ECU held"));
  CHECK(rec->size == 17);
  CHECK(store.verify(*rec));
}

TEST_CASE("a source that cannot be read is an io error naming it", "[store][backups]") {
  test::TempDir tmp;
  BackupStore store(tmp.path());
  auto rec = store.add("bms", tmp / "missing.bin", "1.0.0", "import");
  REQUIRE_FALSE(rec);
  CHECK(rec.error().code == Errc::io);
  CHECK_THAT(rec.error().message, Catch::Contains("missing.bin"));
}

TEST_CASE("rotate changes only the state; prune deletes what the saved state no longer names", "[store][backups]") {
  test::TempDir tmp;
  BackupStore store(tmp.path());
  EcuState st;
  std::vector<BackupRecord> recs;
  for (const char* v : {"1.0.0", "1.1.0", "1.2.0"}) {
    auto rec = store.add("bms", write(tmp / "in.bin", std::string("software ") + v), v, "flash");
    REQUIRE(rec);
    recs.push_back(*rec);
  }
  auto exists = [&](const BackupRecord& r) { return fs::exists(store.absolute(r)); };

  SECTION("keep 1: the old backup's file outlives the rotation until prune") {
    store.rotate(st, recs[0], 1);
    store.rotate(st, recs[1], 1);
    REQUIRE(st.backup);
    CHECK(st.backup->version == "1.1.0");
    CHECK(st.older_backups.empty());
    // A kill or a failed save here leaves the manifest on disk naming 1.0.0: its file is still there.
    CHECK(exists(recs[0]));
    store.prune("bms", st);
    CHECK_FALSE(exists(recs[0]));
    CHECK(exists(recs[1]));
    CHECK_FALSE(exists(recs[2]));  // added, never kept: not a backup
  }
  SECTION("keep 2: one older backup stays, the same content never twice") {
    store.rotate(st, recs[0], 2);
    store.rotate(st, recs[1], 2);
    store.rotate(st, recs[2], 2);
    store.rotate(st, recs[2], 2);
    REQUIRE(st.older_backups.size() == 1);
    CHECK(st.older_backups[0].version == "1.1.0");
    store.prune("bms", st);
    CHECK_FALSE(exists(recs[0]));
    CHECK(exists(recs[1]));
    CHECK(exists(recs[2]));
  }
}

TEST_CASE("require_free_space keeps the manifest's reserve and says what to do", "[store][backups]") {
  test::TempDir tmp;
  const auto free = free_space(tmp.path());
  REQUIRE(free);
  CHECK(require_free_space(tmp.path(), 0, "nothing"));
  auto refused = require_free_space(tmp.path(), *free, "a large artifact");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::io);
  CHECK_THAT(refused.error().message, Catch::Contains("not enough free space in " + tmp.path().string() +
                                                      " for a large artifact: it needs"));
  CHECK_THAT(refused.error().message, Catch::Contains("Free some space there and run again"));
}
