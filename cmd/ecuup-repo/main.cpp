// ecuup-repo: publishes releases to a `dir` repository (releases.yaml and its artifacts), signs
// their release statements and verifies what the repository offers. main() parses the command
// line and calls one library function per subcommand (repository/publish.hpp).
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "pack.hpp"
#include "repository/publish.hpp"
#include "trust/keyring.hpp"
#include "util/exit_code.hpp"

namespace {

using namespace ecuup;
using Clock = std::chrono::system_clock;

constexpr const char* k_exit_codes_help =
    "Exit status: 0 ok; 1 failure (a file could not be read or written); 2 usage or input error, nothing\n"
    "changed; 4 verification failed; 7 another ecuup-repo held releases.yaml for too long.";

int report(const Result<void>& result) {
  if (result) return 0;
  std::fprintf(stderr, "ecuup-repo: error: %s\n", result.error().message.c_str());
  return static_cast<int>(exit_code_for(result.error().code));
}

void print(const std::string& text) { std::fputs(text.c_str(), stdout); }

// The options shared by `add` and `sign`: who signs, and what the statement says.
struct SigningOptions {
  std::string cert, key, expires;
  std::vector<std::string> hardware;
  std::uint64_t security_version = 0;
  std::uint32_t valid_days = 0;
  CLI::Option* cert_opt = nullptr;
  CLI::Option* key_opt = nullptr;
  CLI::Option* security_opt = nullptr;
  CLI::Option* expires_opt = nullptr;
  CLI::Option* days_opt = nullptr;
  CLI::Option* hardware_opt = nullptr;

  void add_to(CLI::App& app, bool required) {
    cert_opt = app.add_option("--sign-cert", cert, "the signer's PEM certificate (its chain may follow in the file)")
                   ->type_name("CERT");
    key_opt = app.add_option("--sign-key", key, "the signer's PEM private key (RSA, ECDSA or Ed25519)")
                  ->type_name("KEY");
    if (required) {
      cert_opt->required();
      key_opt->required();
    } else {
      cert_opt->needs(key_opt);
      key_opt->needs(cert_opt);
    }
    hardware_opt = app.add_option("--hardware", hardware,
                                  "a hardware part number the release is for, as the ECU reports it in DID 0xF191 "
                                  "(repeatable)")
                       ->type_name("HW");
    security_opt = app.add_option("--security-version", security_version,
                                  "the anti-rollback counter in the statement (default 0)")
                       ->type_name("N");
    expires_opt = app.add_option("--expires", expires, "when the statement expires, UTC: YYYY-MM-DDTHH:MM:SSZ")
                      ->type_name("UTC");
    days_opt = app.add_option("--valid-days", valid_days, "the statement expires N days from now (default 365)")->type_name("N");
    expires_opt->excludes(days_opt);
  }

