#include "repository/publish.hpp"

#include "repository/dir_repository.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/temp_dir.hpp"
#include "support/test_keys.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"

using namespace ecuup;
namespace fs = std::filesystem;
using ecuup::test::KeyKind;

namespace {

auto now() { return std::chrono::system_clock::now(); }

ReleaseEntry entry(std::string part, std::string version) {
  return ReleaseEntry{part, version, part + "-" + version + ".img", "", std::string(64, 'a'), 100, ""};
}

std::string read(const fs::path& p) {
  auto text = read_text_file(p);
  REQUIRE(text.ok());
  return *text;
}

fs::path write(const fs::path& p, const std::string& content) {
  REQUIRE(write_file_atomic(p, content).ok());
  return p;
}

std::vector<std::string> problems_of(const std::vector<ReleaseCheck>& checks, const std::string& part) {
  for (const auto& c : checks)
    if (c.entry.part == part) return c.problems;
  FAIL("no check of " << part);
  return {};
}

bool mentions(const std::vector<std::string>& problems, const std::string& word) {
  for (const auto& p : problems)
    if (p.find(word) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("parse_release_entries: reads what the dir repository reads, and refuses what it refuses", "[repository]") {
  fs::path f = "releases.yaml";
  CHECK(parse_release_entries("", f)->empty());
  CHECK(parse_release_entries("# nothing yet\n", f)->empty());
  CHECK(parse_release_entries("releases: {}\n", f)->empty());
  CHECK(parse_release_entries("releases:\n", f)->empty());

  auto two = parse_release_entries("releases:\n  bms:\n    version: 1.1.0\n    artifact: bms.hex\n    sha256: " +
                                std::string(64, 'A') + "\n    size: 12\n    statement: bms-1.1.0.release.json\n"
                                "  gw: {version: \"2\", artifact: sub/gw.img, sha256: " + std::string(64, 'b') + "}\n",
                            f);
  REQUIRE(two.ok());
  REQUIRE(two->size() == 2);
  CHECK((*two)[0].part == "bms");
  CHECK((*two)[0].size == 12u);
  CHECK((*two)[0].statement == "bms-1.1.0.release.json");
  CHECK((*two)[1].artifact == "sub/gw.img");
  CHECK_FALSE((*two)[1].size.has_value());

  std::string sha = std::string(64, 'c');
  for (const std::string& bad : std::vector<std::string>{"releases: [1, 2]\n", "other: 1\n",
                          "releases:\n  bms: {version: 1, artifact: a, sha256: " + sha + ", colour: red}\n",
                          "releases:\n  bms: {version: 1, artifact: ../a, sha256: " + sha + "}\n",
                          "releases:\n  bms: {version: 1, artifact: a, sha256: abc}\n",
                          "releases:\n  bms: {version: 1, artifact: a, sha256: " + sha + ", statement: s.json}\n",
                          "releases:\n  bms: {version: 1, artifact: a, sha256: " + sha + "}\n  bms: {version: 2, artifact: a, sha256: " + sha + "}\n",
                          "releases: {bms: [unclosed\n"}) {
    auto r = parse_release_entries(bad, f);
    INFO(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::config);
    CHECK(r.error().message.rfind("releases.yaml", 0) == 0);
  }
}

TEST_CASE("set_release_entry: other entries and comments stay byte for byte", "[repository]") {
  fs::path f = "releases.yaml";
  const std::string sha(64, 'a');
  const std::string text = "# The bench's releases; edited by ecuup-repo and by hand.\n"
                           "releases:\n"
                           "  # the gateway\n"
                           "  gateway:\n"
                           "    version: 1.0.0     # first\n"
                           "    artifact: gw-1.0.0.img\n"
                           "    sha256: " + sha + "\n"
                           "\n"
                           "  # the battery\n"
                           "  bms:\n"
                           "    version: 2.3.0\n"
                           "    artifact: bms-2.3.0.img\n"
                           "    sha256: " + sha + "\n"
                           "    size: 10\n"
                           "\n"
                           "  # the last one\n"
                           "  door:\n"
                           "    version: 0.1\n"
                           "    artifact: door.img\n"
                           "    sha256: " + sha + "\n"
                           "# trailing comment\n";

  SECTION("replacing an entry in the middle touches only its lines") {
    ReleaseEntry bms = entry("bms", "2.4.0");
    bms.statement = "bms-2.4.0.release.json";
    auto out = set_release_entry(text, f, bms);
    REQUIRE(out.ok());
    std::string want = text;
    std::string old_block = "  bms:\n    version: 2.3.0\n    artifact: bms-2.3.0.img\n    sha256: " + sha + "\n    size: 10\n";
    std::string new_block = "  bms:\n    version: 2.4.0\n    artifact: bms-2.4.0.img\n    sha256: " + sha +
                            "\n    size: 100\n    statement: bms-2.4.0.release.json\n";
    want.replace(want.find(old_block), old_block.size(), new_block);
    CHECK(*out == want);
  }
  SECTION("a new part goes after the last entry, before the trailing comment") {
    auto out = set_release_entry(text, f, entry("abs", "1"));
    REQUIRE(out.ok());
    std::string want = text;
    want.insert(want.find("# trailing comment"), "  abs:\n    version: 1\n    artifact: abs-1.img\n    sha256: " + sha + "\n    size: 100\n");
    CHECK(*out == want);
    auto back = parse_release_entries(*out, f);
    REQUIRE(back.ok());
    CHECK(back->size() == 4);
  }
  SECTION("the last entry is replaced up to the trailing comment") {
    auto out = set_release_entry(text, f, entry("door", "0.2"));
    REQUIRE(out.ok());
    CHECK(out->find("door-0.2.img") != std::string::npos);
    CHECK(out->find("door.img") == std::string::npos);
    CHECK(out->ends_with("    size: 100\n# trailing comment\n"));
    CHECK(out->starts_with(text.substr(0, text.find("  door:"))));
  }
}

TEST_CASE("set_release_entry: empty, flow-style and odd files", "[repository]") {
  fs::path f = "releases.yaml";
  const std::string sha(64, 'a');
  ReleaseEntry bms = entry("bms", "1.0");

  std::string expected_block = "  bms:\n    version: 1.0\n    artifact: bms-1.0.img\n    sha256: " + sha + "\n    size: 100\n";
  CHECK(*set_release_entry("", f, bms) == "releases:\n" + expected_block);
  CHECK(*set_release_entry("releases: {}\n", f, bms) == "releases:\n" + expected_block);
  CHECK(*set_release_entry("# mine\nreleases: {}   # none yet\n", f, bms) == "# mine\nreleases:\n" + expected_block);
  CHECK(*set_release_entry("releases:\n", f, bms) == "releases:\n" + expected_block);

  // Flow style is written anew: entries kept, leading comments kept.
  std::string flow = "# hand-written\nreleases: {gw: {version: '1', artifact: gw.img, sha256: " + sha + "}}\n";
  auto out = set_release_entry(flow, f, bms);
  REQUIRE(out.ok());
  CHECK(out->starts_with("# hand-written\nreleases:\n"));
  auto back = parse_release_entries(*out, f);
  REQUIRE(back.ok());
  REQUIRE(back->size() == 2);
  CHECK((*back)[0].part == "gw");
  CHECK((*back)[1] == bms);

  // Values that plain YAML would misread are quoted and read back verbatim.
  for (std::string version : std::vector<std::string>{"null", "1.0 beta", "v1: final", "#7", "\"quoted\"", "~"}) {
    ReleaseEntry odd = entry("bms", version);
    odd.artifact = "bms.img";
    auto written = set_release_entry("", f, odd);
    REQUIRE(written.ok());
    auto read_back = parse_release_entries(*written, f);
    REQUIRE(read_back.ok());
    REQUIRE(read_back->size() == 1);
    CHECK((*read_back)[0].version == version);
  }
  // A part with a blank and one with a colon.
  for (std::string part : std::vector<std::string>{"bms main", "ecu:1"}) {
    auto written = set_release_entry("releases: {}\n", f, entry(part, "1"));
    REQUIRE(written.ok());
    CHECK((*parse_release_entries(*written, f))[0].part == part);
  }
  // What the vehicles' reader refuses is not written (a `url:` that is not http(s)).
  std::string file_url = "releases:\n  gw: {version: '1', artifact: gw.img, sha256: " + sha + ", url: 'file:///etc/passwd'}\n";
  CHECK_FALSE(set_release_entry(file_url, f, bms).ok());
  // A malformed file is refused, not overwritten.
  CHECK(set_release_entry("releases: [", f, bms).error().code == Errc::config);
}

TEST_CASE("statement_file_name: part-version, safe in a repository", "[repository]") {
  CHECK(statement_file_name("bms", "1.1.0") == "bms-1.1.0.release.json");
  CHECK(statement_file_name("bms main", "1.0/rc 1") == "bms_main-1.0_rc_1.release.json");
  CHECK(statement_file_name(".x", "1..2").find("..") == std::string::npos);
  CHECK(statement_file_name(".x", "1").front() != '.');
}

TEST_CASE("add_release and sign_release publish what verify_releases accepts", "[repository]") {
  auto kind = GENERATE(KeyKind::ecdsa, KeyKind::ed25519);
  ecuup::test::TempDir dir;
  auto pki = ecuup::test::make_test_pki(dir.path(), "pub", kind);
  auto other = ecuup::test::make_test_pki(dir.path(), "other", kind);
  fs::path repo = dir / "repo";
  fs::create_directory(repo);
  fs::path src = dir / "src";
  fs::create_directory(src);
  fs::path bms_img = write(src / "bms-1.1.0.img", std::string(5000, 'b'));
  fs::path gw_img = write(src / "gw-2.0.img", std::string(7000, 'g'));
  auto ring = Keyring::load(pki.ca);
  REQUIRE(ring.ok());
  auto foreign = Keyring::load(other.ca);
  REQUIRE(foreign.ok());

  SigningRequest signing{pki.cert, pki.key, {"BMS-HW-A", "BMS-HW-B"}, 3, std::nullopt, std::nullopt};
  auto bms = add_release(AddRequest{repo, "bms", "1.1.0", bms_img, signing}, now());
  if (!bms) FAIL(bms.error().message);
  CHECK(bms->copied);
  CHECK(bms->entry.sha256 == *sha256_file(bms_img));
  CHECK(bms->entry.size == 5000u);
  CHECK(bms->entry.statement == "bms-1.1.0.release.json");
  CHECK(read(repo / "bms-1.1.0.img") == std::string(5000, 'b'));
  REQUIRE(fs::exists(repo / "bms-1.1.0.release.json.p7s"));
  auto st = parse_release_statement(read(repo / "bms-1.1.0.release.json"));
  REQUIRE(st.ok());
  CHECK(st->hardware == std::vector<std::string>{"BMS-HW-A", "BMS-HW-B"});
  CHECK(st->security_version == 3);
  CHECK(st->artifacts.size() == 1);
  CHECK(st->artifacts[0].name == "bms-1.1.0.img");
  // Default expiry: a year from now.
  auto in_a_year = std::chrono::duration_cast<std::chrono::seconds>((now() + std::chrono::hours(24 * 365)).time_since_epoch()).count();
  CHECK(std::abs(st->expires_unix - in_a_year) < 120);

  auto gw = add_release(AddRequest{repo, "gw", "2.0", gw_img, std::nullopt}, now());
  REQUIRE(gw.ok());
  CHECK(gw->entry.statement.empty());

  // What the vehicles' reader makes of it.
  auto read_back = parse_releases(read(repo / "releases.yaml"), repo / "releases.yaml", repo);
  REQUIRE(read_back.ok());
  CHECK((*read_back)["bms"].statement == repo / "bms-1.1.0.release.json");
  CHECK((*read_back)["bms"].sha256 == bms->entry.sha256);
  CHECK((*read_back)["gw"].statement.empty());
  CHECK((*read_back)["gw"].size == 7000u);

  auto checks = verify_releases(repo, *ring, std::nullopt, now());
  REQUIRE(checks.ok());
  REQUIRE(checks->size() == 2);
  CHECK(problems_of(*checks, "bms").empty());
  CHECK(mentions(problems_of(*checks, "gw"), "not signed"));
  CHECK(verify_outcome(*checks).error().code == Errc::verify);
  CHECK(verify_outcome(*verify_releases(repo, *ring, std::string("bms"), now())).ok());
  CHECK(verify_releases(repo, *ring, std::string("nope"), now()).error().code == Errc::usage);

  SECTION("sign signs an unsigned release; re-signing keeps its hardware") {
    SigningRequest s{pki.cert, pki.key, {"GW-HW-1"}, std::nullopt, std::nullopt, 30};
    auto signed_gw = sign_release(SignRequest{repo, "gw", s}, now());
    if (!signed_gw) FAIL(signed_gw.error().message);
    CHECK(signed_gw->entry.statement == "gw-2.0.release.json");
    CHECK(signed_gw->statement->security_version == 0);
    CHECK(verify_outcome(*verify_releases(repo, *ring, std::nullopt, now())).ok());

    SigningRequest again{pki.cert, pki.key, {}, 7, std::string("2099-01-01T00:00:00Z"), std::nullopt};
    auto resigned = sign_release(SignRequest{repo, "gw", again}, now());
    REQUIRE(resigned.ok());
    CHECK(resigned->statement->hardware == std::vector<std::string>{"GW-HW-1"});
    CHECK(resigned->statement->security_version == 7);
    CHECK(resigned->statement->expires == "2099-01-01T00:00:00Z");
    CHECK(verify_outcome(*verify_releases(repo, *ring, std::nullopt, now())).ok());

    auto listed = list_releases(repo);
    REQUIRE(listed.ok());
    REQUIRE(listed->size() == 2);
    CHECK((*listed)[1].statement->security_version == 7);
    CHECK(format_release_table(*listed).find("2099-01-01T00:00:00Z") != std::string::npos);
  }
  SECTION("a tampered artifact, statement or signature, and a foreign keyring, are found") {
    write(repo / "bms-1.1.0.img", std::string(4999, 'b') + "c");
    CHECK(mentions(problems_of(*verify_releases(repo, *ring, std::nullopt, now()), "bms"), "sha256"));
    write(repo / "bms-1.1.0.img", std::string(5000, 'b'));
    CHECK(problems_of(*verify_releases(repo, *ring, std::nullopt, now()), "bms").empty());

    CHECK_FALSE(problems_of(*verify_releases(repo, *foreign, std::nullopt, now()), "bms").empty());

    std::string doc = read(repo / "bms-1.1.0.release.json");
    std::string changed = doc;
    changed.replace(changed.find("BMS-HW-A"), 8, "BMS-HW-X");
    write(repo / "bms-1.1.0.release.json", changed);
    CHECK_FALSE(problems_of(*verify_releases(repo, *ring, std::nullopt, now()), "bms").empty());
    write(repo / "bms-1.1.0.release.json", doc);

    fs::remove(repo / "bms-1.1.0.release.json.p7s");
    CHECK(mentions(problems_of(*verify_releases(repo, *ring, std::nullopt, now()), "bms"), "missing"));
  }
  SECTION("a statement signed for another version does not pass for this one") {
    // The statement of 1.1.0 renamed into the entry of a newer release of the same bytes.
    std::string text = read(repo / "releases.yaml");
    auto edited = set_release_entry(text, repo / "releases.yaml",
                                    ReleaseEntry{"bms", "1.2.0", "bms-1.1.0.img", "", bms->entry.sha256, 5000,
                                                 "bms-1.1.0.release.json"});
    REQUIRE(edited.ok());
    write(repo / "releases.yaml", *edited);
    CHECK(mentions(problems_of(*verify_releases(repo, *ring, std::nullopt, now()), "bms"), "version 1.1.0"));
  }
  SECTION("an expired statement is found") {
    auto long_ago = now() - std::chrono::hours(24 * 10);
    SigningRequest s{pki.cert, pki.key, {"GW-HW-1"}, std::nullopt, std::nullopt, 1};
    REQUIRE(sign_release(SignRequest{repo, "gw", s}, long_ago).ok());
    CHECK(mentions(problems_of(*verify_releases(repo, *ring, std::nullopt, now()), "gw"), "expired"));
  }
  SECTION("sign refuses an artifact that is not what releases.yaml says") {
    write(repo / "gw-2.0.img", "changed");
    SigningRequest s{pki.cert, pki.key, {"GW-HW-1"}, std::nullopt, std::nullopt, std::nullopt};
    auto r = sign_release(SignRequest{repo, "gw", s}, now());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Errc::verify);
    CHECK_FALSE(fs::exists(repo / "gw-2.0.release.json"));
  }
  SECTION("what add refuses leaves the repository as it was") {
    std::string before = read(repo / "releases.yaml");
    // A different file under a name the repository already has.
    fs::create_directory(src / "other");
    fs::path clash = write(src / "other" / "bms-1.1.0.img", "other bytes");
    CHECK(add_release(AddRequest{repo, "bms", "1.3.0", clash, std::nullopt}, now()).error().code == Errc::config);
    CHECK(read(repo / "bms-1.1.0.img") == std::string(5000, 'b'));
    // The same version with other bytes.
    fs::path rebuilt = write(src / "bms-rebuilt.img", "rebuilt");
    CHECK(add_release(AddRequest{repo, "bms", "1.1.0", rebuilt, std::nullopt}, now()).error().code == Errc::config);
    CHECK_FALSE(fs::exists(repo / "bms-rebuilt.img"));
    // Signing without hardware, with a past expiry, with the key of another certificate.
    SigningRequest no_hw{pki.cert, pki.key, {}, std::nullopt, std::nullopt, std::nullopt};
    CHECK(add_release(AddRequest{repo, "x", "1", gw_img, no_hw}, now()).error().code == Errc::usage);
    SigningRequest past{pki.cert, pki.key, {"H"}, std::nullopt, std::string("2020-01-01T00:00:00Z"), std::nullopt};
    CHECK(add_release(AddRequest{repo, "x", "1", gw_img, past}, now()).error().code == Errc::usage);
    SigningRequest bad_time{pki.cert, pki.key, {"H"}, std::nullopt, std::string("tomorrow"), std::nullopt};
    CHECK(add_release(AddRequest{repo, "x", "1", gw_img, bad_time}, now()).error().code == Errc::usage);
    SigningRequest wrong_key{pki.cert, other.key, {"H"}, std::nullopt, std::nullopt, std::nullopt};
    CHECK(add_release(AddRequest{repo, "x", "1", gw_img, wrong_key}, now()).error().code == Errc::config);
    // Names a repository keeps for itself, a missing file, a missing repository.
    fs::path own = write(src / "releases.yaml", "x");
    CHECK(add_release(AddRequest{repo, "x", "1", own, std::nullopt}, now()).error().code == Errc::usage);
    CHECK(add_release(AddRequest{repo, "x", "1", src / "missing.img", std::nullopt}, now()).error().code == Errc::config);
    CHECK(add_release(AddRequest{dir / "nope", "x", "1", gw_img, std::nullopt}, now()).error().code == Errc::config);
    CHECK(add_release(AddRequest{repo, "x", "", gw_img, std::nullopt}, now()).error().code == Errc::usage);
    CHECK(read(repo / "releases.yaml") == before);
    // No temporary file is left behind.
    for (const auto& f : fs::directory_iterator(repo))
      CHECK(f.path().filename().string().find(".incoming.") == std::string::npos);
  }
  SECTION("the same file again, signed this time, is fine") {
    auto again = add_release(AddRequest{repo, "gw", "2.0", gw_img, SigningRequest{pki.cert, pki.key, {"GW"}, 1, std::nullopt, std::nullopt}}, now());
    REQUIRE(again.ok());
    CHECK_FALSE(again->copied);
    CHECK(verify_outcome(*verify_releases(repo, *ring, std::nullopt, now())).ok());
  }
}

TEST_CASE("list_releases and the JSON outputs", "[repository]") {
  ecuup::test::TempDir dir;
  fs::path repo = dir.path();
  write(repo / "releases.yaml", "releases:\n  bms:\n    version: 1.0\n    artifact: bms.img\n    sha256: " +
                                    std::string(64, 'a') + "\n    statement: bms-1.0.release.json\n");
  auto listed = list_releases(repo);
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 1);
  CHECK_FALSE((*listed)[0].statement);
  CHECK_FALSE((*listed)[0].statement_problem.empty());
  auto json = nlohmann::json::parse(releases_json(repo, *listed));
  CHECK(json["releases"][0]["part"] == "bms");
  CHECK(json["releases"][0]["signed"] == false);
  CHECK(json["releases"][0]["size"].is_null());
  CHECK(json["releases"][0].contains("problem"));
  CHECK(format_release_table(*listed).find("invalid") != std::string::npos);

  CHECK(list_releases(dir / "missing").error().code == Errc::config);
  fs::create_directory(dir / "empty");
  CHECK(list_releases(dir / "empty").error().code == Errc::config);
}
