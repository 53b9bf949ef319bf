#include "util/image.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "util/archive_files.hpp"
#include "util/compress.hpp"
#include "util/fs.hpp"
#include "util/sw_image.hpp"

namespace ecuup {

namespace fs = std::filesystem;

namespace {

constexpr std::uint8_t k_ihex_data = 0x00;
constexpr std::uint8_t k_ihex_eof = 0x01;
constexpr std::uint8_t k_ihex_ext_segment = 0x02;
constexpr std::uint8_t k_ihex_start_segment = 0x03;
constexpr std::uint8_t k_ihex_ext_linear = 0x04;
constexpr std::uint8_t k_ihex_start_linear = 0x05;
// Intel HEX record: ':' RECLEN LOAD-OFFSET(2) RECTYP data CHKSUM; bytes 0..3 come before the data.
constexpr std::size_t k_ihex_head_bytes = 4;
constexpr std::size_t k_ihex_type_index = 3;
// Type 02 addresses bytes modulo a 64 KiB segment; 04 shifts its value into the upper 16 bits.
constexpr std::uint32_t k_ihex_segment_span = 0x10000;
constexpr unsigned k_ihex_segment_shift = 4;
constexpr unsigned k_ihex_linear_shift = 16;
constexpr std::size_t k_ihex_address_record_bytes = 2;
constexpr std::size_t k_ihex_start_record_bytes = 4;
constexpr std::size_t k_ihex_bytes_per_record = 32;
constexpr std::size_t k_srec_bytes_per_record = 32;
constexpr std::uint64_t k_address_space = std::uint64_t{1} << 32;
// The longest record has 521 characters (HEX: ':' and 1 + 2 + 1 + 255 + 1 bytes as hex digits). A
// line longer than this limit, blanks included, is no record and is never buffered whole: a binary
// file read as text costs no memory.
constexpr std::size_t k_max_line_chars = 1024;

int hex_nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Builds "name:line:col: message" errors (Errc::config) and records the defect for the caller.
class Diagnoser {
 public:
  Diagnoser(const std::string& name, ImageDiagnostic* out) : m_name(name), m_out(out) {}

  Error fail(ImageDefect defect, std::size_t line, std::size_t column, const std::string& message) const {
    if (m_out) *m_out = ImageDiagnostic{defect, line, column};
    if (line == 0) return make_error(Errc::config, fmt::format("{}: {}", m_name, message));
    if (column == 0) return make_error(Errc::config, fmt::format("{}:{}: {}", m_name, line, message));
    return make_error(Errc::config, fmt::format("{}:{}:{}: {}", m_name, line, column, message));
  }

 private:
  const std::string& m_name;
  ImageDiagnostic* m_out;
};

// One record's line after its marker (':' or "Sn"): the digits and the column of the first one.
struct RecordText {
  std::string_view digits;
  std::size_t line = 0;
  std::size_t first_column = 0;
  // Column of the first digit of record byte `index`.
  std::size_t column_of(std::size_t index) const { return first_column + 2 * index; }
};

// Decodes a record's digits into bytes. Every character must be a hex digit, the checksum's too.
Result<Bytes> record_bytes(const RecordText& rec, const Diagnoser& d) {
  for (std::size_t i = 0; i < rec.digits.size(); ++i) {
    if (hex_nibble(rec.digits[i]) < 0) {
      return d.fail(ImageDefect::hex_digit, rec.line, rec.first_column + i, "expected a hex digit");
    }
  }
  if (rec.digits.size() % 2 != 0) {
    return d.fail(ImageDefect::byte_count, rec.line, rec.first_column + rec.digits.size() - 1,
                  "odd number of hex digits: the record ends in half a byte");
  }
  Bytes out(rec.digits.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    out[i] = static_cast<std::uint8_t>(hex_nibble(rec.digits[2 * i]) << 4 | hex_nibble(rec.digits[2 * i + 1]));
  }
  return out;
}

// Sum of all bytes but the last (the checksum), modulo 256.
std::uint8_t byte_sum(const Bytes& rec) {
  std::uint8_t sum = 0;
  for (std::size_t i = 0; i + 1 < rec.size(); ++i) sum = static_cast<std::uint8_t>(sum + rec[i]);
  return sum;
}

// Places data records in the address space and refuses any byte placed twice; records may come
// in any order. Contiguous records merge into segments.
class SegmentBuilder {
 public:
  struct Chunk {
    Bytes data;
    std::size_t first_line = 0;
    std::size_t last_line = 0;
  };
  // An earlier chunk that the new data overlaps, if any: [start, end) and the lines it came from.
  struct Clash {
    std::uint64_t start = 0;
    std::uint64_t end = 0;
    std::size_t first_line = 0;
    std::size_t last_line = 0;
  };

