#include "container/pdx.hpp"

#include <archive.h>
#include <archive_entry.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <climits>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>

#include <fmt/format.h>

#include "util/archive_files.hpp"
#include "util/compress.hpp"
#include "util/fs.hpp"
#include "util/hash.hpp"
#include "util/image.hpp"

namespace ecuup {

namespace fs = std::filesystem;

const char* pdx_defect_name(PdxDefect defect) {
  switch (defect) {
    case PdxDefect::none: return "none";
    case PdxDefect::not_zip: return "not_zip";
    case PdxDefect::path: return "path";
    case PdxDefect::limits: return "limits";
    case PdxDefect::no_index: return "no_index";
    case PdxDefect::xml: return "xml";
    case PdxDefect::no_flash: return "no_flash";
    case PdxDefect::missing_element: return "missing_element";
    case PdxDefect::value: return "value";
    case PdxDefect::missing_file: return "missing_file";
    case PdxDefect::bad_reference: return "bad_reference";
    case PdxDefect::data: return "data";
    case PdxDefect::segment_range: return "segment_range";
    case PdxDefect::overlap: return "overlap";
    case PdxDefect::compression: return "compression";
    case PdxDefect::checksum: return "checksum";
  }
  return "?";
}

namespace {

constexpr const char* k_index_name = "index.xml";
constexpr std::uint64_t k_address_space = std::uint64_t{1} << 32;
constexpr std::size_t k_max_hex_address_digits = 8;
constexpr std::size_t k_max_decimal_digits = 19;
// ISO 14229-1 dataFormatIdentifier: compression method in the high nibble; ecuup's method 1 is zlib.
constexpr std::uint8_t k_erased_fill = 0xFF;
// A fixed time for the writer's zip entries: the same spec writes the same bytes.
constexpr time_t k_zip_entry_mtime = 1700000000;
constexpr int k_zip_entry_mode = 0644;

// --- errors -------------------------------------------------------------------------------------

// Builds the Errc::verify errors of one file and fills the caller's diagnostic with the first.
class Report {
 public:
  Report(std::string file, PdxDiagnostic* diagnostic) : m_file(std::move(file)), m_diag(diagnostic) {}

  Error fail(PdxDefect defect, const std::string& element, const std::string& what, std::size_t line = 0) const {
    if (m_diag && m_diag->defect == PdxDefect::none) {
      m_diag->defect = defect;
      m_diag->file = m_file;
      m_diag->element = element;
      m_diag->line = line;
    }
    std::string where = m_file;
    if (line) where += ":" + std::to_string(line);
    if (!element.empty()) where += ": " + element;
    return make_error(Errc::verify, where + ": " + what);
  }
  void check(PdxChecksumCheck c) const {
    if (m_diag) m_diag->checks.push_back(std::move(c));
  }
  PdxDiagnostic* diagnostic() const { return m_diag; }
  const std::string& file() const { return m_file; }

