#include "ecu/command_driver.hpp"

#include <fmt/format.h>

#include "util/fs.hpp"
#include "util/process.hpp"
#include "util/sw_image.hpp"

namespace ecuup {

namespace fs = std::filesystem;

namespace {

// Replaces {name} placeholders with shell-quoted values; unknown placeholders stay as written.
std::string expand(std::string templ, const std::vector<std::pair<std::string, std::string>>& values) {
  for (const auto& [key, value] : values) {
    std::string token = "{" + key + "}";
    for (auto pos = templ.find(token); pos != std::string::npos; pos = templ.find(token, pos)) {
      std::string quoted = shell_quote(value);
      templ.replace(pos, token.size(), quoted);
      pos += quoted.size();
    }
  }
  return templ;
}

std::string last_line(const std::string& text) {
  std::string t = text;
  while (!t.empty() && (t.back() == '\n' || t.back() == ' ' || t.back() == '\r')) t.pop_back();
  auto nl = t.rfind('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

class CommandDriver final : public EcuDriver {
 public:
  CommandDriver(std::string name, fs::path base, std::string version_cmd, std::string flash_cmd, std::string read_cmd,
                std::chrono::milliseconds timeout)
      : m_name(std::move(name)), m_base(std::move(base)), m_version(std::move(version_cmd)),
        m_flash(std::move(flash_cmd)), m_read(std::move(read_cmd)), m_timeout(timeout) {}

  Result<EcuIdentity> read_identity() override {
    ECUUP_ASSIGN(ProcessResult r, run("version", expand(m_version, {{"ecu", m_name}}), std::chrono::milliseconds(60000)));
    std::string version = r.out.substr(0, r.out.find('\n'));
    while (!version.empty() && (version.back() == ' ' || version.back() == '\r')) version.pop_back();
    if (version.empty()) return make_error(Errc::ecu, "version command printed no version");
    return EcuIdentity{version, {}};
  }

  void set_image_version(const std::string& version) override { m_image_version = version; }

  Result<void> flash(const fs::path& image, Progress& progress) override {
    // {version}: what the caller says the image holds, else what its ecuup header says.
    std::string version = m_image_version;
    if (version.empty())
      if (auto header = read_binary_file(image); header && header->size() >= k_sw_image_header_size)
        if (auto info = parse_sw_image_header(*header)) version = info->version;
    // The tool says nothing until it exits: its exit status 0 acknowledges the whole image.
    std::error_code size_error;
    const std::uint64_t total = fs::file_size(image, size_error);
    progress.begin(m_name, "flash", size_error ? 0 : total);
    progress.stage("tool");
    auto r = run("flash", expand(m_flash, {{"ecu", m_name}, {"image", image.string()}, {"version", version}}), m_timeout);
    if (r && !size_error) progress.advance(total);
    progress.end(r.ok());
    if (!r) return std::move(r).error();
    return success();
  }

  bool can_read_out() const override { return !m_read.empty(); }

  Result<void> read_out(const fs::path& dest, Progress& progress) override {
    if (m_read.empty()) return EcuDriver::read_out(dest, progress);
    fs::path tmp = dest.string() + ".part";
    progress.begin(m_name, "read", 0);
    progress.stage("tool");
    auto r = run("read", expand(m_read, {{"ecu", m_name}, {"output", tmp.string()}}), m_timeout);
    std::error_code size_error;
    const std::uint64_t got = r ? fs::file_size(tmp, size_error) : 0;
    if (r && !size_error) progress.advance(got);  // what the tool wrote is what was read
    progress.end(r.ok() && !size_error);
    if (!r) return std::move(r).error();
    if (size_error) return make_error(Errc::ecu, "read command exited 0 but wrote no " + tmp.string());
    return commit_file_atomic(tmp, dest);
  }

 private:
  Result<ProcessResult> run(const char* what, const std::string& command, std::chrono::milliseconds timeout) {
    auto r = run_shell("cd " + shell_quote(m_base.string()) + " && " + command, timeout);
    if (!r) return std::move(r).error().context(fmt::format("{} command", what));
    if (r->exit_code != 0) {
      std::string detail = last_line(r->err.empty() ? r->out : r->err);
      return make_error(Errc::ecu, fmt::format("{} command exited with status {}{}{}", what, r->exit_code,
                                               detail.empty() ? "" : ": ", detail));
    }
    return r;
  }

  std::string m_name;
  fs::path m_base;
  std::string m_version, m_flash, m_read;
  std::chrono::milliseconds m_timeout;
  std::string m_image_version;
};

}  // namespace

Result<std::unique_ptr<EcuDriver>> make_command_driver(const EcuConfig& ecu, const DriverContext& context) {
  const auto& file = ecu.config_file;
  ECUUP_TRY(yaml_known_keys(file, ecu.settings, {"version", "flash", "read"}));
  ECUUP_ASSIGN(std::string version, yaml_string(file, ecu.settings, "version"));
  ECUUP_ASSIGN(std::string flash, yaml_string(file, ecu.settings, "flash"));
  std::string none;
  ECUUP_ASSIGN(std::string read, yaml_string(file, ecu.settings, "read", &none));
  return std::unique_ptr<EcuDriver>(new CommandDriver(ecu.name, context.base_dir, version, flash, read,
                                                      std::chrono::duration_cast<std::chrono::milliseconds>(ecu.flash_timeout)));
}

}  // namespace ecuup