  std::optional<Clash> add(std::uint64_t address, const std::uint8_t* data, std::size_t size, std::size_t line) {
    if (size == 0) return std::nullopt;
    auto next = m_chunks.upper_bound(address);
    if (next != m_chunks.end() && next->first < address + size) return clash(*next);
    if (next != m_chunks.begin()) {
      auto prev = std::prev(next);
      const std::uint64_t prev_end = prev->first + prev->second.data.size();
      if (prev_end > address) return clash(*prev);
      if (prev_end == address) {
        prev->second.data.insert(prev->second.data.end(), data, data + size);
        prev->second.last_line = line;
        return std::nullopt;
      }
    }
    m_chunks.emplace_hint(next, address, Chunk{Bytes(data, data + size), line, line});
    return std::nullopt;
  }

  bool empty() const { return m_chunks.empty(); }

  // Segments in address order; every address is below 4 GiB (add's callers check the range).
  FlashImage finish() {
    FlashImage image;
    std::uint64_t end = 0;
    for (auto& [address, chunk] : m_chunks) {
      if (!image.segments.empty() && address == end) {
        auto& seg = image.segments.back().data;
        seg.insert(seg.end(), chunk.data.begin(), chunk.data.end());
      } else {
        image.segments.push_back({static_cast<std::uint32_t>(address), std::move(chunk.data)});
      }
      end = image.segments.back().address + std::uint64_t{image.segments.back().data.size()};
    }
    m_chunks.clear();
    return image;
  }

 private:
  static Clash clash(const std::pair<const std::uint64_t, Chunk>& c) {
    return Clash{c.first, c.first + c.second.data.size(), c.second.first_line, c.second.last_line};
  }
  std::map<std::uint64_t, Chunk> m_chunks;
};

std::string lines_text(std::size_t first, std::size_t last) {
  return first == last ? fmt::format("line {}", first) : fmt::format("lines {}-{}", first, last);
}

// Places a data record's bytes, naming the record on a clash or when they leave the address space.
Result<void> place(SegmentBuilder& builder, std::uint64_t address, const std::uint8_t* data, std::size_t size,
                   const RecordText& rec, std::size_t address_column, const Diagnoser& d) {
  if (address + size > k_address_space) {
    return d.fail(ImageDefect::address_range, rec.line, address_column,
                  fmt::format("{} data bytes at 0x{:X} run past 4 GiB (the 32-bit address space)", size, address));
  }
  if (auto clash = builder.add(address, data, size, rec.line)) {
    return d.fail(ImageDefect::overlap, rec.line, address_column,
                  fmt::format("data at 0x{:08X}-0x{:08X} overlaps data from {} (0x{:08X}-0x{:08X})", address,
                              address + size - 1, lines_text(clash->first_line, clash->last_line), clash->start,
                              clash->end - 1));
  }
  return success();
}

// Lines of a text held in memory.
class TextLines {
 public:
  explicit TextLines(std::string_view text) : m_text(text) {}
  bool next(std::string_view& line) {
    if (m_pos >= m_text.size()) return false;
    std::size_t nl = m_text.find('\n', m_pos);
    std::size_t end = nl == std::string_view::npos ? m_text.size() : nl;
    line = m_text.substr(m_pos, end - m_pos);
    m_pos = end + 1;
    return true;
  }

 private:
  std::string_view m_text;
  std::size_t m_pos = 0;
};

// Lines read from a file one at a time, so a large HEX file is never held as text. A line longer
// than k_max_line_chars is cut one character beyond it (the parser refuses it).
class FileLines {
 public:
  explicit FileLines(std::FILE* file) : m_file(file) {}
  bool next(std::string_view& line) {
    m_line.clear();
    int c = 0;
    bool any = false;
    while ((c = std::getc(m_file)) != EOF) {
      any = true;
      if (c == '\n') break;
      if (m_line.size() <= k_max_line_chars) m_line.push_back(static_cast<char>(c));
    }
    if (!any) return false;
    line = m_line;
    return true;
  }

