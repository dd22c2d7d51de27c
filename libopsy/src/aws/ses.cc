#include "opsy/aws/ses.h"

#include "aws/caller.h"
#include "aws/json.h"

namespace opsy::aws {
namespace {

using Writer = rapidjson::Writer<rapidjson::StringBuffer>;

void writeString(Writer& w, const std::string& s) {
  w.String(s.c_str(), static_cast<rapidjson::SizeType>(s.size()));
}

void writeList(Writer& w, const char* key, const std::vector<std::string>& values) {
  if (values.empty()) {
    return;
  }
  w.Key(key);
  w.StartArray();
  for (const auto& v : values) {
    writeString(w, v);
  }
  w.EndArray();
}

void writeContent(Writer& w, const char* key, const std::string& data) {
  w.Key(key);
  w.StartObject();
  w.Key("Data");
  writeString(w, data);
  w.Key("Charset");
  w.String("UTF-8");
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
    w.Key("FromEmailAddress");
    writeString(w, in.from);
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
      w.Key("ConfigurationSetName");
      writeString(w, in.configuration_set);
    }
    w.EndObject();
    OPSY_ASSIGN_OR_RETURN(
        std::string body,
        caller_->restJson("SendEmail", "POST", "/v2/email/outbound-emails", buf.GetString()));
    rapidjson::Document doc;
    OPSY_RETURN_IF_ERROR(parseJson(doc, body, "SendEmail"));
    std::string id = jsonString(doc, "MessageId");
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
