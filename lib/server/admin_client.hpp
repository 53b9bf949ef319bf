#pragma once
// `admin --url`: the admin commands' operations through a server's management API (/api/v1).
#include <memory>

#include "server/admin.hpp"

namespace ecuup::server {

// Errc::usage for a URL that is not http(s)://HOST[:PORT][/BASE]; nothing is contacted yet.
// Later failures: Errc::network "cannot reach URL" (or 429, retry later), Errc::auth "admin token
// refused" or an untrusted TLS certificate, else the server's own error (its errorCode mapped back
// to the Errc the local mode would have returned).
Result<std::unique_ptr<AdminBackend>> make_remote_admin_backend(const AdminContext& ctx);

}  // namespace ecuup::server