 private:
  std::FILE* m_file;
  std::string m_line;
};

bool blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

// Feeds trimmed, non-blank lines to `f` with their 1-based number and the column of their first
// character; tolerates CRLF and surrounding blanks.
template <class Lines, class F>
Result<void> for_each_line(Lines& lines, const Diagnoser& d, F&& f) {
  std::size_t line_no = 0;
  std::string_view line;
  while (lines.next(line)) {
    ++line_no;
    if (line.size() > k_max_line_chars) {
      return d.fail(ImageDefect::syntax, line_no, k_max_line_chars + 1,
                    fmt::format("line is longer than {} characters: not a record", k_max_line_chars));
    }
    std::size_t first_column = 1;
    while (!line.empty() && blank(line.back())) line.remove_suffix(1);
    while (!line.empty() && blank(line.front())) {
      line.remove_prefix(1);
      ++first_column;
    }
    if (line.empty()) continue;
    ECUUP_TRY(f(line, line_no, first_column));
  }
  return success();
}

Error errno_io(const std::string& what, const fs::path& path) {
  if (errno == ENOENT) return make_error(Errc::not_found, "no such file: " + path.string());
  return make_error(Errc::io, what + " " + path.string() + ": " + std::strerror(errno));
}

}  // namespace

const char* image_format_name(ImageFormat format) {
  switch (format) {
    case ImageFormat::auto_detect: return "auto";
    case ImageFormat::raw: return "raw";
    case ImageFormat::ihex: return "ihex";
    case ImageFormat::srec: return "srec";
    case ImageFormat::vbf: return "vbf";
    case ImageFormat::pdx: return "pdx";
  }
  return "?";
}

Result<ImageFormat> parse_image_format(std::string_view name) {
  if (name == "auto") return ImageFormat::auto_detect;
  if (name == "raw" || name == "bin") return ImageFormat::raw;
  if (name == "ihex" || name == "hex") return ImageFormat::ihex;
  if (name == "srec" || name == "s19" || name == "s28" || name == "s37") return ImageFormat::srec;
  if (name == "vbf") return ImageFormat::vbf;
  if (name == "pdx") return ImageFormat::pdx;
  return make_error(Errc::config,
                    fmt::format("unknown image format '{}' (expected one of: auto, raw, ihex, srec, vbf, pdx)", name));
}

std::uint64_t FlashImage::total_size() const {
  std::uint64_t total = 0;
  for (const auto& s : segments) total += s.data.size();
  return total;
}

namespace {

template <class Lines>
Result<FlashImage> parse_ihex_lines(Lines& lines, const Diagnoser& d) {
  enum class Base { none, segment, linear };
  SegmentBuilder builder;
  Base base_kind = Base::none;
  std::uint64_t base = 0;
  std::size_t eof_line = 0;
  std::size_t last_line = 0;
  auto parsed = for_each_line(lines, d, [&](std::string_view line, std::size_t line_no,
                                            std::size_t column) -> Result<void> {
    last_line = line_no;
    if (eof_line) {
      return d.fail(ImageDefect::after_end, line_no, column,
                    fmt::format("a record after the end-of-file record on line {}", eof_line));
    }
    if (line.front() != ':') {
      return d.fail(ImageDefect::syntax, line_no, column, "expected ':' at the start of an Intel HEX record");
    }
    const RecordText text{line.substr(1), line_no, column + 1};
    ECUUP_ASSIGN(Bytes rec, record_bytes(text, d));
    if (rec.size() < k_ihex_head_bytes + 1) {
      return d.fail(ImageDefect::byte_count, line_no, text.first_column,
                    fmt::format("record holds {} bytes, at least 5 expected (length, offset, type, checksum)",
                                rec.size()));
    }
    const std::size_t len = rec[0];
    if (rec.size() != len + k_ihex_head_bytes + 1) {
      return d.fail(ImageDefect::byte_count, line_no, text.first_column,
                    fmt::format("record length says {} data bytes but the line holds {}", len,
                                rec.size() - k_ihex_head_bytes - 1));
    }
    const std::uint8_t expected = static_cast<std::uint8_t>(0x100 - byte_sum(rec));
    if (rec.back() != expected) {
      return d.fail(ImageDefect::checksum, line_no, text.column_of(rec.size() - 1),
                    fmt::format("bad checksum 0x{:02X} (expected 0x{:02X})", rec.back(), expected));
    }
    const std::uint32_t offset = static_cast<std::uint32_t>(rec[1] << 8 | rec[2]);
    const std::uint8_t type = rec[k_ihex_type_index];
    const std::uint8_t* data = rec.data() + k_ihex_head_bytes;
    // Every record but data has a fixed length and a load offset of 0000.
    auto fixed = [&](std::size_t want_len, const char* what) -> Result<void> {
      if (len != want_len) {
        return d.fail(ImageDefect::record_field, line_no, text.column_of(0),
                      fmt::format("{} record holds {} data bytes, {} expected", what, len, want_len));
      }
      if (offset != 0) {
        return d.fail(ImageDefect::record_field, line_no, text.column_of(1),
                      fmt::format("{} record has load offset {:04X}, 0000 expected", what, offset));
      }
      return success();
    };
    switch (type) {
      case k_ihex_data: {
        if (base_kind == Base::segment && offset + len > k_ihex_segment_span) {
          return d.fail(ImageDefect::address_range, line_no, text.column_of(1),
                        fmt::format("{} data bytes at offset {:04X} wrap around their 64 KiB segment", len, offset));
        }
        return place(builder, base + offset, data, len, text, text.column_of(1), d);
      }
      case k_ihex_eof:
        ECUUP_TRY(fixed(0, "an end-of-file"));
        eof_line = line_no;
        return success();
      case k_ihex_ext_segment:
        ECUUP_TRY(fixed(k_ihex_address_record_bytes, "an extended segment address"));
        base = std::uint64_t{static_cast<std::uint32_t>(data[0] << 8 | data[1])} << k_ihex_segment_shift;
        base_kind = Base::segment;
        return success();
      case k_ihex_ext_linear:
        ECUUP_TRY(fixed(k_ihex_address_record_bytes, "an extended linear address"));
        base = std::uint64_t{static_cast<std::uint32_t>(data[0] << 8 | data[1])} << k_ihex_linear_shift;
        base_kind = Base::linear;
        return success();
      case k_ihex_start_segment:
        return fixed(k_ihex_start_record_bytes, "a start segment address");
      case k_ihex_start_linear:
        return fixed(k_ihex_start_record_bytes, "a start linear address");
      default:
        return d.fail(ImageDefect::record_type, line_no, text.column_of(k_ihex_type_index),
                      fmt::format("unknown record type {:02X} (expected 00, 01, 02, 03, 04 or 05)", type));
    }
  });
  if (!parsed) return std::move(parsed).error();
  if (!eof_line) {
    return d.fail(ImageDefect::missing_end, last_line + 1, 0,
                  "expected an end-of-file record (:00000001FF) before the end of the file");
  }
  if (builder.empty()) return d.fail(ImageDefect::no_data, 0, 0, "image holds no data records");
  return builder.finish();
}

template <class Lines>
Result<FlashImage> parse_srec_lines(Lines& lines, const Diagnoser& d) {
  SegmentBuilder builder;
  std::size_t end_line = 0;
  std::size_t records = 0;
  std::size_t data_records = 0;
  std::size_t last_line = 0;
  auto parsed = for_each_line(lines, d, [&](std::string_view line, std::size_t line_no,
                                            std::size_t column) -> Result<void> {
    last_line = line_no;
    if (end_line) {
      return d.fail(ImageDefect::after_end, line_no, column,
                    fmt::format("a record after the termination record on line {}", end_line));
    }
    if (line.size() < 2 || line[0] != 'S' || line[1] < '0' || line[1] > '9') {
      return d.fail(ImageDefect::syntax, line_no, column,
                    "expected 'S' and a record type digit at the start of an S-record");
    }
    const char type = line[1];
    const RecordText text{line.substr(2), line_no, column + 2};
    ECUUP_ASSIGN(Bytes rec, record_bytes(text, d));
    if (rec.size() < 2) {
      return d.fail(ImageDefect::byte_count, line_no, text.first_column,
                    "record holds no byte count and checksum");
    }
    // The count covers the address, the data and the checksum.
    const std::size_t count = rec[0];
    if (rec.size() != count + 1) {
      return d.fail(ImageDefect::byte_count, line_no, text.first_column,
                    fmt::format("byte count says {} but the line holds {}", count, rec.size() - 1));
    }
    const std::uint8_t expected = static_cast<std::uint8_t>(~byte_sum(rec));
    if (rec.back() != expected) {
      return d.fail(ImageDefect::checksum, line_no, text.column_of(rec.size() - 1),
                    fmt::format("bad checksum 0x{:02X} (expected 0x{:02X})", rec.back(), expected));
    }
    std::size_t addr_len = 0;
    switch (type) {
      case '0': case '1': case '5': case '9': addr_len = 2; break;
      case '2': case '6': case '8': addr_len = 3; break;
      case '3': case '7': addr_len = 4; break;
      default:
        return d.fail(ImageDefect::record_type, line_no, column + 1,
                      fmt::format("unknown record type S{} (expected S0-S3, S5-S9)", type));
    }
    if (count < addr_len + 1) {
      return d.fail(ImageDefect::byte_count, line_no, text.first_column,
                    fmt::format("an S{} record counts at least {} bytes (address and checksum), not {}", type,
                                addr_len + 1, count));
    }
    std::uint64_t address = 0;
    for (std::size_t i = 0; i < addr_len; ++i) address = address << 8 | rec[1 + i];
    const std::uint8_t* data = rec.data() + 1 + addr_len;
    const std::size_t data_len = count - addr_len - 1;
    const std::size_t address_column = text.column_of(1);
    ++records;
    // Records other than S0-S3 carry no data: their address field is all they hold.
    auto no_data = [&]() -> Result<void> {
      if (data_len == 0) return success();
      return d.fail(ImageDefect::record_field, line_no, text.column_of(1 + addr_len),
                    fmt::format("an S{} record holds no data, yet this one has {} bytes", type, data_len));
    };
    switch (type) {
      case '0':
        if (records != 1) {
          return d.fail(ImageDefect::record_order, line_no, column, "an S0 header record is allowed only first");
        }
        if (address != 0) {
          return d.fail(ImageDefect::record_field, line_no, address_column,
                        fmt::format("the S0 header record has address {:04X}, 0000 expected", address));
        }
        return success();
      case '1': case '2': case '3':
        ++data_records;
        return place(builder, address, data, data_len, text, address_column, d);
      case '5': case '6':
        ECUUP_TRY(no_data());
        // S5/S6 carry the number of data records so far in the address field.
        if (address != data_records) {
          return d.fail(ImageDefect::record_count, line_no, address_column,
                        fmt::format("record count says {} data records but {} were read", address, data_records));
        }
        return success();
      default:  // S7, S8, S9: the termination record, with the start address
        ECUUP_TRY(no_data());
        end_line = line_no;
        return success();
    }
  });
  if (!parsed) return std::move(parsed).error();
  if (!end_line) {
    return d.fail(ImageDefect::missing_end, last_line + 1, 0,
                  "expected a termination record (S7, S8 or S9) before the end of the file");
  }
  if (builder.empty()) return d.fail(ImageDefect::no_data, 0, 0, "image holds no data records");
  return builder.finish();
}

}  // namespace

Result<FlashImage> parse_ihex(std::string_view text, const std::string& name, ImageDiagnostic* diagnostic) {
  TextLines lines(text);
  return parse_ihex_lines(lines, Diagnoser(name, diagnostic));
}

Result<FlashImage> parse_srec(std::string_view text, const std::string& name, ImageDiagnostic* diagnostic) {
  TextLines lines(text);
  return parse_srec_lines(lines, Diagnoser(name, diagnostic));
}

Result<ImageFormat> detect_image_format(const fs::path& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return errno_io("cannot open image", path);
  char buf[600];
  std::size_t n = std::fread(buf, 1, sizeof buf, f.get());
  std::string_view head(buf, n);
  constexpr std::string_view k_zip_magic{"PK\x03\x04", 4};
  if (head.starts_with(k_zip_magic)) return ImageFormat::pdx;
  // A (POSIX or GNU) tar: a set of VBF files.
  constexpr std::size_t k_tar_magic_at = 257;
  if (head.size() > k_tar_magic_at + 5 && head.substr(k_tar_magic_at, 5) == "ustar") return ImageFormat::vbf;
  // The same set in a tar.gz (or .bz2, .xz, .zst): fetch keeps a set whole, so flash sees the archive.
  if (is_compressed_tar(path)) return ImageFormat::vbf;
  std::size_t start = head.find_first_not_of(" \t\r\n");
  if (start == std::string_view::npos) return ImageFormat::raw;
  head.remove_prefix(start);
  // A text image's first line is a marker followed by hex digits only.
  auto hex_line = [&](std::size_t from) {
    std::size_t i = from;
    while (i < head.size() && hex_nibble(head[i]) >= 0) ++i;
    return i > from + 1 && (i == head.size() || head[i] == '\r' || head[i] == '\n');
  };
  if (head.starts_with("vbf_version")) return ImageFormat::vbf;
  if (head[0] == ':' && hex_line(1)) return ImageFormat::ihex;
  if (head.size() > 2 && head[0] == 'S' && head[1] >= '0' && head[1] <= '9' && hex_line(2)) return ImageFormat::srec;
  return ImageFormat::raw;
}

Result<FlashImage> load_image(const fs::path& path, ImageFormat format, std::uint32_t raw_base_address,
                              ImageDiagnostic* diagnostic) {
  if (format == ImageFormat::auto_detect) {
    ECUUP_ASSIGN(format, detect_image_format(path));
  }
  const std::string name = path.string();
  const Diagnoser d(name, diagnostic);
  if (is_container_format(format))
    return make_error(Errc::config, fmt::format("{}: a {} container is no plain image", name, image_format_name(format)));
  if (format == ImageFormat::raw) {
    auto data = read_binary_file(path);
    if (!data) return std::move(data).error();
    if (data->empty()) return d.fail(ImageDefect::no_data, 0, 0, "image is empty");
    if (raw_base_address + std::uint64_t{data->size()} > k_address_space) {
      return d.fail(ImageDefect::address_range, 0, 0, "image runs past the 32-bit address space");
    }
    FlashImage image;
    image.segments.push_back({raw_base_address, std::move(data).value()});
    return image;
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return errno_io("cannot open image", path);
  FileLines lines(f.get());
  auto image = format == ImageFormat::ihex ? parse_ihex_lines(lines, d) : parse_srec_lines(lines, d);
  // A read error looks like the end of the file to the parser: report it, not "no end record".
  if (std::ferror(f.get())) return make_error(Errc::io, "cannot read " + name);
  return image;
}

namespace {

// The ecuup image header at the start of `head`, whose payload must fit in the `available` bytes
// from the header's start to the end of its segment (or file).
Result<SwImageInfo> check_sw_header(ByteView head, std::uint64_t available, const std::string& where,
                                    const Diagnoser& d) {
  if (head.size() < k_sw_image_header_size) {
    return d.fail(ImageDefect::sw_header, 0, 0,
                  fmt::format("{}: {} bytes, too short for an ecuup image header ({} bytes)", where, head.size(),
                              k_sw_image_header_size));
  }
  auto info = parse_sw_image_header(head.first(k_sw_image_header_size));
  if (!info) return d.fail(ImageDefect::sw_header, 0, 0, where + ": " + info.error().message);
  if (k_sw_image_header_size + std::uint64_t{info->payload_size} > available) {
    return d.fail(ImageDefect::sw_header, 0, 0,
                  fmt::format("{}: the image header announces {} payload bytes, but only {} follow it", where,
                              info->payload_size, available - k_sw_image_header_size));
  }
  return info;
}

bool starts_with_magic(ByteView bytes) {
  return bytes.size() >= k_sw_image_magic.size() &&
         std::equal(k_sw_image_magic.begin(), k_sw_image_magic.end(), bytes.begin());
}

Result<ImageSummary> check_raw_file(const fs::path& path, const ImageSpec& spec, const Diagnoser& d) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return errno_io("cannot open image", path);
  std::error_code ec;
  const std::uint64_t size = fs::file_size(path, ec);
  if (ec) return make_error(Errc::io, "cannot stat " + path.string() + ": " + ec.message());
  if (size == 0) return d.fail(ImageDefect::no_data, 0, 0, "image is empty");
  if (spec.raw_base_address + size > k_address_space) {
    return d.fail(ImageDefect::address_range, 0, 0,
                  fmt::format("{} bytes at 0x{:08X} run past 4 GiB (the 32-bit address space)", size,
                              spec.raw_base_address));
  }
  ImageSummary summary{ImageFormat::raw, 1, size, {}};
  const std::uint64_t at = spec.required_header_offset.value_or(0);
  std::array<std::uint8_t, k_sw_image_header_size> head{};
  std::size_t got = 0;
  if (at < size) {
    if (::fseeko(f.get(), static_cast<off_t>(at), SEEK_SET) != 0) return errno_io("cannot seek in", path);
    got = std::fread(head.data(), 1, head.size(), f.get());
    if (std::ferror(f.get())) return make_error(Errc::io, "cannot read " + path.string());
  }
  const ByteView bytes(head.data(), got);
  if (!spec.required_header_offset && !starts_with_magic(bytes)) return summary;
  ECUUP_ASSIGN(SwImageInfo info, check_sw_header(bytes, at < size ? size - at : 0,
                                                 fmt::format("image header at offset {}", at), d));
  summary.version = info.version;
  return summary;
}

}  // namespace

std::optional<std::string> outside_memory(const std::vector<MemoryRange>& memory, std::uint32_t address,
                                          std::uint64_t size) {
  if (memory.empty()) return std::nullopt;
  const std::uint64_t end = std::uint64_t{address} + size;
  for (const auto& m : memory)
    if (address >= m.address && end <= m.address + m.size) return std::nullopt;
  std::string ranges;
  for (const auto& m : memory)
    ranges += fmt::format("{}0x{:08X}-0x{:08X}", ranges.empty() ? "" : ", ", m.address, m.address + m.size - 1);
  return fmt::format("0x{:08X}-0x{:08X} lies outside the ECU's memory ({})", address, end - (size ? 1 : 0), ranges);
}

Result<void> check_in_memory(const std::vector<MemoryRange>& memory, std::uint32_t address, std::uint64_t size,
                             const std::string& what) {
  if (auto why = outside_memory(memory, address, size)) return make_error(Errc::verify, what + ": " + *why);
  return success();
}

Result<ImageSummary> check_image_file(const fs::path& path, const ImageSpec& spec, ImageDiagnostic* diagnostic) {
  ImageFormat format = spec.format;
  if (format == ImageFormat::auto_detect) {
    ECUUP_ASSIGN(format, detect_image_format(path));
  }
  const std::string name = path.string();
  const Diagnoser d(name, diagnostic);
  // Content that cannot be flashed is a failed verification (exit 4), not a bad config.
  auto as_verify = [](Error e) {
    if (e.code == Errc::config) e.code = Errc::verify;
    return e;
  };
  if (format == ImageFormat::raw) {
    auto summary = check_raw_file(path, spec, d);
    if (!summary) return as_verify(std::move(summary).error());
    if (auto why = outside_memory(spec.memory, spec.raw_base_address, summary->data_bytes))
      return as_verify(d.fail(ImageDefect::address_range, 0, 0, *why));
    return summary;
  }
  auto image = load_image(path, format, 0, diagnostic);
  if (!image) return as_verify(std::move(image).error());
  ImageSummary summary{format, image->segments.size(), image->total_size(), {}};
  const auto& segments = image->segments;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (auto why = outside_memory(spec.memory, segments[i].address, segments[i].data.size()))
      return as_verify(d.fail(ImageDefect::address_range, 0, 0, *why));
  }
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const ByteView data(segments[i].data);
    if (!starts_with_magic(data)) continue;
    auto info = check_sw_header(data, data.size(),
                                fmt::format("image header of the segment at 0x{:08X}", segments[i].address), d);
    if (!info) return as_verify(std::move(info).error());
    if (i == 0) summary.version = info->version;
  }
  if (spec.required_header_offset) {
    const ByteView first(segments.front().data);
    const std::uint64_t at = *spec.required_header_offset;
    const ByteView head = at < first.size() ? first.subspan(static_cast<std::size_t>(at)) : ByteView();
    auto info = check_sw_header(head, head.size(),
                                fmt::format("image header at 0x{:08X}", segments.front().address + at), d);
    if (!info) return as_verify(std::move(info).error());
    summary.version = info->version;
  }
  return summary;
}

