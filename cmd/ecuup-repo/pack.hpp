#pragma once
// `ecuup-repo pack FORMAT`: one file per container format (pack_vbf.cpp, ...), each adding its
// subcommand to the `pack` group and returning what main runs when it was chosen.
#include <CLI/CLI.hpp>

#include <functional>

namespace ecuup {

struct PackCommand {
  CLI::App* cmd = nullptr;
  std::function<int()> run;
};

PackCommand add_pack_vbf(CLI::App& pack);

}  // namespace ecuup