 private:
  std::string m_file;
  PdxDiagnostic* m_diag;
};

// --- XML ----------------------------------------------------------------------------------------

struct DocFree {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};
using Doc = std::unique_ptr<xmlDoc, DocFree>;
struct ParserFree {
  void operator()(xmlParserCtxt* c) const { xmlFreeParserCtxt(c); }
};

void init_libxml() {
  static std::once_flag once;
  std::call_once(once, [] { xmlInitParser(); });
}

std::string trim(std::string_view s) {
  std::size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// Outside input: no network, no external DTD, no entity substitution (XML_PARSE_NOENT unset), and a
// document that declares a DOCTYPE at all is refused -- ODX needs none.
Result<Doc> parse_xml(std::string_view text, const Report& report) {
  init_libxml();
  if (text.size() > static_cast<std::size_t>(INT_MAX)) return report.fail(PdxDefect::limits, "", "document too large");
  std::unique_ptr<xmlParserCtxt, ParserFree> ctxt(xmlNewParserCtxt());
  if (!ctxt) return make_error(Errc::internal, "libxml2: out of memory");
  Doc doc(xmlCtxtReadMemory(ctxt.get(), text.data(), static_cast<int>(text.size()), report.file().c_str(), nullptr,
                            XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
  if (!doc) {
    const xmlError* e = xmlCtxtGetLastError(ctxt.get());
    std::string why = e && e->message ? trim(e->message) : "not well-formed";
    return report.fail(PdxDefect::xml, "", "malformed XML: " + why, e && e->line > 0 ? static_cast<std::size_t>(e->line) : 0);
  }
  if (doc->intSubset || doc->extSubset) return report.fail(PdxDefect::xml, "", "a DOCTYPE is not allowed in ODX");
  if (!xmlDocGetRootElement(doc.get())) return report.fail(PdxDefect::xml, "", "no root element");
  return doc;
}

bool named(const xmlNode* n, std::string_view name) {
  return n && n->type == XML_ELEMENT_NODE && name == reinterpret_cast<const char*>(n->name);
}

const xmlNode* child(const xmlNode* n, std::string_view name) {
  if (!n) return nullptr;
  for (const xmlNode* c = n->children; c; c = c->next)
    if (named(c, name)) return c;
  return nullptr;
}

std::vector<const xmlNode*> children(const xmlNode* n, std::string_view name) {
  std::vector<const xmlNode*> out;
  if (!n) return out;
  for (const xmlNode* c = n->children; c; c = c->next)
    if (named(c, name)) out.push_back(c);
  return out;
}

// CONTAINER/ITEM: the items of an optional list element.
std::vector<const xmlNode*> list(const xmlNode* n, std::string_view container, std::string_view item) {
  return children(child(n, container), item);
}

// The element's own text (text and CDATA children; entity references are not expanded), trimmed.
std::string text(const xmlNode* n) {
  std::string out;
  if (!n) return out;
  for (const xmlNode* c = n->children; c; c = c->next)
    if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
      out += reinterpret_cast<const char*>(c->content);
  return trim(out);
}

std::optional<std::string> attr(const xmlNode* n, const char* name) {
  for (const xmlAttr* a = n ? n->properties : nullptr; a; a = a->next) {
    if (a->ns || std::string_view(reinterpret_cast<const char*>(a->name)) != name) continue;
    std::string value;
    for (const xmlNode* c = a->children; c; c = c->next)
      if (c->content) value += reinterpret_cast<const char*>(c->content);
    return value;
  }
  return std::nullopt;
}

std::size_t line_of(const xmlNode* n) {
  long line = n ? xmlGetLineNo(n) : 0;
  return line > 0 ? static_cast<std::size_t>(line) : 0;
}

std::string short_name(const xmlNode* n) { return text(child(n, "SHORT-NAME")); }

// "DATABLOCK app" for messages.
std::string label(const xmlNode* n) {
  std::string kind = n ? reinterpret_cast<const char*>(n->name) : "?";
  std::string name = short_name(n);
  return name.empty() ? kind : kind + " " + name;
}

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// --- values -------------------------------------------------------------------------------------

std::string strip_spaces(std::string_view s) {
  std::string out;
  for (char c : s)
    if (!std::isspace(static_cast<unsigned char>(c))) out += c;
  return out;
}

std::optional<std::uint64_t> parse_hex_number(std::string_view s, std::size_t max_digits) {
  std::string digits = strip_spaces(s);
  if (digits.empty()) return std::nullopt;
  std::size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) return 0;
  if (digits.size() - first > max_digits) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : digits) {
    int d = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
            : (c >= 'a' && c <= 'f')                   ? c - 'a' + 10
            : (c >= 'A' && c <= 'F')                   ? c - 'A' + 10
                                                       : -1;
    if (d < 0) return std::nullopt;
    v = v << 4 | static_cast<std::uint64_t>(d);
  }
  return v;
}

std::optional<std::uint64_t> parse_decimal(std::string_view s) {
  std::string digits = strip_spaces(s);
  if (digits.empty() || digits.size() > k_max_decimal_digits) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : digits) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return v;
}

// A hexBinary address element: at most 32 bits.
Result<std::uint32_t> hex_address(const xmlNode* n, const xmlNode* owner, const Report& report) {
  auto v = parse_hex_number(text(n), k_max_hex_address_digits);
  if (!v)
    return report.fail(PdxDefect::value, label(owner),
                       fmt::format("{} '{}' is no 32-bit hex address", reinterpret_cast<const char*>(n->name), text(n)),
                       line_of(n));
  return static_cast<std::uint32_t>(*v);
}

Result<std::uint64_t> decimal_size(const xmlNode* n, const xmlNode* owner, const Report& report) {
  auto v = parse_decimal(text(n));
  if (!v)
    return report.fail(PdxDefect::value, label(owner),
                       fmt::format("{} '{}' is no decimal size", reinterpret_cast<const char*>(n->name), text(n)),
                       line_of(n));
  return *v;
}

// ENCRYPT-COMPRESS-METHOD: one byte, A_BYTEFIELD as hex digits, A_UINT32 as a decimal number.
Result<std::uint8_t> method_byte(const xmlNode* n, const xmlNode* owner, const Report& report) {
  std::string type = attr(n, "TYPE").value_or("A_BYTEFIELD");
  std::optional<std::uint64_t> v;
  if (type == "A_UINT32") v = parse_decimal(text(n));
  else if (type == "A_BYTEFIELD") v = parse_hex_number(text(n), 2);
  if (!v || *v > 0xFF)
    return report.fail(PdxDefect::value, label(owner),
                       fmt::format("ENCRYPT-COMPRESS-METHOD '{}' (TYPE {}) is not one byte", text(n), type), line_of(n));
  return static_cast<std::uint8_t>(*v);
}

// A value written with a TYPE (FW-CHECKSUM): A_UINT32 decimal as 4 big-endian bytes, else hex digits.
std::optional<Bytes> typed_bytes(const xmlNode* n) {
  std::string type = attr(n, "TYPE").value_or("A_BYTEFIELD");
  std::string t = text(n);
  if (type == "A_UINT32") {
    auto v = parse_decimal(t);
    if (!v || *v >= k_address_space) return std::nullopt;
    return Bytes{static_cast<std::uint8_t>(*v >> 24), static_cast<std::uint8_t>(*v >> 16),
                 static_cast<std::uint8_t>(*v >> 8), static_cast<std::uint8_t>(*v)};
  }
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) t = t.substr(2);
  auto b = from_hex(t);
  if (!b) return std::nullopt;
  return std::move(*b);
}

// --- the FLASH model ----------------------------------------------------------------------------

enum class DataKind { binary, ihex, srec };

struct FlashData {
  bool loaded = false;
  DataKind kind = DataKind::binary;
  std::optional<std::uint8_t> method;
  Bytes bytes;       // binary
  FlashImage image;  // HEX / S-record
};

class OdxReader {
 public:
  OdxReader(const Report& report, const PdxFileOpener& open_file, const PdxOptions& options)
      : m_report(report), m_open(open_file), m_options(options) {}

  Result<Container> read(const xmlNode* root);

 private:
  Result<void> index_ids(const xmlNode* n);
  Result<const xmlNode*> resolve(const xmlNode* ref, std::string_view kind, const xmlNode* owner);
  Result<FlashData*> flashdata(const xmlNode* fd);
  Result<ContainerPart> datablock(const xmlNode* db);
  Result<ContainerBlock> segment(const xmlNode* seg, const xmlNode* db, FlashData& data, std::int64_t offset);
  Result<void> securities(const xmlNode* owner, const std::vector<const ContainerPart*>& parts);