ImageSource::Segment ImageSource::plain_segment(std::uint32_t address, std::uint64_t size) {
  Segment seg;
  seg.address = address;
  seg.size = size;
  seg.transfer_size = size;
  return seg;
}

Result<ImageSource> ImageSource::open(const fs::path& path, ImageFormat format, std::uint32_t raw_base_address) {
  if (format == ImageFormat::auto_detect) {
    ECUUP_ASSIGN(format, detect_image_format(path));
  }
  ImageSource source;
  source.m_format = format;
  source.m_path = path;
  if (format != ImageFormat::raw) {
    ECUUP_ASSIGN(source.m_memory, load_image(path, format, raw_base_address));
    for (const auto& s : source.m_memory.segments)
      source.m_segments.push_back(plain_segment(s.address, s.data.size()));
    return source;
  }
  source.m_file.reset(std::fopen(path.c_str(), "rb"));
  if (!source.m_file) return errno_io("cannot open image", path);
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  if (ec) return make_error(Errc::io, "cannot stat " + path.string() + ": " + ec.message());
  if (size == 0) return make_error(Errc::config, path.string() + ": image is empty");
  if (raw_base_address + std::uint64_t{size} > (std::uint64_t{1} << 32)) {
    return make_error(Errc::config, path.string() + ": image runs past the 32-bit address space");
  }
  source.m_segments.push_back(plain_segment(raw_base_address, size));
  return source;
}

