// `ecuup-repo pack vbf`: parses its options and calls pack_vbf (container/vbf_pack.hpp).
#include <charconv>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "container/vbf_pack.hpp"
#include "pack.hpp"
#include "util/exit_code.hpp"

namespace ecuup::repo {

namespace {

struct PackVbfOptions {
  std::string out, type = "exe", part_number, version, vbf_version = "2.6", data_format = "0x00", call, ecu_address,
                   base;
  std::vector<std::string> erase, images;
};

// 0x-prefixed hex or decimal, at most `max`.
Result<std::uint64_t> parse_number(const std::string& option, const std::string& text, std::uint64_t max) {
  int base = 10;
  std::size_t start = 0;
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    start = 2;
  }
  std::uint64_t value = 0;
  const char* last = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data() + start, last, value, base);
  if (ec != std::errc() || ptr != last || start == text.size() || value > max)
    return make_error(Errc::usage, fmt::format("{} {}: expected a number up to 0x{:X} (0x... or decimal)", option, text, max));
  return value;
}

Result<VbfPackRequest> make_request(const PackVbfOptions& o) {
  VbfPackRequest r;
  r.out = o.out;
  for (const auto& image : o.images) r.images.emplace_back(image);
  if (o.type == "sbl") r.part_type = "SBL";
  else if (o.type == "exe") r.part_type = "EXE";
  else if (o.type == "data") r.part_type = "DATA";
  r.part_number = o.part_number;
  r.version = o.version;
  if (o.vbf_version == "2.6") {
    r.vbf_version_major = 2;
    r.vbf_version_minor = 6;
  } else {
    r.vbf_version_major = 3;
    r.vbf_version_minor = 0;
  }
  ECUUP_ASSIGN(auto data_format, parse_number("--data-format", o.data_format, 0xFF));
  r.data_format = static_cast<std::uint8_t>(data_format);
  ECUUP_ASSIGN(auto ecu_address, parse_number("--ecu-address", o.ecu_address, 0xFFFFFFFF));
  r.ecu_address = static_cast<std::uint32_t>(ecu_address);
  if (!o.call.empty()) {
    ECUUP_ASSIGN(auto call, parse_number("--call", o.call, 0xFFFFFFFF));
    r.call = static_cast<std::uint32_t>(call);
  }
  if (!o.base.empty()) {
    ECUUP_ASSIGN(auto base, parse_number("--base", o.base, 0xFFFFFFFF));
    r.raw_base_address = static_cast<std::uint32_t>(base);
  }
  for (const auto& range : o.erase) {
    const auto colon = range.find(':');
    if (colon == std::string::npos) return make_error(Errc::usage, "--erase " + range + ": expected START:LENGTH");
    ECUUP_ASSIGN(auto start, parse_number("--erase", range.substr(0, colon), 0xFFFFFFFF));
    ECUUP_ASSIGN(auto length, parse_number("--erase", range.substr(colon + 1), 0xFFFFFFFF));
    r.erase.push_back(MemoryRange{.address = static_cast<std::uint32_t>(start), .size = length});
  }
  return r;
}

int run_pack_vbf(const PackVbfOptions& options) {
  auto fail = [](const Error& e) {
    std::fprintf(stderr, "ecuup-repo: error: %s\n", e.message.c_str());
    return static_cast<int>(exit_code_for(e.code));
  };
  auto request = make_request(options);
  if (!request) return fail(request.error());
  auto summary = pack_vbf(*request);
  if (!summary) return fail(summary.error());
  std::printf("%s: %zu block(s), %llu bytes of memory, file_checksum 0x%08X\n", options.out.c_str(), summary->blocks,
              static_cast<unsigned long long>(summary->memory_bytes), summary->file_checksum);
  return 0;
}

}  // namespace

PackCommand add_pack_vbf(CLI::App& pack) {
  auto options = std::make_shared<PackVbfOptions>();
  auto* cmd = pack.add_subcommand("vbf", "write a VBF file (Volvo's Versatile Binary Format) from images");
  cmd->add_option("--out", options->out, "the VBF file to write")->type_name("FILE")->required();
  cmd->add_option("--type", options->type, "the software part type: sbl, exe or data (default exe)")
      ->type_name("TYPE")
      ->check(CLI::IsMember({"sbl", "exe", "data"}));
  cmd->add_option("--part-number", options->part_number, "sw_part_number")->type_name("PN")->required();
  cmd->add_option("--version", options->version, "sw_version (optional)")->type_name("V");
  cmd->add_option("--vbf-version", options->vbf_version, "the format version written: 2.6 or 3.0 (default 2.6)")
      ->type_name("X.Y")
      ->check(CLI::IsMember({"2.6", "3.0"}));
  cmd->add_option("--data-format", options->data_format,
                  "data_format_identifier: 0x00 plain (default), 0x10 compressed; ecuup treats compression method 1 "
                  "as zlib (deflate), in this writer and in ecuup-sim")
      ->type_name("0xNN");
  cmd->add_option("--erase", options->erase, "a memory range erased before the blocks are written (repeatable)")
      ->type_name("START:LENGTH");
  cmd->add_option("--call", options->call, "where the SBL starts once downloaded (required with --type sbl)")
      ->type_name("ADDR");
  cmd->add_option("--ecu-address", options->ecu_address, "ecu_address: the ECU's diagnostic address")
      ->type_name("ADDR")
      ->required();
  cmd->add_option("--base", options->base, "the address of a raw (binary) image")->type_name("ADDR");
  cmd->add_option("IMAGE", options->images, "raw, Intel HEX or S-record images: one block per segment")
      ->type_name("")
      ->required();
  cmd->footer(
      "Numbers are 0x-prefixed hex or decimal. Each image segment becomes one block; images must not overlap.\n\n"
      "Exit status: 0 ok; 1 a file could not be read or written; 2 usage or input error, nothing written.");
  return PackCommand{.cmd = cmd, .run = [options] { return run_pack_vbf(*options); }};
}

}  // namespace ecuup::repo
