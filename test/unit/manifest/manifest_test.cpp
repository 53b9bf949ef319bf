#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <fstream>

#include <catch2/catch.hpp>

#include "manifest/manifest.hpp"
#include "manifest/yaml_text.hpp"
#include "support/temp_dir.hpp"
#include "util/fs.hpp"

using namespace ecuup;

TEST_CASE("manifest round-trips every field", "[manifest]") {
  test::TempDir dir;
  Manifest m;
  m.vehicle = "car-1";
  auto& bms = m.ecu("bms");
  bms.installed = InstalledState{"1.0.0", "2026-01-01T00:00:00Z", {{"serial", "S1"}}};
  bms.task = TaskState{"a-1", "1.1.0", {{"bms.img", "file:///r/bms.img", 128, "ab", "cd"}}, false, true, "t", "statements/bms/ab.release.json", 7};
  bms.download = DownloadState{"downloads/ab", "ab", 128, true, "downloads/ab", "ab", "1.1.0", "t"};
  bms.security_version = 9;
  bms.flash.state = FlashState::in_progress;
  bms.flash.attempts = 2;
  bms.flash.last_error = "boom: \"quoted\" and: colon";
  bms.backup = BackupRecord{"1.0.0", "ff", "backups/bms/ff.img", 64, "read", "t", "raw@0x00010000"};
  bms.older_backups.push_back(BackupRecord{"0.9.0", "ee", "backups/bms/ee.img", 60, "flash", "t", {}});
  m.ecu("gw");
  m.feedback_queue.push_back(QueuedFeedback{"a-1", "bms", "closed", "success", 3, 3, {"flashed"}, false, "t"});
  m.add_event("bms", "flash", "started");

  auto path = dir / "manifest.yaml";
  REQUIRE(m.save(path).ok());
  auto back = Manifest::load(path);
  REQUIRE(back.ok());
  CHECK(back->vehicle == "car-1");
  REQUIRE(back->ecus().size() == 2);
  CHECK(back->ecus()[0].first == "bms");
  const EcuState* b = back->find("bms");
  REQUIRE(b);
  CHECK(b->installed->version == "1.0.0");
  CHECK(b->installed->extra.at("serial") == "S1");
  CHECK(b->task->target_version == "1.1.0");
  CHECK(b->task->artifacts.at(0).size == 128);
  CHECK(b->task->statement == "statements/bms/ab.release.json");
  CHECK(b->task->security_version == 7u);
  CHECK(b->security_version == 9u);
  CHECK(b->download->verified);
  CHECK(b->flash.state == FlashState::in_progress);
  CHECK(b->flash.attempts == 2);
  CHECK(b->flash.last_error == "boom: \"quoted\" and: colon");
  CHECK(b->backup->sha256 == "ff");
  CHECK(b->backup->layout == "raw@0x00010000");
  CHECK(b->older_backups.at(0).layout.empty());
  CHECK(b->older_backups.at(0).version == "0.9.0");
  CHECK(back->feedback_queue.at(0).progress_of == 3);
  CHECK(back->events.at(0).message == "started");
  // A second round trip is byte-identical: saving is deterministic.
  CHECK(back->to_yaml() == m.to_yaml());
}

TEST_CASE("manifest keeps keys it does not know", "[manifest]") {
  std::string text =
      "schema: 1\nsite_note: keep me\necus:\n  bms:\n    custom: {a: 1}\n    flash: {state: succeeded, attempts: 1, "
      "vendor_field: x}\n";
  auto m = Manifest::parse(text, "m.yaml");
  REQUIRE(m.ok());
  m->ecu("bms").flash.attempts = 5;
  std::string out = m->to_yaml();
  auto again = Manifest::parse(out, "m.yaml");
  REQUIRE(again.ok());
  CHECK(out.find("site_note: keep me") != std::string::npos);
  CHECK(out.find("custom:") != std::string::npos);
  CHECK(out.find("vendor_field: x") != std::string::npos);
  CHECK(again->find("bms")->flash.attempts == 5);
}

