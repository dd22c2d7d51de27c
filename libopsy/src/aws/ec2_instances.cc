#include "aws/ec2_instances.h"

#include <algorithm>
#include <string>
#include <unordered_set>

#include "aws/enum_text.h"

namespace opsy::aws {
namespace {

constexpr EnumText<InstanceState> kInstanceStates[] = {
    {InstanceState::Pending, "pending"},
    {InstanceState::Running, "running"},
    {InstanceState::ShuttingDown, "shutting-down"},
    {InstanceState::Terminated, "terminated"},
    {InstanceState::Stopping, "stopping"},
    {InstanceState::Stopped, "stopped"},
};

Instance parseInstance(const pugi::xml_node& item) {
  Instance i;
  i.id = xmlText(item, "instanceId");
  i.image_id = xmlText(item, "imageId");
  i.state = parsedAs(xmlText(item.child("instanceState"), "name"), parseInstanceState);
  i.instance_type = xmlText(item, "instanceType");
  i.availability_zone = xmlText(item.child("placement"), "availabilityZone");
  i.private_dns_name = xmlText(item, "privateDnsName");
  i.launch_time = xmlTime(item, "launchTime");
  i.tags = xmlTags(item.child("tagSet"), "item", "key", "value");
  return i;
}

}  // namespace

std::string_view toString(InstanceState state) {
  return enumToText(state, kInstanceStates);
}
InstanceState parseInstanceState(std::string_view text) {
  return enumFromText(text, kInstanceStates);
}

std::vector<QueryParams> describeInstancesRequests(const DescribeInstancesInput& in) {
  QueryParams filters;
  addEc2Filters(filters, in.filters);
  if (in.instance_ids.empty()) {
    QueryParams p = filters;
    p.emplace_back("MaxResults", std::to_string(in.page_size));
    return {p};
  }
  // A repeated id would otherwise land in two chunks and come back twice.
  std::vector<std::string> ids;
  std::unordered_set<std::string> seen;
  for (const auto& id : in.instance_ids) {
    if (seen.insert(id).second) {
      ids.push_back(id);
    }
  }
  std::vector<QueryParams> out;
  for (size_t begin = 0; begin < ids.size(); begin += kInstanceIdsPerRequest) {
    size_t end = std::min(ids.size(), begin + kInstanceIdsPerRequest);
    QueryParams p;
    addEc2List(p, "InstanceId",
               {ids.begin() + static_cast<std::ptrdiff_t>(begin),
                ids.begin() + static_cast<std::ptrdiff_t>(end)});
    p.insert(p.end(), filters.begin(), filters.end());
    out.push_back(std::move(p));
  }
  return out;
}

void appendInstances(const pugi::xml_node& page, std::vector<Instance>& out) {
  for (pugi::xml_node reservation : page.child("reservationSet").children("item")) {
    for (pugi::xml_node item : reservation.child("instancesSet").children("item")) {
      out.push_back(parseInstance(item));
    }
  }
}

}  // namespace opsy::aws
