#include "server/admin_client.hpp"

#include <httplib.h>

#include <cctype>
#include <csignal>
#include <fstream>

#include "server/base64.hpp"
#include "server/url.hpp"
#include "server/views.hpp"

namespace ecuup::server {

namespace {

using nlohmann::json;

constexpr int k_connect_timeout_s = 10;
constexpr int k_read_timeout_s = 300;  // an upload is hashed and stored before the answer
constexpr std::size_t k_upload_chunk = 64 * 1024;
constexpr int k_http_ok_min = 200;
constexpr int k_http_ok_end = 300;
constexpr int k_http_unauthorized = 401;
constexpr int k_http_forbidden = 403;
constexpr int k_http_too_many_requests = 429;  // too many failed authentications from here
constexpr int k_http_server_error_min = 500;
constexpr const char* k_server_error_prefix = "hawkbit.server.error.";  // + errc_name(), see server.cpp
constexpr const char* k_json_type = "application/json";

// The Errc whose errc_name() the server put into errorCode, if any.
std::optional<Errc> errc_from_error_code(const std::string& error_code) {
  if (!error_code.starts_with(k_server_error_prefix)) return std::nullopt;
  std::string name = error_code.substr(std::string(k_server_error_prefix).size());
  for (int i = 0; i <= static_cast<int>(Errc::internal); ++i) {
    if (name == errc_name(static_cast<Errc>(i))) return static_cast<Errc>(i);
  }
  return std::nullopt;
}

class RemoteBackend : public AdminBackend {
 public:
  RemoteBackend(const std::string& url, const std::string& origin, std::string base_path,
                const AdminContext& ctx)
      : m_url(url), m_base(std::move(base_path)), m_client(origin) {
    m_client.set_bearer_token_auth(ctx.admin_token);
    m_client.set_connection_timeout(k_connect_timeout_s, 0);
    m_client.set_read_timeout(k_read_timeout_s, 0);
    m_client.set_write_timeout(k_read_timeout_s, 0);
    m_client.enable_server_certificate_verification(true);
    if (!ctx.ca_file.empty()) m_client.set_ca_cert_path(ctx.ca_file);
  }

  bool valid() const { return m_client.is_valid(); }

  Result<json> upload(const std::string& part, const std::string& version, const std::filesystem::path& file,
                      const std::string& filename, const std::optional<StatementFacts>& facts) override {
    std::error_code ec;
    auto size = std::filesystem::file_size(file, ec);
    if (ec) return make_error(Errc::io, "cannot read " + file.string() + ": " + ec.message());
    auto in = std::make_shared<std::ifstream>(file, std::ios::binary);
    if (!*in) return make_error(Errc::io, "cannot open " + file.string());
    std::string name = filename.empty() ? file.filename().string() : filename;
    std::string path = "/api/v1/modules?part=" + percent_encode(part) + "&version=" + percent_encode(version) +
                       "&filename=" + percent_encode(name);
    if (facts) {
      for (const auto& h : facts->hardware) path += "&hardware=" + percent_encode(h);
      path += "&security_version=" + std::to_string(facts->security_version);
      path += "&expires=" + percent_encode(iso8601_utc(facts->expires_at));
    }
    auto res = m_client.Post(
        (m_base + path).c_str(), static_cast<std::size_t>(size),
        [in](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
          std::vector<char> buf(std::min(length, k_upload_chunk));
          in->seekg(static_cast<std::streamoff>(offset));
          in->read(buf.data(), static_cast<std::streamsize>(buf.size()));
          auto got = static_cast<std::size_t>(in->gcount());
          if (got == 0) return false;
          return sink.write(buf.data(), got);
        },
        "application/octet-stream");
    if (!res && (res.error() == httplib::Error::Write || res.error() == httplib::Error::Canceled)) {
      // The server stops reading a body it refuses (a file over its --max-upload-size, say) and
      // its answer is lost with the connection.
      return make_error(Errc::network, "upload of " + file.string() + " (" + std::to_string(size) + " bytes) to " +
                                           m_url + " was cut off: is it larger than the server's --max-upload-size?");
    }
    return answer(res, "POST", path);
  }

  Result<json> set_statement_facts(const std::string& part, const std::string& version,
                                   const StatementFacts& facts) override {
    json body{{"part", part},
              {"version", version},
              {"hardware", facts.hardware},
              {"security_version", facts.security_version},
              {"expires", iso8601_utc(facts.expires_at)}};
    return post("/api/v1/modules/statement", body);
  }

  Result<json> upload_statement(const std::string& part, const std::string& version, const std::string& filename,
                                const std::string& statement, const std::string& signature) override {
    json body{{"part", part},
              {"version", version},
              {"filename", filename},
              {"statement", base64_encode(statement)},
              {"signature", base64_encode(signature)}};
    return post("/api/v1/modules/statement", body);
  }