// Found by fuzz/manifest_fuzz.cpp (fuzz/regressions/manifest/document-end-key.yaml): an unknown
// top-level key "...  ue" was written plain at the start of a line, where "... " ends the YAML
// document, so the next read lost it and every key after it.
TEST_CASE("manifest keeps an unknown key that starts with '...'", "[manifest]") {
  auto m = Manifest::parse("schema: 1\n\"...  ue\": gateway\nlater: kept\n", "m.yaml");
  REQUIRE(m.ok());
  const std::string out = m->to_yaml();
  auto again = Manifest::parse(out, "m.yaml");
  REQUIRE(again.ok());
  CHECK(again->to_yaml() == out);
  const YAML::Node doc = YAML::Load(out);
  CHECK(doc["...  ue"].as<std::string>() == "gateway");
  CHECK(doc["later"].as<std::string>() == "kept");
}

TEST_CASE("malformed manifests are refused with a position", "[manifest]") {
  auto bad = Manifest::parse("ecus:\n  bms:\n    flash: {state: exploded}\n", "m.yaml");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == Errc::config);
  CHECK(bad.error().message.find("m.yaml:3:") == 0);

  CHECK_FALSE(Manifest::parse("ecus: [\n", "m.yaml").ok());
  CHECK_FALSE(Manifest::parse("schema: 99\n", "m.yaml").ok());
  CHECK_FALSE(Manifest::parse("ecus:\n  bms:\n    task: {action_id: x}\n", "m.yaml").ok());
  CHECK_FALSE(Manifest::parse("ecus:\n  bms:\n    backup: {version: 1}\n", "m.yaml").ok());
}

TEST_CASE("a missing manifest is empty; events are bounded", "[manifest]") {
  test::TempDir dir;
  auto m = Manifest::load(dir / "none.yaml");
  REQUIRE(m.ok());
  CHECK(m->ecus().empty());
  for (int i = 0; i < 500; ++i) m->add_event("", "x", std::to_string(i));
  CHECK(m->events.size() == k_manifest_max_events);
  CHECK(m->events.back().message == "499");
}

TEST_CASE("atomic write replaces content and leaves no temp files", "[util][fs]") {
  test::TempDir dir;
  auto path = dir / "f.txt";
  REQUIRE(write_file_atomic(path, std::string_view("one")).ok());
  REQUIRE(write_file_atomic(path, std::string_view("two")).ok());
  CHECK(*read_text_file(path) == "two");
  int files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  CHECK(files == 1);
  CHECK_FALSE(write_file_atomic(dir / "no/such/dir/f", std::string_view("x")).ok());
}

namespace {
int count_entries(const std::filesystem::path& dir) {
  int n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}
}  // namespace

