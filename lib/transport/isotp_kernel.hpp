#pragma once
// The Linux kernel's ISO-TP implementation (CAN_ISOTP socket, module can-isotp) as a DiagLink.
// make_kernel_isotp_link() is declared in transport/isotp.hpp next to the userspace link.
#include "transport/isotp.hpp"

namespace ecuup {

// Largest message we read from a CAN_ISOTP socket. The kernel's own limit (module parameter
// max_pdu_size) is 4095 on older kernels and 8200 by default on newer ones.
inline constexpr std::size_t k_kernel_isotp_max_message = 1u << 20;
// What max_message_size() promises: every kernel ISO-TP can send this.
inline constexpr std::size_t k_kernel_isotp_safe_message = 4095;

}  // namespace ecuup
