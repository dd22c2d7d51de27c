#include "support/kube_scripted_transport.h"

#include <cctype>

namespace opsy::kube {
namespace {

std::string percentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16)));
      i += 2;
    } else if (s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

void splitUrl(const std::string& url, std::string* path, std::map<std::string, std::string>* q) {
  size_t start = 0;
  if (size_t scheme = url.find("://"); scheme != std::string::npos) {
    start = url.find('/', scheme + 3);
    if (start == std::string::npos) {
      start = url.size();
    }
  }
  size_t qmark = url.find('?', start);
  *path = url.substr(start, qmark == std::string::npos ? std::string::npos : qmark - start);
  if (qmark == std::string::npos) {
    return;
  }
  std::string_view rest(url);
  rest.remove_prefix(qmark + 1);
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    size_t eq = pair.find('=');
    std::string key = percentDecode(pair.substr(0, eq));
    std::string value = eq == std::string_view::npos ? "" : percentDecode(pair.substr(eq + 1));
    (*q)[key] = value;
    if (amp == std::string_view::npos) {
      break;
    }
    rest.remove_prefix(amp + 1);
  }
}

}  // namespace

ScriptedReply ScriptedReply::ok(std::string body) {
  ScriptedReply r;
  r.body = std::move(body);
  return r;
}

ScriptedReply ScriptedReply::withStatus(int status, std::string body, http::Headers headers) {
  ScriptedReply r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}

ScriptedReply ScriptedReply::chunked(std::vector<std::string> chunks, bool hold_open) {
  ScriptedReply r;
  r.chunks = std::move(chunks);
  r.hold_open = hold_open;
  return r;
}

ScriptedReply ScriptedReply::failure(Error error) {
  ScriptedReply r;
  r.transport_error = std::move(error);
  return r;
}

std::string RecordedRequest::header(std::string_view name) const {
  auto v = http::findHeader(request.headers, name);
  return v.has_value() ? std::string(*v) : std::string();
}

void ScriptedTransport::reply(std::string method, std::string path, ScriptedReply r) {
  std::lock_guard lock(mu_);
  replies_[method + " " + path].push_back(std::move(r));
}

void ScriptedTransport::streamReply(std::string path, ScriptedReply r) {
  std::lock_guard lock(mu_);
  replies_["STREAM " + path].push_back(std::move(r));
}

void ScriptedTransport::push(std::string chunk) {
  std::lock_guard lock(mu_);
  live_chunks_.push_back(std::move(chunk));
  cv_.notify_all();
}

void ScriptedTransport::closeStreams() {
  std::lock_guard lock(mu_);
  ++close_generation_;
  cv_.notify_all();
}

std::vector<RecordedRequest> ScriptedTransport::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

std::vector<RecordedRequest> ScriptedTransport::streamRequests() const {
  std::lock_guard lock(mu_);
  std::vector<RecordedRequest> out;
  for (const auto& r : requests_) {
    if (r.streamed) {
      out.push_back(r);
    }
  }
  return out;
}

int ScriptedTransport::openStreams() const {
  std::lock_guard lock(mu_);
  return open_streams_;
}

bool ScriptedTransport::waitUntil(const std::function<bool(const ScriptedTransport&)>& pred,
                                  std::chrono::milliseconds timeout) const {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred(*this)) {
      return true;
    }
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(5));
  }
  return pred(*this);
}

RecordedRequest ScriptedTransport::record(const http::Request& request, bool streamed) {
  RecordedRequest rec;
  rec.request = request;
  rec.streamed = streamed;
  splitUrl(request.url, &rec.path, &rec.query);
  requests_.push_back(rec);
  cv_.notify_all();
  return rec;
}

std::optional<ScriptedReply> ScriptedTransport::take(const std::string& key) {
  auto it = replies_.find(key);
  if (it == replies_.end() || it->second.empty()) {
    return std::nullopt;
  }
  ScriptedReply r = std::move(it->second.front());
  it->second.pop_front();
  return r;
}

Result<http::Response> ScriptedTransport::send(const http::Request& request) {
  std::lock_guard lock(mu_);
  RecordedRequest rec = record(request, false);
  auto r = take(request.method + " " + rec.path);
  if (!r.has_value()) {
    http::Response resp;
    resp.status = 404;
    resp.body = R"({"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound",)"
                R"("code":404,"message":"no scripted reply for )" +
                request.method + " " + rec.path + "\"}";
    return resp;
  }
  if (r->transport_error.has_value()) {
    return fail(*r->transport_error);
  }
  return http::Response{r->status, r->headers, r->body};
}

Result<http::Response> ScriptedTransport::stream(const http::Request& request,
                                                 const http::StreamHandler& handler,
                                                 const http::CancelToken& cancel) {
  std::optional<ScriptedReply> r;
  int generation = 0;
  {
    std::lock_guard lock(mu_);
    RecordedRequest rec = record(request, true);
    r = take("STREAM " + rec.path);
    if (!r.has_value()) {
      r = ScriptedReply{};
      r->hold_open = true;
    }
    if (r->transport_error.has_value()) {
      return fail(*r->transport_error);
    }
    ++open_streams_;
    generation = close_generation_;
  }
  auto finish = [&]() {
    std::lock_guard lock(mu_);
    --open_streams_;
    cv_.notify_all();
  };
  http::Response head{r->status, r->headers, ""};
  if (handler.on_headers) {
    handler.on_headers(head);
  }
  std::vector<std::string> chunks = r->chunks;
  if (chunks.empty() && !r->body.empty()) {
    chunks.push_back(r->body);
  }
  for (const auto& chunk : chunks) {
    if (cancel.cancelled()) {
      finish();
      return fail(ErrorCode::Cancelled, "stream cancelled");
    }
    if (!handler.on_data(chunk)) {
      finish();
      return head;
    }
  }
  while (r->hold_open) {
    std::string chunk;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(5), [&] {
        return cancel.cancelled() || !live_chunks_.empty() || close_generation_ != generation;
      });
      if (cancel.cancelled()) {
        --open_streams_;
        cv_.notify_all();
        return fail(ErrorCode::Cancelled, "stream cancelled");
      }
      if (live_chunks_.empty()) {
        if (close_generation_ != generation) {
          break;
        }
        continue;
      }
      chunk = std::move(live_chunks_.front());
      live_chunks_.pop_front();
    }
    if (!handler.on_data(chunk)) {
      break;
    }
  }
  finish();
  return head;
}

}  // namespace opsy::kube