TEST_CASE("atomic write that fails keeps the old content and leaves no temp file", "[util][fs]") {
  test::TempDir dir;
  auto path = dir / "manifest.yaml";
  REQUIRE(write_file_atomic(path, std::string_view("old content\n")).ok());

  SECTION("the write fails midway (file size limit: EFBIG)") {
    // In a child, so the limit does not reach the test runner; SIGXFSZ ignored turns it into EFBIG.
    pid_t child = ::fork();
    if (child == 0) {
      std::signal(SIGXFSZ, SIG_IGN);
      struct rlimit limit {4096, 4096};
      ::setrlimit(RLIMIT_FSIZE, &limit);
      auto r = write_file_atomic(path, std::string(64 * 1024, 'x'));
      ::_exit(!r.ok() && r.error().code == Errc::io ? 0 : 1);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    CHECK((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  }
  SECTION("the rename fails (a directory is in the way)") {
    auto blocked = dir / "blocked";
    std::filesystem::create_directories(blocked / "inside");
    CHECK_FALSE(write_file_atomic(blocked, std::string_view("new")).ok());
    CHECK(std::filesystem::is_directory(blocked / "inside"));
    std::filesystem::remove_all(blocked);
  }
  CHECK(*read_text_file(path) == "old content\n");
  CHECK(count_entries(dir.path()) == 1);
}

// Found by fuzz/manifest_fuzz.cpp: a key yaml-cpp cannot write back, kept among the unknown keys,
// made save() write a manifest that no later step could read.
TEST_CASE("a manifest with a key that is a mapping is refused, not saved unreadable", "[manifest]") {
  for (const char* text : {":\n{}", "schema: 1\nsite:\n  ? {a: 1}\n  : b\n", "ecus:\n  ? [bms]\n  : {}\n"}) {
    INFO(text);
    auto m = Manifest::parse(text, "m.yaml");
    REQUIRE_FALSE(m.ok());
    CHECK(m.error().code == Errc::config);
    CHECK(m.error().message.find("m.yaml:") == 0);
  }
}

// Found by fuzz/manifest_fuzz.cpp: of a key given twice ecuup used the first and saved the last,
// so an ECU's state could change between reading and writing the manifest.
TEST_CASE("a manifest that gives a key twice is refused with its place", "[manifest]") {
  auto twice = Manifest::parse("ecus:\n  bms: {flash: {state: in_progress}}\n  bms: {flash: {state: succeeded}}\n",
                               "m.yaml");
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.error().code == Errc::config);
  CHECK(twice.error().message.find("m.yaml:3:3:") == 0);
  CHECK_FALSE(Manifest::parse("vehicle: a\nvehicle: b\n", "m.yaml").ok());
  CHECK_FALSE(Manifest::parse("ecus:\n  ~: {}\n  '': {}\n", "m.yaml").ok());
  // The same key in different mappings, and anchors that refer back, are fine.
  auto fine = Manifest::parse("ecus:\n  bms: &b {flash: {state: none}, x: {flash: 1}}\n  gw: *b\n", "m.yaml");
  CHECK(fine.ok());
}

TEST_CASE("manifest: save refuses what it could not read back, and keeps the file it had", "[manifest]") {
  test::TempDir dir;
  Manifest m;
  m.vehicle = "car-1";
  m.ecu("bms").installed = InstalledState{"1.0.0", "t", {}};
  REQUIRE(m.save(dir / "manifest.yaml").ok());
  // A task without a target version is what an empty version from a server would have written.
  m.ecu("bms").task = TaskState{};
  auto saved = m.save(dir / "manifest.yaml");
  REQUIRE_FALSE(saved.ok());
  CHECK(saved.error().message.find("read back") != std::string::npos);
  auto kept = Manifest::load(dir / "manifest.yaml");
  REQUIRE(kept.ok());
  CHECK(kept->find("bms")->installed->version == "1.0.0");
  CHECK_FALSE(kept->find("bms")->task.has_value());
}

// Found by fuzz/manifest_fuzz.cpp: yaml-cpp writes a long key as a simple key, which a reader
// refuses past 1024 characters, so a long unknown key made save() write an unreadable manifest.
TEST_CASE("a manifest key longer than 255 bytes is refused with its place", "[manifest]") {
  auto long_key = Manifest::parse("site:\n  " + std::string(300, 'k') + ": v\n", "m.yaml");
  REQUIRE_FALSE(long_key.ok());
  CHECK(long_key.error().code == Errc::config);
  CHECK(long_key.error().message.find("m.yaml:2:3:") == 0);
  CHECK(Manifest::parse("site:\n  " + std::string(255, 'k') + ": v\n", "m.yaml").ok());
}

// The manifest's writer chooses each scalar's style itself: whatever the bytes, a YAML reader
// gives back the same string (bytes that are not UTF-8 come back as U+FFFD).
TEST_CASE("yaml_scalar: every string reads back as itself", "[manifest][yaml]") {
  const std::vector<std::string> cases = {
      "", "1.0.0", "2026-12-07T04:10:50Z", "null", "Null", "~", "true", "yes", "No", "off", "y", "n", "-1", "- a",
      "a: b", "a:", ":a", "#x", "x #y", " lead", "trail ", "'single'", "\"double\"", "back\\slash", "tab\there",
      "line\nbreak", "cr\rlf", std::string("nul\0byte", 8), "\x7f", "caf\xc3\xa9", "\xe2\x80\xa8 ls", "\xc2\x85 nel",
      "\xef\xbb\xbf bom", "[flow]", "{map}", "&anchor", "*alias", "!tag", "|literal", ">folded", "%directive",
      "@at", "`tick", "?q", "<<", "---", "...", "... x", "--- x", std::string(300, 'x'), "0x1F", "1e3", ".inf",
      "a,b"};
  for (const auto& s : cases) {
    INFO(s);
    const std::string text = "key: " + yaml_scalar(s) + "\n";
    YAML::Node n = YAML::Load(text);
    REQUIRE(n["key"].IsScalar());
    CHECK(n["key"].Scalar() == s);
    // A key too.
    YAML::Node k = YAML::Load(yaml_scalar(s.empty() ? "e" : s) + ": v\n");
    CHECK(k.begin()->first.Scalar() == (s.empty() ? "e" : s));
  }
  // Plain where nothing can mistake it, quoted where a reader would.
  CHECK(yaml_scalar("1.1.0") == "1.1.0");
  CHECK(yaml_scalar("backups/bms/ab.img") == "backups/bms/ab.img");
  CHECK(yaml_scalar("true") == "\"true\"");
  CHECK(yaml_scalar("programming 1.0.0 -> 1.1.0 (attempt 1)") == "programming 1.0.0 -> 1.1.0 (attempt 1)");
  CHECK(yaml_scalar("a: b") == "\"a: b\"");
  CHECK(yaml_scalar("\xff") == "\"\\uFFFD\"");
}

TEST_CASE("yaml_scalar: random UTF-8 strings read back as themselves", "[manifest][yaml]") {
  std::uint32_t seed = 12345;
  auto next = [&] { return seed = seed * 1103515245u + 12345u, (seed >> 8) & 0xFFFF; };
  const std::vector<std::string> pieces = {"a", "Z", "0", " ", ":", "#", "-", "\"", "'", "\\", "\n", "\t",
                                           "\x01", "\x7f", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x9a\x97",
                                           "\xe2\x80\xa9", "\xc2\x85", "{", "]", ",", "&", "*", "!", "|", ">",
                                           "(", "?", "%", "`", "~", "^", "$", ";", "<", "1", ".", "/"};
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    const auto len = next() % 12;
    for (std::uint32_t k = 0; k < len; ++k) s += pieces[next() % pieces.size()];
    INFO(s);
    YAML::Node n = YAML::Load("key: " + yaml_scalar(s) + "\n");
    REQUIRE(n["key"].IsScalar());
    REQUIRE(n["key"].Scalar() == s);
  }
}

TEST_CASE("manifest: a save writes each ECU's entry, and reads back only what changed", "[manifest]") {
  test::TempDir dir;
  Manifest m;
  m.vehicle = "car-1";
  for (int i = 0; i < 50; ++i) m.ecu("ecu" + std::to_string(i)).installed = InstalledState{"1.0.0", "t", {}};
  REQUIRE(m.save(dir / "manifest.yaml").ok());
  // One ECU changes into something that cannot be read back: refused, whichever ECU it is.
  m.ecu("ecu37").task = TaskState{};
  auto refused = m.save(dir / "manifest.yaml");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message.find("ecu37") != std::string::npos);
  m.ecu("ecu37").task.reset();
  m.ecu("ecu37").flash.last_error = "weird: \"bytes\"\n\xff";
  REQUIRE(m.save(dir / "manifest.yaml").ok());
  auto back = Manifest::load(dir / "manifest.yaml");
  REQUIRE(back.ok());
  REQUIRE(back->ecus().size() == 50);
  CHECK(back->find("ecu37")->flash.last_error == "weird: \"bytes\"\n\xef\xbf\xbd");
  CHECK(back->find("ecu49") == &back->ecus()[49].second);
  CHECK(back->find("nope") == nullptr);
  // What save wrote is what to_yaml writes.
  CHECK(*read_text_file(dir / "manifest.yaml") == m.to_yaml());
}

