#include "cli.hpp"
#include "output.hpp"

namespace ecuup::cli {

namespace {

// The options flash and update share, read into api::FlashOptions when the command runs.
struct FlashFlags {
  bool no_backup = false;
  int jobs = api::FlashOptions{}.jobs;
  std::string rollback;
  bool force_preconditions = false;

  api::FlashOptions options() const {
    api::FlashOptions o;
    if (no_backup) o.backup = api::BackupPolicy::not_required;
    if (force_preconditions) o.preconditions = api::PreconditionPolicy::force;
    o.jobs = jobs;
    if (!rollback.empty()) o.rollback = parse_rollback(rollback);
    return o;
  }
};

std::shared_ptr<FlashFlags> add_flash_flags(CLI::App& app, const std::string& no_backup_help) {
  auto f = std::make_shared<FlashFlags>();
  app.add_flag("--no-backup", f->no_backup, no_backup_help);
  app.add_option("--jobs", f->jobs,
                 "program at most N ECUs of one flash order at the same time (1 = one after another)")
      ->type_name("N")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  app.add_option("--rollback", f->rollback,
                 "when an ECU fails and is restored: put back only that ECU (ecu), or also every ECU this run flashed, "
                 "last first (vehicle); default: the config's `rollback:`, else ecu")
      ->type_name("ecu|vehicle")
      ->check(CLI::IsMember({"ecu", "vehicle"}));
  app.add_flag("--force-preconditions", f->force_preconditions,
               "run the ECUs' preconditions (battery, vehicle speed, bench) but flash even when one is not met; "
               "the override is recorded in the manifest");
  return f;
}

}  // namespace

std::function<Result<ExitCode>(Context&)> setup_flash(CLI::App& app) {
  auto flags = add_flash_flags(
      app, "flash even when no verified backup of the installed software exists (a failure then cannot be undone)");
  return [flags](Context& ctx) -> Result<ExitCode> {
    ECUUP_ASSIGN(api::StepReport rep, api::flash(*ctx.config, ctx.common, flags->options()));
    ctx.out->step(rep);
    return rep.exit_code();
  };
}

std::function<Result<ExitCode>(Context&)> setup_update(CLI::App& app) {
  auto flags = add_flash_flags(app, "let flash proceed without a verified backup (see ecuup-flash(1))");
  return [flags](Context& ctx) -> Result<ExitCode> {
    ECUUP_ASSIGN(api::UpdateResult r, api::update(*ctx.config, ctx.common, flags->options()));
    ctx.out->update(r);
    return r.exit_code;
  };
}

std::function<Result<ExitCode>(Context&)> setup_restore(CLI::App&) {
  return [](Context& ctx) -> Result<ExitCode> {
    ECUUP_ASSIGN(api::StepReport rep, api::restore(*ctx.config, ctx.common));
    ctx.out->step(rep);
    return rep.exit_code();
  };
}

}  // namespace ecuup::cli
