#pragma once
// Compression methods of UDS transfers: the high nibble of a RequestDownload's
// dataFormatIdentifier (ISO 14229-1 leaves its meaning to the vehicle manufacturer). ecuup knows
// one method, 1 = zlib (RFC 1950: a deflate stream with an Adler-32 trailer), in its writers,
// its programming sequence and ecuup-sim; containers whose data is already compressed by any
// method are passed through unchanged.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "util/bytes.hpp"
#include "util/result.hpp"

namespace ecuup {

inline constexpr std::uint8_t k_compression_none = 0x0;
inline constexpr std::uint8_t k_compression_zlib = 0x1;

inline std::uint8_t compression_method(std::uint8_t data_format) { return static_cast<std::uint8_t>(data_format >> 4); }
inline std::uint8_t encryption_method(std::uint8_t data_format) { return data_format & 0x0F; }

// "none" | "zlib" for a known method, else "method N".
std::string compression_name(std::uint8_t method);

// Compresses `data` with `method` (zlib only). Errc::config for a method ecuup cannot apply.
Result<Bytes> compress_bytes(std::uint8_t method, ByteView data);
// Decompresses a whole `method` stream, handing the output to `sink` piece by piece (64 KiB at
// most), so a stream that expands a lot costs time, never memory. Returns the bytes it expanded
// to; Errc::verify when the data is corrupt, does not end exactly where the stream ends, or
// expands past `limit` bytes.
Result<std::uint64_t> decompress_stream(std::uint8_t method, ByteView data, std::uint64_t limit,
                                        const std::function<void(ByteView)>& sink);
// Decompresses a whole `method` stream that must expand to exactly `expected_size` bytes (when
// given) and end where the data ends. Errc::verify when it does not.
Result<Bytes> decompress_bytes(std::uint8_t method, ByteView data, std::optional<std::uint64_t> expected_size);

// A zlib stream decompressed as it arrives (the ECU side of a compressed download): feed() returns
// the bytes each piece expands to; finish() says whether the stream ended exactly there.
class StreamInflater {
 public:
  StreamInflater();
  ~StreamInflater();
  StreamInflater(const StreamInflater&) = delete;
  StreamInflater& operator=(const StreamInflater&) = delete;

  // Errc::verify on corrupt data, data after the end of the stream, or more than `limit` bytes
  // out of this piece.
  Result<Bytes> feed(ByteView data, std::uint64_t limit);
  bool ended() const { return m_ended; }
  std::uint64_t produced() const { return m_produced; }

 private:
  struct State;
  State* m_state;
  bool m_ended = false;
  std::uint64_t m_produced = 0;
};

}  // namespace ecuup
