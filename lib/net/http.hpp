#pragma once
// HTTP over libcurl for the repositories: JSON requests with retry/backoff, and resumable
// downloads. TLS is verified unless the config says otherwise; proxy variables are honoured.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "util/progress.hpp"
#include "util/result.hpp"

namespace ecuup {

struct HttpOptions {
  std::string ca_file;      // empty: system trust store
  std::string client_cert;  // PEM
  std::string client_key;
  bool verify_tls = true;
  std::chrono::milliseconds connect_timeout{10000};
  std::chrono::seconds low_speed_timeout{30};  // abort a transfer this long below low_speed_limit
  long low_speed_limit_bps = 1024;
  int max_attempts = 4;                        // retries on 429, 5xx, connection loss
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_max{30000};
  std::vector<std::string> headers;  // e.g. "Authorization: TargetToken ..." (redacted in logs)
  // Only http and https reach a server, for the first request and every redirect. file:// is for
  // the dir repository's own files, never for a URL a server handed over.
  bool allow_file_urls = false;
};

struct HttpResponse {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};

struct DownloadResult {
  std::uint64_t bytes_transferred = 0;  // bytes received in this call
  std::uint64_t file_size = 0;          // size of the complete file
  bool resumed = false;
};

// Where download() keeps the resume validator of `partial`; remove it with the partial file.
std::filesystem::path download_meta_path(const std::filesystem::path& partial);

class HttpClient {
 public:
  explicit HttpClient(HttpOptions options = {});
  // Retries transport errors, 429 and 5xx with backoff + jitter; returns any other status as is.
  // Errc::network after the last attempt; Errc::auth when TLS fails (no retry heals that).
  Result<HttpResponse> request(const std::string& method, const std::string& url,
                               const std::string& body = {},
                               const std::string& content_type = "application/json");
  // GET `url` into `partial`. If `partial` has bytes, asks for the rest with Range + If-Range
  // (validator kept in `partial` + ".meta"); a changed resource restarts from zero.
  // Works for file:// too. Reports progress.advance(bytes on disk) and note() per retry;
  // begin()/end() are the caller's. Interruption (util/cancel.hpp) keeps the partial file.
  // `max_bytes` (0: no limit) is the size announced or signed: a body that runs past it is cut off
  // there and refused (Errc::verify: endless data), keeping nothing beyond it.
  // Errors: network (after the last attempt), auth (401/403, TLS), not_found (404/410), server
  // (other 4xx), verify, interrupted, io.
  Result<DownloadResult> download(const std::string& url, const std::filesystem::path& partial,
                                  Progress& progress, std::uint64_t max_bytes = 0);

 private:
  HttpOptions m_options;
};

}  // namespace ecuup
