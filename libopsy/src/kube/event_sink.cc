#include "opsy/kube/event_sink.h"

#include <fmt/format.h>

#include "opsy/core/time_format.h"

namespace opsy::kube {

Event eventOf(const EventRecord& record) {
  Event e;
  e.metadata.name = record.name;
  e.metadata.ns = record.ns;
  e.regarding = record.regarding;
  e.note = record.note;
  e.reason = record.reason;
  e.action = record.action;
  e.type = std::string(toString(record.type));
  e.event_time = record.event_time;
  e.reporting_controller = record.reporting_controller;
  e.reporting_instance = record.reporting_instance;
  if (record.series.has_value()) {
    e.series = EventSeries{record.series->count, record.series->last_observed_time};
  }
  return e;
}

Status ClientEventSink::create(const EventRecord& event) {
  OPSY_ASSIGN_OR_RETURN(Object stored,
                        client_->create(Event::resource(), eventOf(event).toObject(), {}));
  (void)stored;
  return ok();
}

Status ClientEventSink::patch(const std::string& name, const std::string& ns,
                              const EventRecordSeries& series) {
  const std::string body = fmt::format(R"({{"series":{{"count":{},"lastObservedTime":"{}"}}}})",
                                       series.count, formatMicroTime(series.last_observed_time));
  OPSY_ASSIGN_OR_RETURN(Object stored,
                        client_->patch(Event::resource(), ns, name, PatchType::Merge, body, {}));
  (void)stored;
  return ok();
}

}  // namespace opsy::kube
