// File: informer.h
//
// A list+watch cache of one resource, the way client-go's informer and kube-rs's watcher keep
// one: list (paged), then watch from the list's resourceVersion with bookmarks, resume from the
// last resourceVersion seen when a watch ends or goes silent, and relist on 410 Gone or an event
// over the client's size limit, swapping the whole cache at once so deletions missed while
// disconnected still reach onDelete. Errors back off with jitter;
// a periodic resync re-delivers every cached object so level-triggered controllers get another
// look. Runs on its own thread; the Store (store.h) is a thread-safe, indexed, read-only view.
//
//   Informer jobs(client, {.resource = resources::jobs(), .ns = "ci"}, realClock());
//   jobs.addHandlers({.on_add = [&](const Object& o) { queue.add(o.key()); }});
//   jobs.start();
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <variant>
#include <vector>

#include "opsy/core/clock.h"
#include "opsy/http/transport.h"
#include "opsy/kube/client.h"
#include "opsy/kube/object.h"
#include "opsy/kube/store.h"

namespace opsy::kube {

struct InformerOptions {
  Resource resource;
  // Empty: every namespace (or a cluster-scoped resource).
  std::string ns;
  std::string label_selector;
  std::string field_selector;
  int page_size = 500;
  // Server-side timeout of each watch request; the watch then resumes where it was.
  Duration watch_timeout = std::chrono::minutes(5);
  // Re-deliver every cached object as an update this often; zero disables resync.
  Duration resync_period{0};
  // Backoff after failures: base * 2^(n-1), capped, scaled by a jitter factor in [0.5, 1).
  Duration backoff_base = std::chrono::milliseconds(800);
  Duration backoff_max = std::chrono::seconds(30);
  // Uniform [0, 1) source for jitter; tests pin it.
  std::function<double()> random;
};

struct ResourceEventHandlers {
  std::function<void(const Object& obj)> on_add;
  // On resync old and updated are the same object.
  std::function<void(const Object& old_obj, const Object& updated)> on_update;
  // The last state known for the object (from the DELETED event or the cache before a relist).
  std::function<void(const Object& obj)> on_delete;
};

class Informer {
 public:
  Informer(ClientPtr client, InformerOptions options, Clock& clock);
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Registers handlers. Handlers run on the informer's threads, one at a time, after the store
  // has been updated; handlers added after the first sync get onAdd for every cached object.
  void addHandlers(ResourceEventHandlers handlers);
  // Registers an index on the store (see store.h); existing objects are filed at once.
  void addIndex(Index index);
  // Replaces InformerOptions::resync_period; takes effect only when called before start().
  void setResyncPeriod(Duration period);
  const Store& store() const;

  // Starts the watcher (and resync) threads. An informer runs once: stop() is final.
  void start();
  // Cancels the open watch and joins the threads (an in-flight list request finishes first).
  void stop();
  // Blocks until the first list is stored or `timeout` (real time) passes; false on timeout.
  bool waitForSync(std::chrono::milliseconds timeout) const;

 private:
  // The watcher's states (kube-rs style): nothing known -> listing page by page -> watching from
  // a resourceVersion. A 410 anywhere leads back to Empty; other failures back off and retry the
  // same state.
  struct Empty {};
  struct Listing {
    std::string continue_token;
    std::vector<Object> items;
  };
  struct Watching {
    std::string resource_version;
  };
  using State = std::variant<Empty, Listing, Watching>;

  void run();
  void resyncLoop();
  State step(State state);
  State stepListing(Listing listing);
  State stepWatching(Watching watching);
  void replaceAll(std::vector<Object> items);
  void applyEvent(WatchEvent& event);
  Duration nextBackoff();
  // nextBackoff(), raised to what the server asked for (Retry-After on a 429).
  Duration backoffAfter(const Error& error);
  // Sleeps on the injected clock in short slices; false when stop() was called meanwhile.
  bool sleepUnlessStopped(Duration d);

  ClientPtr client_;
  InformerOptions options_;
  Clock& clock_;
  std::unique_ptr<IndexedStore> cache_;
  std::vector<ResourceEventHandlers> handlers_;
  std::mutex handlers_mu_;
  http::CancelToken cancel_;
  std::atomic<bool> stopping_{false};
  std::thread watcher_;
  std::thread resyncer_;
  int failures_ = 0;
};

}  // namespace opsy::kube