  bool given() const { return cert_opt->count() > 0; }
  // Signing details without a signer would be silently dropped: refuse them instead.
  Result<void> check_unsigned() const {
    for (const CLI::Option* o : {hardware_opt, security_opt, expires_opt, days_opt})
      if (o->count())
        return make_error(Errc::usage, o->get_name() + " belongs to a signed statement: give --sign-cert and --sign-key too");
    return success();
  }
  SigningRequest request() const {
    SigningRequest r;
    r.cert = cert;
    r.key = key;
    r.hardware = hardware;
    if (security_opt->count()) r.security_version = security_version;
    if (expires_opt->count()) r.expires = expires;
    if (days_opt->count()) r.valid_days = valid_days;
    return r;
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ecuup-repo: publish, sign and verify the releases of a dir repository"};
  app.name("ecuup-repo");
  app.require_subcommand(1);
  app.set_version_flag("--version", "ecuup-repo " ECUUP_VERSION);
  app.footer(k_exit_codes_help);

  AddRequest add;
  std::string add_repo, add_file;
  SigningOptions add_signing;
  auto* add_cmd = app.add_subcommand("add", "publish FILE as the newest release of a part (and sign it)");
  add_cmd->add_option("--repo", add_repo, "the repository directory (holds releases.yaml)")->type_name("DIR")->required();
  add_cmd->add_option("--part", add.part, "the part name the ECUs report (the config's part:)")->type_name("PART")->required();
  add_cmd->add_option("--version", add.version, "the release's software version")->type_name("VERSION")->required();
  add_cmd->add_option("FILE", add_file, "the artifact: copied into the repository under its own name")->type_name("")->required();
  add_signing.add_to(*add_cmd, false);
  add_cmd->footer(std::string("Without --sign-cert and --sign-key the release is published unsigned; a vehicle whose "
                              "config has a trust keyring refuses it.\n\n") +
                  k_exit_codes_help);

  SignRequest sign;
  std::string sign_repo;
  SigningOptions sign_signing;
  auto* sign_cmd = app.add_subcommand("sign", "write and sign the release statement of a part's current release");
  sign_cmd->add_option("--repo", sign_repo, "the repository directory (holds releases.yaml)")->type_name("DIR")->required();
  sign_cmd->add_option("--part", sign.part, "the part whose release is signed")->type_name("PART")->required();
  sign_signing.add_to(*sign_cmd, true);
  sign_cmd->footer(std::string("Re-signing keeps the current statement's hardware and security version unless given; "
                               "the expiry is renewed.\n\n") +
                   k_exit_codes_help);

  std::string verify_repo, keyring_path, verify_part;
  bool verify_as_json = false;
  auto* verify_cmd = app.add_subcommand("verify", "check every release's artifact, statement and signature");
  verify_cmd->add_option("--repo", verify_repo, "the repository directory (holds releases.yaml)")->type_name("DIR")->required();
  verify_cmd->add_option("--keyring", keyring_path, "trusted CA certificates: a PEM file or a directory of them")
      ->type_name("FILE|DIR")
      ->required();
  auto* verify_part_opt = verify_cmd->add_option("--part", verify_part, "only this part's release")->type_name("PART");
  verify_cmd->add_flag("--json", verify_as_json, "print the result as JSON on stdout");
  verify_cmd->footer(k_exit_codes_help);

  std::string list_repo;
  bool list_as_json = false;
  auto* list_cmd = app.add_subcommand("list", "print the releases: version, artifact, signature, expiry, hardware");
  list_cmd->add_option("--repo", list_repo, "the repository directory (holds releases.yaml)")->type_name("DIR")->required();
  list_cmd->add_flag("--json", list_as_json, "print the releases as JSON on stdout");
  list_cmd->footer(k_exit_codes_help);

  auto* pack_cmd = app.add_subcommand("pack", "write an OEM container (VBF, PDX) from image files");
  pack_cmd->require_subcommand(1);
  const std::vector<ecuup::repo::PackCommand> packs = {ecuup::repo::add_pack_vbf(*pack_cmd),
                                                        ecuup::repo::add_pack_pdx(*pack_cmd)};

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "ecuup-repo: error: %s\nRun with --help for usage.\n", e.what());
    return static_cast<int>(ExitCode::usage);
  }

  for (const auto& pack : packs)
    if (pack.cmd->parsed()) return pack.run();
  const auto now = Clock::now();
  if (add_cmd->parsed()) {
    add.repo = add_repo;
    add.file = add_file;
    if (add_signing.given()) {
      add.signing = add_signing.request();
    } else if (auto ok = add_signing.check_unsigned(); !ok) {
      return report(ok);
    }
    auto published = add_release(add, now);
    if (!published) return report(std::move(published).error());
    print(describe_published(*published));
    return 0;
  }
  if (sign_cmd->parsed()) {
    sign.repo = sign_repo;
    sign.signing = sign_signing.request();
    auto published = sign_release(sign, now);
    if (!published) return report(std::move(published).error());
    print(describe_published(*published));
    return 0;
  }
  if (verify_cmd->parsed()) {
    auto keyring = Keyring::load(keyring_path);
    if (!keyring) return report(std::move(keyring).error());
    std::optional<std::string> part;
    if (verify_part_opt->count()) part = verify_part;
    auto checks = verify_releases(verify_repo, *keyring, part, now);
    if (!checks) return report(std::move(checks).error());
    print(verify_as_json ? verify_json(verify_repo, *checks) : format_verify_report(*checks));
    return report(verify_outcome(*checks));
  }
  if (list_cmd->parsed()) {
    auto releases = list_releases(list_repo);
    if (!releases) return report(std::move(releases).error());
    print(list_as_json ? releases_json(list_repo, *releases) : format_release_table(*releases));
    return 0;
  }
  return 0;
}
