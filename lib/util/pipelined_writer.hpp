#pragma once
// A file writer for downloads: it gathers the small pieces a transfer delivers into large chunks,
// writes each full chunk with one write(2), and shows the written chunk to an observer (a hash) on
// a worker thread, so that hashing overlaps receiving instead of adding to it. Memory is bounded
// by chunk_bytes * chunks whatever the file size.
//
// With DirectIo::where_aligned, aligned chunks bypass the page cache (O_DIRECT): a download that is fsynced and
// then read once for flashing gains nothing from being cached, and writing it through the cache
// costs a copy and evicts what the machine is using. Unaligned pieces (the head of a resumed file,
// the tail) are written through the cache; a file system that refuses O_DIRECT just gets buffered
// writes.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "util/bytes.hpp"

namespace ecuup {

enum class DirectIo { no, where_aligned };

class PipelinedWriter {
 public:
  // Called on the worker thread, in file order, after `data` was written at `offset`.
  using Observer = std::function<void(std::uint64_t offset, ByteView data)>;

  // `fd` stays owned by the caller and must be open for writing at `offset` (O_APPEND or
  // positioned there) until drain() returned. Without an observer no thread is started.
  PipelinedWriter(int fd, std::uint64_t offset, Observer observer, std::size_t chunk_bytes = std::size_t{1} << 20,
                  std::size_t chunks = 4, DirectIo direct_io = DirectIo::no);
  ~PipelinedWriter();  // drains
  PipelinedWriter(const PipelinedWriter&) = delete;
  PipelinedWriter& operator=(const PipelinedWriter&) = delete;

  // Copies data in, writing whole chunks as they fill; blocks while the observer is behind by
  // every chunk. False once a write failed (then error() tells why and nothing more is written).
  bool append(const std::uint8_t* data, std::size_t n);
  // Writes what is buffered and waits until the observer has seen everything written; the fd's
  // flags are as they were before. Returns 0 or the errno of the failed write.
  int drain();
  int error() const { return m_errno; }
  // Bytes written with O_DIRECT so far (for tests and figures).
  std::uint64_t direct_bytes() const { return m_direct_bytes; }

  static constexpr std::size_t k_direct_align = 4096;  // covers 512- and 4096-byte sectors

 private:
  struct FreeDeleter {
    void operator()(std::uint8_t* p) const;
  };
  struct Chunk {
    std::unique_ptr<std::uint8_t[], FreeDeleter> data;  // k_direct_align-aligned
    std::size_t size = 0;
    std::size_t limit = 0;  // fill up to here: ends the chunk on an aligned file offset
    std::uint64_t offset = 0;
  };
  bool write_current();
  bool write_all(const std::uint8_t* p, std::size_t n, bool direct);
  bool set_direct(bool on);
  void run();

  const int m_fd;
  Observer m_observer;
  std::vector<Chunk> m_chunks;
  std::size_t m_capacity;
  std::uint64_t m_next_offset;
  bool m_direct;               // still worth trying O_DIRECT
  bool m_fd_direct = false;    // O_DIRECT currently set on m_fd by us
  std::uint64_t m_direct_bytes = 0;
  Chunk* m_current = nullptr;  // being filled by the producer
  int m_errno = 0;             // producer's side only

  std::mutex m_mutex;
  std::condition_variable m_changed;
  std::deque<Chunk*> m_free;
  std::deque<Chunk*> m_written;  // waiting for the observer
  std::size_t m_observing = 0;
  bool m_stop = false;
  std::thread m_worker;
};

}  // namespace ecuup
