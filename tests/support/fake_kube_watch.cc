// Streams of the fake Kubernetes API server: watch (initial events, resume from a
// resourceVersion, bookmarks, 410 Expired, timeouts, injected drops, stalls and silent watches),
// oversized answers, and pod logs (container, tailLines, limitBytes and follow).
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>

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
  bool silent = false;        // KubeFault::silent_watch: nothing is ever written
  bool table = false;         // events carry one-row Tables (kubectl get -w)
  bool sent_columns = false;  // only the first Table carries column definitions
};

std::string eventLine(const std::string& type, const JsonValue& object) {
  return "{\"type\":\"" + type + "\",\"object\":" + toJson(object) + "}\n";
}

}  // namespace

void FakeKube::Impl::serveWatch(const ResourceType& type_ref, const std::string& ns,
                                const httplib::Request& req, httplib::Response& res,
                                std::optional<Duration> drop_after, bool silent) {
  auto ctx = std::make_shared<WatchContext>();
  ctx->silent = silent;
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
        while (ctx->silent) {
          // Accepted, then nothing: no events, no bookmarks, no final chunk.
          std::unique_lock lock(mu_);
          changed_.wait_for(lock, std::chrono::milliseconds(50));
          if (ctx->handle->dropped || stopping_ ||
              std::chrono::steady_clock::now() >= ctx->deadline) {
            return false;
          }
        }
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

void FakeKube::Impl::serveOversized(httplib::Response& res, size_t bytes, bool watch) {
  // A watch event line or a list that opens and never closes: no line break, no closing brace.
  const std::string prefix =
      watch ? R"({"type":"ADDED","object":{"apiVersion":"v1","kind":"ConfigMap",)"
              R"("metadata":{"name":"oversized","namespace":"default"},"data":{"x":")"
            : R"({"kind":"ConfigMapList","apiVersion":"v1","metadata":{},"items":[)"
              R"({"metadata":{"name":"oversized","namespace":"default"},"data":{"x":")";
  struct Progress {
    size_t sent = 0;
    std::string block;
  };
  auto progress = std::make_shared<Progress>();
  progress->block.assign(size_t{64} << 10, 'x');
  res.set_header("Cache-Control", "no-cache, private");
  res.set_chunked_content_provider(
      "application/json",
      [this, progress, prefix, bytes](size_t, httplib::DataSink& sink) {
        if (stopping_) {
          return false;
        }
        if (progress->sent >= bytes) {
          sink.done();
          return true;
        }
        std::string_view piece = progress->sent < prefix.size()
                                     ? std::string_view(prefix).substr(progress->sent)
                                     : std::string_view(progress->block);
        piece = piece.substr(0, bytes - progress->sent);
        if (!sink.write(piece.data(), piece.size())) {
          return false;
        }
        progress->sent += piece.size();
        return true;
      },
      [this, progress](bool) {
        std::lock_guard lock(faults_mu_);
        oversized_sent_.push_back(progress->sent);
      });
}

namespace {

// The pod log query the real server validates: integers, tailLines >= 0, limitBytes > 0.
struct LogQuery {
  std::string container;
  std::optional<std::int64_t> tail_lines;
  std::optional<std::int64_t> limit_bytes;
};

std::optional<ApiError> parseLogInt(const httplib::Request& req, const char* key,
                                    std::optional<std::int64_t>& out) {
  if (!req.has_param(key)) {
    return std::nullopt;
  }
  const std::string v = req.get_param_value(key);
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || end != v.data() + v.size()) {
    return badRequestError(fmt::format("strconv.ParseInt: parsing \"{}\": invalid syntax", v));
  }
  out = n;
  return std::nullopt;
}

std::optional<ApiError> parseLogQuery(const httplib::Request& req, const std::string& pod,
                                      LogQuery& q) {
  q.container = req.get_param_value("container");
  if (auto e = parseLogInt(req, "tailLines", q.tail_lines)) {
    return e;
  }
  if (auto e = parseLogInt(req, "limitBytes", q.limit_bytes)) {
    return e;
  }
  std::vector<StatusCause> causes;
  if (q.tail_lines.has_value() && *q.tail_lines < 0) {
    causes.push_back(
        {"FieldValueInvalid",
         fmt::format("Invalid value: {}: must be greater than or equal to 0", *q.tail_lines),
         "tailLines"});
  }
  if (q.limit_bytes.has_value() && *q.limit_bytes < 1) {
    causes.push_back({"FieldValueInvalid",
                      fmt::format("Invalid value: {}: must be greater than 0", *q.limit_bytes),
                      "limitBytes"});
  }
  if (!causes.empty()) {
    ResourceType options_kind;
    options_kind.kind = "PodLogOptions";
    return invalidError(options_kind, pod, std::move(causes));
  }
  return std::nullopt;
}

