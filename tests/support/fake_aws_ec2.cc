// EC2 (query protocol, Version 2016-11-15) for FakeAws.
#include <algorithm>
#include <regex>

#include "opsy/core/time_format.h"
#include "support/fake_aws_internal.h"

namespace opsy::testing {
namespace {

bool isDigits(const std::string& s) {
  return !s.empty() && s.size() < 10 &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });
}

const std::regex kAmiId("^ami-([0-9a-f]{8}|[0-9a-f]{17})$");
const std::regex kLtId("^lt-[0-9a-f]{17}$");
const std::regex kSgId("^sg-([0-9a-f]{8}|[0-9a-f]{17})$");
const std::regex kAmiName("^[A-Za-z0-9()\\[\\] ./'@_-]{3,128}$");

void writeLtData(pugi::xml_node parent, const FakeLaunchTemplateData& d) {
  auto data = parent.append_child("launchTemplateData");
  if (!d.image_id.empty()) {
    addText(data, "imageId", d.image_id);
  }
  if (!d.instance_type.empty()) {
    addText(data, "instanceType", d.instance_type);
  }
  if (!d.key_name.empty()) {
    addText(data, "keyName", d.key_name);
  }
  if (!d.security_group_ids.empty()) {
    auto set = data.append_child("securityGroupIdSet");
    for (const auto& sg : d.security_group_ids) {
      addText(set, "item", sg);
    }
  }
  if (!d.user_data.empty()) {
    addText(data, "userData", d.user_data);
  }
}

}  // namespace

std::vector<Ec2Filter> parseEc2Filters(const Call& call) {
  std::vector<Ec2Filter> out;
  for (int i = 1;; ++i) {
    std::string prefix = "Filter." + std::to_string(i);
    if (!call.has(prefix + ".Name")) {
      break;
    }
    out.push_back({call.get(prefix + ".Name"), call.list(prefix + ".Value")});
  }
  return out;
}

std::optional<std::vector<std::string>> ec2TagFilterValues(const TagMap& tags,
                                                           const std::string& name) {
  if (name.rfind("tag:", 0) == 0) {
    auto it = tags.find(name.substr(4));
    if (it == tags.end()) {
      return std::vector<std::string>{};
    }
    return std::vector<std::string>{it->second};
  }
  if (name == "tag-key") {
    std::vector<std::string> keys;
    for (const auto& [k, v] : tags) {
      keys.push_back(k);
    }
    return keys;
  }
  if (name == "tag-value") {
    std::vector<std::string> values;
    for (const auto& [k, v] : tags) {
      values.push_back(v);
    }
    return values;
  }
  return std::nullopt;
}

std::optional<std::string> unknownEc2Filter(const std::vector<Ec2Filter>& filters,
                                            const Ec2FieldFn& field) {
  for (const auto& f : filters) {
    if (!field(f.name)) {
      return f.name;
    }
  }
  return std::nullopt;
}

bool matchesEc2Filters(const std::vector<Ec2Filter>& filters, const Ec2FieldFn& field) {
  for (const auto& f : filters) {
    auto values = field(f.name);
    bool any = false;
    for (const auto& pattern : f.values) {
      for (const auto& v : *values) {
        if (wildcardMatch(pattern, v)) {
          any = true;
        }
      }
    }
    if (!any) {
      return false;
    }
  }
  return true;
}

pugi::xml_node ec2Response(pugi::xml_document& doc, const Call& call) {
  auto decl = doc.append_child(pugi::node_declaration);
  decl.append_attribute("version") = "1.0";
  decl.append_attribute("encoding") = "UTF-8";
  auto root = doc.append_child((call.operation + "Response").c_str());
  root.append_attribute("xmlns") = kEc2Xmlns;
  root.append_child("requestId").text() = call.request_id.c_str();
  return root;
}

void addEc2TagSet(pugi::xml_node parent, const TagMap& tags) {
  if (tags.empty()) {
    return;
  }
  auto set = parent.append_child("tagSet");
  for (const auto& [k, v] : tags) {
    auto item = set.append_child("item");
    addText(item, "key", k);
    addText(item, "value", v);
  }
}

std::string ec2Fingerprint(const Call& call, std::initializer_list<const char*> skip) {
  std::string out = call.operation;
  for (const auto& [k, v] : call.params) {
    if (std::find_if(skip.begin(), skip.end(), [&](const char* s) { return k == s; }) !=
        skip.end()) {
      continue;
    }
    out += "\n" + k + "=" + v;
  }
  return out;
}

