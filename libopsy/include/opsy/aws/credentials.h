// File: credentials.h
//
// AWS credentials and where they come from.
//
//   aws::Credentials creds{.access_key_id = "AKID", .secret_access_key = "secret"};
#pragma once

#include <optional>
#include <string>

#include "opsy/core/clock.h"

namespace opsy::aws {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  // Set for temporary credentials (STS, IRSA, Pod Identity, IMDS).
  std::string session_token;
  // Unset for long-lived keys.
  std::optional<TimePoint> expiration;
};

}  // namespace opsy::aws
