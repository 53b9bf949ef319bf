#pragma once
// UDS service identifiers and negative response codes (ISO 14229-1, Table A.1), with names for
// error messages: "RequestDownload: ECU answered requestOutOfRange (0x31)".
#include <cstdint>
#include <string>

namespace ecuup {

namespace sid {
constexpr std::uint8_t k_diagnostic_session_control = 0x10;
constexpr std::uint8_t k_ecu_reset = 0x11;
constexpr std::uint8_t k_clear_diagnostic_information = 0x14;
constexpr std::uint8_t k_read_dtc_information = 0x19;
constexpr std::uint8_t k_read_data_by_identifier = 0x22;
constexpr std::uint8_t k_security_access = 0x27;
constexpr std::uint8_t k_communication_control = 0x28;
constexpr std::uint8_t k_write_data_by_identifier = 0x2E;
constexpr std::uint8_t k_input_output_control_by_identifier = 0x2F;
constexpr std::uint8_t k_routine_control = 0x31;
constexpr std::uint8_t k_request_download = 0x34;
constexpr std::uint8_t k_request_upload = 0x35;
constexpr std::uint8_t k_transfer_data = 0x36;
constexpr std::uint8_t k_request_transfer_exit = 0x37;
constexpr std::uint8_t k_tester_present = 0x3E;
constexpr std::uint8_t k_control_dtc_setting = 0x85;
constexpr std::uint8_t k_negative_response = 0x7F;
// A positive response's SID is the request's plus this.
constexpr std::uint8_t k_positive_offset = 0x40;
// Bit 7 of a sub-function byte: the ECU sends no positive response.
constexpr std::uint8_t k_suppress_positive_response = 0x80;
}  // namespace sid

namespace nrc {
constexpr std::uint8_t k_general_reject = 0x10;
constexpr std::uint8_t k_service_not_supported = 0x11;
constexpr std::uint8_t k_sub_function_not_supported = 0x12;
constexpr std::uint8_t k_incorrect_message_length = 0x13;
constexpr std::uint8_t k_busy_repeat_request = 0x21;
constexpr std::uint8_t k_conditions_not_correct = 0x22;
constexpr std::uint8_t k_request_sequence_error = 0x24;
constexpr std::uint8_t k_request_out_of_range = 0x31;
constexpr std::uint8_t k_security_access_denied = 0x33;
constexpr std::uint8_t k_invalid_key = 0x35;
constexpr std::uint8_t k_exceeded_number_of_attempts = 0x36;
constexpr std::uint8_t k_required_time_delay_not_expired = 0x37;
constexpr std::uint8_t k_upload_download_not_accepted = 0x70;
constexpr std::uint8_t k_transfer_data_suspended = 0x71;
constexpr std::uint8_t k_general_programming_failure = 0x72;
constexpr std::uint8_t k_wrong_block_sequence_counter = 0x73;
constexpr std::uint8_t k_response_pending = 0x78;
constexpr std::uint8_t k_sub_function_not_supported_in_active_session = 0x7E;
constexpr std::uint8_t k_service_not_supported_in_active_session = 0x7F;
}  // namespace nrc

// "requestOutOfRange"; reserved ranges get their range name ("ISOSAEReserved").
std::string nrc_name(std::uint8_t code);
// "RequestDownload"; unknown services: "service 0xNN".
std::string service_name(std::uint8_t service_id);

}  // namespace ecuup
