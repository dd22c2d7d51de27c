// File: kube_scripted_transport.h
//
// An http::Transport for Kubernetes client tests: it records every request and answers from a
// script of canned replies keyed by method and path. Watch streams can deliver a body chunk by
// chunk, then stay open (as a real watch does) until the caller cancels, the test pushes more
// chunks, or the test closes them.
//
//   auto t = std::make_shared<ScriptedTransport>();
//   t->reply("GET", "/api/v1/namespaces/ci/pods/p", ScriptedReply::ok(podJson));
//   t->streamReply("/apis/batch/v1/jobs", ScriptedReply::chunked({event1, event2}, true));
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "opsy/http/transport.h"

namespace opsy::kube {

struct ScriptedReply {
  static ScriptedReply ok(std::string body);
  static ScriptedReply withStatus(int status, std::string body, http::Headers headers = {});
  static ScriptedReply chunked(std::vector<std::string> chunks, bool hold_open = false);
  static ScriptedReply failure(Error error);

  int status = 200;
  http::Headers headers;
  std::string body;
  // Fail with this instead of answering (connection refused, timeout).
  std::optional<Error> transport_error;
  // Streams: the body in pieces (used instead of `body` when non-empty).
  std::vector<std::string> chunks;
  // Streams: after the chunks, stay open until cancelled, closeStreams() or push()ed data.
  bool hold_open = false;
};

struct RecordedRequest {
  http::Request request;
  std::string path;
  std::map<std::string, std::string> query;
  bool streamed = false;

  std::string header(std::string_view name) const;
};

class ScriptedTransport : public http::Transport {
 public:
  // Queues a reply for send(); replies for one method+path are used in order.
  void reply(std::string method, std::string path, ScriptedReply reply);
  // Queues a reply for stream() on `path` (GET). With none queued a stream stays open, empty,
  // until cancelled.
  void streamReply(std::string path, ScriptedReply reply);
  // Appends body data to the stream that is open now (or the next one to open).
  void push(std::string chunk);
  // Ends every stream that is open now, as a server-side watch timeout does.
  void closeStreams();

  std::vector<RecordedRequest> requests() const;
  std::vector<RecordedRequest> streamRequests() const;
  int openStreams() const;
  // Waits (real time) until `pred` holds over the recorded requests; false on timeout.
  bool waitUntil(const std::function<bool(const ScriptedTransport&)>& pred,
                 std::chrono::milliseconds timeout = std::chrono::seconds(5)) const;

  Result<http::Response> send(const http::Request& request) override;
  Result<http::Response> stream(const http::Request& request, const http::StreamHandler& handler,
                                const http::CancelToken& cancel) override;

 private:
  RecordedRequest record(const http::Request& request, bool streamed);
  std::optional<ScriptedReply> take(const std::string& key);

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::map<std::string, std::deque<ScriptedReply>> replies_;
  std::vector<RecordedRequest> requests_;
  std::deque<std::string> live_chunks_;
  int open_streams_ = 0;
  int close_generation_ = 0;
};

}  // namespace opsy::kube
