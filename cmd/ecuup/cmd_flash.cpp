#include "cli.hpp"
#include "output.hpp"

namespace ecuup::cli {

std::function<Result<ExitCode>(Context&)> setup_flash(CLI::App& app) {
  auto no_backup = std::make_shared<bool>(false);
  app.add_flag("--no-backup", *no_backup,
               "flash even when no verified backup of the installed software exists (a failure then cannot be undone)");
  return [no_backup](Context& ctx) -> Result<ExitCode> {
    api::FlashOptions o;
    if (*no_backup) o.backup = api::BackupPolicy::not_required;
    ECUUP_ASSIGN(api::StepReport rep, api::flash(*ctx.config, ctx.common, o));
    ctx.out->step(rep);
    return rep.exit_code();
  };
}

std::function<Result<ExitCode>(Context&)> setup_update(CLI::App& app) {
  auto no_backup = std::make_shared<bool>(false);
  app.add_flag("--no-backup", *no_backup, "let flash proceed without a verified backup (see ecuup-flash(1))");
  return [no_backup](Context& ctx) -> Result<ExitCode> {
    api::FlashOptions o;
    if (*no_backup) o.backup = api::BackupPolicy::not_required;
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
