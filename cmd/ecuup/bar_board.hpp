#pragma once
// The bottom lines of a terminal, one per running job, redrawn in place; a finished job's last line
// is printed once above them and stays. Several threads may update their rows at the same time.
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace ecuup::cli {

class BarBoard {
 public:
  using RowId = int;
  explicit BarBoard(std::FILE* terminal) : m_terminal(terminal) {}

  RowId add_row(std::string text);
  void set(RowId row, std::string text);
  // The row leaves the live area; `text` is printed above it for good.
  void finish(RowId row, std::string text);
  // `write` prints whole lines to the terminal (a note, a warning) above the live rows.
  void print_above(const std::function<void()>& write);

 private:
  struct Row {
    RowId id;
    std::string text;
  };
  void erase_live();
  void draw_live();
  std::string fit(const std::string& text) const;

  std::FILE* m_terminal;
  std::mutex m_mutex;
  std::vector<Row> m_live;
  int m_drawn = 0;  // live lines on screen; the cursor sits at the start of the line below them
  RowId m_next_id = 0;
};

}  // namespace ecuup::cli
