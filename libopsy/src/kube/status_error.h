// File: status_error.h
//
// Maps a failed Kubernetes response (its `Status` body, HTTP code and headers) to opsy::Error:
// the reason decides the code (falling back to the HTTP status when the body is not a Status),
// the reason goes to provider_code, Audit-Id to request_id, Retry-After to retry_after, and an
// Invalid status keeps each `details.causes[].field` in the message.
//
//   if (resp.status >= 400) return fail(errorFromResponse(resp, "update jobs ci/build-1"));
#pragma once

#include <string>
#include <string_view>

#include "opsy/core/error.h"
#include "opsy/http/transport.h"
#include "opsy/kube/resource.h"

namespace opsy::kube {

Error errorFromResponse(const http::Response& response, std::string_view what);
// For ERROR watch events: the event's object is a Status; `code` in it stands for the HTTP status.
Error errorFromStatusJson(std::string_view status_json, std::string_view what);

// "get jobs.batch ci/build-1": what a request was, the prefix of its errors' messages.
std::string describe(std::string_view verb, const Resource& r, std::string_view ns,
                     std::string_view name);
// What the client returns when the server answers a get with 404 NotFound, for readers that
// answer without asking the server.
Error notFoundError(const Resource& r, std::string_view ns, std::string_view name);

}  // namespace opsy::kube
