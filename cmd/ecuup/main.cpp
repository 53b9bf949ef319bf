#include <cstdio>

int main() {
  std::puts("ecuup " ECUUP_VERSION);
  return 0;
}
