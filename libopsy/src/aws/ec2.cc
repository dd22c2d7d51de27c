#include "opsy/aws/ec2.h"

#include "aws/caller.h"
#include "aws/ec2_instances.h"
#include "aws/enum_text.h"
#include "opsy/core/time_format.h"

namespace opsy::aws {
namespace {

constexpr std::string_view kVersion = "2016-11-15";

constexpr EnumText<ImageState> kImageStates[] = {
    {ImageState::Pending, "pending"},     {ImageState::Available, "available"},
    {ImageState::Invalid, "invalid"},     {ImageState::Deregistered, "deregistered"},
    {ImageState::Transient, "transient"}, {ImageState::Failed, "failed"},
    {ImageState::Error, "error"},         {ImageState::Disabled, "disabled"},
};

constexpr EnumText<SnapshotState> kSnapshotStates[] = {
    {SnapshotState::Pending, "pending"},       {SnapshotState::Completed, "completed"},
    {SnapshotState::Error, "error"},           {SnapshotState::Recoverable, "recoverable"},
    {SnapshotState::Recovering, "recovering"},
};

Tags ec2Tags(const pugi::xml_node& item) {
  return xmlTags(item.child("tagSet"), "item", "key", "value");
}

void addTags(QueryParams& p, const std::string& prefix, const Tags& tags) {
  int i = 1;
  for (const auto& [k, v] : tags) {
    std::string n = prefix + "." + std::to_string(i++);
    p.emplace_back(n + ".Key", k);
    p.emplace_back(n + ".Value", v);
  }
}

void addTemplateRef(QueryParams& p, const std::string& id, const std::string& name) {
  if (!id.empty()) {
    p.emplace_back("LaunchTemplateId", id);
  } else if (!name.empty()) {
    p.emplace_back("LaunchTemplateName", name);
  }
}

Status requireTemplateRef(const std::string& id, const std::string& name) {
  if (id.empty() && name.empty()) {
    return fail(ErrorCode::InvalidArgument, "launch template id or name is required");
  }
  return ok();
}

Image parseImage(const pugi::xml_node& item) {
  Image img;
  img.id = xmlText(item, "imageId");
  img.name = xmlText(item, "name");
  img.description = xmlText(item, "description");
  img.owner_id = xmlText(item, "imageOwnerId");
  img.state = parsedAs(xmlText(item, "imageState"), parseImageState);
  img.architecture = xmlText(item, "architecture");
  img.creation_date = xmlTime(item, "creationDate");
  img.deprecation_time = xmlTime(item, "deprecationTime");
  img.tags = ec2Tags(item);
  for (pugi::xml_node bdm : item.child("blockDeviceMapping").children("item")) {
    std::string snap = bdm.child("ebs").child("snapshotId").text().as_string();
    if (!snap.empty()) {
      img.snapshot_ids.push_back(std::move(snap));
    }
  }
  return img;
}

Snapshot parseSnapshot(const pugi::xml_node& item) {
  Snapshot s;
  s.id = xmlText(item, "snapshotId");
  s.owner_id = xmlText(item, "ownerId");
  s.volume_id = xmlText(item, "volumeId");
  s.state = parsedAs(xmlText(item, "status"), parseSnapshotState);
  s.description = xmlText(item, "description");
  s.volume_size_gib = item.child("volumeSize").text().as_int();
  s.start_time = xmlTime(item, "startTime");
  s.tags = ec2Tags(item);
  return s;
}

LaunchTemplateVersion parseVersion(const pugi::xml_node& item) {
  LaunchTemplateVersion v;
  v.launch_template_id = xmlText(item, "launchTemplateId");
  v.launch_template_name = xmlText(item, "launchTemplateName");
  v.version_number = item.child("versionNumber").text().as_llong();
  v.default_version = item.child("defaultVersion").text().as_bool();
  v.version_description = xmlText(item, "versionDescription");
  v.image_id = item.child("launchTemplateData").child("imageId").text().as_string();
  v.create_time = xmlTime(item, "createTime");
  return v;
}

class Ec2ClientImpl : public Ec2Api {
 public:
  explicit Ec2ClientImpl(std::unique_ptr<Caller> caller) : caller_(std::move(caller)) {}

