#include "util/progress.hpp"

namespace ecuup {

Progress& null_progress() {
  static NullProgress p;
  return p;
}

}  // namespace ecuup
