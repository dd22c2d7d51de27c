#include "kube/watch_decoder.h"

#include <fmt/format.h>

#include "kube/status_error.h"
#include "opsy/core/buffer.h"
#include "opsy/json/json.h"

namespace opsy::kube {
namespace {

// A buffer that grew past this for one long event is released once the event is decoded.
constexpr size_t kKeptCapacity = size_t{1} << 20;

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

void WatchDecoder::append(std::string_view piece) {
  reserveToAppend(buffer_, piece.size(), max_line_bytes_);
  buffer_.append(piece);
}

std::vector<Result<WatchEvent>> WatchDecoder::feed(std::string_view chunk) {
  std::vector<Result<WatchEvent>> out;
  while (!failure_ && !chunk.empty()) {
    const size_t nl = chunk.find('\n');
    const std::string_view piece = chunk.substr(0, nl);
    if (max_line_bytes_ > 0 && piece.size() > max_line_bytes_ - buffer_.size()) {
      failure_ = Error(ErrorCode::ResourceExhausted,
                       fmt::format("watch event exceeds {} bytes", max_line_bytes_));
      std::string().swap(buffer_);
      break;
    }
    if (nl == std::string_view::npos) {
      append(piece);
      break;
    }
    std::string_view line = piece;
    if (!buffer_.empty()) {
      append(piece);
      line = buffer_;
    }
    if (!blank(line)) {
      out.push_back(decodeLine(line));
    }
    buffer_.clear();
    if (buffer_.capacity() > kKeptCapacity) {
      std::string().swap(buffer_);  // one large event does not pin its buffer for the stream
    }
    chunk.remove_prefix(nl + 1);
  }
  return out;
}

std::vector<Result<WatchEvent>> WatchDecoder::finish() {
  std::vector<Result<WatchEvent>> out;
  if (!failure_ && !blank(buffer_)) {
    out.push_back(decodeLine(buffer_));
  }
  buffer_.clear();
  return out;
}

}  // namespace opsy::kube
