#include "kube/watch_decoder.h"

#include <fmt/format.h>

#include "kube/status_error.h"
#include "opsy/json/json.h"

namespace opsy::kube {
namespace {

bool blank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

}  // namespace

Result<WatchEvent> WatchDecoder::decodeLine(std::string_view line) {
  OPSY_ASSIGN_OR_RETURN(json::Document doc, json::parseObject(line, "watch event"));
  std::string type = json::stringOr(doc, "type");
  const json::Value* object = json::member(doc, "object");
  if (object == nullptr || !object->IsObject()) {
    return fail(ErrorCode::InvalidArgument,
                fmt::format("watch event {}: missing object", type.empty() ? "?" : type));
  }
  WatchEvent event;
  std::string object_json = json::writeJson(*object);
  if (type == "ERROR") {
    event.type = WatchEventType::Error;
    event.error = errorFromStatusJson(object_json, "watch");
    return event;
  }
  if (type == "ADDED") {
    event.type = WatchEventType::Added;
  } else if (type == "MODIFIED") {
    event.type = WatchEventType::Modified;
  } else if (type == "DELETED") {
    event.type = WatchEventType::Deleted;
  } else if (type == "BOOKMARK") {
    event.type = WatchEventType::Bookmark;
  } else {
    return fail(ErrorCode::InvalidArgument, fmt::format("watch event: unknown type '{}'", type));
  }
  auto obj = Object::parse(object_json);
  if (!obj) {
    return fail(std::move(obj).error().context("watch event " + type));
  }
  event.object = std::move(*obj);
  if (event.type != WatchEventType::Bookmark && event.object.metadata.name.empty()) {
    return fail(ErrorCode::InvalidArgument,
                fmt::format("watch event {}: object has no metadata.name", type));
  }
  return event;
}

std::vector<Result<WatchEvent>> WatchDecoder::feed(std::string_view chunk) {
  std::vector<Result<WatchEvent>> out;
  buffer_.append(chunk);
  size_t start = 0;
  for (;;) {
    size_t nl = buffer_.find('\n', start);
    if (nl == std::string::npos) {
      break;
    }
    std::string_view line(buffer_.data() + start, nl - start);
    if (!blank(line)) {
      out.push_back(decodeLine(line));
    }
    start = nl + 1;
  }
  buffer_.erase(0, start);
  return out;
}

std::vector<Result<WatchEvent>> WatchDecoder::finish() {
  std::vector<Result<WatchEvent>> out;
  if (!blank(buffer_)) {
    out.push_back(decodeLine(buffer_));
  }
  buffer_.clear();
  return out;
}

}  // namespace opsy::kube