  const Report& m_report;
  const PdxFileOpener& m_open;
  const PdxOptions& m_options;
  std::map<std::string, const xmlNode*> m_ids;
  std::map<const xmlNode*, FlashData> m_data;
};

Result<void> OdxReader::index_ids(const xmlNode* n) {
  for (const xmlNode* c = n->children; c; c = c->next) {
    if (c->type != XML_ELEMENT_NODE) continue;
    if (auto id = attr(c, "ID")) {
      if (!m_ids.emplace(*id, c).second)
        return m_report.fail(PdxDefect::value, label(c), "ID '" + *id + "' is used twice", line_of(c));
    }
    ECUUP_TRY(index_ids(c));
  }
  return success();
}

Result<const xmlNode*> OdxReader::resolve(const xmlNode* ref, std::string_view kind, const xmlNode* owner) {
  auto id = attr(ref, "ID-REF");
  const std::string ref_name = reinterpret_cast<const char*>(ref->name);
  if (!id) return m_report.fail(PdxDefect::missing_element, label(owner), ref_name + " without ID-REF", line_of(ref));
  auto it = m_ids.find(*id);
  if (it == m_ids.end() || !named(it->second, kind))
    return m_report.fail(PdxDefect::bad_reference, label(owner),
                         fmt::format("{} '{}' names no {} in this document", ref_name, *id, kind), line_of(ref));
  return it->second;
}

Result<FlashData*> OdxReader::flashdata(const xmlNode* fd) {
  FlashData& d = m_data[fd];
  if (d.loaded) return &d;
  const std::string where = label(fd);
  const xmlNode* format = child(fd, "DATAFORMAT");
  if (!format) return m_report.fail(PdxDefect::missing_element, where, "no DATAFORMAT", line_of(fd));
  std::string selection = attr(format, "SELECTION").value_or("");
  if (selection == "BINARY") d.kind = DataKind::binary;
  else if (selection == "INTEL-HEX") d.kind = DataKind::ihex;
  else if (selection == "MOTOROLA-S") d.kind = DataKind::srec;
  else
    return m_report.fail(PdxDefect::value, where,
                         "DATAFORMAT SELECTION '" + selection + "' is not one ecuup reads (BINARY, INTEL-HEX, MOTOROLA-S)",
                         line_of(format));
  if (const xmlNode* m = child(fd, "ENCRYPT-COMPRESS-METHOD")) {
    ECUUP_ASSIGN(d.method, method_byte(m, fd, m_report));
  }

  // INTERN-FLASHDATA holds DATA, EXTERN-FLASHDATA a DATAFILE (whatever xsi:type says).
  std::string content;
  std::string source;
  if (const xmlNode* data = child(fd, "DATA")) {
    content = text(data);
    source = "inline DATA";
    if (d.kind == DataKind::binary) {
      auto bytes = from_hex(strip_spaces(content));
      if (!bytes) return m_report.fail(PdxDefect::data, where, "inline BINARY DATA is not hex digits", line_of(data));
      d.bytes = std::move(*bytes);
    }
  } else if (const xmlNode* file = child(fd, "DATAFILE")) {
    std::string name = text(file);
    if (name.empty()) return m_report.fail(PdxDefect::missing_element, where, "empty DATAFILE", line_of(file));
    auto bytes = m_open(name);
    if (!bytes) {
      if (bytes.error().code == Errc::not_found)
        return m_report.fail(PdxDefect::missing_file, where, "DATAFILE '" + name + "' is not in the PDX", line_of(file));
      return std::move(bytes).error();
    }
    source = "DATAFILE " + name;
    if (d.kind == DataKind::binary) d.bytes = std::move(*bytes);
    else content.assign(bytes->begin(), bytes->end());
  } else {
    return m_report.fail(PdxDefect::missing_element, where, "neither DATA nor DATAFILE", line_of(fd));
  }
  if (d.kind != DataKind::binary) {
    ImageDiagnostic idiag;
    auto image = d.kind == DataKind::ihex ? parse_ihex(content, source, &idiag) : parse_srec(content, source, &idiag);
    if (!image) return m_report.fail(PdxDefect::data, where, image.error().message, line_of(fd));
    d.image = std::move(*image);
  }
  d.loaded = true;
  return &d;
}

// Streamed (util/compress.hpp): a bomb costs time bounded by the size it claims, never memory.
bool zlib_inflates_to(ByteView data, std::uint64_t expected) {
  auto size = decompress_stream(k_compression_zlib, data, expected, [](ByteView) {});
  return size && *size == expected;
}

Result<ContainerBlock> OdxReader::segment(const xmlNode* seg, const xmlNode* db, FlashData& data, std::int64_t offset) {
  const std::string where = label(db) + " " + label(seg);
  const xmlNode* start_node = child(seg, "SOURCE-START-ADDRESS");
  if (!start_node) return m_report.fail(PdxDefect::missing_element, where, "no SOURCE-START-ADDRESS", line_of(seg));
  ECUUP_ASSIGN(std::uint32_t start, hex_address(start_node, seg, m_report));
  std::optional<std::uint64_t> compressed, uncompressed, end;
  if (const xmlNode* n = child(seg, "COMPRESSED-SIZE")) {
    ECUUP_ASSIGN(compressed, decimal_size(n, seg, m_report));
  }
  if (const xmlNode* n = child(seg, "UNCOMPRESSED-SIZE")) {
    ECUUP_ASSIGN(uncompressed, decimal_size(n, seg, m_report));
  }
  if (const xmlNode* n = child(seg, "SOURCE-END-ADDRESS")) {
    ECUUP_ASSIGN(end, hex_address(n, seg, m_report));
    if (*end < start)
      return m_report.fail(PdxDefect::value, where, "SOURCE-END-ADDRESS before SOURCE-START-ADDRESS", line_of(n));
  }
  if (!end && !uncompressed)
    return m_report.fail(PdxDefect::missing_element, where, "neither SOURCE-END-ADDRESS nor UNCOMPRESSED-SIZE", line_of(seg));
  // The bytes carried: COMPRESSED-SIZE of them when given, else the source range.
  const std::uint64_t length = compressed ? *compressed : end ? *end - start + 1 : *uncompressed;
  if (length == 0) return m_report.fail(PdxDefect::segment_range, where, "empty segment", line_of(seg));

  ContainerBlock block;
  block.data_format = data.method.value_or(0);
  if (const xmlNode* m = child(seg, "ENCRYPT-COMPRESS-METHOD")) {
    ECUUP_ASSIGN(block.data_format, method_byte(m, seg, m_report));
  }
  if (data.kind == DataKind::binary) {
    if (start + length > data.bytes.size())
      return m_report.fail(PdxDefect::segment_range, where,
                           fmt::format("source 0x{:X}+{} is outside its FLASHDATA's {} bytes", start, length,
                                       data.bytes.size()),
                           line_of(seg));
    block.data.assign(data.bytes.begin() + static_cast<std::ptrdiff_t>(start),
                      data.bytes.begin() + static_cast<std::ptrdiff_t>(start + length));
  } else {
    const ImageSegment* inside = nullptr;
    for (const auto& s : data.image.segments)
      if (start >= s.address && start + length <= s.address + std::uint64_t{s.data.size()}) inside = &s;
    if (!inside)
      return m_report.fail(PdxDefect::segment_range, where,
                           fmt::format("source 0x{:X}+{} is not covered by its FLASHDATA's records", start, length),
                           line_of(seg));
    const std::size_t from = start - inside->address;
    block.data.assign(inside->data.begin() + static_cast<std::ptrdiff_t>(from),
                      inside->data.begin() + static_cast<std::ptrdiff_t>(from + length));
  }
  block.memory_size = uncompressed ? *uncompressed : block.data.size();
  const std::int64_t target = static_cast<std::int64_t>(start) + offset;
  if (target < 0 || static_cast<std::uint64_t>(target) + block.memory_size > k_address_space || block.memory_size == 0)
    return m_report.fail(PdxDefect::segment_range, where,
                         fmt::format("target 0x{:X} (source plus TARGET-ADDR-OFFSET) with {} bytes leaves the 32-bit "
                                     "address space",
                                     target, block.memory_size),
                         line_of(seg));
  block.address = static_cast<std::uint32_t>(target);
  if (block.data_format == k_compression_zlib << 4) {
    if (block.memory_size > m_options.max_total_bytes)
      return m_report.fail(PdxDefect::limits, where, "UNCOMPRESSED-SIZE beyond the limit", line_of(seg));
    if (!zlib_inflates_to(block.data, block.memory_size))
      return m_report.fail(PdxDefect::compression, where,
                           fmt::format("zlib data does not inflate to its {} bytes", block.memory_size), line_of(seg));
  }
  return block;
}

ContainerPartKind part_kind(const std::string& type) {
  const std::string t = upper(type);
  if (t == "BOOT" || t.find("SBL") != std::string::npos) return ContainerPartKind::sbl;
  if (t == "CODE") return ContainerPartKind::exe;
  if (t == "DATA") return ContainerPartKind::data;
  return ContainerPartKind::other;
}

Result<ContainerPart> OdxReader::datablock(const xmlNode* db) {
  const std::string where = label(db);
  ContainerPart part;
  part.name = short_name(db);
  if (part.name.empty()) return m_report.fail(PdxDefect::missing_element, "DATABLOCK", "no SHORT-NAME", line_of(db));
  part.kind = part_kind(attr(db, "TYPE").value_or(""));

  std::int64_t offset = 0;
  if (const xmlNode* tao = child(db, "TARGET-ADDR-OFFSET")) {
    if (const xmlNode* pos = child(tao, "POSITIVE-OFFSET")) {
      ECUUP_ASSIGN(std::uint32_t v, hex_address(pos, db, m_report));
      offset = v;
    } else if (const xmlNode* neg = child(tao, "NEGATIVE-OFFSET")) {
      ECUUP_ASSIGN(std::uint32_t v, hex_address(neg, db, m_report));
      offset = -static_cast<std::int64_t>(v);
    } else {
      return m_report.fail(PdxDefect::missing_element, where,
                           "TARGET-ADDR-OFFSET without POSITIVE-OFFSET or NEGATIVE-OFFSET", line_of(tao));
    }
  }
  const auto segments = list(db, "SEGMENTS", "SEGMENT");
  if (segments.empty()) return m_report.fail(PdxDefect::missing_element, where, "no SEGMENTS", line_of(db));
  const xmlNode* ref = child(db, "FLASHDATA-REF");
  if (!ref) return m_report.fail(PdxDefect::missing_element, where, "no FLASHDATA-REF", line_of(db));
  ECUUP_ASSIGN(const xmlNode* fd, resolve(ref, "FLASHDATA", db));
  ECUUP_ASSIGN(FlashData * data, flashdata(fd));
  for (const xmlNode* seg : segments) {
    ECUUP_ASSIGN(ContainerBlock block, segment(seg, db, *data, offset));
    part.erase.push_back(MemoryRange{.address = block.address, .size = block.memory_size});
    part.blocks.push_back(std::move(block));
  }
  for (const xmlNode* own : list(db, "OWN-IDENTS", "OWN-IDENT")) {
    std::string value = text(child(own, "IDENT-VALUE"));
    if (upper(short_name(own)).find("PART") != std::string::npos) {
      if (part.part_number.empty()) part.part_number = value;
    } else if (part.version.empty()) {
      part.version = value;
    }
  }
  return part;
}

std::string method_key(const std::string& method) {
  std::string key;
  for (char c : upper(method))
    if (std::isalnum(static_cast<unsigned char>(c))) key += c;
  return key;
}

// Checks each SECURITY's FW-CHECKSUM of `owner` over the parts' block bytes, as carried.
Result<void> OdxReader::securities(const xmlNode* owner, const std::vector<const ContainerPart*>& parts) {
  for (const xmlNode* sec : list(owner, "SECURITYS", "SECURITY")) {
    const std::string method = text(child(sec, "SECURITY-METHOD"));
    const xmlNode* sum = child(sec, "FW-CHECKSUM");
    if (child(sec, "FW-SIGNATURE"))
      m_report.check({.where = label(owner) + " FW-SIGNATURE", .method = method, .verified = false});
    if (!sum) continue;
    const std::string key = method_key(method);
    Bytes actual;
    if (key == "CRC32") {
      uLong crc = crc32_z(0, nullptr, 0);
      for (const auto* p : parts)
        for (const auto& b : p->blocks) crc = crc32_z(crc, b.data.data(), b.data.size());
      actual = {static_cast<std::uint8_t>(crc >> 24), static_cast<std::uint8_t>(crc >> 16),
                static_cast<std::uint8_t>(crc >> 8), static_cast<std::uint8_t>(crc)};
    } else if (key == "SHA256" || key == "SHA1") {
      auto digest = [&](auto hasher) {
        for (const auto* p : parts)
          for (const auto& b : p->blocks) hasher.update(ByteView(b.data));
        auto d = hasher.finish();
        return Bytes(d.begin(), d.end());
      };
      actual = key == "SHA256" ? digest(Sha256()) : digest(Sha1());
    } else {
      m_report.check({.where = label(owner) + " FW-CHECKSUM", .method = method, .verified = false});
      continue;
    }
    auto expected = typed_bytes(sum);
    if (!expected)
      return m_report.fail(PdxDefect::value, label(owner), "FW-CHECKSUM '" + text(sum) + "' is malformed", line_of(sum));
    if (*expected != actual)
      return m_report.fail(PdxDefect::checksum, label(owner),
                           fmt::format("{} FW-CHECKSUM mismatch: expected {}, data has {}", method, to_hex(*expected),
                                       to_hex(actual)),
                           line_of(sum));
    m_report.check({.where = label(owner) + " FW-CHECKSUM", .method = method, .verified = true});
  }
  return success();
}

Result<Container> OdxReader::read(const xmlNode* root) {
  if (!named(root, "ODX"))
    return m_report.fail(PdxDefect::xml, "", fmt::format("root element is {}, not ODX", reinterpret_cast<const char*>(root->name)),
                         line_of(root));
  const xmlNode* flash = child(root, "FLASH");
  if (!flash) return m_report.fail(PdxDefect::no_flash, "ODX", "no FLASH: not an ODX-F document", line_of(root));
  const auto mems = list(flash, "ECU-MEMS", "ECU-MEM");
  const xmlNode* mem_node = nullptr;
  for (const xmlNode* m : mems)
    if (m_options.ecu_mem.empty() || short_name(m) == m_options.ecu_mem) {
      mem_node = m;
      break;
    }
  if (!mem_node)
    return m_report.fail(PdxDefect::no_flash, "FLASH",
                         m_options.ecu_mem.empty() ? "no ECU-MEM" : "no ECU-MEM named '" + m_options.ecu_mem + "'",
                         line_of(flash));
  const xmlNode* mem = child(mem_node, "MEM");
  if (!mem) return m_report.fail(PdxDefect::missing_element, label(mem_node), "no MEM", line_of(mem_node));
  ECUUP_TRY(index_ids(flash));

  const xmlNode* session = nullptr;
  for (const xmlNode* s : list(mem, "SESSIONS", "SESSION"))
    if (m_options.session.empty() || short_name(s) == m_options.session) {
      session = s;
      break;
    }
  if (!session)
    return m_report.fail(PdxDefect::no_flash, label(mem_node),
                         m_options.session.empty() ? "no SESSION" : "no SESSION named '" + m_options.session + "'",
                         line_of(mem));
  if (auto* d = m_report.diagnostic()) {
    d->ecu_mem = short_name(mem_node);
    d->session = short_name(session);
  }

  Container container;
  container.format = ContainerFormat::pdx;
  for (const xmlNode* ei : list(session, "EXPECTED-IDENTS", "EXPECTED-IDENT")) {
    ExpectedIdent ident;
    ident.name = short_name(ei);
    if (ident.name.empty()) return m_report.fail(PdxDefect::missing_element, "EXPECTED-IDENT", "no SHORT-NAME", line_of(ei));
    for (const xmlNode* v : list(ei, "IDENT-VALUES", "IDENT-VALUE")) ident.values.push_back(text(v));
    if (ident.values.empty())
      return m_report.fail(PdxDefect::missing_element, label(ei), "no IDENT-VALUES", line_of(ei));
    container.expected_idents.push_back(std::move(ident));
  }
  const auto refs = list(session, "DATABLOCK-REFS", "DATABLOCK-REF");
  if (refs.empty()) return m_report.fail(PdxDefect::missing_element, label(session), "no DATABLOCK-REFS", line_of(session));
  std::vector<const xmlNode*> datablocks;
  for (const xmlNode* ref : refs) {
    ECUUP_ASSIGN(const xmlNode* db, resolve(ref, "DATABLOCK", session));
    ECUUP_ASSIGN(ContainerPart part, datablock(db));
    container.parts.push_back(std::move(part));
    datablocks.push_back(db);
  }

  // No two segments of the session may write the same memory.
  struct Range {
    std::uint64_t begin, end;
    const ContainerPart* part;
  };
  std::vector<Range> ranges;
  for (const auto& p : container.parts)
    for (const auto& b : p.blocks) ranges.push_back({b.address, b.address + b.memory_size, &p});
  std::sort(ranges.begin(), ranges.end(), [](const Range& a, const Range& b) { return a.begin < b.begin; });
  for (std::size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].begin < ranges[i - 1].end)
      return m_report.fail(PdxDefect::overlap, label(session),
                           fmt::format("segments of DATABLOCK {} and {} overlap at 0x{:X}", ranges[i - 1].part->name,
                                       ranges[i].part->name, ranges[i].begin),
                           line_of(session));

