#include "packer-builder-controller/notifiers.h"

namespace opsy::packer_builder {

notify::NotifierPtr SlackNotifierFactory::notifierFor(std::string_view ns,
                                                      const NotifierSpec& spec) {
  if (!spec.slack) {
    return nullptr;
  }
  return slack_.notifierFor(ns, spec.slack->secret, spec.slack->channel_ids);
}

}  // namespace opsy::packer_builder
