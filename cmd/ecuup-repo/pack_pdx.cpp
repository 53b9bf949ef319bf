// `ecuup-repo pack pdx`: image files into an ODX-F PDX (container/pdx.hpp's write_pdx), one
// DATABLOCK per --block, in the order given.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "container/pdx.hpp"
#include "pack.hpp"
#include "util/exit_code.hpp"
#include "util/image.hpp"

namespace ecuup::repo {

namespace {

struct PackPdxOptions {
  std::string out, ecu, version, session = "Session", data_format;
  std::vector<std::string> idents, blocks;
  bool extern_file = false, crc32 = false;
};

int fail(const Error& error) {
  std::fprintf(stderr, "ecuup-repo: error: %s\n", error.message.c_str());
  return static_cast<int>(exit_code_for(error.code));
}

Result<std::uint32_t> parse_number(const std::string& text, const std::string& what) {
  try {
    std::size_t used = 0;
    unsigned long long v = std::stoull(text, &used, 0);
    if (used == text.size() && v <= 0xFFFFFFFFull) return static_cast<std::uint32_t>(v);
  } catch (const std::exception&) {
  }
  return make_error(Errc::usage, what + " '" + text + "' is not a number below 2^32");
}

// --block TYPE:IMAGE[@BASE]: TYPE is sbl, code, data or any ODX TYPE; BASE places a raw binary.
Result<PdxBlockSpec> parse_block(const std::string& arg, std::size_t index, const PackPdxOptions& o,
                                 std::uint8_t data_format) {
  const auto colon = arg.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == arg.size())
    return make_error(Errc::usage, "--block '" + arg + "': expected TYPE:IMAGE[@BASE]");
  std::string type = arg.substr(0, colon);
  std::string image = arg.substr(colon + 1);
  std::uint32_t base = 0;
  if (auto at = image.rfind('@'); at != std::string::npos) {
    ECUUP_ASSIGN(base, parse_number(image.substr(at + 1), "--block base address"));
    image.resize(at);
  }
  for (char& c : type) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (type == "SBL") type = "BOOT";
  ECUUP_ASSIGN(FlashImage loaded, load_image(image, ImageFormat::auto_detect, base));
  PdxBlockSpec block;
  block.name = std::filesystem::path(image).stem().string();
  if (block.name.empty()) block.name = "block" + std::to_string(index);
  block.type = type;
  block.version = o.version;
  block.extern_file = o.extern_file;
  block.data_format = data_format;
  block.crc32 = o.crc32;
  for (auto& s : loaded.segments) block.segments.push_back({s.address, std::move(s.data)});
  return block;
}

int run(const PackPdxOptions& o) {
  PdxWriteSpec spec;
  spec.ecu = o.ecu;
  spec.session = o.session;
  for (const auto& ident : o.idents) {
    const auto eq = ident.find('=');
    if (eq == std::string::npos || eq == 0)
      return fail(make_error(Errc::usage, "--expect-ident '" + ident + "': expected NAME=VALUE"));
    const std::string name = ident.substr(0, eq);
    auto same = std::find_if(spec.expected_idents.begin(), spec.expected_idents.end(),
                             [&](const ExpectedIdent& e) { return e.name == name; });
    if (same == spec.expected_idents.end()) same = spec.expected_idents.insert(spec.expected_idents.end(), {name, {}});
    same->values.push_back(ident.substr(eq + 1));
  }
  std::uint8_t data_format = 0;
  if (!o.data_format.empty()) {
    auto v = parse_number(o.data_format, "--data-format");
    if (!v || *v > 0xFF) return fail(make_error(Errc::usage, "--data-format '" + o.data_format + "' is not one byte"));
    data_format = static_cast<std::uint8_t>(*v);
  }
  for (std::size_t i = 0; i < o.blocks.size(); ++i) {
    auto block = parse_block(o.blocks[i], i, o, data_format);
    if (!block) return fail(block.error());
    spec.blocks.push_back(std::move(*block));
  }
  auto written = write_pdx(o.out, spec);
  if (!written) return fail(written.error());
  // What a reader will find: the written file read back as flash will read it.
  auto check = load_pdx(o.out);
  if (!check) return fail(check.error());
  std::size_t blocks = 0;
  for (const auto& p : check->parts) blocks += p.blocks.size();
  std::printf("%s: ECU-MEM %s, SESSION %s, %zu datablocks, %zu segments, version %s\n", o.out.c_str(), o.ecu.c_str(),
              o.session.c_str(), check->parts.size(), blocks, check->version.empty() ? "-" : check->version.c_str());
  return 0;
}

}  // namespace

PackCommand add_pack_pdx(CLI::App& pack) {
  auto o = std::make_shared<PackPdxOptions>();
  auto* cmd = pack.add_subcommand("pdx", "write ODX-F flash data in a PDX container");
  cmd->add_option("--out", o->out, "the PDX file to write")->type_name("FILE")->required();
  cmd->add_option("--ecu", o->ecu, "the ECU-MEM's SHORT-NAME")->type_name("NAME")->required();
  cmd->add_option("--version", o->version, "the software version (each DATABLOCK's OWN-IDENT VERSION)")
      ->type_name("VERSION")
      ->required();
  cmd->add_option("--session", o->session, "the SESSION's SHORT-NAME (default Session)")->type_name("NAME");
  cmd->add_option("--expect-ident", o->idents,
                  "an EXPECTED-IDENT the ECU must report, NAME=VALUE (repeatable; a name given twice accepts either)")
      ->type_name("NAME=VALUE");
  cmd->add_option("--data-format", o->data_format,
                  "the dataFormatIdentifier of every block: 0x10 compresses with zlib, other values are written as "
                  "given (data already encrypted)")
      ->type_name("0xNN");
  cmd->add_flag("--extern", o->extern_file, "put each block's data in a file of its own (EXTERN-FLASHDATA)");
  cmd->add_flag("--crc32", o->crc32, "add a CRC-32 FW-CHECKSUM to each DATABLOCK");
  cmd->add_option("--block", o->blocks,
                  "a DATABLOCK from an image: sbl|code|data|TYPE, then a HEX, S-record or raw file (raw: @BASE address) "
                  "(repeatable, in programming order)")
      ->type_name("TYPE:IMAGE[@BASE]")
      ->required();
  return PackCommand{.cmd = cmd, .run = [o] { return run(*o); }};
}

}  // namespace ecuup::repo