  // Checksums last: a layout defect is named as such, not as the checksum it also breaks.
  std::vector<const ContainerPart*> all;
  for (std::size_t i = 0; i < datablocks.size(); ++i) {
    ECUUP_TRY(securities(datablocks[i], {&container.parts[i]}));
    all.push_back(&container.parts[i]);
  }
  ECUUP_TRY(securities(session, all));
  for (const xmlNode* cs : list(session, "CHECKSUMS", "CHECKSUM"))
    m_report.check({.where = label(session) + " " + label(cs), .method = text(child(cs, "CHECKSUM-ALG")), .verified = false});

  for (const auto& p : container.parts)
    if (p.kind == ContainerPartKind::exe && !p.version.empty()) {
      container.version = p.version;
      break;
    }
  if (container.version.empty())
    for (const auto& p : container.parts)
      if (!p.version.empty()) {
        container.version = p.version;
        break;
      }
  return container;
}

// --- zip ----------------------------------------------------------------------------------------

using Entries = std::map<std::string, Bytes>;

PdxDefect pdx_defect(ArchiveDefect defect) {
  switch (defect) {
    case ArchiveDefect::path: return PdxDefect::path;
    case ArchiveDefect::limits: return PdxDefect::limits;
    case ArchiveDefect::unreadable: break;
  }
  return PdxDefect::not_zip;
}

