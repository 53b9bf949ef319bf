#pragma once
// HTTP status codes ecuup acts on (RFC 9110), shared by the HTTP client and the DDI repository.
namespace ecuup {

inline constexpr long k_http_ok = 200;
inline constexpr long k_http_success_max = 299;
inline constexpr long k_http_partial_content = 206;
inline constexpr long k_http_unauthorized = 401;
inline constexpr long k_http_forbidden = 403;
inline constexpr long k_http_not_found = 404;
inline constexpr long k_http_conflict = 409;
inline constexpr long k_http_gone = 410;
inline constexpr long k_http_range_not_satisfiable = 416;
inline constexpr long k_http_too_many_requests = 429;
inline constexpr long k_http_server_error_min = 500;
inline constexpr long k_http_server_error_max = 599;

inline bool is_http_success(long status) { return status >= k_http_ok && status <= k_http_success_max; }

}  // namespace ecuup
