#pragma once
// The HTTP(S) front: hawkBit DDI device API under /{tenant}/controller/v1/{controllerId} and a
// small management API under /api/v1 (Bearer admin token), served by an event loop on a fixed
// pool of threads (http_loop.hpp) from a pool of SQLite connections with one writer
// (store_pool.hpp).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "server/store.hpp"
#include "util/result.hpp"

namespace ecuup::server {

struct ServerOptions {
  std::filesystem::path data_dir;
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: ephemeral
  std::filesystem::path tls_cert;
  std::filesystem::path tls_key;
  std::string tenant = "DEFAULT";
  std::string admin_token;    // empty: management API disabled
  std::string gateway_token;  // empty: GatewayToken auth disabled
  std::string polling_sleep = "00:05:00";
  std::string public_url;  // base for hrefs; empty: scheme + the request's Host header
  // Worker threads that run requests (0: one per core). An idle keep-alive connection holds none;
  // artifact downloads and uploads run on a pool of their own (http_loop.hpp).
  int threads = 0;
  bool log_requests = false;
  std::uint64_t max_upload_bytes = std::uint64_t{1} << 30;  // an artifact upload's body
  // Failed authentications per client address and window before it gets 429 (0: no limit).
  int auth_failure_limit = 10;
  int auth_failure_window_s = 60;
  std::optional<SigningKey> signing_key;  // signs modules' pending release statements
};

// Serves until SIGINT/SIGTERM; prints "listening on http://HOST:PORT" once ready.
Result<void> run_server(const ServerOptions& options);

}  // namespace ecuup::server
