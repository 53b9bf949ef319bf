#pragma once
// `ecuup-repo pack FORMAT`: writes an OEM container from image files, one file per format
// (pack_vbf.cpp, pack_pdx.cpp). Each adds its subcommand to the `pack` group and hands back the
// function main() runs when it was chosen.
#include <CLI/CLI.hpp>

#include <functional>

namespace ecuup::repo {

struct PackCommand {
  CLI::App* cmd = nullptr;
  std::function<int()> run;
};

// `pack vbf`: a VBF file (pack_vbf.cpp).
PackCommand add_pack_vbf(CLI::App& pack);
// `pack pdx`: ODX-F in a PDX (pack_pdx.cpp).
PackCommand add_pack_pdx(CLI::App& pack);

}  // namespace ecuup::repo
