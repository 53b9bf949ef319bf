#pragma once
// `ecuup-repo pack FORMAT`: writes an OEM container from image files. Each format adds its
// subcommand to the `pack` group and hands back the function main() runs when it was chosen.
#include <CLI/CLI.hpp>

#include <functional>

namespace ecuup::repo {

struct PackCommand {
  CLI::App* cmd = nullptr;
  std::function<int()> run;
};

// `pack pdx`: ODX-F in a PDX (pack_pdx.cpp).
PackCommand add_pack_pdx(CLI::App& pack);

}  // namespace ecuup::repo