Result<Entries> read_zip(const fs::path& path, const PdxOptions& options, const Report& report) {
  ArchiveRead read = read_archive_files(path, ArchiveFormats::zip,
                                        ArchiveLimits{.max_entries = options.max_entries,
                                                      .max_total_bytes = options.max_total_bytes});
  if (read.failure) {
    const auto& f = *read.failure;
    return report.fail(pdx_defect(f.defect), f.entry.empty() ? "" : "entry '" + f.entry + "'", f.why);
  }
  Entries entries;
  for (auto& file : read.files) entries.emplace(std::move(file.name), std::move(file.data));
  return entries;
}

bool ends_with_ci(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && upper(s.substr(s.size() - suffix.size())) == upper(std::string(suffix));
}

std::string xml_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

Result<Container> parse_odx_f(std::string_view xml, const std::string& name, const PdxFileOpener& open_file,
                              const PdxOptions& options, PdxDiagnostic* diagnostic) {
  Report report(name, diagnostic);
  if (diagnostic) diagnostic->document = name;
  ECUUP_ASSIGN(Doc doc, parse_xml(xml, report));
  OdxReader reader(report, open_file, options);
  return reader.read(xmlDocGetRootElement(doc.get()));
}

Result<Container> load_pdx(const fs::path& pdx, const PdxOptions& options, PdxDiagnostic* diagnostic) {
  std::error_code ec;
  if (!fs::exists(pdx, ec)) return make_error(Errc::not_found, pdx.string() + ": no such file");
  {
    std::ifstream probe(pdx, std::ios::binary);
    if (!probe) return make_error(Errc::io, pdx.string() + ": cannot be read");
  }
  Report report(pdx.string(), diagnostic);
  ECUUP_ASSIGN(Entries entries, read_zip(pdx, options, report));
  auto index = entries.find(k_index_name);
  if (index == entries.end()) return report.fail(PdxDefect::no_index, "", "no index.xml at the root: not a PDX");

  const std::string index_file = pdx.string() + ": " + k_index_name;
  Report index_report(index_file, diagnostic);
  ECUUP_ASSIGN(Doc catalog, parse_xml(std::string_view(reinterpret_cast<const char*>(index->second.data()),
                                                       index->second.size()),
                                      index_report));
  const xmlNode* root = xmlDocGetRootElement(catalog.get());
  if (!named(root, "CATALOG"))
    return index_report.fail(PdxDefect::xml, "", fmt::format("root element is {}, not CATALOG",
                                                             reinterpret_cast<const char*>(root->name)),
                             line_of(root));
  std::vector<std::string> documents;
  for (const xmlNode* ablock : list(root, "ABLOCKS", "ABLOCK")) {
    for (const xmlNode* file : list(ablock, "FILES", "FILE")) {
      const std::string listed = text(file);
      auto key = archive_relative_name(listed);
      if (!key || !entries.count(*key))
        return index_report.fail(PdxDefect::missing_file, label(ablock), "FILE '" + listed + "' is not in the PDX",
                                 line_of(file));
      if (ends_with_ci(*key, ".odx-f") || ends_with_ci(*key, ".odx")) documents.push_back(*key);
    }
  }
  if (documents.empty()) return index_report.fail(PdxDefect::no_flash, "CATALOG", "lists no ODX document", line_of(root));

  std::optional<Error> last;
  for (const auto& doc_name : documents) {
    // A DATAFILE names a zip entry: from the root, or beside the document that names it.
    const std::string dir = doc_name.find('/') == std::string::npos ? "" : doc_name.substr(0, doc_name.rfind('/') + 1);
    PdxFileOpener opener = [&entries, dir](const std::string& file) -> Result<Bytes> {
      auto key = archive_relative_name(file);
      if (key) {
        for (const std::string& candidate : {*key, dir + *key}) {
          auto it = entries.find(candidate);
          if (it != entries.end()) return it->second;
        }
      }
      return make_error(Errc::not_found, file + ": not in the PDX");
    };
    PdxDiagnostic attempt;
    const Bytes& text_bytes = entries.at(doc_name);
    auto container = parse_odx_f(std::string_view(reinterpret_cast<const char*>(text_bytes.data()), text_bytes.size()),
                                 pdx.string() + ": " + doc_name, opener, options, &attempt);
    if (container || attempt.defect != PdxDefect::no_flash) {
      if (diagnostic) {
        std::string document = doc_name;
        *diagnostic = std::move(attempt);
        diagnostic->document = document;
      }
      return container;
    }
    // An ODX-D beside the ODX-F, or another ECU's ECU-MEM: try the next document.
    if (diagnostic) *diagnostic = std::move(attempt);
    last = std::move(container).error();
  }
  return *last;
}

