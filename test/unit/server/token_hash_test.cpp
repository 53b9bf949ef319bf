#include <catch2/catch.hpp>

#include "server/token_hash.hpp"

using namespace ecuup::server;

TEST_CASE("token hash: matches its token only, salted", "[server][token]") {
  auto token = random_token();
  REQUIRE(token);
  CHECK(token->size() == 32);
  auto a = hash_token(*token);
  auto b = hash_token(*token);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(*a != *b);  // a fresh salt each time
  CHECK(a->find(*token) == std::string::npos);
  CHECK(is_token_hash(*a));
  CHECK(token_matches(*a, *token));
  CHECK(token_matches(*b, *token));
  CHECK_FALSE(token_matches(*a, *token + "x"));
  CHECK_FALSE(token_matches(*a, ""));
}

TEST_CASE("token hash: a plain or malformed stored value matches nothing", "[server][token]") {
  CHECK_FALSE(is_token_hash("t1"));
  CHECK_FALSE(token_matches("t1", "t1"));
  CHECK_FALSE(token_matches("", ""));
  CHECK_FALSE(token_matches("sha256$00$00", "x"));
  CHECK_FALSE(token_matches("md5$00112233445566778899aabbccddeeff$00", "x"));
}
