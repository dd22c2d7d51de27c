#include "kube/base64.h"

#include <openssl/evp.h>

#include <memory>

namespace opsy::kube {

Result<std::string> base64Decode(std::string_view text) {
  std::unique_ptr<EVP_ENCODE_CTX, decltype(&EVP_ENCODE_CTX_free)> ctx(EVP_ENCODE_CTX_new(),
                                                                      &EVP_ENCODE_CTX_free);
  if (!ctx) {
    return fail(ErrorCode::Internal, "out of memory");
  }
  std::string out(text.size() / 4 * 3 + 3, '\0');
  EVP_DecodeInit(ctx.get());
  int len = 0;
  auto* dst = reinterpret_cast<unsigned char*>(out.data());
  if (EVP_DecodeUpdate(ctx.get(), dst, &len, reinterpret_cast<const unsigned char*>(text.data()),
                       static_cast<int>(text.size())) < 0) {
    return fail(ErrorCode::InvalidArgument, "not valid base64");
  }
  int tail = 0;
  if (EVP_DecodeFinal(ctx.get(), dst + len, &tail) < 0) {
    return fail(ErrorCode::InvalidArgument, "not valid base64");
  }
  out.resize(static_cast<size_t>(len) + static_cast<size_t>(tail));
  return out;
}

std::string base64Encode(std::string_view bytes) {
  std::string out((bytes.size() + 2) / 3 * 4 + 1, '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(bytes.data()),
                            static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(len));
  return out;
}

}  // namespace opsy::kube