TEST_CASE("manifest: a save that changes nothing leaves the file alone", "[manifest]") {
  test::TempDir dir;
  const auto path = dir / "manifest.yaml";
  Manifest m;
  m.vehicle = "car-1";
  m.updated_at = "2026-01-01T00:00:00Z";
  m.ecu("bms").installed = InstalledState{"1.0.0", "t", {}};
  REQUIRE(m.save(path).ok());
  const std::string first = *read_text_file(path);
  REQUIRE(first == m.to_yaml());

  auto loaded = Manifest::load(path);
  REQUIRE(loaded.ok());
  std::filesystem::remove(dir / "marker");
  std::filesystem::rename(path, dir / "marker");  // a save that writes makes a new file here
  std::filesystem::copy_file(dir / "marker", path);
  const auto before = std::filesystem::last_write_time(path);
  loaded->updated_at = "2026-12-31T00:00:00Z";  // only the time moved on
  REQUIRE(loaded->save(path).ok());
  CHECK(*read_text_file(path) == first);
  CHECK(std::filesystem::last_write_time(path) == before);

  loaded->ecu("bms").flash.attempts = 1;  // a real change is written, with its time
  REQUIRE(loaded->save(path).ok());
  const std::string second = *read_text_file(path);
  CHECK(second != first);
  CHECK(second.find("updated_at: 2026-12-31T00:00:00Z") != std::string::npos);
  // A file removed behind ecuup's back is written again even when nothing changed.
  std::filesystem::remove(path);
  REQUIRE(loaded->save(path).ok());
  CHECK(*read_text_file(path) == second);
}

