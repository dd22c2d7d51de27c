// File: ses.h
//
// Amazon SES v2 SendEmail (REST-JSON, POST /v2/email/outbound-emails), for the e-mail notifier.
//
//   OPSY_ASSIGN_OR_RETURN(aws::SesApiPtr ses, aws::makeSesClient(options));
//   OPSY_ASSIGN_OR_RETURN(std::string id, ses->sendEmail(email));
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "opsy/aws/client_options.h"
#include "opsy/core/result.h"

namespace opsy::aws {

struct SendEmailInput {
  std::string from;
  std::vector<std::string> to;
  std::vector<std::string> cc;
  std::vector<std::string> bcc;
  std::vector<std::string> reply_to;
  std::string subject;
  std::string text_body;
  std::string html_body;  // optional alternative part
  std::string configuration_set;
};

class SesApi {
 public:
  virtual ~SesApi() = default;

  /** SendEmail with simple (subject + text/HTML) content; returns the message id. */
  [[nodiscard]] virtual Result<std::string> sendEmail(const SendEmailInput& input) = 0;
};

using SesApiPtr = std::shared_ptr<SesApi>;

[[nodiscard]] Result<SesApiPtr> makeSesClient(const ClientOptions& options);

}  // namespace opsy::aws
