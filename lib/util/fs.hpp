#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "util/bytes.hpp"
#include "util/result.hpp"

namespace ecuup {

Result<std::string> read_text_file(const std::filesystem::path& path);
Result<Bytes> read_binary_file(const std::filesystem::path& path);

// Crash-safe replace: write a temp file beside `path`, fsync it, rename over `path`, fsync the
// directory. A kill -9 at any point leaves either the old or the new content, never a mix.
Result<void> write_file_atomic(const std::filesystem::path& path, std::string_view content);
Result<void> write_file_atomic(const std::filesystem::path& path, ByteView content);
// Same, for a file produced elsewhere: fsync `tmp`, rename it to `path`, fsync the directory.
Result<void> commit_file_atomic(const std::filesystem::path& tmp, const std::filesystem::path& path);

// Copies `from` to `to` (created, or truncated), handing each block to `each` as it goes (a hash).
// Returns the bytes copied; an error names the file and the system's reason ("No space left on
// device"), and removes what was written of `to`.
Result<std::uint64_t> copy_file_through(const std::filesystem::path& from, const std::filesystem::path& to,
                                        const std::function<void(std::string_view)>& each);

// What an unprivileged writer may still write to the file system holding `dir` (statvfs's f_bavail
// blocks); nullopt when the system does not say.
std::optional<std::uint64_t> free_space(const std::filesystem::path& dir);

// Kept free by every large write to the state directory, for the manifest and the progress log
// that follow it: a full disk must not stop ecuup from recording what it did.
inline constexpr std::uint64_t k_state_reserve_bytes = 1024 * 1024;

// Refuses (Errc::io), before anything is written, when the file system of `dir` cannot take
// `bytes` more for `what` and still keep k_state_reserve_bytes free. The message says how much is
// needed and free, and what to do. Passes when the system does not say how much is free.
Result<void> require_free_space(const std::filesystem::path& dir, std::uint64_t bytes, std::string_view what);

Result<void> ensure_directory(const std::filesystem::path& dir);
Result<void> fsync_directory(const std::filesystem::path& dir);

}  // namespace ecuup