  Result<std::vector<Image>> describeImages(const DescribeImagesInput& in) override {
    QueryParams base;
    addEc2List(base, "Owner", in.owners);
    addEc2List(base, "ImageId", in.image_ids);
    addEc2List(base, "ExecutableBy", in.executable_by);
    addEc2Filters(base, in.filters);
    if (in.include_deprecated) {
      base.emplace_back("IncludeDeprecated", "true");
    }
    if (in.include_disabled) {
      base.emplace_back("IncludeDisabled", "true");
    }
    if (in.image_ids.empty()) {
      base.emplace_back("MaxResults", std::to_string(in.page_size));
    }
    std::vector<Image> out;
    OPSY_RETURN_IF_ERROR(paginate("DescribeImages", base, [&](const pugi::xml_node& root) {
      for (pugi::xml_node item : root.child("imagesSet").children("item")) {
        out.push_back(parseImage(item));
      }
    }));
    return out;
  }

  Status createTags(const std::vector<std::string>& ids, const Tags& tags) override {
    if (ids.empty() || tags.empty()) {
      return fail(ErrorCode::InvalidArgument, "create tags needs resources and tags");
    }
    QueryParams p;
    addEc2List(p, "ResourceId", ids);
    addTags(p, "Tag", tags);
    return call("CreateTags", p);
  }

  Result<std::vector<LaunchTemplateVersion>> describeLaunchTemplateVersions(
      const DescribeLaunchTemplateVersionsInput& in) override {
    OPSY_RETURN_IF_ERROR(requireTemplateRef(in.launch_template_id, in.launch_template_name));
    QueryParams base;
    addTemplateRef(base, in.launch_template_id, in.launch_template_name);
    addEc2List(base, "LaunchTemplateVersion", in.versions);
    addEc2Filters(base, in.filters);
    if (in.versions.empty()) {
      base.emplace_back("MaxResults", std::to_string(in.page_size));
    }
    std::vector<LaunchTemplateVersion> out;
    OPSY_RETURN_IF_ERROR(
        paginate("DescribeLaunchTemplateVersions", base, [&](const pugi::xml_node& root) {
          for (pugi::xml_node item : root.child("launchTemplateVersionSet").children("item")) {
            out.push_back(parseVersion(item));
          }
        }));
    return out;
  }

  Result<LaunchTemplateVersion> createLaunchTemplateVersion(
      const CreateLaunchTemplateVersionInput& in) override {
    OPSY_RETURN_IF_ERROR(requireTemplateRef(in.launch_template_id, in.launch_template_name));
    if (in.client_token.size() > 128) {
      return fail(ErrorCode::InvalidArgument, "client token longer than 128 characters");
    }
    QueryParams p;
    addTemplateRef(p, in.launch_template_id, in.launch_template_name);
    if (!in.source_version.empty()) {
      p.emplace_back("SourceVersion", in.source_version);
    }
    if (!in.version_description.empty()) {
      p.emplace_back("VersionDescription", in.version_description);
    }
    if (!in.client_token.empty()) {
      p.emplace_back("ClientToken", in.client_token);
    }
    if (!in.image_id.empty()) {
      p.emplace_back("LaunchTemplateData.ImageId", in.image_id);
    }
    OPSY_ASSIGN_OR_RETURN(std::string body, caller_->query("CreateLaunchTemplateVersion", kVersion,
                                                           p, Protocol::Ec2Query));
    pugi::xml_document doc;
    OPSY_RETURN_IF_ERROR(parseXml(doc, body, "CreateLaunchTemplateVersion"));
    pugi::xml_node v = doc.document_element().child("launchTemplateVersion");
    if (!v) {
      return fail(ErrorCode::Internal, "create launch template version: no version in response");
    }
    return parseVersion(v);
  }