bool looks_like_pdx(const fs::path& path) { return archive_has_entry(path, ArchiveFormats::zip, k_index_name); }

// --- writer -------------------------------------------------------------------------------------

namespace {

struct WriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};

la_ssize_t append_to_string(archive*, void* out, const void* buf, size_t n) {
  static_cast<std::string*>(out)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

Result<std::string> zip_files(const std::vector<std::pair<std::string, std::string>>& files) {
  std::string out;
  std::unique_ptr<archive, WriteFree> a(archive_write_new());
  if (!a) return make_error(Errc::internal, "libarchive: out of memory");
  auto fail = [&](const std::string& what) {
    const char* why = archive_error_string(a.get());
    return make_error(Errc::io, "writing the PDX zip: " + what + ": " + (why ? why : "?"));
  };
  if (archive_write_set_format_zip(a.get()) != ARCHIVE_OK) return fail("zip format");
  // Unblocked: the output is exactly the archive, with no padding to a block size.
  archive_write_set_bytes_per_block(a.get(), 0);
  if (archive_write_open2(a.get(), &out, nullptr, append_to_string, nullptr, nullptr) != ARCHIVE_OK) return fail("open");
  for (const auto& [name, content] : files) {
    std::unique_ptr<archive_entry, void (*)(archive_entry*)> e(archive_entry_new(), archive_entry_free);
    archive_entry_set_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), AE_IFREG);
    archive_entry_set_perm(e.get(), k_zip_entry_mode);
    archive_entry_set_size(e.get(), static_cast<la_int64_t>(content.size()));
    archive_entry_set_mtime(e.get(), k_zip_entry_mtime, 0);
    if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK) return fail(name);
    if (!content.empty() &&
        archive_write_data(a.get(), content.data(), content.size()) != static_cast<la_ssize_t>(content.size()))
      return fail(name);
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) return fail("close");
  return out;
}

Result<Bytes> zlib_compress(ByteView plain) { return compress_bytes(k_compression_zlib, plain); }

std::string hex_upper(std::uint64_t v, int digits) { return fmt::format("{:0{}X}", v, digits); }

std::string file_safe(const std::string& name) {
  std::string out;
  for (char c : name) out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '_';
  return out.empty() ? "block" : out;
}

// Writes an image (HEX, S-record) through util/image.hpp's writer and hands back its text.
Result<std::string> image_text(const FlashImage& image, ImageFormat format, const fs::path& scratch_dir) {
  const fs::path tmp = scratch_dir / fmt::format(".ecuup-pdx-{}-{}.tmp", ::getpid(), static_cast<const void*>(&image));
  auto written = write_image(tmp, image, format);
  if (!written) return std::move(written).error();
  auto content = read_text_file(tmp);
  std::error_code ec;
  fs::remove(tmp, ec);
  return content;
}

struct WrittenBlock {
  std::string flashdata_xml;
  std::string datablock_xml;
  std::optional<std::pair<std::string, std::string>> file;  // extern data file: name, content
};

