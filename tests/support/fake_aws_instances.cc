// EC2 instances for FakeAws: the instances node groups and Auto Scaling groups launch and replace,
// DescribeInstances over them, and the onInstancesChanged hook.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <regex>
#include <set>

#include "opsy/core/time_format.h"
#include "support/fake_aws_internal.h"

namespace opsy::testing {
namespace {

// EC2 keeps a terminated instance listed for about an hour, then forgets it.
constexpr auto kTerminatedVisibleFor = std::chrono::hours(1);
// EC2 refuses a call whose filters carry more values than this (FilterLimitExceeded).
constexpr size_t kMaxFilterValues = 200;
constexpr const char* kDefaultInstanceType = "t3.medium";

const std::regex kInstanceId("^i-([0-9a-f]{8}|[0-9a-f]{17})$");
const std::set<std::string> kStates = {"pending",    "running",  "shutting-down",
                                       "terminated", "stopping", "stopped"};

// The EC2 model's InstanceState.Code: the high byte is internal, the low byte the state.
int stateCode(const std::string& state) {
  if (state == "pending")
    return 0;
  if (state == "running")
    return 16;
  if (state == "shutting-down")
    return 32;
  if (state == "terminated")
    return 48;
  if (state == "stopping")
    return 64;
  return 80;  // stopped
}

// Ids that look like EC2's ("i-0" + 16 hex digits) yet are a pure function of a counter, so a
// test sees the same ids on every run. Multiplying by an odd constant is a bijection on 64 bits:
// no two counter values share an id.
std::string counterId(const char* prefix, uint64_t n, uint64_t odd) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%s0%016llx", prefix, static_cast<unsigned long long>(n * odd));
  return buf;
}

// "us-west-2a" -> "us-west-2".
std::string regionOfZone(const std::string& zone) {
  size_t end = zone.size();
  while (end > 0 && std::isalpha(static_cast<unsigned char>(zone[end - 1]))) {
    --end;
  }
  return zone.substr(0, end);
}

// EC2's private host names: ip-10-0-1-23.ec2.internal in us-east-1, else
// ip-10-0-1-23.<region>.compute.internal.
std::string privateDnsName(const std::string& ip, const std::string& zone) {
  std::string host = "ip-" + ip;
  std::replace(host.begin(), host.end(), '.', '-');
  std::string region = regionOfZone(zone);
  return host + (region == "us-east-1" ? ".ec2.internal" : "." + region + ".compute.internal");
}

// "User initiated (2026-03-01 12:00:00 GMT)", EC2's StateTransitionReason for a stop or
// termination.
std::string transitionReason(TimePoint at) {
  std::string t = formatRfc3339(at);  // 2026-03-01T12:00:00Z
  t[10] = ' ';
  t.pop_back();
  return "User initiated (" + t + " GMT)";
}

bool isDigits(const std::string& s) {
  return !s.empty() && s.size() < 10 &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

struct ResolvedTemplate {
  const FakeLaunchTemplate* lt = nullptr;
  const FakeLaunchTemplateVersion* version = nullptr;
};

// The version a reference names ("" and "$Default": the default; "$Latest"; a number).
ResolvedTemplate resolveTemplate(const std::map<std::string, FakeLaunchTemplate>& templates,
                                 const FakeLaunchTemplateRef& ref) {
  ResolvedTemplate out;
  for (const auto& [id, lt] : templates) {
    if ((!ref.id.empty() && id == ref.id) || (ref.id.empty() && lt.name == ref.name)) {
      out.lt = &lt;
    }
  }
  if (out.lt == nullptr || out.lt->versions.empty()) {
    return out;
  }
  int64_t n = out.lt->default_version;
  if (ref.version == "$Latest") {
    n = static_cast<int64_t>(out.lt->versions.size());
  } else if (isDigits(ref.version)) {
    n = std::stoll(ref.version);
  }
  if (n >= 1 && n <= static_cast<int64_t>(out.lt->versions.size())) {
    out.version = &out.lt->versions[static_cast<size_t>(n - 1)];
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// lifecycle (callers hold mu)

std::string FakeAws::Impl::launchInstance(FakeInstance inst) {
  uint64_t n = ++id_counter;
  if (inst.id.empty()) {
    inst.id = counterId("i-", n, 0x9E3779B97F4A7C15ULL);
    while (instance_index.count(inst.id)) {
      inst.id = counterId("i-", ++id_counter, 0x9E3779B97F4A7C15ULL);
    }
  }
  if (inst.instance_type.empty()) {
    inst.instance_type = kDefaultInstanceType;
  }
  if (inst.availability_zone.empty()) {
    inst.availability_zone = defaultZones().front();
  }
  if (inst.private_ip.empty()) {
    inst.private_ip =
        "10.0." + std::to_string(1 + (n - 1) / 250 % 254) + "." + std::to_string(4 + (n - 1) % 250);
  }
  if (inst.private_dns_name.empty()) {
    inst.private_dns_name = privateDnsName(inst.private_ip, inst.availability_zone);
  }
  if (!inst.launch_time) {
    inst.launch_time = now();
  }
  if (inst.reservation_id.empty()) {
    inst.reservation_id = counterId("r-", ++reservation_counter, 0xC2B2AE3D27D4EB4FULL);
  }
  if (inst.state == "terminated" && !inst.terminated_at) {
    inst.terminated_at = now();
  }
  std::string id = inst.id;
  if (auto it = instance_index.find(id); it != instance_index.end()) {
    instances[it->second] = std::move(inst);
  } else {
    instance_index[id] = instances.size();
    instances.push_back(std::move(inst));
  }
  instances_changed = true;
  return id;
}

void FakeAws::Impl::setInstanceStateLocked(FakeInstance& inst, const std::string& state) {
  if (inst.state == state) {
    return;
  }
  inst.state = state;
  if (state == "terminated") {
    inst.terminated_at = now();
  }
  instances_changed = true;
}

std::vector<std::string> FakeAws::Impl::defaultZones() const {
  std::string region = !options.region.empty()   ? options.region
                       : options.regions.empty() ? "us-east-1"
                                                 : options.regions.front();
  return {region + "a", region + "b", region + "c"};
}

std::vector<FakeInstance*> FakeAws::Impl::nodegroupInstances(const std::string& cluster,
                                                             const std::string& name) {
  std::vector<FakeInstance*> out;
  for (auto& i : instances) {
    if (i.state != "terminated" && i.nodegroup_cluster == cluster && i.nodegroup == name) {
      out.push_back(&i);
    }
  }
  return out;
}

std::vector<FakeInstance*> FakeAws::Impl::asgInstances(const std::string& asg_name) {
  std::vector<FakeInstance*> out;
  for (auto& i : instances) {
    if (i.state != "terminated" && i.asg == asg_name) {
      out.push_back(&i);
    }
  }
  return out;
}

const FakeNodegroup* FakeAws::Impl::nodegroupOwning(const std::string& asg_name) const {
  for (const auto& [key, ng] : nodegroups) {
    if (std::find(ng.asg_names.begin(), ng.asg_names.end(), asg_name) != ng.asg_names.end()) {
      return &ng;
    }
  }
  return nullptr;
}

void FakeAws::Impl::launchBatch(int count, const FakeInstance& shape,
                                const std::vector<std::string>& zones,
                                const std::optional<FakeLaunchTemplateRef>& lt) {
  if (count <= 0) {
    return;
  }
  ResolvedTemplate t = lt ? resolveTemplate(launch_templates, *lt) : ResolvedTemplate{};
  FakeInstance base = shape;
  base.image_id = std::string(kFakeEksOptimizedImageId);
  if (t.version != nullptr) {
    if (!t.version->data.image_id.empty()) {
      base.image_id = t.version->data.image_id;
    }
    base.instance_type = t.version->data.instance_type;
    std::string number = std::to_string(t.version->version_number);
    base.launch_template = FakeLaunchTemplateRef{t.lt->id, t.lt->name, number};
    // EC2 tags what it launches from a template with the template and version.
    base.tags["aws:ec2launchtemplate:id"] = t.lt->id;
    base.tags["aws:ec2launchtemplate:version"] = number;
  }
  // One launch request, one reservation, as an Auto Scaling group scales out.
  base.reservation_id = counterId("r-", ++reservation_counter, 0xC2B2AE3D27D4EB4FULL);
  for (int i = 0; i < count; ++i) {
    FakeInstance inst = base;
    inst.availability_zone = zones[static_cast<size_t>(i) % zones.size()];
    launchInstance(std::move(inst));
  }
}

void FakeAws::Impl::launchForNodegroup(const FakeNodegroup& ng, int count,
                                       const std::optional<FakeLaunchTemplateRef>& lt) {
  FakeInstance shape;
  shape.nodegroup_cluster = ng.cluster;
  shape.nodegroup = ng.name;
  // EKS's own tags on a managed node's instance; the node group's tags do not propagate.
  shape.tags = {{"eks:cluster-name", ng.cluster},
                {"eks:nodegroup-name", ng.name},
                {"kubernetes.io/cluster/" + ng.cluster, "owned"}};
  if (!ng.asg_names.empty()) {
    shape.asg = ng.asg_names.front();
    shape.tags["aws:autoscaling:groupName"] = shape.asg;
  }
  launchBatch(count, shape, ng.availability_zones.empty() ? defaultZones() : ng.availability_zones,
              lt ? lt : ng.launch_template);
}

void FakeAws::Impl::launchForAsg(const FakeAutoScalingGroup& g, int count) {
  FakeInstance shape;
  shape.asg = g.name;
  for (const auto& t : g.tags) {
    if (t.propagate_at_launch) {
      shape.tags[t.key] = t.value;
    }
  }
  shape.tags["aws:autoscaling:groupName"] = g.name;
  launchBatch(count, shape, g.availability_zones.empty() ? defaultZones() : g.availability_zones,
              g.launch_template);
}

std::optional<FakeLaunchTemplateRef> FakeAws::Impl::resolveTemplateRef(
    const FakeLaunchTemplateRef& ref) const {
  ResolvedTemplate t = resolveTemplate(launch_templates, ref);
  if (t.version == nullptr) {
    return std::nullopt;
  }
  return FakeLaunchTemplateRef{t.lt->id, t.lt->name, std::to_string(t.version->version_number)};
}

void FakeAws::Impl::replaceNodegroupInstances(const FakeNodegroup& ng) {
  auto old = nodegroupInstances(ng.cluster, ng.name);
  for (FakeInstance* i : old) {
    setInstanceStateLocked(*i, "terminated");
  }
  launchForNodegroup(ng, static_cast<int>(old.size()), std::nullopt);
}

void FakeAws::Impl::replaceAsgInstances(const FakeAutoScalingGroup& g) {
  auto old = asgInstances(g.name);
  for (FakeInstance* i : old) {
    setInstanceStateLocked(*i, "terminated");
  }
  // A refresh of a node group's own ASG launches node group instances from the ASG's template.
  if (const FakeNodegroup* ng = nodegroupOwning(g.name)) {
    launchForNodegroup(*ng, static_cast<int>(old.size()), g.launch_template);
  } else {
    launchForAsg(g, static_cast<int>(old.size()));
  }
}

void FakeAws::Impl::scaleAsg(const FakeAutoScalingGroup& g) {
  if (nodegroupOwning(g.name) != nullptr) {
    return;  // EKS sizes its node groups' groups
  }
  auto live = asgInstances(g.name);
  int have = static_cast<int>(live.size());
  if (have < g.desired_capacity) {
    launchForAsg(g, g.desired_capacity - have);
  }
  for (int i = 0; i < have - g.desired_capacity; ++i) {
    setInstanceStateLocked(*live[static_cast<size_t>(i)], "terminated");
  }
}

void FakeAws::Impl::notifyInstancesChanged() {
  // A change the hook itself made is picked up by the loop that is running it, below.
  if (hook_thread.load() == std::this_thread::get_id()) {
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    if (!instances_changed) {
      return;
    }
  }
  // One run at a time, and a caller returns only after a run that saw its change: if another
  // thread's run took the flag first, waiting here waits for that run to finish.
  std::lock_guard<std::mutex> serial(hook_mu);
  hook_thread.store(std::this_thread::get_id());
  struct Reset {
    std::atomic<std::thread::id>& id;
    ~Reset() { id.store(std::thread::id()); }
  } reset{hook_thread};
  for (;;) {
    std::function<void()> fn;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!instances_changed) {
        return;
      }
      instances_changed = false;
      fn = instances_hook;
    }
    if (fn) {
      fn();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// DescribeInstances (caller holds mu)

void FakeAws::Impl::describeInstances(Call& call) {
  auto ids = call.list("InstanceId");
  auto filters = parseEc2Filters(call);
  int max_results = 0;
  if (call.has("MaxResults")) {
    std::string raw = call.get("MaxResults");
    bool number = isDigits(raw);
    if (!number || std::stoi(raw) < 5 || std::stoi(raw) > 1000) {
      // EC2's words, "greater than 5" though 5 itself is accepted.
      ec2Error(call, 400, "InvalidParameterValue",
               "Value ( " + raw + " ) for parameter maxResults is invalid. Expecting a value " +
                   (number && std::stoi(raw) > 1000 ? "less than 1000." : "greater than 5."));
      return;
    }
    max_results = std::stoi(raw);
    if (!ids.empty()) {
      ec2Error(call, 400, "InvalidParameterCombination",
               "The parameter instancesSet cannot be used with the parameter maxResults");
      return;
    }
  }
  size_t filter_values = 0;
  for (const auto& f : filters) {
    filter_values += f.values.size();
  }
  if (filter_values > kMaxFilterValues) {
    ec2Error(call, 400, "FilterLimitExceeded",
             "The maximum number of filter values specified on a single call is 200");
    return;
  }
  for (const auto& id : ids) {
    if (!std::regex_match(id, kInstanceId)) {
      ec2Error(call, 400, "InvalidInstanceID.Malformed", "Invalid id: \"" + id + "\"");
      return;
    }
  }
  auto field = [](const FakeInstance& i) -> Ec2FieldFn {
    return [&i](const std::string& name) -> std::optional<std::vector<std::string>> {
      if (auto tags = ec2TagFilterValues(i.tags, name)) {
        return tags;
      }
      using V = std::vector<std::string>;
      if (name == "instance-state-name")
        return V{i.state};
      if (name == "instance-state-code")
        return V{std::to_string(stateCode(i.state))};
      if (name == "instance-id")
        return V{i.id};
      if (name == "image-id")
        return V{i.image_id};
      if (name == "instance-type")
        return V{i.instance_type};
      if (name == "availability-zone")
        return V{i.availability_zone};
      if (name == "private-dns-name")
        return i.state == "terminated" ? V{} : V{i.private_dns_name};
      if (name == "private-ip-address")
        return i.state == "terminated" ? V{} : V{i.private_ip};
      if (name == "reservation-id")
        return V{i.reservation_id};
      return std::nullopt;
    };
  };
  static const FakeInstance probe;
  if (auto bad = unknownEc2Filter(filters, field(probe))) {
    ec2Error(call, 400, "InvalidParameterValue", "The filter '" + *bad + "' is invalid");
    return;
  }
  const TimePoint now_time = now();
  auto visible = [&](const FakeInstance& i) {
    return !(i.state == "terminated" && i.terminated_at &&
             now_time - *i.terminated_at >= kTerminatedVisibleFor);
  };
  // EC2 fails the whole call for any id it does not know, naming every such id.
  std::vector<std::string> missing;
  for (const auto& id : ids) {
    auto it = instance_index.find(id);
    bool found = it != instance_index.end() && visible(instances[it->second]);
    if (!found && std::find(missing.begin(), missing.end(), id) == missing.end()) {
      missing.push_back(id);
    }
  }
  if (missing.size() == 1) {
    ec2Error(call, 400, "InvalidInstanceID.NotFound",
             "The instance ID '" + missing.front() + "' does not exist");
    return;
  }
  if (missing.size() > 1) {
    std::string list;
    for (const auto& id : missing) {
      list += (list.empty() ? "" : ", ") + id;
    }
    ec2Error(call, 400, "InvalidInstanceID.NotFound",
             "The instance IDs '" + list + "' do not exist");
    return;
  }
  std::set<std::string> wanted(ids.begin(), ids.end());
  // amiLaunchIndex: an instance's position among its reservation's instances.
  std::map<std::string, int> launched_in_reservation;
  std::vector<std::pair<const FakeInstance*, int>> matched;
  for (const auto& i : instances) {
    int launch_index = launched_in_reservation[i.reservation_id]++;
    if (!visible(i) || (!wanted.empty() && !wanted.count(i.id)) ||
        !matchesEc2Filters(filters, field(i))) {
      continue;
    }
    matched.emplace_back(&i, launch_index);
  }

  std::string fp = ec2Fingerprint(call, {"NextToken", "MaxResults"});
  size_t begin = 0;
  if (call.has("NextToken")) {
    auto offset = parsePageToken(call.get("NextToken"), "instances", fp);
    if (!offset || *offset > matched.size()) {
      ec2Error(call, 400, "InvalidParameterValue", "The NextToken is invalid");
      return;
    }
    begin = *offset;
  }
  size_t page = max_results > 0 ? static_cast<size_t>(max_results) : matched.size();
  size_t end = std::min(matched.size(), begin + page);

  pugi::xml_document doc;
  auto root = ec2Response(doc, call);
  auto reservations = root.append_child("reservationSet");
  // A page groups its instances by reservation, in the order each reservation first appears.
  std::map<std::string, pugi::xml_node> sets;
  for (size_t k = begin; k < end; ++k) {
    const FakeInstance& i = *matched[k].first;
    auto set_it = sets.find(i.reservation_id);
    if (set_it == sets.end()) {
      auto r = reservations.append_child("item");
      addText(r, "reservationId", i.reservation_id);
      addText(r, "ownerId", options.account_id);
      r.append_child("groupSet");
      set_it = sets.emplace(i.reservation_id, r.append_child("instancesSet")).first;
    }
    auto item = set_it->second.append_child("item");
    const bool gone = i.state == "terminated";
    addText(item, "instanceId", i.id);
    addText(item, "imageId", i.image_id);
    auto state = item.append_child("instanceState");
    addText(state, "code", std::to_string(stateCode(i.state)));
    addText(state, "name", i.state);
    // A terminated instance has given its address and host name back.
    addText(item, "privateDnsName", gone ? "" : i.private_dns_name);
    item.append_child("dnsName");
    const bool stopped =
        gone || i.state == "stopped" || i.state == "stopping" || i.state == "shutting-down";
    addText(item, "reason", stopped ? transitionReason(i.terminated_at.value_or(now_time)) : "");
    addText(item, "amiLaunchIndex", std::to_string(matched[k].second));
    item.append_child("productCodes");
    addText(item, "instanceType", i.instance_type);
    addText(item, "launchTime", isoMillis(*i.launch_time));
    auto placement = item.append_child("placement");
    addText(placement, "availabilityZone", i.availability_zone);
    placement.append_child("groupName");
    addText(placement, "tenancy", "default");
    addText(item.append_child("monitoring"), "state", "disabled");
    if (!gone) {
      addText(item, "subnetId", "subnet-0a1b2c3d4e5f60718");
      addText(item, "vpcId", "vpc-0a1b2c3d4e5f60718");
      addText(item, "privateIpAddress", i.private_ip);
      addText(item, "sourceDestCheck", "true");
    }
    item.append_child("groupSet");
    if (stopped) {
      auto reason = item.append_child("stateReason");
      addText(reason, "code", "Client.UserInitiatedShutdown");
      addText(reason, "message", "Client.UserInitiatedShutdown: User initiated shutdown");
    }
    addText(item, "architecture", "x86_64");
    addText(item, "rootDeviceType", "ebs");
    addText(item, "rootDeviceName", "/dev/xvda");
    item.append_child("blockDeviceMapping");
    addText(item, "virtualizationType", "hvm");
    addEc2TagSet(item, i.tags);
    addText(item, "hypervisor", "xen");
    addText(item, "ebsOptimized", "false");
    addText(item, "enaSupport", "true");
  }
  if (end < matched.size()) {
    addText(root, "nextToken", pageToken("instances", fp, end));
  }
  setXml(call, 200, doc);
}

// ---------------------------------------------------------------------------------------------
// FakeAws

std::string FakeAws::addInstance(FakeInstance instance) {
  std::string id;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    id = impl_->launchInstance(std::move(instance));
  }
  impl_->notifyInstancesChanged();
  return id;
}

std::vector<FakeInstance> FakeAws::instances() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->instances;
}

bool FakeAws::setInstanceState(const std::string& id, const std::string& state) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto it = impl_->instance_index.find(id);
    if (it == impl_->instance_index.end() || !kStates.count(state)) {
      return false;
    }
    FakeInstance& inst = impl_->instances[it->second];
    if (inst.state == "terminated") {
      return state == "terminated";
    }
    impl_->setInstanceStateLocked(inst, state);
  }
  impl_->notifyInstancesChanged();
  return true;
}

void FakeAws::onInstancesChanged(std::function<void()> fn) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->instances_hook = std::move(fn);
}

}  // namespace opsy::testing
