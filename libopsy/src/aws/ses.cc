#include "opsy/aws/ses.h"

#include "aws/caller.h"

namespace opsy::aws {
namespace {

using json::Writer;

void writeList(Writer& w, const char* key, const std::vector<std::string>& values) {
  if (values.empty()) {
    return;
  }
  w.Key(key);
  w.StartArray();
  for (const auto& v : values) {
    json::writeString(w, v);
  }
  w.EndArray();
}

void writeContent(Writer& w, const char* key, const std::string& data) {
  w.Key(key);
  w.StartObject();
  json::writeString(w, "Data", data);
  json::writeString(w, "Charset", "UTF-8");
  w.EndObject();
}

class SesClientImpl : public SesApi {
 public:
  explicit SesClientImpl(std::unique_ptr<Caller> caller) : caller_(std::move(caller)) {}

  Result<std::string> sendEmail(const SendEmailInput& in) override {
    if (in.from.empty() || (in.to.empty() && in.cc.empty() && in.bcc.empty())) {
      return fail(ErrorCode::InvalidArgument, "send email needs a sender and a recipient");
    }
    if (in.text_body.empty() && in.html_body.empty()) {
      return fail(ErrorCode::InvalidArgument, "send email needs a body");
    }
    rapidjson::StringBuffer buf;
    Writer w(buf);
    w.StartObject();
    json::writeString(w, "FromEmailAddress", in.from);
    w.Key("Destination");
    w.StartObject();
    writeList(w, "ToAddresses", in.to);
    writeList(w, "CcAddresses", in.cc);
    writeList(w, "BccAddresses", in.bcc);
    w.EndObject();
    writeList(w, "ReplyToAddresses", in.reply_to);
    w.Key("Content");
    w.StartObject();
    w.Key("Simple");
    w.StartObject();
    writeContent(w, "Subject", in.subject);
    w.Key("Body");
    w.StartObject();
    if (!in.text_body.empty()) {
      writeContent(w, "Text", in.text_body);
    }
    if (!in.html_body.empty()) {
      writeContent(w, "Html", in.html_body);
    }
    w.EndObject();
    w.EndObject();
    w.EndObject();
    if (!in.configuration_set.empty()) {
      json::writeString(w, "ConfigurationSetName", in.configuration_set);
    }
    w.EndObject();
    OPSY_ASSIGN_OR_RETURN(
        std::string body,
        caller_->restJson("SendEmail", "POST", "/v2/email/outbound-emails", buf.GetString()));
    OPSY_ASSIGN_OR_RETURN(json::Document doc, parseJson(body, "SendEmail"));
    std::string id = json::stringOr(doc, "MessageId");
    if (id.empty()) {
      return fail(ErrorCode::Internal, "SendEmail: no message id in response");
    }
    return id;
  }

 private:
  std::unique_ptr<Caller> caller_;
};

}  // namespace

Result<SesApiPtr> makeSesClient(const ClientOptions& options) {
  OPSY_ASSIGN_OR_RETURN(std::unique_ptr<Caller> caller, Caller::create(Service::Ses, options));
  return SesApiPtr(std::make_shared<SesClientImpl>(std::move(caller)));
}

}  // namespace opsy::aws
