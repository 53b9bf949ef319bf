#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "util/hash.hpp"

using namespace ecuup;

TEST_CASE("sha256 matches FIPS 180-4 examples", "[util][hash]") {
  CHECK(sha256_hex(std::string_view("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex(std::string_view("abc")) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(sha256_hex(std::string_view("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")) ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

TEST_CASE("sha256 streaming equals one-shot across block boundaries", "[util][hash]") {
  std::string data(1000, 'a');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>('a' + i % 26);
  std::string expect = sha256_hex(std::string_view(data));
  for (std::size_t split : {1u, 55u, 56u, 63u, 64u, 65u, 128u, 999u}) {
    Sha256 h;
    h.update(std::string_view(data).substr(0, split));
    h.update(std::string_view(data).substr(split));
    CHECK(h.hex_digest() == expect);
  }
}

TEST_CASE("sha256: long inputs match FIPS 180-4, fed in pieces", "[util][hash]") {
  INFO("hashing with " << Sha256::engine_name());
  Sha256 two_blocks;
  two_blocks.update(std::string_view(
      "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"));
  CHECK(two_blocks.hex_digest() == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  Sha256 million;
  std::string chunk(1000, 'a');
  for (int i = 0; i < 1000; ++i) million.update(std::string_view(chunk));
  CHECK(million.hex_digest() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256: a moved-from hasher is replaced, the moved-to one carries on", "[util][hash]") {
  Sha256 a;
  a.update(std::string_view("ab"));
  Sha256 b = std::move(a);
  b.update(std::string_view("c"));
  CHECK(b.hex_digest() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  a = Sha256();
  a.update(std::string_view("abc"));
  CHECK(a.hex_digest() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("sha1 matches FIPS 180-4 examples", "[util][hash]") {
  Sha1 a;
  a.update(std::string_view("abc"));
  CHECK(a.hex_digest() == "a9993e364706816aba3e25717850c26c9cd0d89d");
  Sha1 b;
  b.update(std::string_view("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"));
  CHECK(b.hex_digest() == "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  Sha1 million;
  std::string chunk(1000, 'a');
  for (int i = 0; i < 1000; ++i) million.update(std::string_view(chunk));
  CHECK(million.hex_digest() == "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}
