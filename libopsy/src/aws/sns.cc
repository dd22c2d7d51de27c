#include "opsy/aws/sns.h"

#include "aws/caller.h"

namespace opsy::aws {
namespace {

constexpr std::string_view kVersion = "2010-03-31";

class SnsClientImpl : public SnsApi {
 public:
  explicit SnsClientImpl(std::unique_ptr<Caller> caller) : caller_(std::move(caller)) {}

  Result<std::string> publish(const PublishInput& in) override {
    if (in.topic_arn.empty() || in.message.empty()) {
      return fail(ErrorCode::InvalidArgument, "publish needs a topic and a message");
    }
    QueryParams p = {{"TopicArn", in.topic_arn}, {"Message", in.message}};
    if (!in.subject.empty()) {
      p.emplace_back("Subject", in.subject);
    }
    int i = 1;
    for (const auto& [name, value] : in.attributes) {
      std::string prefix = "MessageAttributes.entry." + std::to_string(i++);
      p.emplace_back(prefix + ".Name", name);
      p.emplace_back(prefix + ".Value.DataType", "String");
      p.emplace_back(prefix + ".Value.StringValue", value);
    }
    OPSY_ASSIGN_OR_RETURN(std::string body,
                          caller_->query("Publish", kVersion, p, Protocol::AwsQuery));
    pugi::xml_document doc;
    OPSY_RETURN_IF_ERROR(parseXml(doc, body, "Publish"));
    std::string id = xmlText(doc.document_element().child("PublishResult"), "MessageId");
    if (id.empty()) {
      return fail(ErrorCode::Internal, "Publish: no message id in response");
    }
    return id;
  }

 private:
  std::unique_ptr<Caller> caller_;
};

}  // namespace

Result<SnsApiPtr> makeSnsClient(const ClientOptions& options) {
  OPSY_ASSIGN_OR_RETURN(std::unique_ptr<Caller> caller, Caller::create(Service::Sns, options));
  return SnsApiPtr(std::make_shared<SnsClientImpl>(std::move(caller)));
}

}  // namespace opsy::aws
