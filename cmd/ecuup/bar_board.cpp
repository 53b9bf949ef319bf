#include "bar_board.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>

namespace ecuup::cli {

BarBoard::RowId BarBoard::add_row(std::string text) {
  std::lock_guard lock(m_mutex);
  RowId id = m_next_id++;
  m_live.push_back({id, std::move(text)});
  erase_live();
  draw_live();
  return id;
}

void BarBoard::set(RowId row, std::string text) {
  std::lock_guard lock(m_mutex);
  auto it = std::find_if(m_live.begin(), m_live.end(), [row](const Row& r) { return r.id == row; });
  if (it == m_live.end()) return;
  it->text = std::move(text);
  erase_live();
  draw_live();
}

void BarBoard::finish(RowId row, std::string text) {
  std::lock_guard lock(m_mutex);
  auto it = std::find_if(m_live.begin(), m_live.end(), [row](const Row& r) { return r.id == row; });
  if (it == m_live.end()) return;
  m_live.erase(it);
  erase_live();
  std::fprintf(m_terminal, "\033[K%s\n", fit(text).c_str());
  draw_live();
}

void BarBoard::print_above(const std::function<void()>& write) {
  std::lock_guard lock(m_mutex);
  erase_live();
  std::fputs("\033[J", m_terminal);
  std::fflush(m_terminal);
  write();
  draw_live();
}

// Back to the first live line: what is written next overwrites the board.
void BarBoard::erase_live() {
  if (m_drawn > 0) std::fprintf(m_terminal, "\033[%dA", m_drawn);
  std::fputc('\r', m_terminal);
  m_drawn = 0;
}

void BarBoard::draw_live() {
  for (const Row& row : m_live) std::fprintf(m_terminal, "\033[K%s\n", fit(row.text).c_str());
  // Lines below the board are left over from a longer one (a row finished).
  std::fputs("\033[J", m_terminal);
  std::fflush(m_terminal);
  m_drawn = static_cast<int>(m_live.size());
}

// A line as wide as the terminal wraps and breaks the cursor arithmetic: keep one column free.
std::string BarBoard::fit(const std::string& text) const {
  winsize size{};
  if (ioctl(fileno(m_terminal), TIOCGWINSZ, &size) != 0 || size.ws_col < 2) return text;
  std::size_t width = size.ws_col - 1u;
  return text.size() > width ? text.substr(0, width) : text;
}

}  // namespace ecuup::cli
