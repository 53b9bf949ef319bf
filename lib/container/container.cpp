#include "container/container.hpp"

namespace ecuup {

const char* container_part_kind_name(ContainerPartKind kind) {
  switch (kind) {
    case ContainerPartKind::sbl: return "sbl";
    case ContainerPartKind::exe: return "exe";
    case ContainerPartKind::data: return "data";
    case ContainerPartKind::other: return "other";
  }
  return "?";
}

}  // namespace ecuup
