#include "util/pipelined_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>

namespace ecuup {

void PipelinedWriter::FreeDeleter::operator()(std::uint8_t* p) const { std::free(p); }

PipelinedWriter::PipelinedWriter(int fd, std::uint64_t offset, Observer observer, std::size_t chunk_bytes,
                                 std::size_t chunks, DirectIo direct_io)
    : m_fd(fd),
      m_observer(std::move(observer)),
      m_chunks(m_observer ? std::max<std::size_t>(chunks, 2) : 1),
      m_capacity(std::max<std::size_t>(chunk_bytes, 1)),
      m_next_offset(offset),
      m_direct(direct_io == DirectIo::where_aligned) {
  if (m_direct) m_capacity = (m_capacity + k_direct_align - 1) / k_direct_align * k_direct_align;
  for (auto& c : m_chunks) {
    auto* p = static_cast<std::uint8_t*>(std::aligned_alloc(k_direct_align, (m_capacity + k_direct_align - 1) /
                                                                                k_direct_align * k_direct_align));
    if (!p) throw std::bad_alloc();
    c.data.reset(p);
    m_free.push_back(&c);
  }
  if (m_observer) m_worker = std::thread([this] { run(); });
}

PipelinedWriter::~PipelinedWriter() {
  drain();
  if (!m_worker.joinable()) return;
  {
    std::lock_guard lock(m_mutex);
    m_stop = true;
  }
  m_changed.notify_all();
  m_worker.join();
}

bool PipelinedWriter::append(const std::uint8_t* data, std::size_t n) {
  if (m_errno != 0) return false;
  while (n > 0) {
    if (!m_current) {
      std::unique_lock lock(m_mutex);
      m_changed.wait(lock, [this] { return !m_free.empty(); });
      m_current = m_free.front();
      m_free.pop_front();
      m_current->size = 0;
      // After an unaligned start (a resumed file), a short chunk brings the next ones into line.
      m_current->limit = m_capacity;
      if (m_direct) m_current->limit -= static_cast<std::size_t>(m_next_offset % k_direct_align);
    }
    std::size_t take = std::min(n, m_current->limit - m_current->size);
    std::memcpy(m_current->data.get() + m_current->size, data, take);
    m_current->size += take;
    data += take;
    n -= take;
    if (m_current->size == m_current->limit && !write_current()) return false;
  }
  return true;
}

bool PipelinedWriter::set_direct(bool on) {
  if (on == m_fd_direct) return true;
  int flags = ::fcntl(m_fd, F_GETFL);
  if (flags < 0 || ::fcntl(m_fd, F_SETFL, on ? (flags | O_DIRECT) : (flags & ~O_DIRECT)) != 0) return false;
  m_fd_direct = on;
  return true;
}

bool PipelinedWriter::write_all(const std::uint8_t* p, std::size_t n, bool direct) {
  if (direct && !set_direct(true)) {
    m_direct = false;  // the file system will not do it: buffered from now on
    direct = false;
  }
  if (!direct && !set_direct(false)) {
    m_errno = errno;
    return false;
  }
  std::size_t left = n;
  while (left > 0) {
    ssize_t w = ::write(m_fd, p, left);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (direct && errno == EINVAL) {  // accepted the flag, refused the I/O: write it buffered
        m_direct = false;
        return write_all(p, left, false);
      }
      m_errno = errno;
      return false;
    }
    p += w;
    left -= static_cast<std::size_t>(w);
    m_next_offset += static_cast<std::uint64_t>(w);
    if (direct) m_direct_bytes += static_cast<std::uint64_t>(w);
    if (direct && left > 0 && (left % k_direct_align != 0 || m_next_offset % k_direct_align != 0)) {
      return write_all(p, left, false);  // a short direct write left an unaligned rest
    }
  }
  return true;
}

bool PipelinedWriter::write_current() {
  Chunk* c = m_current;
  m_current = nullptr;
  c->offset = m_next_offset;
  bool direct = m_direct && c->offset % k_direct_align == 0 && c->size % k_direct_align == 0;
  bool ok = write_all(c->data.get(), c->size, direct);
  {
    std::lock_guard lock(m_mutex);
    if (ok && m_observer) {
      m_written.push_back(c);
    } else {
      m_free.push_back(c);
    }
  }
  m_changed.notify_all();
  return ok;
}

int PipelinedWriter::drain() {
  if (m_current && m_current->size > 0) {
    write_current();
  } else if (m_current) {
    std::lock_guard lock(m_mutex);
    m_free.push_back(m_current);
    m_current = nullptr;
  }
  if (m_fd_direct && !set_direct(false) && m_errno == 0) m_errno = errno;
  std::unique_lock lock(m_mutex);
  m_changed.wait(lock, [this] { return m_written.empty() && m_observing == 0; });
  return m_errno;
}

void PipelinedWriter::run() {
  std::unique_lock lock(m_mutex);
  for (;;) {
    m_changed.wait(lock, [this] { return !m_written.empty() || m_stop; });
    if (m_written.empty()) return;  // stopping, nothing left
    Chunk* c = m_written.front();
    m_written.pop_front();
    ++m_observing;
    lock.unlock();
    m_observer(c->offset, ByteView(c->data.get(), c->size));
    // Start writing the chunk back now, off the producer's path, so that the caller's final
    // fsync finds little left to do. Advisory: an error shows up at that fsync.
    (void)::sync_file_range(m_fd, static_cast<off_t>(c->offset), static_cast<off_t>(c->size), SYNC_FILE_RANGE_WRITE);
    lock.lock();
    --m_observing;
    m_free.push_back(c);
    m_changed.notify_all();
  }
}

}  // namespace ecuup
