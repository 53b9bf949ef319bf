#include "uds/nrc.hpp"

#include <fmt/format.h>

namespace ecuup {

std::string nrc_name(std::uint8_t code) {
  switch (code) {
    case 0x10: return "generalReject";
    case 0x11: return "serviceNotSupported";
    case 0x12: return "subFunctionNotSupported";
    case 0x13: return "incorrectMessageLengthOrInvalidFormat";
    case 0x14: return "responseTooLong";
    case 0x21: return "busyRepeatRequest";
    case 0x22: return "conditionsNotCorrect";
    case 0x24: return "requestSequenceError";
    case 0x25: return "noResponseFromSubnetComponent";
    case 0x26: return "failurePreventsExecutionOfRequestedAction";
    case 0x31: return "requestOutOfRange";
    case 0x33: return "securityAccessDenied";
    case 0x34: return "authenticationRequired";
    case 0x35: return "invalidKey";
    case 0x36: return "exceededNumberOfAttempts";
    case 0x37: return "requiredTimeDelayNotExpired";
    case 0x50: return "certificateVerificationFailedInvalidTimePeriod";
    case 0x51: return "certificateVerificationFailedInvalidSignature";
    case 0x52: return "certificateVerificationFailedInvalidChainOfTrust";
    case 0x53: return "certificateVerificationFailedInvalidType";
    case 0x54: return "certificateVerificationFailedInvalidFormat";
    case 0x55: return "certificateVerificationFailedInvalidContent";
    case 0x56: return "certificateVerificationFailedInvalidScope";
    case 0x57: return "certificateVerificationFailedInvalidCertificate";
    case 0x58: return "ownershipVerificationFailed";
    case 0x59: return "challengeCalculationFailed";
    case 0x5A: return "settingAccessRightsFailed";
    case 0x5B: return "sessionKeyCreationDerivationFailed";
    case 0x5C: return "configurationDataUsageFailed";
    case 0x5D: return "deAuthenticationFailed";
    case 0x70: return "uploadDownloadNotAccepted";
    case 0x71: return "transferDataSuspended";
    case 0x72: return "generalProgrammingFailure";
    case 0x73: return "wrongBlockSequenceCounter";
    case 0x78: return "requestCorrectlyReceivedResponsePending";
    case 0x7E: return "subFunctionNotSupportedInActiveSession";
    case 0x7F: return "serviceNotSupportedInActiveSession";
    case 0x81: return "rpmTooHigh";
    case 0x82: return "rpmTooLow";
    case 0x83: return "engineIsRunning";
    case 0x84: return "engineIsNotRunning";
    case 0x85: return "engineRunTimeTooLow";
    case 0x86: return "temperatureTooHigh";
    case 0x87: return "temperatureTooLow";
    case 0x88: return "vehicleSpeedTooHigh";
    case 0x89: return "vehicleSpeedTooLow";
    case 0x8A: return "throttlePedalTooHigh";
    case 0x8B: return "throttlePedalTooLow";
    case 0x8C: return "transmissionRangeNotInNeutral";
    case 0x8D: return "transmissionRangeNotInGear";
    case 0x8F: return "brakeSwitchesNotClosed";
    case 0x90: return "shifterLeverNotInPark";
    case 0x91: return "torqueConverterClutchLocked";
    case 0x92: return "voltageTooHigh";
    case 0x93: return "voltageTooLow";
    case 0x94: return "resourceTemporarilyNotAvailable";
    default: break;
  }
  if (code >= 0x38 && code <= 0x4F) return "reservedByExtendedDataLinkSecurityDocument";
  if (code >= 0xF0 && code <= 0xFE) return "vehicleManufacturerSpecificConditionsNotCorrect";
  return "ISOSAEReserved";
}

std::string service_name(std::uint8_t service_id) {
  switch (service_id) {
    case 0x10: return "DiagnosticSessionControl";
    case 0x11: return "ECUReset";
    case 0x14: return "ClearDiagnosticInformation";
    case 0x19: return "ReadDTCInformation";
    case 0x22: return "ReadDataByIdentifier";
    case 0x23: return "ReadMemoryByAddress";
    case 0x24: return "ReadScalingDataByIdentifier";
    case 0x27: return "SecurityAccess";
    case 0x28: return "CommunicationControl";
    case 0x29: return "Authentication";
    case 0x2A: return "ReadDataByPeriodicIdentifier";
    case 0x2C: return "DynamicallyDefineDataIdentifier";
    case 0x2E: return "WriteDataByIdentifier";
    case 0x2F: return "InputOutputControlByIdentifier";
    case 0x31: return "RoutineControl";
    case 0x34: return "RequestDownload";
    case 0x35: return "RequestUpload";
    case 0x36: return "TransferData";
    case 0x37: return "RequestTransferExit";
    case 0x38: return "RequestFileTransfer";
    case 0x3D: return "WriteMemoryByAddress";
    case 0x3E: return "TesterPresent";
    case 0x83: return "AccessTimingParameter";
    case 0x84: return "SecuredDataTransmission";
    case 0x85: return "ControlDTCSetting";
    case 0x86: return "ResponseOnEvent";
    case 0x87: return "LinkControl";
    default: return fmt::format("service 0x{:02X}", service_id);
  }
}

}  // namespace ecuup