ImageSource ImageSource::from_memory(FlashImage image) {
  ImageSource source;
  source.m_format = ImageFormat::srec;
  source.m_memory = std::move(image);
  for (const auto& s : source.m_memory.segments)
    source.m_segments.push_back(plain_segment(s.address, s.data.size()));
  return source;
}

ImageSource ImageSource::from_plan(ImagePlan plan) {
  ImageSource source;
  source.m_format = ImageFormat::raw;
  for (auto& p : plan.segments) {
    Segment seg = plain_segment(p.address, p.memory_size);
    seg.transfer_size = p.data.size();
    seg.data_format = p.data_format;
    seg.sbl = p.sbl;
    seg.part = std::move(p.part);
    source.m_segments.push_back(std::move(seg));
    source.m_memory.segments.push_back({p.address, std::move(p.data)});
  }
  source.m_erase = std::move(plan.erase);
  source.m_sbl_call = plan.sbl_call_address;
  source.m_sbl_name = std::move(plan.sbl_name);
  source.m_description = std::move(plan.description);
  return source;
}

std::uint64_t ImageSource::total_size() const {
  std::uint64_t total = 0;
  for (const auto& s : m_segments)
    if (!s.sbl) total += s.size;
  return total;
}

std::vector<MemoryRange> ImageSource::ranges_to_erase() const {
  if (!m_erase.empty()) return m_erase;
  std::vector<MemoryRange> own;
  for (const auto& seg : m_segments)
    if (!seg.sbl) own.push_back({seg.address, seg.size});
  return own;
}