void FakeAws::Impl::handleEc2(Call& call) {
  const std::string& op = call.operation;
  std::lock_guard<std::mutex> lock(mu);
  const std::string& account = options.account_id;
  auto now_time = now();

  if (call.get("DryRun") == "true") {
    ec2Error(call, 412, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.");
    return;
  }
  if (op == "DescribeInstances") {
    describeInstances(call);
    return;
  }

  // Images and snapshots are regional: one seeded without a region is seen everywhere.
  const std::string region = regionOf(call);
  auto in_region = [&](const std::string& where) { return where.empty() || where == region; };
  auto is_visible = [&](const FakeImage& img) {
    return in_region(img.region) &&
           (img.owner_id == account || img.is_public || !img.owner_alias.empty());
  };
  auto is_deprecated = [&](const FakeImage& img) {
    if (img.deprecation_time.empty()) {
      return false;
    }
    auto t = parseRfc3339(img.deprecation_time);
    return t && *t <= now_time;
  };
  // Resolves LaunchTemplateId / LaunchTemplateName, answering the error itself on failure.
  auto find_template = [&](const std::string& prefix) -> FakeLaunchTemplate* {
    std::string id = call.get(prefix + "Id");
    std::string name = call.get(prefix + "Name");
    if (!id.empty() && !name.empty()) {
      ec2Error(call, 400, "InvalidParameterCombination",
               "The parameters launchTemplateId and launchTemplateName cannot be used together.");
      return nullptr;
    }
    if (id.empty() && name.empty()) {
      ec2Error(call, 400, "MissingParameter",
               "The request must contain the parameter launchTemplateName or launchTemplateId");
      return nullptr;
    }
    if (!id.empty()) {
      if (!std::regex_match(id, kLtId)) {
        ec2Error(call, 400, "InvalidLaunchTemplateId.Malformed",
                 "The specified launch template ID " + id + " is malformed.");
        return nullptr;
      }
      auto it = launch_templates.find(id);
      if (it == launch_templates.end()) {
        ec2Error(call, 400, "InvalidLaunchTemplateId.NotFound",
                 "The specified launch template, with template ID " + id + ", does not exist.");
        return nullptr;
      }
      return &it->second;
    }
    for (auto& [lid, lt] : launch_templates) {
      if (lt.name == name) {
        return &lt;
      }
    }
    ec2Error(call, 400, "InvalidLaunchTemplateName.NotFoundException",
             "The specified launch template, with template name " + name + ", does not exist.");
    return nullptr;
  };
  auto resolve_version = [&](FakeLaunchTemplate& lt, const std::string& v) -> int64_t {
    if (v == "$Latest") {
      return static_cast<int64_t>(lt.versions.size());
    }
    if (v == "$Default") {
      return lt.default_version;
    }
    if (isDigits(v)) {
      int64_t n = std::stoll(v);
      if (n >= 1 && n <= static_cast<int64_t>(lt.versions.size())) {
        return n;
      }
    }
    ec2Error(
        call, 400, "InvalidLaunchTemplateId.VersionNotFound",
        "Could not find launch template version " + v + " for launch template ID " + lt.id + ".");
    return 0;
  };
  auto write_version = [&](pugi::xml_node item, const FakeLaunchTemplate& lt,
                           const FakeLaunchTemplateVersion& v) {
    addText(item, "launchTemplateId", lt.id);
    addText(item, "launchTemplateName", lt.name);
    addText(item, "versionNumber", std::to_string(v.version_number));
    if (!v.description.empty()) {
      addText(item, "versionDescription", v.description);
    }
    addText(item, "createTime", v.create_time);
    addText(item, "createdBy", "arn:aws:iam::" + account + ":root");
    addText(item, "defaultVersion", v.version_number == lt.default_version ? "true" : "false");
    writeLtData(item, v.data);
  };
  auto check_max_results = [&](int lo, int hi, int* out) -> bool {
    if (!call.has("MaxResults")) {
      return true;
    }
    std::string raw = call.get("MaxResults");
    if (!isDigits(raw) || std::stoi(raw) < lo || std::stoi(raw) > hi) {
      ec2Error(call, 400, "InvalidParameterValue",
               "Value ( " + raw + " ) for parameter maxResults is invalid. Expecting a value " +
                   "between " + std::to_string(lo) + " and " + std::to_string(hi) + ".");
      return false;
    }
    *out = std::stoi(raw);
    return true;
  };
  // Slices `total` items into a page; answers an invalid NextToken itself.
  auto paginate = [&](size_t total, int max_results, const std::string& kind, size_t* begin,
                      size_t* end, std::string* next) -> bool {
    std::string fp = ec2Fingerprint(call, {"NextToken", "MaxResults"});
    *begin = 0;
    if (call.has("NextToken")) {
      auto offset = parsePageToken(call.get("NextToken"), kind, fp);
      if (!offset || *offset > total) {
        ec2Error(call, 400, "InvalidParameterValue", "The NextToken is invalid");
        return false;
      }
      *begin = *offset;
    }
    size_t page = max_results > 0 ? static_cast<size_t>(max_results) : total;
    if (max_results <= 0 && call.has("NextToken")) {
      page = 1000;
    }
    *end = std::min(total, *begin + page);
    next->clear();
    if (*end < total) {
      *next = pageToken(kind, fp, *end);
    }
    return true;
  };

  if (op == "DescribeImages") {
    auto ids = call.list("ImageId");
    auto owners = call.list("Owner");
    auto executable_by = call.list("ExecutableBy");
    auto filters = parseEc2Filters(call);
    int max_results = 0;
    if (!check_max_results(5, 1000, &max_results)) {
      return;
    }
    if (max_results > 0 && !ids.empty()) {
      ec2Error(call, 400, "InvalidParameterCombination",
               "The parameter imageIdsSet cannot be used with the parameter maxResults");
      return;
    }
    for (const auto& id : ids) {
      if (!std::regex_match(id, kAmiId)) {
        ec2Error(call, 400, "InvalidAMIID.Malformed",
                 "Invalid id: \"" + id + "\" (expecting \"ami-...\")");
        return;
      }
    }
    auto field = [&](const FakeImage& img) -> Ec2FieldFn {
      return [&img](const std::string& name) -> std::optional<std::vector<std::string>> {
        if (auto tags = ec2TagFilterValues(img.tags, name)) {
          return tags;
        }
        using V = std::vector<std::string>;
        if (name == "name")
          return V{img.name};
        if (name == "owner-id")
          return V{img.owner_id};
        if (name == "owner-alias")
          return img.owner_alias.empty() ? V{} : V{img.owner_alias};
        if (name == "state")
          return V{img.state};
        if (name == "image-id")
          return V{img.id};
        if (name == "architecture")
          return V{img.architecture};
        if (name == "description")
          return V{img.description};
        if (name == "is-public")
          return V{img.is_public ? "true" : "false"};
        if (name == "image-type")
          return V{"machine"};
        if (name == "root-device-type")
          return V{"ebs"};
        if (name == "virtualization-type")
          return V{"hvm"};
        if (name == "creation-date")
          return V{img.creation_date};
        if (name == "block-device-mapping.snapshot-id")
          return img.snapshot_ids;
        return std::nullopt;
      };
    };
    static const FakeImage probe;
    if (auto bad = unknownEc2Filter(filters, field(probe))) {
      ec2Error(call, 400, "InvalidParameterValue", "The filter '" + *bad + "' is invalid");
      return;
    }
    for (const auto& id : ids) {
      auto it = images.find(id);
      if (it == images.end() || !is_visible(it->second)) {
        ec2Error(call, 400, "InvalidAMIID.NotFound", "The image id '[" + id + "]' does not exist");
        return;
      }
    }
    bool include_deprecated = call.get("IncludeDeprecated") == "true";
    bool include_disabled = call.get("IncludeDisabled") == "true";
    // Tag filters whose values hold no wildcard or escape are plain equality: checked first, one
    // map lookup per image, they turn away most images of a lineage lookup (tag:created-by=...)
    // before the general matching below, which still applies every filter. Without this a
    // lookup over 10,000 images costs milliseconds, and the scale benchmark measured the fake.
    std::vector<std::pair<std::string, const std::vector<std::string>*>> exact_tags;
    for (const auto& f : filters) {
      const bool plain = std::none_of(f.values.begin(), f.values.end(), [](const std::string& v) {
        return v.find_first_of("*?\\") != std::string::npos;
      });
      if (f.name.rfind("tag:", 0) == 0 && plain) {
        exact_tags.emplace_back(f.name.substr(4), &f.values);
      }
    }
    auto exact_tags_match = [&](const FakeImage& img) {
      for (const auto& [key, values] : exact_tags) {
        auto it = img.tags.find(key);
        if (it == img.tags.end() ||
            std::find(values->begin(), values->end(), it->second) == values->end()) {
          return false;
        }
      }
      return true;
    };
    std::vector<const FakeImage*> matched;
    for (const auto& [id, img] : images) {
      if (!exact_tags_match(img) || !is_visible(img)) {
        continue;
      }
      if (!ids.empty() && std::find(ids.begin(), ids.end(), id) == ids.end()) {
        continue;
      }
      if (!owners.empty()) {
        bool any = false;
        for (const auto& o : owners) {
          if ((o == "self" && img.owner_id == account) || o == img.owner_id ||
              (!img.owner_alias.empty() && o == img.owner_alias)) {
            any = true;
          }
        }
        if (!any) {
          continue;
        }
      }
      if (!executable_by.empty()) {
        bool any = false;
        for (const auto& e : executable_by) {
          if ((e == "all" && img.is_public) ||
              ((e == "self" || e == account) && (img.is_public || img.owner_id == account))) {
            any = true;
          }
        }
        if (!any) {
          continue;
        }
      }
      // Deprecated images are hidden unless asked for, by id, or owned by the caller.
      if (is_deprecated(img) && !include_deprecated && ids.empty() && img.owner_id != account) {
        continue;
      }
      if (img.state == "disabled" && !include_disabled && ids.empty()) {
        continue;
      }
      if (!matchesEc2Filters(filters, field(img))) {
        continue;
      }
      matched.push_back(&img);
    }
    size_t begin = 0;
    size_t end = 0;
    std::string next;
    if (!paginate(matched.size(), max_results, "images", &begin, &end, &next)) {
      return;
    }
    pugi::xml_document doc;
    auto root = ec2Response(doc, call);
    auto set = root.append_child("imagesSet");
    for (size_t i = begin; i < end; ++i) {
      const FakeImage& img = *matched[i];
      auto item = set.append_child("item");
      addText(item, "imageId", img.id);
      addText(item, "imageLocation", img.owner_id + "/" + img.name);
      addText(item, "imageState", img.state);
      addText(item, "imageOwnerId", img.owner_id);
      addText(item, "creationDate", img.creation_date);
      addText(item, "isPublic", img.is_public ? "true" : "false");
      addText(item, "architecture", img.architecture);
      addText(item, "imageType", "machine");
      if (!img.owner_alias.empty()) {
        addText(item, "imageOwnerAlias", img.owner_alias);
      }
      addText(item, "name", img.name);
      if (!img.description.empty()) {
        addText(item, "description", img.description);
      }
      addText(item, "rootDeviceType", "ebs");
      addText(item, "rootDeviceName", "/dev/xvda");
      auto bdm = item.append_child("blockDeviceMapping");
      char device = 'a';
      for (const auto& snap : img.snapshot_ids) {
        auto m = bdm.append_child("item");
        addText(m, "deviceName", std::string("/dev/xvd") + device++);
        auto ebs = m.append_child("ebs");
        addText(ebs, "snapshotId", snap);
        addText(ebs, "volumeSize", "20");
        addText(ebs, "deleteOnTermination", "true");
        addText(ebs, "volumeType", "gp3");
        addText(ebs, "encrypted", "false");
      }
      addText(item, "virtualizationType", "hvm");
      addEc2TagSet(item, img.tags);
      addText(item, "hypervisor", "xen");
      addText(item, "enaSupport", "true");
      addText(item, "platformDetails", "Linux/UNIX");
      addText(item, "usageOperation", "RunInstances");
      if (!img.deprecation_time.empty()) {
        addText(item, "deprecationTime", img.deprecation_time);
      }
    }
    if (!next.empty()) {
      addText(root, "nextToken", next);
    }
    setXml(call, 200, doc);
    return;
  }

  if (op == "CreateTags" || op == "DeleteTags") {
    auto resources = call.list("ResourceId");
    if (resources.empty()) {
      ec2Error(call, 400, "MissingParameter",
               "The request must contain the parameter resourceIdSet");
      return;
    }
    struct TagArg {
      std::string key;
      std::optional<std::string> value;
    };
    std::vector<TagArg> tags;
    for (int i = 1;; ++i) {
      std::string p = "Tag." + std::to_string(i);
      if (!call.has(p + ".Key")) {
        break;
      }
      tags.push_back({call.get(p + ".Key"), call.has(p + ".Value")
                                                ? std::optional<std::string>(call.get(p + ".Value"))
                                                : std::nullopt});
    }
    if (op == "CreateTags" && tags.empty()) {
      ec2Error(call, 400, "MissingParameter", "The request must contain the parameter tagSet");
      return;
    }
    for (const auto& t : tags) {
      if (t.key.rfind("aws:", 0) == 0) {
        ec2Error(call, 400, "InvalidParameterValue",
                 "Tag keys starting with 'aws:' are reserved for internal use");
        return;
      }
      if (t.key.empty() || t.key.size() > 128 || (t.value && t.value->size() > 256)) {
        ec2Error(call, 400, "InvalidParameterValue",
                 "Tag key must be 1-128 characters and value at most 256 characters");
        return;
      }
    }
    std::vector<TagMap*> targets;
    for (const auto& id : resources) {
      TagMap* target = nullptr;
      std::string code;
      if (id.rfind("ami-", 0) == 0) {
        auto it = images.find(id);
        target =
            it == images.end() || it->second.owner_id != account || !in_region(it->second.region)
                ? nullptr
                : &it->second.tags;
        code = "InvalidAMIID.NotFound";
      } else if (id.rfind("lt-", 0) == 0) {
        auto it = launch_templates.find(id);
        target = it == launch_templates.end() ? nullptr : &it->second.tags;
        code = "InvalidLaunchTemplateId.NotFound";
      } else if (id.rfind("sg-", 0) == 0) {
        auto it = security_groups.find(id);
        target = it == security_groups.end() ? nullptr : &it->second.tags;
        code = "InvalidGroup.NotFound";
      } else if (id.rfind("key-", 0) == 0) {
        for (auto& [name, k] : key_pairs) {
          if (k.id == id) {
            target = &k.tags;
          }
        }
        code = "InvalidKeyPair.NotFound";
      } else if (id.rfind("snap-", 0) == 0) {
        auto it = snapshots.find(id);
        target =
            it == snapshots.end() || it->second.owner_id != account || !in_region(it->second.region)
                ? nullptr
                : &it->second.tags;
        code = "InvalidSnapshot.NotFound";
      } else {
        ec2Error(call, 400, "InvalidID", "The ID '" + id + "' is not valid");
        return;
      }
      if (target == nullptr) {
        ec2Error(call, 400, code, "The ID '" + id + "' does not exist");
        return;
      }
      targets.push_back(target);
    }
    for (TagMap* target : targets) {
      if (op == "CreateTags") {
        for (const auto& t : tags) {
          (*target)[t.key] = t.value.value_or("");
        }
      } else if (tags.empty()) {
        target->clear();
      } else {
        for (const auto& t : tags) {
          auto it = target->find(t.key);
          if (it != target->end() && (!t.value || *t.value == it->second)) {
            target->erase(it);
          }
        }
      }
    }
    pugi::xml_document doc;
    addText(ec2Response(doc, call), "return", "true");
    setXml(call, 200, doc);
    return;
  }

  if (op == "DeregisterImage" || op == "EnableImageDeprecation" ||
      op == "DisableImageDeprecation") {
    std::string id = call.get("ImageId");
    if (id.empty()) {
      ec2Error(call, 400, "MissingParameter", "The request must contain the parameter imageId");
      return;
    }
    if (!std::regex_match(id, kAmiId)) {
      ec2Error(call, 400, "InvalidAMIID.Malformed",
               "Invalid id: \"" + id + "\" (expecting \"ami-...\")");
      return;
    }
    auto it = images.find(id);
    if (it == images.end() || !is_visible(it->second)) {
      ec2Error(call, 400, "InvalidAMIID.NotFound", "The image id '[" + id + "]' does not exist");
      return;
    }
    if (it->second.owner_id != account) {
      ec2Error(call, 403, "UnauthorizedOperation",
               "You are not authorized to perform this operation.");
      return;
    }
    if (op == "DeregisterImage") {
      images.erase(it);
    } else if (op == "DisableImageDeprecation") {
      it->second.deprecation_time.clear();
    } else {
      std::string at = call.get("DeprecateAt");
      auto t = parseRfc3339(at);
      if (at.empty()) {
        ec2Error(call, 400, "MissingParameter",
                 "The request must contain the parameter deprecateAt");
        return;
      }
      if (!t) {
        ec2Error(call, 400, "InvalidParameterValue",
                 "Value (" + at + ") for parameter deprecateAt is invalid.");
        return;
      }
      if (*t <= now_time) {
        ec2Error(call, 400, "InvalidParameterValue",
                 "The deprecation time must be in the future. Specify a time in the future.");
        return;
      }
      // AWS rounds the deprecation time to the nearest minute (seconds are dropped).
      auto minutes = std::chrono::floor<std::chrono::minutes>(*t);
      it->second.deprecation_time = isoMillis(TimePoint(minutes));
    }
    pugi::xml_document doc;
    addText(ec2Response(doc, call), "return", "true");
    setXml(call, 200, doc);
    return;
  }

  if (op == "DescribeSnapshots") {
    auto ids = call.list("SnapshotId");
    auto owners = call.list("Owner");
    auto filters = parseEc2Filters(call);
    int max_results = 0;
    if (!check_max_results(5, 1000, &max_results)) {
      return;
    }
    if (max_results > 0 && !ids.empty()) {
      ec2Error(call, 400, "InvalidParameterCombination",
               "The parameter snapshotSet cannot be used with the parameter maxResults");
      return;
    }
    for (const auto& id : ids) {
      if (id.rfind("snap-", 0) != 0) {
        ec2Error(call, 400, "InvalidSnapshotID.Malformed",
                 "Invalid id: \"" + id + "\" (expecting \"snap-...\")");
        return;
      }
    }
    auto field = [](const FakeSnapshot& snap) -> Ec2FieldFn {
      return [&snap](const std::string& name) -> std::optional<std::vector<std::string>> {
        if (auto tags = ec2TagFilterValues(snap.tags, name)) {
          return tags;
        }
        using V = std::vector<std::string>;
        if (name == "snapshot-id")
          return V{snap.id};
        if (name == "owner-id")
          return V{snap.owner_id};
        if (name == "status")
          return V{snap.state};
        if (name == "volume-id")
          return V{snap.volume_id};
        if (name == "volume-size")
          return V{std::to_string(snap.volume_size)};
        if (name == "description")
          return V{snap.description};
        if (name == "start-time")
          return V{snap.start_time};
        if (name == "encrypted")
          return V{"false"};
        return std::nullopt;
      };
    };
    static const FakeSnapshot probe;
    if (auto bad = unknownEc2Filter(filters, field(probe))) {
      ec2Error(call, 400, "InvalidParameterValue", "The filter '" + *bad + "' is invalid");
      return;
    }
    auto visible = [&](const FakeSnapshot& snap) {
      return in_region(snap.region) && (snap.owner_id == account || snap.is_public);
    };
    for (const auto& id : ids) {
      auto it = snapshots.find(id);
      if (it == snapshots.end() || !visible(it->second)) {
        ec2Error(call, 400, "InvalidSnapshot.NotFound",
                 "The snapshot '" + id + "' does not exist.");
        return;
      }
    }
    std::vector<const FakeSnapshot*> matched;
    for (const auto& [id, snap] : snapshots) {
      if (!visible(snap)) {
        continue;
      }
      if (!ids.empty() && std::find(ids.begin(), ids.end(), id) == ids.end()) {
        continue;
      }
      if (!owners.empty()) {
        bool any = false;
        for (const auto& o : owners) {
          if ((o == "self" && snap.owner_id == account) || o == snap.owner_id) {
            any = true;
          }
        }
        if (!any) {
          continue;
        }
      }
      if (!matchesEc2Filters(filters, field(snap))) {
        continue;
      }
      matched.push_back(&snap);
    }
    size_t begin = 0;
    size_t end = 0;
    std::string next;
    if (!paginate(matched.size(), max_results, "snapshots", &begin, &end, &next)) {
      return;
    }
    pugi::xml_document doc;
    auto root = ec2Response(doc, call);
    auto set = root.append_child("snapshotSet");
    for (size_t i = begin; i < end; ++i) {
      const FakeSnapshot& snap = *matched[i];
      auto item = set.append_child("item");
      addText(item, "snapshotId", snap.id);
      addText(item, "volumeId", snap.volume_id.empty() ? "vol-ffffffff" : snap.volume_id);
      addText(item, "status", snap.state);
      addText(item, "startTime", snap.start_time);
      addText(item, "progress", snap.state == "completed" ? "100%" : "0%");
      addText(item, "ownerId", snap.owner_id);
      addText(item, "volumeSize", std::to_string(snap.volume_size));
      addText(item, "description", snap.description);
      addText(item, "encrypted", "false");
      addText(item, "storageTier", "standard");
      addEc2TagSet(item, snap.tags);
    }
    if (!next.empty()) {
      addText(root, "nextToken", next);
    }
    setXml(call, 200, doc);
    return;
  }

  if (op == "DeleteSnapshot") {
    std::string id = call.get("SnapshotId");
    if (id.empty()) {
      ec2Error(call, 400, "MissingParameter", "The request must contain the parameter snapshotId");
      return;
    }
    if (id.rfind("snap-", 0) != 0) {
      ec2Error(call, 400, "InvalidSnapshotID.Malformed",
               "Invalid id: \"" + id + "\" (expecting \"snap-...\")");
      return;
    }
    auto snap = snapshots.find(id);
    if (snap == snapshots.end() || !in_region(snap->second.region) ||
        (snap->second.owner_id != account && !snap->second.is_public)) {
      ec2Error(call, 400, "InvalidSnapshot.NotFound", "The snapshot '" + id + "' does not exist.");
      return;
    }
    if (snap->second.owner_id != account) {
      ec2Error(call, 403, "UnauthorizedOperation",
               "You are not authorized to perform this operation.");
      return;
    }
    for (const auto& [img_id, img] : images) {
      if (std::find(img.snapshot_ids.begin(), img.snapshot_ids.end(), id) !=
          img.snapshot_ids.end()) {
        ec2Error(call, 400, "InvalidSnapshot.InUse",
                 "The snapshot " + id + " is currently in use by " + img_id);
        return;
      }
    }
    snapshots.erase(id);
    pugi::xml_document doc;
    addText(ec2Response(doc, call), "return", "true");
    setXml(call, 200, doc);
    return;
  }

  if (op == "RegisterImage") {
    std::string name = call.get("Name");
    if (name.empty()) {
      ec2Error(call, 400, "MissingParameter", "The request must contain the parameter name");
      return;
    }
    if (!std::regex_match(name, kAmiName)) {
      ec2Error(call, 400, "InvalidAMIName.Malformed",
               "AMI names must be between 3 and 128 characters long, and may contain letters, "
               "numbers, '(', ')', '.', '-', '/' and '_'");
      return;
    }
    for (const auto& [id, img] : images) {
      // Names are unique per account and region.
      if (img.owner_id == account && img.name == name && in_region(img.region)) {
        ec2Error(call, 400, "InvalidAMIName.Duplicate",
                 "AMI name " + name + " is already in use by AMI " + id);
        return;
      }
    }
    FakeImage img;
    for (int i = 1;; ++i) {
      std::string p = "BlockDeviceMapping." + std::to_string(i);
      bool any = false;
      for (const auto& [k, v] : call.params) {
        if (k.rfind(p + ".", 0) == 0) {
          any = true;
        }
      }
      if (!any) {
        break;
      }
      std::string snap = call.get(p + ".Ebs.SnapshotId");
      if (!snap.empty()) {
        auto found = snapshots.find(snap);
        if (found == snapshots.end() || !in_region(found->second.region)) {
          ec2Error(call, 400, "InvalidSnapshot.NotFound",
                   "The snapshot '" + snap + "' does not exist.");
          return;
        }
        img.snapshot_ids.push_back(snap);
      }
    }
    for (int i = 1;; ++i) {
      std::string p = "TagSpecification." + std::to_string(i);
      if (!call.has(p + ".ResourceType")) {
        break;
      }
      for (int j = 1;; ++j) {
        std::string t = p + ".Tag." + std::to_string(j);
        if (!call.has(t + ".Key")) {
          break;
        }
        img.tags[call.get(t + ".Key")] = call.get(t + ".Value");
      }
    }
    img.id = newHexId("ami-", 17);
    img.name = name;
    img.owner_id = account;
    img.description = call.get("Description");
    img.architecture = call.get("Architecture", "x86_64");
    img.creation_date = isoMillis(now_time);
    img.region = region;
    images[img.id] = img;
    pugi::xml_document doc;
    addText(ec2Response(doc, call), "imageId", img.id);
    setXml(call, 200, doc);
    return;
  }

  if (op == "DescribeLaunchTemplateVersions") {
    FakeLaunchTemplate* lt = find_template("LaunchTemplate");
    if (lt == nullptr) {
      return;
    }
    int max_results = 0;
    if (!check_max_results(1, 200, &max_results)) {
      return;
    }
    std::vector<int64_t> numbers;
    auto requested = call.list("LaunchTemplateVersion");
    if (!requested.empty()) {
      for (const auto& r : requested) {
        int64_t n = resolve_version(*lt, r);
        if (n == 0) {
          return;
        }
        if (std::find(numbers.begin(), numbers.end(), n) == numbers.end()) {
          numbers.push_back(n);
        }
      }
    } else {
      int64_t lo = 1;
      int64_t hi = static_cast<int64_t>(lt->versions.size());
      if (call.has("MinVersion")) {
        lo = resolve_version(*lt, call.get("MinVersion"));
        if (lo == 0) {
          return;
        }
      }
      if (call.has("MaxVersion")) {
        hi = resolve_version(*lt, call.get("MaxVersion"));
        if (hi == 0) {
          return;
        }
      }
      for (int64_t n = hi; n >= lo; --n) {
        numbers.push_back(n);
      }
    }
    auto filters = parseEc2Filters(call);
    auto field = [&](const FakeLaunchTemplateVersion& v) -> Ec2FieldFn {
      return [&v, lt](const std::string& name) -> std::optional<std::vector<std::string>> {
        using V = std::vector<std::string>;
        if (name == "image-id")
          return V{v.data.image_id};
        if (name == "instance-type")
          return V{v.data.instance_type};
        if (name == "key-name")
          return V{v.data.key_name};
        if (name == "is-default-version")
          return V{v.version_number == lt->default_version ? "true" : "false"};
        return std::nullopt;
      };
    };
    if (!lt->versions.empty()) {
      if (auto bad = unknownEc2Filter(filters, field(lt->versions.front()))) {
        ec2Error(call, 400, "InvalidParameterValue", "The filter '" + *bad + "' is invalid");
        return;
      }
    }
    std::vector<const FakeLaunchTemplateVersion*> matched;
    for (int64_t n : numbers) {
      const auto& v = lt->versions[static_cast<size_t>(n - 1)];
      if (matchesEc2Filters(filters, field(v))) {
        matched.push_back(&v);
      }
    }
    size_t begin = 0;
    size_t end = 0;
    std::string next;
    if (!paginate(matched.size(), max_results, "ltv", &begin, &end, &next)) {
      return;
    }
    pugi::xml_document doc;
    auto root = ec2Response(doc, call);
    auto set = root.append_child("launchTemplateVersionSet");
    for (size_t i = begin; i < end; ++i) {
      write_version(set.append_child("item"), *lt, *matched[i]);
    }
    if (!next.empty()) {
      addText(root, "nextToken", next);
    }
    setXml(call, 200, doc);
    return;
  }

  if (op == "CreateLaunchTemplateVersion") {
    FakeLaunchTemplate* lt = find_template("LaunchTemplate");
    if (lt == nullptr) {
      return;
    }
    std::string token = call.get("ClientToken");
    if (token.size() > 128) {
      ec2Error(call, 400, "InvalidParameterValue", "ClientToken must be at most 128 characters");
      return;
    }
    std::string fp = ec2Fingerprint(call, {"ClientToken"});
    if (!token.empty()) {
      auto it = lt_client_tokens.find(token);
      if (it != lt_client_tokens.end()) {
        if (it->second.fingerprint != fp) {
          ec2Error(call, 400, "IdempotentParameterMismatch",
                   "Client token already used before with different parameters.");
          return;
        }
        const FakeLaunchTemplate& prev = launch_templates.at(it->second.lt_id);
        pugi::xml_document doc;
        auto root = ec2Response(doc, call);
        write_version(root.append_child("launchTemplateVersion"), prev,
                      prev.versions[static_cast<size_t>(it->second.version - 1)]);
        setXml(call, 200, doc);
        return;
      }
    }
    FakeLaunchTemplateData data;
    if (call.has("SourceVersion")) {
      int64_t src = resolve_version(*lt, call.get("SourceVersion"));
      if (src == 0) {
        return;
      }
      data = lt->versions[static_cast<size_t>(src - 1)].data;
    }
    const std::string p = "LaunchTemplateData.";
    if (call.has(p + "ImageId"))
      data.image_id = call.get(p + "ImageId");
    if (call.has(p + "InstanceType"))
      data.instance_type = call.get(p + "InstanceType");
    if (call.has(p + "KeyName"))
      data.key_name = call.get(p + "KeyName");
    if (call.has(p + "UserData"))
      data.user_data = call.get(p + "UserData");
    auto sgs = call.list(p + "SecurityGroupId");
    if (!sgs.empty())
      data.security_group_ids = sgs;
    if (data.user_data.size() > 16384 * 4 / 3 + 4) {
      ec2Error(call, 400, "InvalidUserData.Malformed", "User data is limited to 16384 bytes");
      return;
    }
    std::string description = call.get("VersionDescription");
    if (description.size() > 255) {
      ec2Error(call, 400, "InvalidParameterValue",
               "VersionDescription must be at most 255 characters");
      return;
    }
    FakeLaunchTemplateVersion v;
    v.version_number = static_cast<int64_t>(lt->versions.size()) + 1;
    v.description = description;
    v.create_time = isoMillis(now_time);
    v.data = data;
    lt->versions.push_back(v);
    if (!token.empty()) {
      lt_client_tokens[token] = {fp, lt->id, v.version_number};
    }
    pugi::xml_document doc;
    auto root = ec2Response(doc, call);
    write_version(root.append_child("launchTemplateVersion"), *lt, v);
    // EC2 accepts a version that references a missing AMI and reports it as a warning.
    if (!data.image_id.empty()) {
      std::string code;
      std::string message;
      if (!std::regex_match(data.image_id, kAmiId)) {
        code = "InvalidAMIID.Malformed";
        message = "The image ID '" + data.image_id + "' is not valid.";
      } else if (!images.count(data.image_id)) {
        code = "InvalidAMIID.NotFound";
        message = "The image id '[" + data.image_id + "]' does not exist";
      }
      if (!code.empty()) {
        auto item = root.append_child("warning").append_child("errorSet").append_child("item");
        addText(item, "code", code);
        addText(item, "message", message);
      }
    }
    setXml(call, 200, doc);
    return;
  }

  if (op == "DescribeLaunchTemplates") {
    auto ids = call.list("LaunchTemplateId");
    auto names = call.list("LaunchTemplateName");
    auto filters = parseEc2Filters(call);
    int max_results = 0;
    if (!check_max_results(1, 200, &max_results)) {
      return;
    }
    for (const auto& id : ids) {
      if (!std::regex_match(id, kLtId)) {
        ec2Error(call, 400, "InvalidLaunchTemplateId.Malformed",
                 "The specified launch template ID " + id + " is malformed.");
        return;
      }
      if (!launch_templates.count(id)) {
        ec2Error(call, 400, "InvalidLaunchTemplateId.NotFound",
                 "The specified launch template, with template ID " + id + ", does not exist.");
        return;
      }
    }
    for (const auto& name : names) {
      bool found = std::any_of(launch_templates.begin(), launch_templates.end(),
                               [&](const auto& e) { return e.second.name == name; });
      if (!found) {
        ec2Error(call, 400, "InvalidLaunchTemplateName.NotFoundException",
                 "At least one of the launch templates specified in the request does not exist.");
        return;
      }
    }
    auto field = [](const FakeLaunchTemplate& lt) -> Ec2FieldFn {
      return [&lt](const std::string& name) -> std::optional<std::vector<std::string>> {
        if (auto tags = ec2TagFilterValues(lt.tags, name)) {
          return tags;
        }
        if (name == "launch-template-name") {
          return std::vector<std::string>{lt.name};
        }
        return std::nullopt;
      };
    };
    static const FakeLaunchTemplate probe;
    if (auto bad = unknownEc2Filter(filters, field(probe))) {
      ec2Error(call, 400, "InvalidParameterValue", "The filter '" + *bad + "' is invalid");
      return;
    }
    std::vector<const FakeLaunchTemplate*> matched;
    for (const auto& [id, lt] : launch_templates) {
      if (!ids.empty() && std::find(ids.begin(), ids.end(), id) == ids.end()) {
        continue;
      }
      if (!names.empty() && std::find(names.begin(), names.end(), lt.name) == names.end()) {
        continue;
      }
      if (matchesEc2Filters(filters, field(lt))) {
        matched.push_back(&lt);
      }
    }
    size_t begin = 0;
    size_t end = 0;
    std::string next;
    if (!paginate(matched.size(), max_results, "lt", &begin, &end, &next)) {
      return;
    }
    pugi::xml_document doc;
    auto root = ec2Response(doc, call);
    auto set = root.append_child("launchTemplates");
    for (size_t i = begin; i < end; ++i) {
      const FakeLaunchTemplate& lt = *matched[i];
      auto item = set.append_child("item");
      addText(item, "launchTemplateId", lt.id);
      addText(item, "launchTemplateName", lt.name);
      addText(item, "createTime",
              lt.versions.empty() ? isoMillis(now_time) : lt.versions.front().create_time);
      addText(item, "createdBy", "arn:aws:iam::" + account + ":root");
      addText(item, "defaultVersionNumber", std::to_string(lt.default_version));
      addText(item, "latestVersionNumber", std::to_string(lt.versions.size()));
      addEc2TagSet(item, lt.tags);
    }
    if (!next.empty()) {
      addText(root, "nextToken", next);
    }
    setXml(call, 200, doc);
    return;
  }

  if (op == "ModifyLaunchTemplate") {
    FakeLaunchTemplate* lt = find_template("LaunchTemplate");
    if (lt == nullptr) {
      return;
    }
    if (call.has("SetDefaultVersion")) {
      int64_t n = resolve_version(*lt, call.get("SetDefaultVersion"));
      if (n == 0) {
        return;
      }
      lt->default_version = n;
      default_changes.push_back({lt->id, n});
    }
    pugi::xml_document doc;
    auto root = ec2Response(doc, call);
    auto node = root.append_child("launchTemplate");
    addText(node, "launchTemplateId", lt->id);
    addText(node, "launchTemplateName", lt->name);
    addText(node, "createTime",
            lt->versions.empty() ? isoMillis(now_time) : lt->versions.front().create_time);
    addText(node, "createdBy", "arn:aws:iam::" + account + ":root");
    addText(node, "defaultVersionNumber", std::to_string(lt->default_version));
    addText(node, "latestVersionNumber", std::to_string(lt->versions.size()));
    setXml(call, 200, doc);
    return;
  }

  if (op == "DescribeSecurityGroups") {
    auto ids = call.list("GroupId");
    auto names = call.list("GroupName");
    auto filters = parseEc2Filters(call);
    int max_results = 0;
    if (!check_max_results(5, 1000, &max_results)) {
      return;
    }
    if (max_results > 0 && (!ids.empty() || !names.empty())) {
      ec2Error(call, 400, "InvalidParameterCombination",
               "The parameter groupIdSet cannot be used with the parameter maxResults");
      return;
    }
    for (const auto& id : ids) {
      if (!std::regex_match(id, kSgId)) {
        ec2Error(call, 400, "InvalidGroupId.Malformed",
                 "Invalid id: \"" + id + "\" (expecting \"sg-...\")");
        return;
      }
      if (!security_groups.count(id)) {
        ec2Error(call, 400, "InvalidGroup.NotFound",
                 "The security group '" + id + "' does not exist");
        return;
      }
    }
    for (const auto& name : names) {
      bool found = std::any_of(security_groups.begin(), security_groups.end(),
                               [&](const auto& e) { return e.second.name == name; });
      if (!found) {
        ec2Error(call, 400, "InvalidGroup.NotFound",
                 "The security group '" + name + "' does not exist in default VPC");
        return;
      }
    }
    auto field = [](const FakeSecurityGroup& g) -> Ec2FieldFn {
      return [&g](const std::string& name) -> std::optional<std::vector<std::string>> {
        if (auto tags = ec2TagFilterValues(g.tags, name)) {
          return tags;
        }
        using V = std::vector<std::string>;
        if (name == "group-name")
          return V{g.name};
        if (name == "group-id")
          return V{g.id};
        if (name == "vpc-id")
          return V{g.vpc_id};
        if (name == "owner-id")
          return V{g.owner_id};
        if (name == "description")
          return V{g.description};
        return std::nullopt;
      };
    };
    static const FakeSecurityGroup probe;
    if (auto bad = unknownEc2Filter(filters, field(probe))) {
      ec2Error(call, 400, "InvalidParameterValue", "The filter '" + *bad + "' is invalid");
      return;
    }
    std::vector<const FakeSecurityGroup*> matched;
    for (const auto& [id, g] : security_groups) {
      if (!ids.empty() && std::find(ids.begin(), ids.end(), id) == ids.end())
        continue;
      if (!names.empty() && std::find(names.begin(), names.end(), g.name) == names.end())
        continue;
      if (!matchesEc2Filters(filters, field(g)))
        continue;
      matched.push_back(&g);
    }
    size_t begin = 0;
    size_t end = 0;
    std::string next;
    if (!paginate(matched.size(), max_results, "sg", &begin, &end, &next)) {
      return;
    }
    pugi::xml_document doc;
    auto root = ec2Response(doc, call);
    auto set = root.append_child("securityGroupInfo");
    for (size_t i = begin; i < end; ++i) {
      const auto& g = *matched[i];
      auto item = set.append_child("item");
      addText(item, "ownerId", g.owner_id);
      addText(item, "groupId", g.id);
      addText(item, "groupName", g.name);
      addText(item, "groupDescription", g.description);
      addText(item, "vpcId", g.vpc_id);
      item.append_child("ipPermissions");
      item.append_child("ipPermissionsEgress");
      addEc2TagSet(item, g.tags);
    }
    if (!next.empty()) {
      addText(root, "nextToken", next);
    }
    setXml(call, 200, doc);
    return;
  }

  if (op == "DeleteSecurityGroup") {
    std::string id = call.get("GroupId");
    std::string name = call.get("GroupName");
    if (id.empty() && name.empty()) {
      ec2Error(call, 400, "MissingParameter",
               "The request must contain the parameter groupName or groupId");
      return;
    }
    if (!id.empty() && !std::regex_match(id, kSgId)) {
      ec2Error(call, 400, "InvalidGroupId.Malformed",
               "Invalid id: \"" + id + "\" (expecting \"sg-...\")");
      return;
    }
    auto it = std::find_if(security_groups.begin(), security_groups.end(), [&](const auto& e) {
      return id.empty() ? e.second.name == name : e.first == id;
    });
    if (it == security_groups.end()) {
      ec2Error(call, 400, "InvalidGroup.NotFound",
               "The security group '" + (id.empty() ? name : id) + "' does not exist");
      return;
    }
    if (it->second.in_use) {
      ec2Error(call, 400, "DependencyViolation",
               "resource " + it->first + " has a dependent object");
      return;
    }
    std::string gid = it->first;
    security_groups.erase(it);
    pugi::xml_document doc;
    auto root = ec2Response(doc, call);
    addText(root, "return", "true");
    addText(root, "groupId", gid);
    setXml(call, 200, doc);
    return;
  }

  if (op == "DescribeKeyPairs") {
    auto names = call.list("KeyName");
    auto ids = call.list("KeyPairId");
    auto filters = parseEc2Filters(call);
    for (const auto& n : names) {
      if (!key_pairs.count(n)) {
        ec2Error(call, 400, "InvalidKeyPair.NotFound", "The key pair '" + n + "' does not exist");
        return;
      }
    }
    for (const auto& id : ids) {
      bool found = std::any_of(key_pairs.begin(), key_pairs.end(),
                               [&](const auto& e) { return e.second.id == id; });
      if (!found) {
        ec2Error(call, 400, "InvalidKeyPair.NotFound", "The key pair '" + id + "' does not exist");
        return;
      }
    }
    auto field = [](const FakeKeyPair& k) -> Ec2FieldFn {
      return [&k](const std::string& name) -> std::optional<std::vector<std::string>> {
        if (auto tags = ec2TagFilterValues(k.tags, name)) {
          return tags;
        }
        using V = std::vector<std::string>;
        if (name == "key-name")
          return V{k.name};
        if (name == "key-pair-id")
          return V{k.id};
        if (name == "fingerprint")
          return V{k.fingerprint};
        if (name == "key-type")
          return V{k.type};
        return std::nullopt;
      };
    };
    static const FakeKeyPair probe;
    if (auto bad = unknownEc2Filter(filters, field(probe))) {
      ec2Error(call, 400, "InvalidParameterValue", "The filter '" + *bad + "' is invalid");
      return;
    }
    pugi::xml_document doc;
    auto root = ec2Response(doc, call);
    auto set = root.append_child("keySet");
    for (const auto& [name, k] : key_pairs) {
      if (!names.empty() && std::find(names.begin(), names.end(), name) == names.end())
        continue;
      if (!ids.empty() && std::find(ids.begin(), ids.end(), k.id) == ids.end())
        continue;
      if (!matchesEc2Filters(filters, field(k)))
        continue;
      auto item = set.append_child("item");
      addText(item, "keyPairId", k.id);
      addText(item, "keyFingerprint", k.fingerprint);
      addText(item, "keyName", k.name);
      addText(item, "keyType", k.type);
      addEc2TagSet(item, k.tags);
      addText(item, "createTime", k.create_time);
    }
    setXml(call, 200, doc);
    return;
  }

  if (op == "DeleteKeyPair") {
    std::string name = call.get("KeyName");
    std::string id = call.get("KeyPairId");
    if (name.empty() && id.empty()) {
      ec2Error(call, 400, "MissingParameter",
               "The request must contain the parameter KeyName or KeyPairId");
      return;
    }
    // A missing key pair is not an error: DeleteKeyPair is idempotent in EC2.
    std::string deleted_id;
    for (auto it = key_pairs.begin(); it != key_pairs.end(); ++it) {
      if ((!name.empty() && it->first == name) || (!id.empty() && it->second.id == id)) {
        deleted_id = it->second.id;
        key_pairs.erase(it);
        break;
      }
    }
    pugi::xml_document doc;
    auto root = ec2Response(doc, call);
    addText(root, "return", "true");
    if (!deleted_id.empty()) {
      addText(root, "keyPairId", deleted_id);
    }
    setXml(call, 200, doc);
    return;
  }

  ec2Error(call, 400, "InvalidAction", "The action " + op + " is not valid for this web service.");
}

}  // namespace opsy::testing
