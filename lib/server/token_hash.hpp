#pragma once
// Vehicle TargetTokens are kept only as salted SHA-256 hashes ("sha256$<salt>$<digest>", hex), so
// the database never holds a token a thief could present. A token is shown once, when it is made.
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace ecuup::server {

// A new random token: 128 bits from OpenSSL's RAND_bytes, as 32 hex digits.
Result<std::string> random_token();
// The stored form of `token`, under a fresh random salt.
Result<std::string> hash_token(std::string_view token);
// Whether `token` is the one `stored` (hash_token()'s form) was made from; constant time in the
// token's content. An empty or malformed `stored` matches nothing.
bool token_matches(std::string_view stored, std::string_view token);
// Whether `text` has hash_token()'s form (a database being upgraded may still hold plain tokens).
bool is_token_hash(std::string_view text);

}  // namespace ecuup::server
