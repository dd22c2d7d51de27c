#include "opsy/notify/ses.h"

#include <fmt/format.h>

#include "opsy/core/time_format.h"
#include "opsy/notify/format.h"

namespace opsy::notify {
namespace {

constexpr size_t kMaxSubject = 200;

std::string escapeHtml(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

std::string htmlBody(const Notification& n) {
  std::string rows;
  auto row = [&rows](std::string_view name, std::string_view value) {
    rows += fmt::format("<tr><th align=\"left\">{}</th><td>{}</td></tr>\n", escapeHtml(name),
                        value.empty() ? "-" : escapeHtml(value));
  };
  row(n.kind.empty() ? "Resource" : n.kind, n.object);
  if (!n.state.empty()) {
    row("State", n.state);
  }
  for (const auto& [name, value] : n.fields) {
    row(name, value);
  }
  if (n.time) {
    row("Time", formatRfc3339(*n.time));
  }
  std::string message = n.message.empty() ? "" : fmt::format("<p>{}</p>\n", escapeHtml(n.message));
  return fmt::format("<html><body>\n<h2>{}</h2>\n<table>\n{}</table>\n{}</body></html>\n",
                     escapeHtml(n.title), rows, message);
}

class SesSender : public Sender {
 public:
  explicit SesSender(SesSenderOptions options) : options_(std::move(options)) {}

  std::string name() const override { return "ses"; }

  Status send(const Notification& n) override {
    OPSY_ASSIGN_OR_RETURN(aws::SesApiPtr ses, options_.client());
    OPSY_ASSIGN_OR_RETURN(std::string message_id, ses->sendEmail(sesEmail(n, options_)));
    (void)message_id;
    return ok();
  }

 private:
  SesSenderOptions options_;
};

}  // namespace

aws::SendEmailInput sesEmail(const Notification& n, const SesSenderOptions& options) {
  aws::SendEmailInput in;
  in.from = options.from;
  in.to = options.to;
  in.subject = subjectLine(n, kMaxSubject);
  in.text_body = plainTextBody(n);
  in.html_body = htmlBody(n);
  in.configuration_set = options.configuration_set;
  return in;
}

Result<SenderPtr> makeSesSender(SesSenderOptions options) {
  if (!options.client) {
    return fail(ErrorCode::InvalidArgument, "ses: no client");
  }
  if (options.from.empty()) {
    return fail(ErrorCode::InvalidArgument, "notifier.ses.from: required");
  }
  if (options.to.empty()) {
    return fail(ErrorCode::InvalidArgument, "notifier.ses.to: at least one address");
  }
  return SenderPtr(std::make_unique<SesSender>(std::move(options)));
}

}  // namespace opsy::notify
