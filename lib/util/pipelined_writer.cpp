#include "util/pipelined_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ecuup {

PipelinedWriter::PipelinedWriter(int fd, std::uint64_t offset, Observer observer, std::size_t chunk_bytes,
                                 std::size_t chunks)
    : m_fd(fd),
      m_observer(std::move(observer)),
      m_chunks(m_observer ? std::max<std::size_t>(chunks, 2) : 1),
      m_next_offset(offset) {
  for (auto& c : m_chunks) {
    c.data.resize(std::max<std::size_t>(chunk_bytes, 1));
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
    }
    std::size_t take = std::min(n, m_current->data.size() - m_current->size);
    std::memcpy(m_current->data.data() + m_current->size, data, take);
    m_current->size += take;
    data += take;
    n -= take;
    if (m_current->size == m_current->data.size() && !write_current()) return false;
  }
  return true;
}

bool PipelinedWriter::write_current() {
  Chunk* c = m_current;
  m_current = nullptr;
  const std::uint8_t* p = c->data.data();
  std::size_t left = c->size;
  while (left > 0 && m_errno == 0) {
    ssize_t w = ::write(m_fd, p, left);
    if (w < 0) {
      if (errno != EINTR) m_errno = errno;
      continue;
    }
    p += w;
    left -= static_cast<std::size_t>(w);
  }
  c->offset = m_next_offset;
  m_next_offset += c->size - left;
  {
    std::lock_guard lock(m_mutex);
    if (m_errno == 0 && m_observer) {
      m_written.push_back(c);
    } else {
      m_free.push_back(c);
    }
  }
  m_changed.notify_all();
  return m_errno == 0;
}

int PipelinedWriter::drain() {
  if (m_current && m_current->size > 0) {
    write_current();
  } else if (m_current) {
    std::lock_guard lock(m_mutex);
    m_free.push_back(m_current);
    m_current = nullptr;
  }
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
    m_observer(c->offset, ByteView(c->data.data(), c->size));
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