Result<WrittenBlock> write_block(const PdxBlockSpec& b, std::size_t index, const fs::path& scratch_dir) {
  const std::string where = "block " + std::to_string(index) + " '" + b.name + "'";
  if (b.name.empty()) return make_error(Errc::usage, where + ": no name");
  if (b.segments.empty()) return make_error(Errc::usage, where + ": no segments");
  const bool zlib = b.data_format >> 4 == k_compression_zlib;
  if (zlib && (b.data_format & 0x0F) != 0)
    return make_error(Errc::usage, where + ": cannot compress and encrypt (give the data encrypted and data format 0x0N)");

  std::vector<const PdxSegmentSpec*> order;
  for (const auto& s : b.segments) {
    if (s.data.empty()) return make_error(Errc::usage, where + ": an empty segment");
    if (s.address + std::uint64_t{s.data.size()} > k_address_space)
      return make_error(Errc::usage, where + ": a segment leaves the 32-bit address space");
    order.push_back(&s);
  }
  std::sort(order.begin(), order.end(), [](auto* x, auto* y) { return x->address < y->address; });
  // What each segment carries; it sits at its own address (source = address - base), so a compressed
  // segment must fit before the next one starts.
  std::vector<Bytes> carried;
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (i > 0 && order[i]->address < order[i - 1]->address + std::uint64_t{order[i - 1]->data.size()})
      return make_error(Errc::usage, where + ": overlapping segments");
    if (zlib) {
      ECUUP_ASSIGN(Bytes c, zlib_compress(order[i]->data));
      carried.push_back(std::move(c));
    } else {
      carried.push_back(order[i]->data);
    }
    if (i > 0 && order[i]->address < order[i - 1]->address + std::uint64_t{carried[i - 1].size()})
      return make_error(Errc::usage, where + ": segments too close for their compressed data");
    if (order[i]->address + std::uint64_t{carried[i].size()} > k_address_space)
      return make_error(Errc::usage, where + ": compressed data leaves the 32-bit address space");
  }
  const std::uint32_t base = b.format == PdxDataFormat::binary ? order.front()->address : 0;

  std::string content;  // the FLASHDATA's data: binary bytes or image text
  if (b.format == PdxDataFormat::binary) {
    std::uint64_t size = 0;
    for (std::size_t i = 0; i < order.size(); ++i)
      size = std::max(size, order[i]->address - base + std::uint64_t{carried[i].size()});
    content.assign(static_cast<std::size_t>(size), static_cast<char>(k_erased_fill));
    for (std::size_t i = 0; i < order.size(); ++i)
      std::copy(carried[i].begin(), carried[i].end(), content.begin() + (order[i]->address - base));
  } else {
    FlashImage image;
    for (std::size_t i = 0; i < order.size(); ++i) image.segments.push_back({order[i]->address, carried[i]});
    ECUUP_ASSIGN(content, image_text(image, b.format == PdxDataFormat::ihex ? ImageFormat::ihex : ImageFormat::srec,
                                     scratch_dir));
  }

  WrittenBlock out;
  const std::string id = fmt::format("DB.{}", index);
  const std::string fd_id = fmt::format("FD.{}", index);
  const char* selection = b.format == PdxDataFormat::binary ? "BINARY"
                          : b.format == PdxDataFormat::ihex ? "INTEL-HEX"
                                                            : "MOTOROLA-S";
  std::string& f = out.flashdata_xml;
  f += fmt::format("        <FLASHDATA ID=\"{}\" xsi:type=\"{}\">\n", fd_id,
                   b.extern_file ? "EXTERN-FLASHDATA" : "INTERN-FLASHDATA");
  f += fmt::format("          <SHORT-NAME>{}_data</SHORT-NAME>\n", xml_escape(file_safe(b.name)));
  f += fmt::format("          <DATAFORMAT SELECTION=\"{}\"/>\n", selection);
  if (b.data_format != 0)
    f += fmt::format("          <ENCRYPT-COMPRESS-METHOD TYPE=\"A_BYTEFIELD\">{}</ENCRYPT-COMPRESS-METHOD>\n",
                     hex_upper(b.data_format, 2));
  if (b.extern_file) {
    const char* ext = b.format == PdxDataFormat::binary ? "bin" : b.format == PdxDataFormat::ihex ? "hex" : "s19";
    const std::string file = fmt::format("{}_{}.{}", index, file_safe(b.name), ext);
    f += fmt::format("          <DATAFILE LATEBOUND-DATAFILE=\"false\">{}</DATAFILE>\n", xml_escape(file));
    out.file = std::make_pair(file, std::move(content));
  } else if (b.format == PdxDataFormat::binary) {
    f += "          <DATA>" + upper(to_hex(ByteView(reinterpret_cast<const std::uint8_t*>(content.data()), content.size()))) +
         "</DATA>\n";
  } else {
    f += "          <DATA>" + xml_escape(content) + "</DATA>\n";
  }
  f += "        </FLASHDATA>\n";

  std::string& d = out.datablock_xml;
  d += fmt::format("        <DATABLOCK ID=\"{}\" TYPE=\"{}\">\n", id, xml_escape(b.type));
  d += fmt::format("          <SHORT-NAME>{}</SHORT-NAME>\n", xml_escape(b.name));
  d += fmt::format("          <FLASHDATA-REF ID-REF=\"{}\"/>\n          <SEGMENTS>\n", fd_id);
  for (std::size_t i = 0; i < order.size(); ++i) {
    const std::uint32_t source = order[i]->address - base;
    d += fmt::format("            <SEGMENT ID=\"{}.SEG.{}\">\n              <SHORT-NAME>seg{}</SHORT-NAME>\n", id, i, i);
    d += fmt::format("              <SOURCE-START-ADDRESS>{}</SOURCE-START-ADDRESS>\n", hex_upper(source, 8));
    if (zlib) {
      d += fmt::format("              <COMPRESSED-SIZE>{}</COMPRESSED-SIZE>\n", carried[i].size());
      d += fmt::format("              <UNCOMPRESSED-SIZE>{}</UNCOMPRESSED-SIZE>\n", order[i]->data.size());
    } else {
      d += fmt::format("              <SOURCE-END-ADDRESS>{}</SOURCE-END-ADDRESS>\n",
                       hex_upper(source + carried[i].size() - 1, 8));
    }
    d += "            </SEGMENT>\n";
  }
  d += "          </SEGMENTS>\n";
  if (base != 0)
    d += fmt::format("          <TARGET-ADDR-OFFSET xsi:type=\"POS-OFFSET\">\n            <POSITIVE-OFFSET>{}"
                     "</POSITIVE-OFFSET>\n          </TARGET-ADDR-OFFSET>\n",
                     hex_upper(base, 8));
  if (!b.version.empty() || !b.part_number.empty()) {
    d += "          <OWN-IDENTS>\n";
    if (!b.part_number.empty())
      d += fmt::format("            <OWN-IDENT ID=\"{}.PART\">\n              <SHORT-NAME>PART-NUMBER</SHORT-NAME>\n"
                       "              <IDENT-VALUE TYPE=\"A_ASCIISTRING\">{}</IDENT-VALUE>\n            </OWN-IDENT>\n",
                       id, xml_escape(b.part_number));
    if (!b.version.empty())
      d += fmt::format("            <OWN-IDENT ID=\"{}.VERSION\">\n              <SHORT-NAME>VERSION</SHORT-NAME>\n"
                       "              <IDENT-VALUE TYPE=\"A_ASCIISTRING\">{}</IDENT-VALUE>\n            </OWN-IDENT>\n",
                       id, xml_escape(b.version));
    d += "          </OWN-IDENTS>\n";
  }
  if (b.crc32) {
    uLong crc = crc32_z(0, nullptr, 0);
    for (const auto& c : carried) crc = crc32_z(crc, c.data(), c.size());
    d += fmt::format("          <SECURITYS>\n            <SECURITY>\n"
                     "              <SECURITY-METHOD TYPE=\"A_ASCIISTRING\">CRC32</SECURITY-METHOD>\n"
                     "              <FW-CHECKSUM TYPE=\"A_BYTEFIELD\">{}</FW-CHECKSUM>\n"
                     "            </SECURITY>\n          </SECURITYS>\n",
                     hex_upper(crc, 8));
  }
  d += "        </DATABLOCK>\n";
  return out;
}

}  // namespace