  Result<json> assign(const std::string& part, const std::string& version, const VehicleSelector& selector,
                      UpdateMode mode) override {
    json body{{"part", part}, {"version", version}, {"mode", update_mode_name(mode)}};
    if (selector.vehicle) body["vehicle"] = *selector.vehicle;
    if (selector.all) body["all"] = true;
    if (selector.match) body["match"] = selector.match->first + "=" + selector.match->second;
    return post("/api/v1/assignments", body);
  }

  Result<json> add_vehicle(const std::string& id, const std::string& token) override {
    json body{{"id", id}};
    if (!token.empty()) body["token"] = token;
    return post("/api/v1/vehicles", body);
  }

  Result<json> cancel(const std::string& vehicle) override {
    return post("/api/v1/vehicles/" + percent_encode(vehicle) + "/cancel", json::object());
  }

  Result<json> vehicles() override { return get("/api/v1/vehicles"); }

  Result<json> actions(const std::optional<std::string>& vehicle) override {
    return get(vehicle ? "/api/v1/actions?vehicle=" + percent_encode(*vehicle) : "/api/v1/actions");
  }

  Result<json> modules() override { return get("/api/v1/modules"); }

 private:
  Result<json> get(const std::string& path) { return answer(m_client.Get((m_base + path).c_str()), "GET", path); }

  Result<json> post(const std::string& path, const json& body) {
    return answer(m_client.Post((m_base + path).c_str(), body.dump(), k_json_type), "POST", path);
  }

  Result<json> answer(const httplib::Result& res, const std::string& method, const std::string& path) {
    // An untrusted certificate, like a refused token, is Errc::auth (exit 8): retrying will not help
    // until a person fixes it, as with ecuup itself.
    if (!res && res.error() == httplib::Error::SSLServerVerification) {
      return make_error(Errc::auth, "cannot reach " + m_url + ": its TLS certificate is not trusted (see --ca-file)");
    }
    if (!res) {
      return make_error(Errc::network, "cannot reach " + m_url + " (" + httplib::to_string(res.error()) + ")");
    }
    auto body = json::parse(res->body, nullptr, false);
    std::string message = body.is_object() && body.contains("message") && body["message"].is_string()
                              ? body["message"].get<std::string>()
                              : std::string();
    if (res->status == k_http_unauthorized || res->status == k_http_forbidden) {
      return make_error(Errc::auth, "admin token refused by " + m_url + " (HTTP " + std::to_string(res->status) +
                                        (message.empty() ? "" : ": " + message) + ")");
    }
    if (res->status == k_http_too_many_requests) {
      return make_error(Errc::network, "refused by " + m_url + " for now (HTTP 429" +
                                           (message.empty() ? "" : ": " + message) + ")");
    }
    if (res->status >= k_http_ok_min && res->status < k_http_ok_end) {
      if (body.is_discarded()) {
        return make_error(Errc::server, method + " " + m_url + path + ": the answer is not JSON");
      }
      return body;
    }
    // The server's error: its message as the local mode would print it, with the same Errc.
    std::string error_code = body.is_object() ? body.value("errorCode", std::string()) : std::string();
    if (auto code = errc_from_error_code(error_code); code && !message.empty()) return make_error(*code, message);
    Errc code = res->status >= k_http_server_error_min ? Errc::network : Errc::server;
    return make_error(code, method + " " + m_url + path + ": HTTP " + std::to_string(res->status) +
                                (message.empty() ? "" : ": " + message));
  }

  std::string m_url;
  std::string m_base;
  httplib::Client m_client;
};

}  // namespace

Result<std::unique_ptr<AdminBackend>> make_remote_admin_backend(const AdminContext& ctx) {
  const std::string& url = ctx.url;
  auto scheme_end = url.find("://");
  std::string scheme = scheme_end == std::string::npos ? "" : url.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") {
    return make_error(Errc::usage, "--url " + url + ": expected http://HOST[:PORT] or https://HOST[:PORT]");
  }
  auto path_start = url.find('/', scheme_end + 3);
  std::string origin = url.substr(0, path_start);
  std::string base = path_start == std::string::npos ? "" : url.substr(path_start);
  while (base.ends_with("/")) base.pop_back();
  if (origin.size() == scheme.size() + 3 || url.find_first_of("?#") != std::string::npos) {
    return make_error(Errc::usage, "--url " + url + ": expected http://HOST[:PORT] or https://HOST[:PORT]");
  }
  if (!ctx.ca_file.empty() && scheme != "https") {
    return make_error(Errc::usage, "--ca-file is for an https --url");
  }
  if (ctx.admin_token.empty()) {
    return make_error(Errc::usage,
                      "--url needs the admin token: set $ECUUP_SERVER_ADMIN_TOKEN or give --admin-token-file");
  }
  // A server that drops the connection mid-upload must end in an error message, not SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
  auto backend = std::make_unique<RemoteBackend>(url, origin, base, ctx);
  if (!backend->valid()) return make_error(Errc::usage, "--url " + url + ": not a usable URL");
  return std::unique_ptr<AdminBackend>(std::move(backend));
}

}  // namespace ecuup::server
