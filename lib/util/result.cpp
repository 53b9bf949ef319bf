#include "util/result.hpp"

namespace ecuup {

const char* errc_name(Errc code) {
  switch (code) {
    case Errc::usage: return "usage";
    case Errc::config: return "config";
    case Errc::io: return "io";
    case Errc::manifest: return "manifest";
    case Errc::locked: return "locked";
    case Errc::network: return "network";
    case Errc::server: return "server";
    case Errc::auth: return "auth";
    case Errc::verify: return "verify";
    case Errc::wrong_vehicle: return "wrong_vehicle";
    case Errc::preconditions: return "preconditions";
    case Errc::not_found: return "not_found";
    case Errc::timeout: return "timeout";
    case Errc::protocol: return "protocol";
    case Errc::negative_response: return "negative_response";
    case Errc::ecu: return "ecu";
    case Errc::flash_restored: return "flash_restored";
    case Errc::flash_unrestored: return "flash_unrestored";
    case Errc::no_backup: return "no_backup";
    case Errc::cancelled: return "cancelled";
    case Errc::interrupted: return "interrupted";
    case Errc::unsupported: return "unsupported";
    case Errc::internal: return "internal";
  }
  return "internal";
}

}  // namespace ecuup
