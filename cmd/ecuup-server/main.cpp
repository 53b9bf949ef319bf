// ecuup-server: the reference update server. `run` serves hawkBit DDI + the management API;
// `admin` manages vehicles, software and assignments directly in the data directory, or through a
// running server's management API (--url).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "server/admin.hpp"
#include "server/server.hpp"
#include "util/exit_code.hpp"
#include "util/fs.hpp"

namespace {

using namespace ecuup;
using namespace ecuup::server;

constexpr const char* k_admin_token_env = "ECUUP_SERVER_ADMIN_TOKEN";
constexpr const char* k_gateway_token_env = "ECUUP_SERVER_GATEWAY_TOKEN";

// A token from a file (first line, trimmed) or else from the environment.
Result<std::string> load_token(const std::string& file, const char* env) {
  if (!file.empty()) {
    ECUUP_ASSIGN(std::string text, read_text_file(file));
    auto end = text.find_first_of("\r\n");
    if (end != std::string::npos) text.resize(end);
    while (!text.empty() && text.back() == ' ') text.pop_back();
    if (text.empty()) return make_error(Errc::config, "token file " + file + " is empty");
    return text;
  }
  const char* value = std::getenv(env);
  return std::string(value ? value : "");
}

Result<void> parse_listen(const std::string& listen, ServerOptions& options) {
  auto colon = listen.rfind(':');
  std::string host = colon == std::string::npos ? "" : listen.substr(0, colon);
  std::string port = colon == std::string::npos ? listen : listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (!host.empty()) options.host = host;
  try {
    std::size_t used = 0;
    int p = std::stoi(port, &used);
    if (used != port.size() || p < 0 || p > 65535) throw std::out_of_range(port);
    options.port = p;
  } catch (const std::exception&) {
    return make_error(Errc::usage, "--listen " + listen + ": expected HOST:PORT");
  }
  return success();
}

bool valid_sleep(const std::string& s) {
  // DdiPolling.sleep is "HH:MM:SS".
  return s.size() == 8 && s[2] == ':' && s[5] == ':' &&
         std::isdigit(static_cast<unsigned char>(s[0])) && std::isdigit(static_cast<unsigned char>(s[1])) &&
         std::isdigit(static_cast<unsigned char>(s[3])) && std::isdigit(static_cast<unsigned char>(s[4])) &&
         std::isdigit(static_cast<unsigned char>(s[6])) && std::isdigit(static_cast<unsigned char>(s[7]));
}

int fail(const Error& error) {
  std::fprintf(stderr, "ecuup-server: error: %s\n", error.message.c_str());
  return static_cast<int>(exit_code_for(error.code));
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ecuup-server: reference update server (hawkBit DDI device API + management)"};
  app.set_version_flag("--version", std::string("ecuup-server ") + ECUUP_VERSION);
  app.require_subcommand(1);

  ServerOptions options;
  std::string data_dir;
  std::string listen = "127.0.0.1:8080";
  std::string tls_cert, tls_key, admin_token_file, gateway_token_file;
  auto* run = app.add_subcommand("run", "serve the DDI device API and the management API");
  run->add_option("--data", data_dir, "data directory (database and artifacts)")->required();
  run->add_option("--listen", listen, "HOST:PORT to listen on (port 0: ephemeral)")->capture_default_str();
  run->add_option("--tls-cert", tls_cert, "serve HTTPS with this PEM certificate");
  run->add_option("--tls-key", tls_key, "PEM private key for --tls-cert");
  run->add_option("--tenant", options.tenant, "DDI tenant name")->capture_default_str();
  run->add_option("--admin-token-file", admin_token_file,
                  std::string("management API Bearer token file (else $") + k_admin_token_env + ")");
  run->add_option("--gateway-token-file", gateway_token_file,
                  std::string("DDI GatewayToken file (else $") + k_gateway_token_env + ")");
  run->add_option("--polling-sleep", options.polling_sleep, "DDI polling interval HH:MM:SS")->capture_default_str();
  run->add_option("--public-url", options.public_url, "base URL for hrefs (default: from the Host header)");
  run->add_option("--threads", options.threads, "worker threads (default 0: one per core)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  run->add_flag("--log-requests", options.log_requests, "log each request to stderr");
  run->add_option("--max-upload-size", options.max_upload_bytes,
                  "largest artifact upload through the management API (bytes; K, M, G suffixes: 1024-based)")
      ->transform(CLI::AsSizeValue(false))
      ->default_str("1G");
  run->add_option("--auth-failure-limit", options.auth_failure_limit,
                  "failed authentications per client address and window before HTTP 429 (0: no limit)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  run->add_option("--auth-failure-window", options.auth_failure_window_s,
                  "seconds of that window, from the first failure")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  std::string sign_cert, sign_key;
  run->add_option("--sign-cert", sign_cert, "sign modules' release statements: PEM certificate (chain may follow)")
      ->check(CLI::ExistingFile);
  run->add_option("--sign-key", sign_key, "PEM private key for --sign-cert")->check(CLI::ExistingFile);

  AdminContext admin_ctx;
  bool json_output = false;
  auto* admin = app.add_subcommand("admin", "manage vehicles, software and assignments");
  std::string admin_url, admin_ca_file, admin_url_token_file;
  auto* admin_data = admin->add_option("--data", data_dir, "data directory (or --url)");
  auto* admin_url_opt = admin->add_option("--url", admin_url, "a running server's base URL (or --data)");
  admin_data->excludes(admin_url_opt);
  admin->add_option("--admin-token-file", admin_url_token_file,
                    std::string("with --url: admin token file (else $") + k_admin_token_env + ")");
  admin->add_option("--ca-file", admin_ca_file, "with an https --url: PEM CA certificates to trust")
      ->check(CLI::ExistingFile);
  admin->add_flag("--json", json_output, "print JSON");
  admin->require_subcommand(1);
  admin->fallthrough();

  std::string part, version, file, filename, vehicle, match, mode = "forced", token, list_what;
  bool all = false;
  std::vector<std::string> hardware;
  std::string security_version, expires, statement_file, signature_file;
  auto* upload = admin->add_subcommand("upload", "store FILE as the software of part P, version V, and its release statement");
  upload->add_option("--part", part, "ECU part name")->required();
  upload->add_option("--version", version, "software version")->required();
  auto* filename_opt =
      upload->add_option("--filename", filename, "artifact name offered to vehicles (default: FILE's name)");
  auto* file_opt = upload->add_option("FILE", file, "artifact file")->check(CLI::ExistingFile);
  filename_opt->needs(file_opt);
  // One value per --hardware: a vector option would otherwise take FILE after it as well.
  auto* hardware_opt = upload->add_option("--hardware", hardware,
                                          "signed statement: hardware part number it is for (repeat, or A,B)")
                           ->allow_extra_args(false);
  auto* security_opt =
      upload->add_option("--security-version", security_version, "signed statement: anti-rollback counter (default 0)");
  auto* expires_opt = upload->add_option(
      "--expires", expires, "signed statement: expiry, UTC YYYY-MM-DDTHH:MM:SSZ (default: one year from now)");
  security_opt->needs(hardware_opt);
  expires_opt->needs(hardware_opt);
  auto* statement_opt = upload->add_option("--statement", statement_file,
                                           "a ready-made release statement (NAME.release.json) to serve unchanged")
                            ->check(CLI::ExistingFile);
  auto* signature_opt =
      upload->add_option("--signature", signature_file, "the detached CMS signature of --statement")
          ->check(CLI::ExistingFile);
  statement_opt->needs(signature_opt);
  signature_opt->needs(statement_opt);
  statement_opt->excludes(hardware_opt);
  upload->fallthrough();

  auto* assign = admin->add_subcommand("assign", "assign part P version V to vehicles");
  assign->add_option("--part", part, "ECU part name")->required();
  assign->add_option("--version", version, "software version (uploaded before)")->required();
  auto* by_vehicle = assign->add_option("--vehicle", vehicle, "one vehicle");
  auto* by_all = assign->add_flag("--all", all, "every registered vehicle");
  auto* by_match = assign->add_option("--match", match, "vehicles whose attribute ATTR equals VALUE (ATTR=VALUE)");
  by_vehicle->excludes(by_all)->excludes(by_match);
  by_all->excludes(by_match);
  assign->add_option("--mode", mode, "forced, attempt or downloadonly")->capture_default_str();
  assign->fallthrough();

  auto* vehicle_cmd = admin->add_subcommand("vehicle", "register vehicles");
  vehicle_cmd->require_subcommand(1);
  std::string vehicle_id;
  auto* vehicle_add = vehicle_cmd->add_subcommand("add", "register vehicle ID (prints its TargetToken)");
  vehicle_add->add_option("ID", vehicle_id, "vehicle (controller) id")->required();
  vehicle_add->add_option("--token", token, "TargetToken to use (default: random)");
  vehicle_add->fallthrough();
  vehicle_cmd->fallthrough();

  auto* cancel = admin->add_subcommand("cancel", "ask a vehicle to cancel its open action");
  cancel->add_option("--vehicle", vehicle, "vehicle id")->required();
  cancel->fallthrough();

  auto* list = admin->add_subcommand("list", "list vehicles (with reported versions), actions or modules");
  list->add_option("WHAT", list_what, "vehicles, actions or modules")
      ->required()
      ->check(CLI::IsMember({"vehicles", "actions", "modules"}));
  list->add_option("--vehicle", vehicle, "actions of one vehicle only");
  list->fallthrough();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : static_cast<int>(ExitCode::usage);
  }

  if (run->parsed()) {
    options.data_dir = data_dir;
    options.tls_cert = tls_cert;
    options.tls_key = tls_key;
    if (auto r = parse_listen(listen, options); !r) return fail(r.error());
    if (!valid_sleep(options.polling_sleep)) {
      return fail(make_error(Errc::usage, "--polling-sleep must be HH:MM:SS"));
    }
    if (tls_cert.empty() != tls_key.empty()) {
      return fail(make_error(Errc::usage, "--tls-cert and --tls-key go together"));
    }
    auto admin_token = load_token(admin_token_file, k_admin_token_env);
    if (!admin_token) return fail(admin_token.error());
    options.admin_token = *admin_token;
    auto gateway_token = load_token(gateway_token_file, k_gateway_token_env);
    if (!gateway_token) return fail(gateway_token.error());
    options.gateway_token = *gateway_token;
    if (sign_cert.empty() != sign_key.empty()) {
      return fail(make_error(Errc::usage, "--sign-cert and --sign-key go together"));
    }
    if (!sign_cert.empty()) options.signing_key = SigningKey{sign_cert, sign_key};
    auto served = run_server(options);
    if (!served) return fail(served.error());
    return 0;
  }

  if (data_dir.empty() == admin_url.empty()) {
    return fail(make_error(Errc::usage, "admin needs exactly one of --data DIR and --url URL"));
  }
  if (admin_url.empty() && (!admin_url_token_file.empty() || !admin_ca_file.empty())) {
    return fail(make_error(Errc::usage, "--admin-token-file and --ca-file go with --url"));
  }
  admin_ctx.data_dir = data_dir;
  admin_ctx.url = admin_url;
  admin_ctx.ca_file = admin_ca_file;
  if (!admin_url.empty()) {
    auto admin_token = load_token(admin_url_token_file, k_admin_token_env);
    if (!admin_token) return fail(admin_token.error());
    admin_ctx.admin_token = *admin_token;
  }
  admin_ctx.output = json_output ? Output::json : Output::human;
  Result<void> done = success();
  if (upload->parsed()) {
    UploadRequest request{.part = part,
                          .version = version,
                          .file = file,
                          .filename = filename,
                          .facts = std::nullopt,
                          .statement_file = statement_file,
                          .signature_file = signature_file};
    if (!hardware.empty()) {
      auto facts = make_statement_facts(hardware, security_version, expires);
      if (!facts) return fail(facts.error());
      request.facts = std::move(*facts);
    }
    done = admin_upload(admin_ctx, request);
  } else if (assign->parsed()) {
    auto selector = make_selector(vehicle, all, match);
    if (!selector) return fail(selector.error());
    done = admin_assign(admin_ctx, part, version, *selector, mode);
  } else if (vehicle_add->parsed()) {
    done = admin_vehicle_add(admin_ctx, vehicle_id, token);
  } else if (cancel->parsed()) {
    done = admin_cancel(admin_ctx, vehicle);
  } else if (list->parsed()) {
    std::optional<std::string> only;
    if (!vehicle.empty()) only = vehicle;
    if (list_what == "vehicles") done = admin_list_vehicles(admin_ctx);
    if (list_what == "actions") done = admin_list_actions(admin_ctx, only);
    if (list_what == "modules") done = admin_list_modules(admin_ctx);
  }
  if (!done) return fail(done.error());
  return 0;
}