Result<void> ImageSource::encode(std::uint8_t data_format) {
  const std::uint8_t method = compression_method(data_format);
  for (std::size_t i = 0; i < m_segments.size(); ++i) {
    Segment& seg = m_segments[i];
    if (seg.data_format) continue;
    Bytes plain(static_cast<std::size_t>(seg.transfer_size));
    ECUUP_TRY(read(i, 0, plain));
    if (m_file) {
      // A raw file becomes an in-memory image of its one segment.
      m_memory.segments.assign(m_segments.size(), {});
      m_file.reset();
    }
    ECUUP_ASSIGN(m_memory.segments[i].data, compress_bytes(method, plain));
    m_memory.segments[i].address = seg.address;
    seg.transfer_size = m_memory.segments[i].data.size();
    seg.data_format = data_format;
  }
  return success();
}

Result<void> ImageSource::read(std::size_t index, std::uint64_t offset, std::span<std::uint8_t> out) {
  if (index >= m_segments.size() || offset + out.size() > m_segments[index].transfer_size) {
    return make_error(Errc::internal, "image read out of range");
  }
  if (!m_file) {
    const auto& data = m_memory.segments[index].data;
    std::copy_n(data.begin() + static_cast<std::ptrdiff_t>(offset), out.size(), out.begin());
    return success();
  }
  // Blocks are read in order: seek only when a caller jumps (a repeated or skipped block).
  if (offset != m_file_pos && ::fseeko(m_file.get(), static_cast<off_t>(offset), SEEK_SET) != 0) {
    m_file_pos = ~std::uint64_t{0};
    return make_error(Errc::io, fmt::format("cannot seek in {}: {}", m_path.string(), std::strerror(errno)));
  }
  m_file_pos = offset + out.size();
  if (std::fread(out.data(), 1, out.size(), m_file.get()) != out.size()) {
    m_file_pos = ~std::uint64_t{0};
    return make_error(Errc::io, fmt::format("cannot read {} at offset {}: {}", m_path.string(), offset,
                                            std::ferror(m_file.get()) ? std::strerror(errno) : "file shrank"));
  }
  return success();
}