  Result<std::vector<SecurityGroup>> describeSecurityGroups(
      const DescribeSecurityGroupsInput& in) override {
    QueryParams base;
    addEc2List(base, "GroupId", in.group_ids);
    addEc2List(base, "GroupName", in.group_names);
    addEc2Filters(base, in.filters);
    if (in.group_ids.empty() && in.group_names.empty()) {
      base.emplace_back("MaxResults", std::to_string(in.page_size));
    }
    std::vector<SecurityGroup> out;
    OPSY_RETURN_IF_ERROR(paginate("DescribeSecurityGroups", base, [&](const pugi::xml_node& root) {
      for (pugi::xml_node item : root.child("securityGroupInfo").children("item")) {
        SecurityGroup g;
        g.id = xmlText(item, "groupId");
        g.name = xmlText(item, "groupName");
        g.description = xmlText(item, "groupDescription");
        g.vpc_id = xmlText(item, "vpcId");
        g.owner_id = xmlText(item, "ownerId");
        g.tags = ec2Tags(item);
        out.push_back(std::move(g));
      }
    }));
    return out;
  }

  Status deleteSecurityGroup(const std::string& group_id) override {
    return call("DeleteSecurityGroup", {{"GroupId", group_id}});
  }

  Status deleteKeyPair(const std::string& key) override {
    bool is_id = key.rfind("key-", 0) == 0;
    return call("DeleteKeyPair", {{is_id ? "KeyPairId" : "KeyName", key}});
  }

  Result<std::vector<Instance>> describeInstances(const DescribeInstancesInput& in) override {
    std::vector<Instance> out;
    for (const QueryParams& base : describeInstancesRequests(in)) {
      OPSY_RETURN_IF_ERROR(paginate("DescribeInstances", base, [&](const pugi::xml_node& root) {
        appendInstances(root, out);
      }));
    }
    return out;
  }

  Status enableImageDeprecation(const std::string& image_id, TimePoint deprecate_at) override {
    return call("EnableImageDeprecation",
                {{"ImageId", image_id}, {"DeprecateAt", formatRfc3339(deprecate_at)}});
  }

  Status deregisterImage(const std::string& image_id) override {
    return call("DeregisterImage", {{"ImageId", image_id}});
  }

  Result<std::vector<Snapshot>> describeSnapshots(const DescribeSnapshotsInput& in) override {
    QueryParams base;
    addEc2List(base, "Owner", in.owner_ids);
    addEc2List(base, "SnapshotId", in.snapshot_ids);
    addEc2Filters(base, in.filters);
    if (in.snapshot_ids.empty()) {
      base.emplace_back("MaxResults", std::to_string(in.page_size));
    }
    std::vector<Snapshot> out;
    OPSY_RETURN_IF_ERROR(paginate("DescribeSnapshots", base, [&](const pugi::xml_node& root) {
      for (pugi::xml_node item : root.child("snapshotSet").children("item")) {
        out.push_back(parseSnapshot(item));
      }
    }));
    return out;
  }

  Status deleteSnapshot(const std::string& snapshot_id) override {
    return call("DeleteSnapshot", {{"SnapshotId", snapshot_id}});
  }

 private:
  Status call(std::string_view action, const QueryParams& params) {
    OPSY_ASSIGN_OR_RETURN(std::string body,
                          caller_->query(action, kVersion, params, Protocol::Ec2Query));
    (void)body;
    return ok();
  }

  template <class OnPage>
  Status paginate(std::string_view action, const QueryParams& base, OnPage&& on_page) {
    return paginateQuery(*caller_, action, kVersion, base, Protocol::Ec2Query, on_page);
  }

  std::unique_ptr<Caller> caller_;
};

}  // namespace

std::string_view toString(ImageState state) {
  return enumToText(state, kImageStates);
}
ImageState parseImageState(std::string_view text) {
  return enumFromText(text, kImageStates);
}

std::string_view toString(SnapshotState state) {
  return enumToText(state, kSnapshotStates);
}
SnapshotState parseSnapshotState(std::string_view text) {
  return enumFromText(text, kSnapshotStates);
}

Result<Ec2ApiPtr> makeEc2Client(const ClientOptions& options) {
  OPSY_ASSIGN_OR_RETURN(std::unique_ptr<Caller> caller, Caller::create(Service::Ec2, options));
  return Ec2ApiPtr(std::make_shared<Ec2ClientImpl>(std::move(caller)));
}

}  // namespace opsy::aws
