#include "cli.hpp"
#include "output.hpp"

namespace ecuup::cli {

namespace {

std::shared_ptr<int> add_jobs_option(CLI::App& app) {
  auto jobs = std::make_shared<int>(api::FlashOptions{}.jobs);
  app.add_option("--jobs", *jobs,
                 "program at most N ECUs of one flash order at the same time (1 = one after another)")
      ->type_name("N")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  return jobs;
}

std::shared_ptr<std::string> add_rollback_option(CLI::App& app) {
  auto rollback = std::make_shared<std::string>();
  app.add_option("--rollback", *rollback,
                 "when an ECU fails and is restored: put back only that ECU (ecu), or also every ECU this run flashed, "
                 "last first (vehicle); default: the config's `rollback:`, else ecu")
      ->type_name("ecu|vehicle")
      ->check(CLI::IsMember({"ecu", "vehicle"}));
  return rollback;
}

std::shared_ptr<bool> add_force_preconditions_flag(CLI::App& app) {
  auto force = std::make_shared<bool>(false);
  app.add_flag("--force-preconditions", *force,
               "run the ECUs' preconditions (battery, vehicle speed, bench) but flash even when one is not met; "
               "the override is recorded in the manifest");
  return force;
}

}  // namespace

std::function<Result<ExitCode>(Context&)> setup_flash(CLI::App& app) {
  auto no_backup = std::make_shared<bool>(false);
  app.add_flag("--no-backup", *no_backup,
               "flash even when no verified backup of the installed software exists (a failure then cannot be undone)");
  auto jobs = add_jobs_option(app);
  auto rollback = add_rollback_option(app);
  auto force_preconditions = add_force_preconditions_flag(app);
  return [no_backup, jobs, rollback, force_preconditions](Context& ctx) -> Result<ExitCode> {
    api::FlashOptions o;
    if (*no_backup) o.backup = api::BackupPolicy::not_required;
    if (*force_preconditions) o.preconditions = api::PreconditionPolicy::force;
    o.jobs = *jobs;
    if (!rollback->empty()) o.rollback = parse_rollback(*rollback);
    ECUUP_ASSIGN(api::StepReport rep, api::flash(*ctx.config, ctx.common, o));
    ctx.out->step(rep);
    return rep.exit_code();
  };
}

std::function<Result<ExitCode>(Context&)> setup_update(CLI::App& app) {
  auto no_backup = std::make_shared<bool>(false);
  app.add_flag("--no-backup", *no_backup, "let flash proceed without a verified backup (see ecuup-flash(1))");
  auto jobs = add_jobs_option(app);
  auto rollback = add_rollback_option(app);
  auto force_preconditions = add_force_preconditions_flag(app);
  return [no_backup, jobs, rollback, force_preconditions](Context& ctx) -> Result<ExitCode> {
    api::FlashOptions o;
    if (*no_backup) o.backup = api::BackupPolicy::not_required;
    if (*force_preconditions) o.preconditions = api::PreconditionPolicy::force;
    o.jobs = *jobs;
    if (!rollback->empty()) o.rollback = parse_rollback(*rollback);
    ECUUP_ASSIGN(api::UpdateResult r, api::update(*ctx.config, ctx.common, o));
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
