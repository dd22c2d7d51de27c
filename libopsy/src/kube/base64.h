// File: base64.h
//
// Standard base64 (with padding) for Secret data and kubeconfig `*-data` fields, on OpenSSL's
// codec. Decoding rejects characters outside the alphabet; line breaks are allowed.
//
//   OPSY_ASSIGN_OR_RETURN(std::string pem, base64Decode(field));
#pragma once

#include <string>
#include <string_view>

#include "opsy/core/result.h"

namespace opsy::kube {

[[nodiscard]] Result<std::string> base64Decode(std::string_view text);
std::string base64Encode(std::string_view bytes);

}  // namespace opsy::kube
