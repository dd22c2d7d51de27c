// STS, SNS, SES v2 and Slack (chat.postMessage, auth.test) for FakeAws.
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <algorithm>
#include <regex>

#include "opsy/core/time_format.h"
#include "support/fake_aws_internal.h"

namespace opsy::testing {
namespace {

std::string lowerCopy(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string randomChars(std::mt19937_64& rng, const std::string& alphabet, int n) {
  std::string out;
  for (int i = 0; i < n; ++i)
    out.push_back(alphabet[rng() % alphabet.size()]);
  return out;
}

const std::regex kSessionName("^[\\w+=,.@-]{2,64}$");

std::string nullConstraint(const std::string& member) {
  return "1 validation error detected: Value null at '" + member +
         "' failed to satisfy constraint: Member must not be null";
}

}  // namespace

void FakeAws::Impl::handleSts(Call& call) {
  const std::string& op = call.operation;
  std::lock_guard<std::mutex> lock(mu);
  const std::string& account = options.account_id;
  if (op == "AssumeRoleWithWebIdentity") {
    for (const auto& [param, member] : std::vector<std::pair<std::string, std::string>>{
             {"RoleArn", "roleArn"},
             {"RoleSessionName", "roleSessionName"},
             {"WebIdentityToken", "webIdentityToken"}}) {
      if (!call.has(param)) {
        queryError(call, 400, "ValidationError", nullConstraint(member), kStsXmlns);
        return;
      }
    }
    std::string role_arn = call.get("RoleArn");
    std::string session = call.get("RoleSessionName");
    if (!std::regex_match(session, kSessionName)) {
      queryError(call, 400, "ValidationError",
                 "1 validation error detected: Value '" + session +
                     "' at 'roleSessionName' failed to satisfy constraint: Member must satisfy "
                     "regular expression pattern: [\\w+=,.@-]*",
                 kStsXmlns);
      return;
    }
    int duration = static_cast<int>(issued_lifetime.count());
    if (call.has("DurationSeconds")) {
      std::string raw = call.get("DurationSeconds");
      bool digits =
          !raw.empty() && raw.size() < 7 &&
          std::all_of(raw.begin(), raw.end(), [](unsigned char c) { return std::isdigit(c); });
      duration = digits ? std::stoi(raw) : 0;
      if (duration < 900 || duration > 43200) {
        queryError(call, 400, "ValidationError",
                   "1 validation error detected: Value '" + raw +
                       "' at 'durationSeconds' failed to satisfy constraint: Member must have "
                       "value greater than or equal to 900",
                   kStsXmlns);
        return;
      }
    }
    if (call.get("WebIdentityToken") != web_identity_token) {
      queryError(call, 400, "InvalidIdentityToken",
                 "The ID Token provided is not a valid JWT. (You may see this error if you sent "
                 "an Access Token)",
                 kStsXmlns);
      return;
    }
    std::string role_name = role_arn.substr(role_arn.rfind('/') + 1);
    IssuedCredentials creds;
    std::string access_key = "ASIA" + randomChars(rng, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16);
    creds.secret_key =
        randomChars(rng, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 40);
    creds.session_token =
        "FwoGZXIvYXdzE" +
        randomChars(rng, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", 300);
    creds.expires = now() + std::chrono::seconds(duration);
    creds.user_id =
        "AROA" + randomChars(rng, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 17) + ":" + session;
    creds.arn = "arn:aws:sts::" + account + ":assumed-role/" + role_name + "/" + session;
    issued[access_key] = creds;
    pugi::xml_document doc;
    auto result = queryResult(doc, call, kStsXmlns);
    addText(result, "Audience", "sts.amazonaws.com");
    auto user = result.append_child("AssumedRoleUser");
    addText(user, "AssumedRoleId", creds.user_id);
    addText(user, "Arn", creds.arn);
    addText(result, "Provider",
            "arn:aws:iam::" + account + ":oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/FAKE");
    auto c = result.append_child("Credentials");
    addText(c, "AccessKeyId", access_key);
    addText(c, "SecretAccessKey", creds.secret_key);
    addText(c, "SessionToken", creds.session_token);
    addText(c, "Expiration", formatRfc3339(creds.expires));
    addText(result, "SubjectFromWebIdentityToken", "system:serviceaccount:default:default");
    setXml(call, 200, doc);
    return;
  }
  if (op == "GetCallerIdentity") {
    pugi::xml_document doc;
    auto result = queryResult(doc, call, kStsXmlns);
    auto it = issued.find(call.access_key);
    addText(result, "Arn", callerArn(call.access_key));
    addText(result, "UserId", it != issued.end() ? it->second.user_id : "AIDAFAKEUSERID0000001");
    addText(result, "Account", account);
    setXml(call, 200, doc);
    return;
  }
  queryError(call, 400, "InvalidAction",
             "Could not find operation " + op + " for version 2011-06-15", kStsXmlns);
}

void FakeAws::Impl::handleSns(Call& call) {
  const std::string& op = call.operation;
  std::lock_guard<std::mutex> lock(mu);
  if (op != "Publish") {
    queryError(call, 400, "InvalidAction",
               "Could not find operation " + op + " for version 2010-03-31", kSnsXmlns);
    return;
  }
  if (!call.has("Message")) {
    queryError(call, 400, "ValidationError", nullConstraint("message"), kSnsXmlns);
    return;
  }
  FakeSnsMessage m;
  m.topic_arn = call.get("TopicArn");
  m.target_arn = call.get("TargetArn");
  m.phone_number = call.get("PhoneNumber");
  m.subject = call.get("Subject");
  m.message = call.get("Message");
  int targets = !m.topic_arn.empty() + !m.target_arn.empty() + !m.phone_number.empty();
  if (targets == 0) {
    queryError(call, 400, "InvalidParameter",
               "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter",
               kSnsXmlns);
    return;
  }
  if (targets > 1) {
    queryError(call, 400, "InvalidParameter",
               "Invalid parameter: TopicArn Reason: Only one of TopicArn, TargetArn or "
               "PhoneNumber may be given",
               kSnsXmlns);
    return;
  }
  if (m.message.empty()) {
    queryError(call, 400, "InvalidParameter", "Invalid parameter: Empty message", kSnsXmlns);
    return;
  }
  if (m.message.size() > 262144) {
    queryError(call, 400, "InvalidParameter", "Invalid parameter: Message too long", kSnsXmlns);
    return;
  }
  if (m.subject.size() > 100) {
    queryError(call, 400, "InvalidParameter", "Invalid parameter: Subject", kSnsXmlns);
    return;
  }
  std::string arn = m.topic_arn.empty() ? m.target_arn : m.topic_arn;
  if (!arn.empty() && !sns_topics.count(arn)) {
    queryError(call, 404, "NotFound", "Topic does not exist", kSnsXmlns);
    return;
  }
  m.message_id = newUuid();
  sns_messages.push_back(m);
  pugi::xml_document doc;
  addText(queryResult(doc, call, kSnsXmlns), "MessageId", m.message_id);
  setXml(call, 200, doc);
}

void FakeAws::Impl::handleSes(Call& call) {
  std::lock_guard<std::mutex> lock(mu);
  if (call.operation != "SendEmail") {
    call.res.status = 404;
    call.error_code = "UnknownOperationException";
    call.res.set_header("X-Amzn-ErrorType", "UnknownOperationException");
    call.res.set_content("{\"message\":null}", "application/json");
    return;
  }
  rapidjson::Document body;
  if (body.Parse(call.req.body.c_str()).HasParseError() || !body.IsObject()) {
    jsonError(call, 400, "SerializationException", "Unable to parse the request body");
    return;
  }
  auto get_str = [](const rapidjson::Value& obj, const char* key) -> std::string {
    if (!obj.IsObject())
      return "";
    auto m = obj.FindMember(key);
    return m != obj.MemberEnd() && m->value.IsString() ? m->value.GetString() : "";
  };
  auto get_obj = [](const rapidjson::Value& obj, const char* key) -> const rapidjson::Value* {
    if (!obj.IsObject())
      return nullptr;
    auto m = obj.FindMember(key);
    return m != obj.MemberEnd() && m->value.IsObject() ? &m->value : nullptr;
  };
  auto get_list = [](const rapidjson::Value* obj, const char* key) {
    std::vector<std::string> out;
    if (obj == nullptr)
      return out;
    auto m = obj->FindMember(key);
    if (m != obj->MemberEnd() && m->value.IsArray()) {
      for (const auto& v : m->value.GetArray()) {
        if (v.IsString())
          out.emplace_back(v.GetString());
      }
    }
    return out;
  };
  FakeSesEmail e;
  e.from = get_str(body, "FromEmailAddress");
  const rapidjson::Value* dest = get_obj(body, "Destination");
  e.to = get_list(dest, "ToAddresses");
  e.cc = get_list(dest, "CcAddresses");
  e.bcc = get_list(dest, "BccAddresses");
  const rapidjson::Value* content = get_obj(body, "Content");
  const rapidjson::Value* simple = content ? get_obj(*content, "Simple") : nullptr;
  const rapidjson::Value* raw = content ? get_obj(*content, "Raw") : nullptr;
  if (content == nullptr || (simple == nullptr && raw == nullptr)) {
    jsonError(call, 400, "BadRequestException", "Missing required parameter Content");
    return;
  }
  if (simple != nullptr) {
    const rapidjson::Value* subject = get_obj(*simple, "Subject");
    const rapidjson::Value* sbody = get_obj(*simple, "Body");
    if (subject == nullptr || sbody == nullptr) {
      jsonError(call, 400, "BadRequestException", "Simple content requires Subject and Body");
      return;
    }
    e.subject = get_str(*subject, "Data");
    if (const auto* text = get_obj(*sbody, "Text"))
      e.text = get_str(*text, "Data");
    if (const auto* html = get_obj(*sbody, "Html"))
      e.html = get_str(*html, "Data");
    if (e.to.empty() && e.cc.empty() && e.bcc.empty()) {
      jsonError(call, 400, "BadRequestException", "Missing required recipients");
      return;
    }
  }
  if (e.from.empty()) {
    jsonError(call, 400, "BadRequestException", "Missing FromEmailAddress");
    return;
  }
  std::string address = e.from;
  if (auto lt = address.find('<'); lt != std::string::npos) {
    address = address.substr(lt + 1, address.find('>', lt) - lt - 1);
  }
  address = lowerCopy(address);
  std::string domain = address.substr(address.find('@') + 1);
  if (!ses_identities.count(address) && !ses_identities.count(domain)) {
    std::string region = regionOf(call);
    std::transform(region.begin(), region.end(), region.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    jsonError(call, 400, "MessageRejected",
              "Email address is not verified. The following identities failed the check in "
              "region " +
                  region + ": " + address);
    return;
  }
  e.message_id = "0100" + newHexId("", 12) + "-" + newUuid() + "-000000";
  ses_emails.push_back(e);
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("MessageId");
  w.String(e.message_id.c_str());
  w.EndObject();
  call.res.status = 200;
  call.res.set_content(buf.GetString(), "application/json");
}

void FakeAws::Impl::handleSlack(Call& call) {
  std::lock_guard<std::mutex> lock(mu);
  auto reply = [&](const std::string& error) {
    call.error_code = error;
    call.res.status = 200;
    call.res.set_content(R"({"ok":false,"error":")" + error + "\"}", "application/json");
  };
  std::string content_type = lowerCopy(call.req.get_header_value("Content-Type"));
  rapidjson::Document body;
  body.SetObject();
  std::string token;
  std::string auth = call.req.get_header_value("Authorization");
  if (auth.rfind("Bearer ", 0) == 0) {
    token = auth.substr(7);
  }
  if (token.empty()) {
    token = call.get("token");  // form-encoded calls may carry the token in the body
  }
  // Slack checks the token before anything else in the request.
  if (token.empty()) {
    reply("not_authed");
    return;
  }
  if (!slack_tokens.count(token)) {
    reply("invalid_auth");
    return;
  }
  if (call.operation == "auth.test") {
    call.res.status = 200;
    call.res.set_content(
        R"({"ok":true,"url":"https://fake-workspace.slack.com/","team":"Fake Workspace",)"
        R"("user":"opsy","team_id":"T0FAKETEAM1","user_id":"U0FAKEBOT1","bot_id":"B0FAKEBOT1"})",
        "application/json");
    return;
  }
  if (call.operation != "chat.postMessage") {
    reply("unknown_method");
    return;
  }
  FakeSlackPost post;
  std::string channel;
  if (content_type.rfind("application/json", 0) == 0) {
    if (body.Parse(call.req.body.c_str()).HasParseError() || !body.IsObject()) {
      reply("invalid_json");
      return;
    }
    auto get_str = [&](const char* key) -> std::string {
      auto m = body.FindMember(key);
      return m != body.MemberEnd() && m->value.IsString() ? m->value.GetString() : "";
    };
    channel = get_str("channel");
    post.text = get_str("text");
    post.thread_ts = get_str("thread_ts");
    if (auto m = body.FindMember("blocks"); m != body.MemberEnd() && !m->value.IsNull()) {
      rapidjson::StringBuffer b;
      rapidjson::Writer<rapidjson::StringBuffer> bw(b);
      m->value.Accept(bw);
      post.blocks_json = b.GetString();
    }
  } else {
    channel = call.get("channel");
    post.text = call.get("text");
    post.thread_ts = call.get("thread_ts");
    post.blocks_json = call.get("blocks");
  }
  std::string bare = !channel.empty() && channel[0] == '#' ? channel.substr(1) : channel;
  std::string channel_id;
  for (const auto& [id, name] : slack_channels) {
    if (id == channel || (!name.empty() && (name == bare || name == channel)))
      channel_id = id;
  }
  if (channel_id.empty()) {
    reply("channel_not_found");
    return;
  }
  if (post.text.empty() && (post.blocks_json.empty() || post.blocks_json == "[]")) {
    reply("no_text");
    return;
  }
  if (post.text.size() > 40000) {
    reply("msg_too_long");
    return;
  }
  auto micros = now().time_since_epoch().count() + static_cast<int64_t>(slack_posts.size());
  char ts[32];
  std::snprintf(ts, sizeof(ts), "%lld.%06lld", static_cast<long long>(micros / 1000000),
                static_cast<long long>(micros % 1000000));
  post.ts = ts;
  post.channel = channel_id;
  slack_posts.push_back(post);
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  w.Key("ok");
  w.Bool(true);
  w.Key("channel");
  w.String(channel_id.c_str());
  w.Key("ts");
  w.String(post.ts.c_str());
  w.Key("message");
  w.StartObject();
  w.Key("type");
  w.String("message");
  w.Key("text");
  w.String(post.text.c_str());
  w.Key("user");
  w.String("U0FAKEBOT1");
  w.Key("bot_id");
  w.String("B0FAKEBOT1");
  w.Key("ts");
  w.String(post.ts.c_str());
  w.EndObject();
  w.EndObject();
  call.res.status = 200;
  call.res.set_content(buf.GetString(), "application/json");
}

}  // namespace opsy::testing
