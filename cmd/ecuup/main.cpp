#include "cli.hpp"

int main(int argc, char** argv) { return ecuup::cli::run(argc, argv); }
