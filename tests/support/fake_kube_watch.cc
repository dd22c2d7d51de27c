// Streams of the fake Kubernetes API server: watch (initial events, resume from a
// resourceVersion, bookmarks, 410 Expired, timeouts, injected drops and stalls) and pod logs
// (with follow).
#include <fmt/format.h>

#include <algorithm>

#include "support/fake_kube_impl.h"
#include "support/fake_kube_selector.h"

namespace opsy::testing {

namespace {

struct WatchContext {
  ResourceTypePtr type;
  std::string ns;
  Selector labels;
  Selector fields;
  uint64_t cursor = 0;
  bool bookmarks = false;
  std::chrono::steady_clock::time_point deadline;
  std::chrono::steady_clock::time_point next_bookmark;
  std::optional<std::chrono::steady_clock::time_point> drop_at;
  std::string pending;
  bool finished = false;
  std::shared_ptr<OpenWatch> handle;
  bool table = false;         // events carry one-row Tables (kubectl get -w)
  bool sent_columns = false;  // only the first Table carries column definitions
};

std::string eventLine(const std::string& type, const JsonValue& object) {
  return "{\"type\":\"" + type + "\",\"object\":" + toJson(object) + "}\n";
}

}  // namespace

void FakeKube::Impl::serveWatch(const ResourceType& type_ref, const std::string& ns,
                                const httplib::Request& req, httplib::Response& res,
                                std::optional<Duration> drop_after) {
  auto ctx = std::make_shared<WatchContext>();
  auto labels = Selector::parse(req.get_param_value("labelSelector"), false);
  auto fields = Selector::parse(req.get_param_value("fieldSelector"), true,
                                Selector::fieldLabels(type_ref.group, type_ref.plural));
  if (!labels || !fields) {
    res.status = 400;
    res.set_content(
        statusBody(badRequestError(!labels ? labels.error().message : fields.error().message)),
        "application/json");
    return;
  }
  ctx->labels = std::move(*labels);
  ctx->fields = std::move(*fields);
  ctx->ns = ns;
  ctx->table = !type_ref.isEventsV1() && wantsTable(req.get_header_value("Accept"));
  // Go's strconv.ParseBool spellings.
  const std::string bookmarks = req.get_param_value("allowWatchBookmarks");
  ctx->bookmarks = bookmarks == "true" || bookmarks == "1" || bookmarks == "True" ||
                   bookmarks == "TRUE" || bookmarks == "t" || bookmarks == "T";
  long timeout = req.has_param("timeoutSeconds")
                     ? std::atol(req.get_param_value("timeoutSeconds").c_str())
                     : 1800;
  if (timeout <= 0) {
    timeout = 1800;
  }
  const auto start = std::chrono::steady_clock::now();
  ctx->deadline = start + std::chrono::seconds(timeout);
  ctx->next_bookmark = start + options_.bookmark_interval;
  if (drop_after.has_value()) {
    ctx->drop_at = start + *drop_after;
  }
  ctx->handle = std::make_shared<OpenWatch>();
  ctx->handle->resource = type_ref.plural;

  auto render = [this, ctx](const std::string& type, const JsonPtr& object) {
    if (!ctx->table) {
      return eventLine(type, *withApiVersion(object, *ctx->type));
    }
    auto table = tableFor(*ctx->type, {withApiVersion(object, *ctx->type)}, !ctx->sent_columns,
                          stringAt(*object, {"metadata", "resourceVersion"}), clock_->now());
    ctx->sent_columns = true;
    return eventLine(type, *table);
  };
  auto matches = [ctx](const JsonValue& obj) {
    return (ctx->ns.empty() || stringAt(obj, {"metadata", "namespace"}) == ctx->ns) &&
           ctx->labels.matches(obj) && ctx->fields.matches(obj);
  };
  {
    std::lock_guard lock(mu_);
    ctx->type = findTypeLocked(type_ref.group, type_ref.version, type_ref.plural);
    const std::string rv_param = req.get_param_value("resourceVersion");
    auto expire = [&](uint64_t asked) {
      ApiError e =
          expiredError(fmt::format("too old resource version: {} ({})", asked, history_floor_ + 1));
      ctx->pending = eventLine("ERROR", *statusObject(e));
      ctx->finished = true;
    };
    if (expire_next_.erase(type_ref.plural) > 0 || expire_next_.erase("") > 0) {
      expire(rv_param.empty() ? rv_ : std::strtoull(rv_param.c_str(), nullptr, 10));
    } else if (rv_param.empty() || rv_param == "0" ||
               req.get_param_value("sendInitialEvents") == "true") {
      // No starting point (or a streaming list): synthetic ADDED events for the current state.
      auto store = objects_.find(type_ref.storageKey());
      if (store != objects_.end()) {
        for (const auto& [key, obj] : store->second) {
          if (matches(*obj)) {
            ctx->pending += render("ADDED", obj);
          }
        }
      }
      ctx->cursor = rv_;
      if (req.get_param_value("sendInitialEvents") == "true") {
        // The end of a streaming list is a bookmark annotated k8s.io/initial-events-end.
        ctx->pending += fmt::format(
            R"({{"type":"BOOKMARK","object":{{"kind":"{}","apiVersion":"{}","metadata":{{"resourceVersion":"{}","annotations":{{"k8s.io/initial-events-end":"true"}}}}}}}})"
            "\n",
            type_ref.kind, type_ref.apiVersion(), rv_);
      }
    } else {
      const uint64_t asked = std::strtoull(rv_param.c_str(), nullptr, 10);
      if (asked < history_floor_) {
        expire(asked);
      } else {
        ctx->cursor = asked;
      }
    }
    watches_.insert(ctx->handle);
  }

  res.status = 200;
  res.set_header("Cache-Control", "no-cache, private");
  res.set_chunked_content_provider(
      "application/json",
      [this, ctx, matches, render](size_t, httplib::DataSink& sink) {
        while (true) {
          if (!ctx->pending.empty()) {
            std::string out;
            out.swap(ctx->pending);
            if (!sink.write(out.data(), out.size())) {
              return false;
            }
            return true;
          }
          if (ctx->finished) {
            sink.done();
            return true;
          }
          if (ctx->drop_at.has_value() && std::chrono::steady_clock::now() >= *ctx->drop_at) {
            ctx->handle->dropped = true;
          }
          if (ctx->handle->dropped || stopping_) {
            return false;  // closes the connection without the final chunk
          }
          std::unique_lock lock(mu_);
          changed_.wait_for(lock, std::chrono::milliseconds(50),
                            [&] { return rv_ > ctx->cursor || stopping_ || ctx->handle->dropped; });
          const auto tick = std::chrono::steady_clock::now();
          if (tick >= ctx->deadline) {
            ctx->finished = true;
            continue;
          }
          if (stalled_.count(ctx->handle->resource) > 0 || stalled_.count("") > 0) {
            continue;
          }
          if (ctx->cursor < history_floor_) {
            ApiError e = expiredError(
                fmt::format("too old resource version: {} ({})", ctx->cursor, history_floor_ + 1));
            ctx->pending = eventLine("ERROR", *statusObject(e));
            ctx->finished = true;
            continue;
          }
          auto it = std::upper_bound(history_.begin(), history_.end(), ctx->cursor,
                                     [](uint64_t rv, const WatchEvent& e) { return rv < e.rv; });
          for (; it != history_.end(); ++it) {
            ctx->cursor = it->rv;
            if (it->storage_key != ctx->type->storageKey()) {
              continue;
            }
            const bool now_matches = matches(*it->object);
            const bool was_matching = it->previous != nullptr && matches(*it->previous);
            std::string type = it->type;
            if (type == "MODIFIED" && now_matches && !was_matching) {
              type = "ADDED";
            } else if (type == "MODIFIED" && !now_matches && was_matching) {
              type = "DELETED";
            } else if (!now_matches) {
              continue;
            }
            ctx->pending += render(type, it->object);
          }
          ctx->cursor = std::max(ctx->cursor, rv_);
          if (ctx->bookmarks && tick >= ctx->next_bookmark) {
            ctx->next_bookmark = tick + options_.bookmark_interval;
            ctx->pending += fmt::format(
                R"({{"type":"BOOKMARK","object":{{"kind":"{}","apiVersion":"{}","metadata":{{"resourceVersion":"{}"}}}}}})"
                "\n",
                ctx->type->kind, ctx->type->apiVersion(), rv_);
          }
        }
      },
      [this, ctx](bool) {
        std::lock_guard lock(mu_);
        watches_.erase(ctx->handle);
      });
}

void FakeKube::Impl::serveLog(const std::string& ns, const std::string& name,
                              const httplib::Request& req, httplib::Response& res) {
  const std::string key = objectKey(ns, name);
  {
    std::lock_guard lock(mu_);
    if (getLocked(*findTypeLocked("", "v1", "pods"), ns, name) == nullptr) {
      res.status = 404;
      res.set_content(statusBody(notFoundError(*findTypeLocked("", "v1", "pods"), name)),
                      "application/json");
      return;
    }
    if (req.get_param_value("follow") != "true") {
      res.status = 200;
      res.set_content(pod_logs_[key].text, "text/plain");
      return;
    }
  }
  auto offset = std::make_shared<size_t>(0);
  res.status = 200;
  res.set_chunked_content_provider("text/plain",
                                   [this, key, offset](size_t, httplib::DataSink& sink) {
                                     std::unique_lock lock(mu_);
                                     while (!stopping_) {
                                       PodLog& log = pod_logs_[key];
                                       if (log.text.size() > *offset) {
                                         std::string chunk = log.text.substr(*offset);
                                         *offset = log.text.size();
                                         lock.unlock();
                                         return sink.write(chunk.data(), chunk.size());
                                       }
                                       if (log.finished) {
                                         lock.unlock();
                                         sink.done();
                                         return true;
                                       }
                                       changed_.wait_for(lock, std::chrono::milliseconds(50));
                                     }
                                     return false;
                                   });
}

}  // namespace opsy::testing
