#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>

#include "ecu/seed_key.hpp"
#include "support/temp_dir.hpp"

using namespace ecuup;
using namespace std::chrono_literals;
using ecuup::test::TempDir;

namespace {

// Builds a shared library from C source with the system compiler; false when there is none.
bool build_library(const TempDir& dir, const std::string& name, const std::string& source) {
  {
    std::ofstream out(dir / (name + ".c"));
    out << source;
  }
  std::string cmd = "cc -shared -fPIC -o '" + (dir / (name + ".so")).string() + "' '" +
                    (dir / (name + ".c")).string() + "' 2>/dev/null";
  return std::system(cmd.c_str()) == 0;
}

}  // namespace

TEST_CASE("key command templates expand seed, level and ecu", "[uds]") {
  const Bytes seed = {0xAB, 0x01};
  CHECK(expand_key_command("tool {seed} {level} {level_hex} {ecu} {seed}", seed, 0x11, "bms") ==
        "tool ab01 17 11 bms ab01");
}

TEST_CASE("a key command's stdout is the key in hex", "[uds]") {
  auto a = run_key_command("echo 0x12AB", 5000ms);
  REQUIRE(a);
  CHECK(*a == Bytes{0x12, 0xAB});
  auto b = run_key_command("printf '12 ab\\n\\n'", 5000ms);
  REQUIRE(b);
  CHECK(*b == Bytes{0x12, 0xAB});
}

TEST_CASE("a failing key command is an error with its stderr", "[uds]") {
  auto r = run_key_command("echo 'no such level' >&2; exit 3", 5000ms);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::ecu);
  CHECK(r.error().message == "key_command exited with status 3: no such level");

  auto garbage = run_key_command("echo not-a-key", 5000ms);
  REQUIRE_FALSE(garbage);
  CHECK(garbage.error().code == Errc::ecu);
  CHECK_THAT(garbage.error().message, Catch::Contains("not-a-key"));

  auto silent = run_key_command("true", 5000ms);
  REQUIRE_FALSE(silent);
  CHECK(silent.error().message == "key_command printed no key");

  auto missing = run_key_command("/nonexistent/keytool 01", 5000ms);
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.error().message, Catch::Contains("status 127"));
}

TEST_CASE("a hanging key command times out and keeps the session alive meanwhile", "[uds]") {
  int calls = 0;
  auto r = run_key_command("sleep 5", 300ms, [&] { ++calls; });
  REQUIRE_FALSE(r);
  CHECK(r.error().code == Errc::timeout);
  CHECK(calls >= 1);
}

TEST_CASE("key libraries: loading errors and a real library", "[uds]") {
  TempDir dir;
  auto missing = KeyLibrary::open(dir / "nope.so");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == Errc::config);
  CHECK_THAT(missing.error().message, Catch::StartsWith("cannot load key_library"));
  {
    std::ofstream(dir / "text.so") << "not a library\n";
  }
  auto text = KeyLibrary::open(dir / "text.so");
  REQUIRE_FALSE(text);
  CHECK(text.error().code == Errc::config);

  const std::string good =
      "#include <stddef.h>\n"
      "int ecuup_seed_to_key(unsigned level, const unsigned char* seed, size_t n, unsigned char* key,\n"
      "                      size_t cap, size_t* len) {\n"
      "  if (level != 1 || n > cap) return 7;\n"
      "  for (size_t i = 0; i < n; ++i) key[i] = (unsigned char)(seed[n - 1 - i] ^ level);\n"
      "  *len = n;\n"
      "  return 0;\n"
      "}\n";
  if (!build_library(dir, "good", good) || !build_library(dir, "other", "int something_else(void) { return 0; }\n")) {
    WARN("no C compiler: the dlopen happy path is not exercised");
    return;
  }
  auto lib = KeyLibrary::open(dir / "good.so");
  REQUIRE(lib);
  auto key = (*lib)->compute_key(Bytes{0x10, 0x20, 0x30}, 1);
  REQUIRE(key);
  CHECK(*key == Bytes{0x31, 0x21, 0x11});
  auto refused = (*lib)->compute_key(Bytes{0x10}, 3);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == Errc::ecu);
  CHECK_THAT(refused.error().message, Catch::Contains("returned 7"));

  auto other = KeyLibrary::open(dir / "other.so");
  REQUIRE_FALSE(other);
  CHECK_THAT(other.error().message, Catch::Contains("does not export ecuup_seed_to_key()"));
}