Result<ImageWriter> ImageWriter::create(const fs::path& path, ImageFormat format) {
  if (format == ImageFormat::auto_detect || is_container_format(format))
    return make_error(Errc::internal, "ImageWriter needs a plain image format");
  ImageWriter w;
  w.m_format = format;
  w.m_path = path;
  w.m_tmp = path;
  w.m_tmp += ".partial";
  w.m_file = std::fopen(w.m_tmp.c_str(), "wb");
  if (!w.m_file) return errno_io("cannot create", w.m_tmp);
  if (format == ImageFormat::srec) {
    // An empty S0 header record.
    ECUUP_TRY(w.put("S0030000FC\n"));
  }
  return w;
}

ImageWriter::ImageWriter(ImageWriter&& other) noexcept { *this = std::move(other); }

ImageWriter& ImageWriter::operator=(ImageWriter&& other) noexcept {
  if (this != &other) {
    if (m_file) {
      std::fclose(m_file);
      fs::remove(m_tmp);
    }
    m_format = other.m_format;
    m_path = std::move(other.m_path);
    m_tmp = std::move(other.m_tmp);
    m_file = std::exchange(other.m_file, nullptr);
    m_started = other.m_started;
    m_next_address = other.m_next_address;
    m_ihex_upper = other.m_ihex_upper;
    m_ihex_upper_set = other.m_ihex_upper_set;
  }
  return *this;
}