TEST_CASE("manifest: a change through a reference held across saves is written", "[manifest]") {
  test::TempDir dir;
  const auto path = dir / "manifest.yaml";
  Manifest m;
  m.vehicle = "car-1";
  for (int i = 0; i < 20; ++i) m.ecu("ecu" + std::to_string(i)).installed = InstalledState{"1.0.0", "t", {}};
  EcuState& held = m.ecu("ecu7");  // as flash holds its ECU's state through a whole turn
  REQUIRE(m.save(path).ok());
  held.flash.state = FlashState::in_progress;
  REQUIRE(m.save(path).ok());
  CHECK(Manifest::load(path)->find("ecu7")->flash.state == FlashState::in_progress);
  held.flash.state = FlashState::succeeded;
  held.installed->version = "1.1.0";
  REQUIRE(m.save(path).ok());
  auto back = Manifest::load(path);
  REQUIRE(back.ok());
  CHECK(back->find("ecu7")->flash.state == FlashState::succeeded);
  CHECK(back->find("ecu7")->installed->version == "1.1.0");
  CHECK(back->find("ecu6")->installed->version == "1.0.0");
  CHECK(*read_text_file(path) == m.to_yaml());
}

TEST_CASE("manifest: after a load, a changed entry is still read back before it is saved", "[manifest]") {
  test::TempDir dir;
  const auto path = dir / "manifest.yaml";
  SECTION("a manifest this ecuup wrote") {
    Manifest m;
    m.vehicle = "car-1";
    m.ecu("bms").installed = InstalledState{"1.0.0", "t", {}};
    m.ecu("vcu").installed = InstalledState{"2.0.0", "t", {}};
    REQUIRE(m.save(path).ok());
  }
  SECTION("a manifest written by hand, in another layout") {
    REQUIRE(write_file_atomic(path, std::string("schema: 1\nvehicle: car-1\necus: {bms: {installed: {version: 1.0.0}},"
                                                " vcu: {installed: {version: 2.0.0}}}\n")).ok());
  }
  auto loaded = Manifest::load(path);
  REQUIRE(loaded.ok());
  loaded->ecu("vcu").task = TaskState{};  // no target version: cannot be read back
  auto refused = loaded->save(path);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message.find("vcu") != std::string::npos);
  loaded->ecu("vcu").task.reset();
  loaded->ecu("bms").flash.attempts = 2;
  REQUIRE(loaded->save(path).ok());
  auto back = Manifest::load(path);
  REQUIRE(back.ok());
  CHECK(back->find("bms")->flash.attempts == 2);
  CHECK(back->find("vcu")->installed->version == "2.0.0");
  CHECK(*read_text_file(path) == loaded->to_yaml());
}

TEST_CASE("a manifest file that holds no document is refused, a missing one is a fresh start", "[manifest]") {
  test::TempDir dir;
  const auto path = dir / "manifest.yaml";
  auto fresh = Manifest::load(path);
  REQUIRE(fresh.ok());
  CHECK(fresh->ecus().empty());
  for (const std::string& text : {std::string(), std::string(4096, '\0'), std::string("\n  \n"),
                                  std::string("# ecuup manifest\n---\n...\n")}) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
    auto refused = Manifest::load(path);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == Errc::config);
    CHECK_THAT(refused.error().message, Catch::Contains("holds no manifest"));
    CHECK_THAT(refused.error().message, Catch::Contains("ecuup backup --import"));
  }
  // A hand-written manifest with content, even without `schema`, still reads.
  std::ofstream(path, std::ios::binary | std::ios::trunc) << "# by hand\nvehicle: car-1\n";
  auto by_hand = Manifest::load(path);
  REQUIRE(by_hand.ok());
  CHECK(by_hand->vehicle == "car-1");
}
