#include "opsy/controller/effects.h"

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>

namespace opsy::controller {

kube::ObjectReference referenceTo(const kube::Object& obj) {
  return kube::ObjectReference{.api_version = obj.api_version,
                               .kind = obj.kind,
                               .ns = obj.metadata.ns,
                               .name = obj.metadata.name,
                               .uid = obj.metadata.uid,
                               .resource_version = obj.metadata.resource_version};
}

void recordEvent(kube::EventRecorder& events, const kube::ObjectReference& about,
                 const RecordEvent& event) {
  events.record(about, event.type, event.reason, event.action, event.note);
}

void sendNotification(notify::NotifierFactory* factory, std::string_view ns, const Notify& n) {
  if (factory == nullptr || !n.destination.configured()) {
    return;
  }
  if (notify::NotifierPtr notifier = factory->notifierFor(ns, n.destination, n.region)) {
    notifier->notify(n.notification);
  }
}

std::string withResourceVersion(std::string_view patch, std::string_view resource_version) {
  if (resource_version.empty() || patch.size() < 2 || patch.front() != '{') {
    return std::string(patch);
  }
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.String(resource_version.data(), static_cast<rapidjson::SizeType>(resource_version.size()));
  std::string out = R"({"metadata":{"resourceVersion":)";
  out.append(buf.GetString(), buf.GetSize());
  out.push_back('}');
  std::string_view rest = patch.substr(1);
  if (rest.find_first_not_of(" \t\r\n") != std::string_view::npos &&
      rest[rest.find_first_not_of(" \t\r\n")] != '}') {
    out.push_back(',');
  }
  out.append(rest);
  return out;
}

Status writeStatus(kube::StatusWriter& writer, const kube::Resource& resource,
                   kube::ObjectMeta& meta, std::string_view status_patch,
                   std::string_view field_manager) {
  auto written = writer.patchStatus(resource, meta.ns, meta.name, kube::PatchType::Merge,
                                    withResourceVersion(status_patch, meta.resource_version),
                                    {.field_manager = std::string(field_manager)});
  if (!written) {
    if (written.error().code == ErrorCode::NotFound) {
      return ok();
    }
    return fail(std::move(written).error().context("write status"));
  }
  meta.resource_version = written->metadata.resource_version;
  return ok();
}

}  // namespace opsy::controller
