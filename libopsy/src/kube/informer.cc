#include "opsy/kube/informer.h"

#include <algorithm>
#include <random>

#include "opsy/core/log.h"

namespace opsy::kube {
namespace {

constexpr Duration kSleepSlice = std::chrono::milliseconds(100);
constexpr Duration kMinQuietWatch = std::chrono::seconds(1);

log::Logger logger() {
  static const auto l = log::get("kube.informer");
  return l;
}

}  // namespace

Informer::Informer(ClientPtr client, InformerOptions options, Clock& clock)
    : client_(std::move(client)),
      options_(std::move(options)),
      clock_(clock),
      cache_(std::make_unique<IndexedStore>()) {
  if (!options_.random) {
    auto rng = std::make_shared<std::mt19937_64>(std::random_device{}());
    auto mu = std::make_shared<std::mutex>();
    options_.random = [rng, mu] {
      std::lock_guard lock(*mu);
      return std::uniform_real_distribution<double>(0.0, 1.0)(*rng);
    };
  }
}

Informer::~Informer() {
  stop();
}

void Informer::addHandlers(ResourceEventHandlers handlers) {
  std::lock_guard lock(handlers_mu_);
  // A late subscriber still learns about everything already cached.
  if (cache_->hasSynced() && handlers.on_add) {
    for (const auto& obj : cache_->list()) {
      handlers.on_add(*obj);
    }
  }
  handlers_.push_back(std::move(handlers));
}

void Informer::addIndex(Index index) {
  cache_->addIndex(std::move(index));
}

void Informer::setResyncPeriod(Duration period) {
  if (watcher_.joinable() || stopping_) {
    return;  // the resync thread reads the period without a lock once started
  }
  options_.resync_period = period;
}

const Store& Informer::store() const {
  return *cache_;
}

bool Informer::waitForSync(std::chrono::milliseconds timeout) const {
  return cache_->waitForSync(timeout);
}

void Informer::start() {
  if (watcher_.joinable() || stopping_) {
    return;
  }
  watcher_ = std::thread([this] { run(); });
  if (options_.resync_period.count() > 0) {
    resyncer_ = std::thread([this] { resyncLoop(); });
  }
}

void Informer::stop() {
  stopping_ = true;
  cancel_.cancel();
  if (watcher_.joinable()) {
    watcher_.join();
  }
  if (resyncer_.joinable()) {
    resyncer_.join();
  }
}

void Informer::run() {
  logger().info("informer started", log::kv("resource", options_.resource.plural, "namespace",
                                            options_.ns.empty() ? "*" : options_.ns));
  State state = Empty{};
  while (!stopping_) {
    state = step(std::move(state));
  }
  logger().info("informer stopped", log::kv("resource", options_.resource.plural));
}

Informer::State Informer::step(State state) {
  if (std::holds_alternative<Empty>(state)) {
    return Listing{};
  }
  if (auto* listing = std::get_if<Listing>(&state)) {
    return stepListing(std::move(*listing));
  }
  return stepWatching(std::get<Watching>(std::move(state)));
}

Informer::State Informer::stepListing(Listing listing) {
  ListOptions options;
  options.label_selector = options_.label_selector;
  options.field_selector = options_.field_selector;
  options.page_size = options_.page_size;
  auto page = client_->listPage(options_.resource, options_.ns, options, listing.continue_token);
  if (!page) {
    if (page.error().code == ErrorCode::Gone) {
      // The continue token expired: start the list over.
      logger().info("list continue token expired; listing again",
                    log::kv("resource", options_.resource.plural));
      return Empty{};
    }
    logger().warn("list failed",
                  log::kv("resource", options_.resource.plural, "error", page.error().toString()));
    sleepUnlessStopped(backoffAfter(page.error()));
    return listing;
  }
  for (auto& item : page->items) {
    listing.items.push_back(std::move(item));
  }
  if (!page->continue_token.empty()) {
    listing.continue_token = page->continue_token;
    return listing;
  }
  failures_ = 0;
  size_t count = listing.items.size();
  replaceAll(std::move(listing.items));
  logger().info("list complete", log::kv("resource", options_.resource.plural, "objects", count,
                                         "resource_version", page->resource_version));
  return Watching{page->resource_version};
}

Informer::State Informer::stepWatching(Watching watching) {
  WatchOptions options;
  options.label_selector = options_.label_selector;
  options.field_selector = options_.field_selector;
  options.resource_version = watching.resource_version;
  // Spread watch renewals of many clients over [timeout, 2 * timeout), as client-go does.
  options.timeout =
      Duration(static_cast<Duration::rep>(static_cast<double>(options_.watch_timeout.count()) *
                                          (1.0 + std::clamp(options_.random(), 0.0, 1.0))));
  options.allow_bookmarks = true;
  std::optional<Error> event_error;
  int events = 0;
  const auto started = clock_.steadyNow();
  auto result = client_->watch(
      options_.resource, options_.ns, options,
      [&](WatchEvent& event) {
        if (event.type == WatchEventType::Error) {
          event_error = event.error;
          return false;
        }
        ++events;
        if (!event.object.metadata.resource_version.empty()) {
          watching.resource_version = event.object.metadata.resource_version;
        }
        if (event.type != WatchEventType::Bookmark) {
          applyEvent(event);
        }
        failures_ = 0;
        return !stopping_.load();
      },
      cancel_);
  if (!result && result.error().code == ErrorCode::Cancelled) {
    return watching;
  }
  std::optional<Error> failure = event_error;
  if (!result) {
    failure = result.error();
  }
  if (!failure.has_value()) {
    // The server ended the watch (timeoutSeconds): resume where we were. A watch that ends at
    // once with nothing in it (a misbehaving proxy) backs off instead of spinning.
    if (events == 0 && clock_.steadyNow() - started < kMinQuietWatch) {
      sleepUnlessStopped(nextBackoff());
    }
    return watching;
  }
  if (failure->code == ErrorCode::Gone) {
    logger().info("watch expired; relisting",
                  log::kv("resource", options_.resource.plural, "resource_version",
                          watching.resource_version));
    return Empty{};
  }
  if (failure->code == ErrorCode::ResourceExhausted) {
    // Resuming would meet the same oversized event again and never get past it; a list moves
    // the informer past it (and holds the object when the list's own limit allows).
    logger().warn("watch event too large; relisting",
                  log::kv("resource", options_.resource.plural, "error", failure->toString()));
    sleepUnlessStopped(backoffAfter(*failure));
    return Empty{};
  }
  logger().warn("watch failed",
                log::kv("resource", options_.resource.plural, "error", failure->toString()));
  sleepUnlessStopped(backoffAfter(*failure));
  return watching;
}

namespace {

// What no reconcile reads does not stay in memory (client-go's TransformStripManagedFields): a
// real API server's managedFields are often as large as the rest of a custom resource. Only
// objects that carry them pay for the edit.
void stripForCache(Object& obj) {
  if (obj.raw().find("\"managedFields\"") != std::string::npos) {
    (void)obj.remove("/metadata/managedFields");
  }
}

}  // namespace

void Informer::replaceAll(std::vector<Object> items) {
  std::map<std::string, ObjectPtr> fresh;
  for (auto& item : items) {
    stripForCache(item);
    if (item.metadata.name.empty()) {
      logger().warn("skipping listed object without a name",
                    log::kv("resource", options_.resource.plural));
      continue;
    }
    std::string key = item.key();
    fresh[key] = std::make_shared<const Object>(std::move(item));
  }
  // Holding the handler lock across the swap and the notifications keeps a handler added
  // meanwhile from seeing an object both in its replay and as an event.
  std::lock_guard lock(handlers_mu_);
  std::map<std::string, ObjectPtr> previous = cache_->replace(fresh);
  for (const auto& [key, obj] : fresh) {
    auto old = previous.find(key);
    for (const auto& h : handlers_) {
      if (old == previous.end()) {
        if (h.on_add) {
          h.on_add(*obj);
        }
      } else if (old->second->metadata.resource_version != obj->metadata.resource_version &&
                 h.on_update) {
        h.on_update(*old->second, *obj);
      }
    }
  }
  // Objects deleted while we were not watching are only visible as absences from the new list.
  for (const auto& [key, obj] : previous) {
    if (fresh.count(key) == 0) {
      for (const auto& h : handlers_) {
        if (h.on_delete) {
          h.on_delete(*obj);
        }
      }
    }
  }
}

void Informer::applyEvent(WatchEvent& event) {
  // Cached objects look like the API's answers to get and list, which always name their type.
  if (event.object.api_version.empty()) {
    event.object.api_version = options_.resource.apiVersion();
  }
  if (event.object.kind.empty()) {
    event.object.kind = options_.resource.kind;
  }
  stripForCache(event.object);
  auto obj = std::make_shared<const Object>(std::move(event.object));
  std::lock_guard lock(handlers_mu_);
  if (event.type == WatchEventType::Deleted) {
    cache_->erase(obj->key());
    for (const auto& h : handlers_) {
      if (h.on_delete) {
        h.on_delete(*obj);
      }
    }
    return;
  }
  ObjectPtr old = cache_->upsert(obj);
  for (const auto& h : handlers_) {
    if (old == nullptr) {
      if (h.on_add) {
        h.on_add(*obj);
      }
    } else if (h.on_update) {
      h.on_update(*old, *obj);
    }
  }
}

void Informer::resyncLoop() {
  while (sleepUnlessStopped(options_.resync_period)) {
    if (!cache_->hasSynced()) {
      continue;
    }
    std::vector<ObjectPtr> all = cache_->list();
    std::lock_guard lock(handlers_mu_);
    for (const auto& obj : all) {
      for (const auto& h : handlers_) {
        if (h.on_update) {
          h.on_update(*obj, *obj);
        }
      }
    }
  }
}

Duration Informer::nextBackoff() {
  ++failures_;
  Duration delay = options_.backoff_max;
  if (failures_ < 31) {
    auto scaled = options_.backoff_base * (std::int64_t{1} << (failures_ - 1));
    delay = std::min<Duration>(scaled, options_.backoff_max);
  }
  double factor = 0.5 + 0.5 * std::clamp(options_.random(), 0.0, 1.0);
  return Duration(static_cast<Duration::rep>(static_cast<double>(delay.count()) * factor));
}

Duration Informer::backoffAfter(const Error& error) {
  Duration delay = nextBackoff();
  if (error.retry_after.has_value() && *error.retry_after > delay) {
    return *error.retry_after;
  }
  return delay;
}

bool Informer::sleepUnlessStopped(Duration d) {
  const auto deadline = clock_.steadyNow() + d;
  while (!stopping_) {
    auto now = clock_.steadyNow();
    if (now >= deadline) {
      return true;
    }
    clock_.sleepFor(
        std::min<Duration>(kSleepSlice, std::chrono::duration_cast<Duration>(deadline - now)));
  }
  return false;
}

}  // namespace opsy::kube
