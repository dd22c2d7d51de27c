// The packer-builder-controller binary: flags, then a Manager running one controller that
// reconciles PackerBuilders and watches the Jobs they own. The logic lives in opsy_packer_builder.
#include <cstdio>
#include <string>
#include <vector>

#include "opsy/ami/builder_ref.h"
#include "opsy/ami/image_cache.h"
#include "opsy/ami/lineage_images.h"
#include "opsy/controller/reconciler.h"
#include "opsy/core/flags.h"
#include "opsy/kube/resource.h"
#include "opsy/kube/store.h"
#include "opsy/packer/build_policy.h"
#include "opsy/runtime/failure_metrics.h"
#include "opsy/runtime/manager.h"
#include "opsy/runtime/notifiers.h"
#include "packer-builder-controller/api.h"
#include "packer-builder-controller/decide.h"
#include "packer-builder-controller/execute.h"
#include "packer-builder-controller/reconciler.h"

namespace {

using namespace opsy;

constexpr const char* kProgram = "packer-builder-controller";

struct Options {
  runtime::ManagerOptions manager{.name = "packer-builder", .version = OPSY_VERSION};
  std::string slack_api_url = "https://slack.com/api";
  packer::BuildPolicy policy;
};

int fatal(const Error& error) {
  std::fprintf(stderr, "%s: %s\n", kProgram, error.message.c_str());
  return 1;
}

int run(const Options& o) {
  auto created = runtime::Manager::create(o.manager);
  if (!created) {
    return fatal(created.error());
  }
  runtime::Manager& manager = **created;
  kube::Client& client = manager.client();

  ami::ImageLookupCache images(manager.clock());
  ami::LineageImageCache lineage(manager.clock());
  packer_builder::SecretKeyListerImpl secrets(client);
  auto all_notifiers = runtime::makeNotifiers(manager, o.slack_api_url);
  if (!all_notifiers) {
    return fatal(all_notifiers.error());
  }
  packer_builder::Reconciler reconciler({
      .reader = manager.reader(),
      .writer = manager.writer(),
      .status = manager.statusWriter(),
      .logs = client,
      .secrets = secrets,
      .policy = &o.policy,
      .accounts = &client,
      .ec2 = [&manager](std::string_view region) { return manager.aws().ec2(region); },
      .autoscaling =
          [&manager](std::string_view region) { return manager.aws().autoScaling(region); },
      .images = images,
      .lineage = lineage,
      .events = manager.events(),
      .notifiers = all_notifiers->get(),
      .clock = manager.clock(),
      .failures = runtime::failureCounter(manager.metrics()),
      .refreshers = &manager.cache(packer_builder::amiRefresherResource()),
  });

  const std::string managed_by = std::string(packer_builder::kLabelManagedBy) + "=" +
                                 std::string(packer_builder::kManagedByValue);
  Status added = manager.addController({
      .name = "packer-builder",
      .resource = packer_builder::packerBuilderResource(),
      .owns = {{.resource = kube::resources::jobs(),
                .label_selector = managed_by,
                .indexes = {kube::labelIndex(packer_builder::kLabelBuilderUid)}},
               // Read-only, for status.followers: a refresher's event enqueues the builder it
               // follows (and, when it moves, the one it left).
               {.resource = packer_builder::amiRefresherResource(),
                .map_to_keys =
                    [](const kube::Object& refresher) {
                      std::optional<std::string> key = ami::builderRefKey(refresher);
                      return key ? std::vector<std::string>{*key} : std::vector<std::string>();
                    },
                .indexes = {ami::builderRefIndex()}}},
      .reconcile = controller::workFn(reconciler),
  });
  if (!added) {
    return fatal(added.error());
  }
  return manager.run();
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  FlagSet flags(kProgram, OPSY_VERSION,
                "Builds AMIs with Packer Jobs for PackerBuilder resources.");
  runtime::addManagerFlags(flags, options.manager);
  flags.addString("slack-api-url", &options.slack_api_url,
                  "Base URL of the Slack Web API used for build notifications.",
                  "OPSY_SLACK_API_URL");
  flags.addStringList(
      "allowed-packer-images", &options.policy.packer_images,
      "Images a PackerBuilder's spec.builder.image may name (globs on the full reference; "
      "docs/security.md).",
      "OPSY_ALLOWED_PACKER_IMAGES");
  flags.addStringList("allowed-git-sync-images", &options.policy.git_sync_images,
                      "Images a PackerBuilder's spec.gitSync.image may name (globs).",
                      "OPSY_ALLOWED_GIT_SYNC_IMAGES");
  flags.addStringList(
      "allowed-build-service-accounts", &options.policy.service_accounts,
      "ServiceAccounts (namespace/name globs) build Jobs may run as; ServiceAccounts labelled "
      "ami.refresh.ops/packer-build=true are allowed too. An empty value lists none.",
      "OPSY_ALLOWED_BUILD_SERVICE_ACCOUNTS");
  auto outcome = flags.parse(argc, argv);
  if (!outcome) {
    std::fprintf(stderr, "%s: %s\n", kProgram, outcome.error().message.c_str());
    return 2;
  }
  // "--allowed-build-service-accounts=" alone lists none: only labelled ServiceAccounts build.
  std::erase(options.policy.service_accounts, std::string());
  if (auto invalid = packer::invalidPolicy(options.policy)) {
    std::fprintf(stderr, "%s: %s\n", kProgram, invalid->c_str());
    return 2;
  }
  if (*outcome != FlagSet::Outcome::Run) {
    return 0;
  }
  return run(options);
}