Result<void> write_pdx(const fs::path& out, const PdxWriteSpec& spec) {
  if (spec.blocks.empty()) return make_error(Errc::usage, "write PDX: no blocks");
  if (spec.ecu.empty() || spec.session.empty()) return make_error(Errc::usage, "write PDX: no ECU or session name");
  const fs::path scratch = out.has_parent_path() ? out.parent_path() : fs::path(".");
  std::string flashdatas, datablocks, refs;
  std::vector<std::pair<std::string, std::string>> files;
  for (std::size_t i = 0; i < spec.blocks.size(); ++i) {
    auto written = write_block(spec.blocks[i], i, scratch);
    if (!written) return std::move(written).error().context("write PDX " + out.string());
    flashdatas += written->flashdata_xml;
    datablocks += written->datablock_xml;
    refs += fmt::format("            <DATABLOCK-REF ID-REF=\"DB.{}\"/>\n", i);
    if (written->file) files.push_back(std::move(*written->file));
  }
  std::string idents;
  for (std::size_t i = 0; i < spec.expected_idents.size(); ++i) {
    const auto& ei = spec.expected_idents[i];
    if (ei.name.empty() || ei.values.empty())
      return make_error(Errc::usage, "write PDX: an expected ident needs a name and a value");
    idents += fmt::format("            <EXPECTED-IDENT ID=\"EI.{}\">\n              <SHORT-NAME>{}</SHORT-NAME>\n"
                          "              <IDENT-VALUES>\n",
                          i, xml_escape(ei.name));
    for (const auto& v : ei.values)
      idents += fmt::format("                <IDENT-VALUE TYPE=\"A_ASCIISTRING\">{}</IDENT-VALUE>\n", xml_escape(v));
    idents += "              </IDENT-VALUES>\n            </EXPECTED-IDENT>\n";
  }
  const std::string doc_name = file_safe(spec.ecu) + ".odx-f";
  std::string odx = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  odx += "<ODX MODEL-VERSION=\"2.2.0\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n";
  odx += fmt::format("  <FLASH ID=\"FLASH.{0}\">\n    <SHORT-NAME>{0}</SHORT-NAME>\n    <ECU-MEMS>\n", xml_escape(file_safe(spec.ecu)));
  odx += fmt::format("      <ECU-MEM ID=\"MEM.{}\">\n        <SHORT-NAME>{}</SHORT-NAME>\n        <MEM>\n",
                     xml_escape(file_safe(spec.ecu)), xml_escape(spec.ecu));
  odx += fmt::format("          <SESSIONS>\n            <SESSION ID=\"SESSION.0\">\n              <SHORT-NAME>{}</SHORT-NAME>\n",
                     xml_escape(spec.session));
  if (!idents.empty()) odx += "              <EXPECTED-IDENTS>\n" + idents + "              </EXPECTED-IDENTS>\n";
  odx += "              <DATABLOCK-REFS>\n" + refs + "              </DATABLOCK-REFS>\n";
  odx += "            </SESSION>\n          </SESSIONS>\n";
  odx += "          <DATABLOCKS>\n" + datablocks + "          </DATABLOCKS>\n";
  odx += "          <FLASHDATAS>\n" + flashdatas + "          </FLASHDATAS>\n";
  odx += "        </MEM>\n      </ECU-MEM>\n    </ECU-MEMS>\n  </FLASH>\n</ODX>\n";

  std::string index = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  index += "<CATALOG F-DTD-VERSION=\"ODX-2.2.0\">\n";
  index += fmt::format("  <SHORT-NAME>{}</SHORT-NAME>\n  <ABLOCKS>\n", xml_escape(file_safe(spec.ecu)));
  auto ablock = [&](const std::string& name) {
    index += fmt::format("    <ABLOCK>\n      <SHORT-NAME>{}</SHORT-NAME>\n      <FILES>\n        <FILE>{}</FILE>\n"
                         "      </FILES>\n    </ABLOCK>\n",
                         xml_escape(file_safe(name)), xml_escape(name));
  };
  ablock(doc_name);
  for (const auto& f : files) ablock(f.first);
  index += "  </ABLOCKS>\n</CATALOG>\n";

  std::vector<std::pair<std::string, std::string>> entries;
  entries.emplace_back(k_index_name, std::move(index));
  entries.emplace_back(doc_name, std::move(odx));
  for (auto& f : files) entries.push_back(std::move(f));
  ECUUP_ASSIGN(std::string zip, zip_files(entries));
  return write_file_atomic(out, std::string_view(zip)).with_context("write PDX");
}

}  // namespace ecuup
