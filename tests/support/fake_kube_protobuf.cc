#include "support/fake_kube_protobuf.h"

#include <openssl/evp.h>

#include <functional>
#include <vector>

namespace opsy::testing {

namespace {

struct Field {
  uint32_t number = 0;
  uint32_t wire_type = 0;
  uint64_t varint = 0;
  std::string_view bytes;
};

// Protobuf wire format: (number << 3 | wire type) keys, varints and length-delimited bytes.
Result<std::vector<Field>> parseFields(std::string_view data) {
  std::vector<Field> fields;
  size_t i = 0;
  auto varint = [&](uint64_t& out) -> bool {
    out = 0;
    for (int shift = 0; shift < 64 && i < data.size(); shift += 7) {
      const auto byte = static_cast<uint8_t>(data[i++]);
      out |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) {
        return true;
      }
    }
    return false;
  };
  while (i < data.size()) {
    uint64_t key = 0;
    if (!varint(key)) {
      return fail(ErrorCode::InvalidArgument, "truncated protobuf key");
    }
    Field f;
    f.number = static_cast<uint32_t>(key >> 3);
    f.wire_type = static_cast<uint32_t>(key & 7);
    if (f.wire_type == 0) {
      if (!varint(f.varint)) {
        return fail(ErrorCode::InvalidArgument, "truncated protobuf varint");
      }
    } else if (f.wire_type == 2) {
      uint64_t length = 0;
      if (!varint(length) || length > data.size() - i) {
        return fail(ErrorCode::InvalidArgument, "truncated protobuf bytes");
      }
      f.bytes = data.substr(i, length);
      i += length;
    } else if (f.wire_type == 5) {
      i += 4;
    } else if (f.wire_type == 1) {
      i += 8;
    } else {
      return fail(ErrorCode::InvalidArgument, "unsupported protobuf wire type");
    }
    fields.push_back(f);
  }
  return fields;
}

std::string base64(std::string_view bytes) {
  std::vector<unsigned char> out(4 * ((bytes.size() + 2) / 3) + 1);
  const int n = EVP_EncodeBlock(out.data(), reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  return std::string(reinterpret_cast<const char*>(out.data()), static_cast<size_t>(n));
}

// map<string, string|bytes> entries: key = 1, value = 2.
Status addMapEntry(JsonValue& object, std::string_view entry, bool base64_values,
                   JsonAlloc& alloc) {
  OPSY_ASSIGN_OR_RETURN(auto fields, parseFields(entry));
  std::string_view key;
  std::string_view value;
  for (const auto& f : fields) {
    (f.number == 1 ? key : value) = f.bytes;
  }
  setString(object, key, base64_values ? base64(value) : std::string(value), alloc);
  return ok();
}

// proto2 sends unset strings as empty ones; JSON leaves them out.
void addString(JsonValue& object, const char* name, std::string_view value, JsonAlloc& alloc) {
  if (!value.empty()) {
    setString(object, name, value, alloc);
  }
}

void appendString(JsonValue& object, const char* name, std::string_view value, JsonAlloc& alloc) {
  JsonValue* list = member(object, name);
  if (list == nullptr) {
    setMember(object, name, JsonValue(rapidjson::kArrayType), alloc);
    list = member(object, name);
  }
  list->PushBack(str(value, alloc), alloc);
}

Status decodeObjectMeta(std::string_view data, JsonValue& meta, JsonAlloc& alloc) {
  OPSY_ASSIGN_OR_RETURN(auto fields, parseFields(data));
  for (const auto& f : fields) {
    switch (f.number) {
      case 1: addString(meta, "name", f.bytes, alloc); break;
      case 2: addString(meta, "generateName", f.bytes, alloc); break;
      case 3: addString(meta, "namespace", f.bytes, alloc); break;
      case 6: addString(meta, "resourceVersion", f.bytes, alloc); break;
      case 11:
        OPSY_RETURN_IF_ERROR(
            addMapEntry(objectMember(meta, "labels", alloc), f.bytes, false, alloc));
        break;
      case 12:
        OPSY_RETURN_IF_ERROR(
            addMapEntry(objectMember(meta, "annotations", alloc), f.bytes, false, alloc));
        break;
      case 14: appendString(meta, "finalizers", f.bytes, alloc); break;
      default: break;  // uid, timestamps, owner references: not sent by create commands
    }
  }
  return ok();
}

}  // namespace

Result<Json> protobufToJson(std::string_view body) {
  static constexpr std::string_view kMagic("k8s\0", 4);
  if (body.substr(0, 4) != kMagic) {
    return fail(ErrorCode::InvalidArgument, "missing protobuf envelope");
  }
  OPSY_ASSIGN_OR_RETURN(auto envelope, parseFields(body.substr(4)));
  std::string api_version;
  std::string kind;
  std::string_view raw;
  for (const auto& f : envelope) {
    if (f.number == 1) {
      OPSY_ASSIGN_OR_RETURN(auto type_meta, parseFields(f.bytes));
      for (const auto& t : type_meta) {
        (t.number == 1 ? api_version : kind) = std::string(t.bytes);
      }
    } else if (f.number == 2) {
      raw = f.bytes;
    }
  }
  if (api_version != "v1" || (kind != "Namespace" && kind != "ConfigMap" && kind != "Secret" &&
                              kind != "ServiceAccount")) {
    return fail(ErrorCode::InvalidArgument, "protobuf is not supported for " + kind);
  }
  Json doc;
  doc.SetObject();
  auto& a = doc.GetAllocator();
  doc.AddMember("apiVersion", "v1", a);
  doc.AddMember("kind", str(kind, a), a);
  OPSY_ASSIGN_OR_RETURN(auto fields, parseFields(raw));
  for (const auto& f : fields) {
    if (f.number == 1) {
      OPSY_RETURN_IF_ERROR(decodeObjectMeta(f.bytes, objectMember(doc, "metadata", a), a));
    } else if (kind == "ConfigMap" && f.number == 2) {
      OPSY_RETURN_IF_ERROR(addMapEntry(objectMember(doc, "data", a), f.bytes, false, a));
    } else if (kind == "ConfigMap" && f.number == 3) {
      OPSY_RETURN_IF_ERROR(addMapEntry(objectMember(doc, "binaryData", a), f.bytes, true, a));
    } else if ((kind == "ConfigMap" && f.number == 4) || (kind == "Secret" && f.number == 5)) {
      setMember(doc, "immutable", JsonValue(f.varint != 0), a);
    } else if (kind == "Secret" && f.number == 2) {
      OPSY_RETURN_IF_ERROR(addMapEntry(objectMember(doc, "data", a), f.bytes, true, a));
    } else if (kind == "Secret" && f.number == 3) {
      addString(doc, "type", f.bytes, a);
    } else if (kind == "Secret" && f.number == 4) {
      OPSY_RETURN_IF_ERROR(addMapEntry(objectMember(doc, "stringData", a), f.bytes, false, a));
    } else if (kind == "Namespace" && f.number == 2) {
      OPSY_ASSIGN_OR_RETURN(auto spec, parseFields(f.bytes));
      auto& spec_json = objectMember(doc, "spec", a);
      for (const auto& s : spec) {
        if (s.number == 1) {
          appendString(spec_json, "finalizers", s.bytes, a);
        }
      }
    } else if (kind == "ServiceAccount" && f.number == 4) {
      setMember(doc, "automountServiceAccountToken", JsonValue(f.varint != 0), a);
    }
  }
  return doc;
}

}  // namespace opsy::testing