std::vector<std::string> containerNames(const JsonValue& pod, std::string_view list) {
  std::vector<std::string> names;
  const JsonValue* spec = member(pod, "spec");
  const JsonValue* items = spec == nullptr ? nullptr : member(*spec, list);
  if (items != nullptr && items->IsArray()) {
    for (const auto& c : items->GetArray()) {
      names.push_back(stringAt(c, {"name"}));
    }
  }
  return names;
}

std::string joinNames(const std::vector<std::string>& names) {
  std::string out = "[";
  for (size_t i = 0; i < names.size(); ++i) {
    out += (i > 0 ? " " : "") + names[i];
  }
  return out + "]";
}

// Where the last `n` lines of `text` start; a final line break ends the last line.
size_t tailStart(std::string_view text, std::int64_t n) {
  if (n <= 0) {
    return text.size();
  }
  size_t end = text.size();
  if (end > 0 && text[end - 1] == '\n') {
    --end;
  }
  std::int64_t lines = 0;
  for (size_t i = end; i > 0; --i) {
    if (text[i - 1] == '\n' && ++lines == n) {
      return i;
    }
  }
  return 0;
}

}  // namespace

void FakeKube::Impl::serveLog(const std::string& ns, const std::string& name,
                              const httplib::Request& req, httplib::Response& res) {
  const std::string key = objectKey(ns, name);
  auto send_error = [&res](const ApiError& e) {
    res.status = e.code;
    res.set_content(statusBody(e), "application/json");
  };
  LogQuery q;
  if (auto e = parseLogQuery(req, name, q)) {
    send_error(*e);
    return;
  }
  // The runner's text is the log of the pod's (first) container; other containers log nothing.
  bool primary = true;
  size_t start = 0;
  {
    std::lock_guard lock(mu_);
    const ResourceType& pods = *findTypeLocked("", "v1", "pods");
    JsonPtr pod = getLocked(pods, ns, name);
    if (pod == nullptr) {
      send_error(notFoundError(pods, name));
      return;
    }
    std::vector<std::string> containers = containerNames(*pod, "containers");
    std::vector<std::string> init = containerNames(*pod, "initContainers");
    if (q.container.empty() && containers.size() > 1) {
      std::string message = fmt::format(
          "a container name must be specified for pod {}, choose "
          "one of: {}",
          name, joinNames(containers));
      if (!init.empty()) {
        message += " or one of the init containers: " + joinNames(init);
      }
      send_error(badRequestError(message));
      return;
    }
    if (!q.container.empty() && !containers.empty()) {
      bool known =
          std::find(containers.begin(), containers.end(), q.container) != containers.end() ||
          std::find(init.begin(), init.end(), q.container) != init.end();
      if (!known) {
        send_error(badRequestError(
            fmt::format("container {} is not valid for pod {}", q.container, name)));
        return;
      }
      primary = q.container == containers.front();
    }
    if (!primary) {
      res.status = 200;
      res.set_content("", "text/plain");
      return;
    }
    // tailLines picks the start, limitBytes then counts from there (the kubelet's order).
    const std::string& text = pod_logs_[key].text;
    if (q.tail_lines.has_value()) {
      start = tailStart(text, *q.tail_lines);
    }
    if (req.get_param_value("follow") != "true") {
      std::string_view selected = std::string_view(text).substr(start);
      if (q.limit_bytes.has_value()) {
        selected = selected.substr(0, static_cast<size_t>(*q.limit_bytes));
      }
      res.status = 200;
      res.set_content(std::string(selected), "text/plain");
      return;
    }
  }
  auto offset = std::make_shared<size_t>(start);
  auto budget = std::make_shared<std::int64_t>(q.limit_bytes.value_or(INT64_MAX));
  res.status = 200;
  res.set_chunked_content_provider(
      "text/plain", [this, key, offset, budget](size_t, httplib::DataSink& sink) {
        std::unique_lock lock(mu_);
        while (!stopping_) {
          PodLog& log = pod_logs_[key];
          if (*budget <= 0) {
            lock.unlock();
            sink.done();
            return true;
          }
          if (log.text.size() > *offset) {
            std::string chunk = log.text.substr(*offset, static_cast<size_t>(*budget));
            *offset += chunk.size();
            *budget -= static_cast<std::int64_t>(chunk.size());
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
