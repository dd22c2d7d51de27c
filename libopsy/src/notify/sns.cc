#include "opsy/notify/sns.h"

#include "opsy/notify/format.h"

namespace opsy::notify {
namespace {

// SNS subjects: ASCII only, no line breaks or control characters, under 100 characters.
constexpr size_t kMaxSubject = 99;
// SNS messages are at most 256 KiB; fields and the message are ours to keep well under it.
constexpr size_t kMaxMessage = 200 * 1024;

std::string asciiSubject(const Notification& n) {
  std::string s = subjectLine(n, kMaxSubject);
  for (char& c : s) {
    if (static_cast<unsigned char>(c) > 0x7e) {
      c = '?';
    }
  }
  return s;
}

class SnsSender : public Sender {
 public:
  explicit SnsSender(SnsSenderOptions options) : options_(std::move(options)) {}

  std::string name() const override { return "sns"; }

  Status send(const Notification& n) override {
    OPSY_ASSIGN_OR_RETURN(aws::SnsApiPtr sns, options_.client());
    OPSY_ASSIGN_OR_RETURN(std::string message_id,
                          sns->publish(snsPublishInput(n, options_.topic_arn)));
    (void)message_id;
    return ok();
  }

 private:
  SnsSenderOptions options_;
};

}  // namespace

aws::PublishInput snsPublishInput(const Notification& n, const std::string& topic_arn) {
  aws::PublishInput in;
  in.topic_arn = topic_arn;
  in.subject = asciiSubject(n);
  in.message = plainTextBody(n);
  if (in.message.size() > kMaxMessage) {
    in.message.resize(kMaxMessage);
    in.message += "\n[truncated]\n";
  }
  // Empty attribute values are rejected by SNS, so only present ones are sent.
  auto put = [&in](const char* key, const std::string& value) {
    if (!value.empty()) {
      in.attributes[key] = value;
    }
  };
  put("kind", n.kind);
  put("object", n.object);
  put("severity", std::string(toString(n.severity)));
  put("state", n.state);
  return in;
}

Result<SenderPtr> makeSnsSender(SnsSenderOptions options) {
  if (!options.client) {
    return fail(ErrorCode::InvalidArgument, "sns: no client");
  }
  if (options.topic_arn.empty()) {
    return fail(ErrorCode::InvalidArgument, "notifier.sns.topicArn: required");
  }
  return SenderPtr(std::make_unique<SnsSender>(std::move(options)));
}

}  // namespace opsy::notify