ImageWriter::~ImageWriter() {
  if (m_file) {
    std::fclose(m_file);
    std::error_code ec;
    fs::remove(m_tmp, ec);
  }
}

Result<void> ImageWriter::put(std::string_view text) {
  if (std::fwrite(text.data(), 1, text.size(), m_file) != text.size()) {
    return make_error(Errc::io, "cannot write " + m_tmp.string() + ": " + std::strerror(errno));
  }
  return success();
}

Result<void> ImageWriter::write(std::uint32_t address, ByteView data) {
  if (!m_file) return make_error(Errc::internal, "ImageWriter already finished");
  if (m_format == ImageFormat::raw) {
    if (m_started && address != m_next_address) {
      return make_error(Errc::config, fmt::format("a raw image cannot hold a gap (0x{:08x} after 0x{:08x}); "
                                                  "use ihex or srec", address, m_next_address));
    }
    m_started = true;
    m_next_address = static_cast<std::uint32_t>(address + data.size());
    if (!data.empty() && std::fwrite(data.data(), 1, data.size(), m_file) != data.size()) {
      return make_error(Errc::io, "cannot write " + m_tmp.string() + ": " + std::strerror(errno));
    }
    return success();
  }
  std::string text;
  std::size_t pos = 0;
  while (pos < data.size()) {
    std::uint32_t addr = static_cast<std::uint32_t>(address + pos);
    if (m_format == ImageFormat::ihex) {
      std::uint32_t upper = addr >> 16;
      if (!m_ihex_upper_set || upper != m_ihex_upper) {
        std::uint8_t sum = static_cast<std::uint8_t>(2 + k_ihex_ext_linear + (upper >> 8) + (upper & 0xff));
        text += fmt::format(":02000004{:04X}{:02X}\n", upper, static_cast<std::uint8_t>(0x100 - sum));
        m_ihex_upper = upper;
        m_ihex_upper_set = true;
      }
      // A record never crosses a 64 KiB boundary: its offset field is 16 bits.
      std::size_t room = 0x10000 - (addr & 0xffff);
      std::size_t n = std::min({k_ihex_bytes_per_record, data.size() - pos, room});
      std::uint8_t sum = static_cast<std::uint8_t>(n + (addr >> 8 & 0xff) + (addr & 0xff) + k_ihex_data);
      text += fmt::format(":{:02X}{:04X}00", n, addr & 0xffff);
      for (std::size_t i = 0; i < n; ++i) {
        sum = static_cast<std::uint8_t>(sum + data[pos + i]);
        text += fmt::format("{:02X}", data[pos + i]);
      }
      text += fmt::format("{:02X}\n", static_cast<std::uint8_t>(0x100 - sum));
      pos += n;
    } else {
      std::size_t n = std::min(k_srec_bytes_per_record, data.size() - pos);
      std::size_t count = n + 5;
      std::uint8_t sum = static_cast<std::uint8_t>(count + (addr >> 24) + (addr >> 16 & 0xff) + (addr >> 8 & 0xff) +
                                                   (addr & 0xff));
      text += fmt::format("S3{:02X}{:08X}", count, addr);
      for (std::size_t i = 0; i < n; ++i) {
        sum = static_cast<std::uint8_t>(sum + data[pos + i]);
        text += fmt::format("{:02X}", data[pos + i]);
      }
      text += fmt::format("{:02X}\n", static_cast<std::uint8_t>(~sum));
      pos += n;
    }
  }
  return put(text);
}

Result<void> ImageWriter::finish() {
  if (!m_file) return make_error(Errc::internal, "ImageWriter already finished");
  if (m_format == ImageFormat::ihex) ECUUP_TRY(put(":00000001FF\n"));
  if (m_format == ImageFormat::srec) ECUUP_TRY(put("S70500000000FA\n"));
  int rc = std::fclose(std::exchange(m_file, nullptr));
  if (rc != 0) {
    auto err = make_error(Errc::io, "cannot write " + m_tmp.string() + ": " + std::strerror(errno));
    std::error_code ec;
    fs::remove(m_tmp, ec);
    return err;
  }
  return commit_file_atomic(m_tmp, m_path);
}

Result<void> write_image(const fs::path& path, const FlashImage& image, ImageFormat format) {
  ECUUP_ASSIGN(auto writer, ImageWriter::create(path, format));
  for (const auto& s : image.segments) ECUUP_TRY(writer.write(s.address, s.data));
  return writer.finish();
}

}  // namespace ecuup
