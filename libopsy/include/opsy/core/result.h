// File: result.h
//
// Result<T> is the return type of every fallible libopsy function: either a T or an opsy::Error.
// It is tl::expected<T, Error> marked [[nodiscard]] (an alias cannot carry the attribute), so
// dropping any Result, and with it an error, warns (-Wunused-result) wherever it happens. Moving
// to std::expected (C++23) later changes only the base class. No exception crosses libopsy's API;
// code calling a throwing library converts at the boundary.
//
//   Result<int> parsePort(std::string_view s);
//   OPSY_ASSIGN_OR_RETURN(int port, parsePort(text));
//   OPSY_RETURN_IF_ERROR(server.listen(port));
//   (void)cache.refresh();  // best effort: the next reconcile reads again
#pragma once

#include <tl/expected.hpp>

#include <utility>

#include "opsy/core/error.h"

namespace opsy {

template <class T>
class [[nodiscard]] Result : public tl::expected<T, Error> {
  using Base = tl::expected<T, Error>;

 public:
  using Base::Base;
  Result() = default;
  // From the plain tl::expected that map(), and_then() and the other monadic members return.
  // NOLINTNEXTLINE(google-explicit-constructor)
  Result(Base base) : Base(std::move(base)) {}
};

using Status = Result<void>;

inline tl::unexpected<Error> fail(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error{code, std::move(message)});
}
inline tl::unexpected<Error> fail(Error e) {
  return tl::unexpected<Error>(std::move(e));
}

inline Status ok() {
  return {};
}

}  // namespace opsy

#define OPSY_CONCAT_INNER_(a, b) a##b
#define OPSY_CONCAT_(a, b) OPSY_CONCAT_INNER_(a, b)

// Returns the error of a failed Result from the enclosing function.
// NOLINTBEGIN(bugprone-macro-parentheses): `lhs` is a declaration and cannot be parenthesised.
#define OPSY_RETURN_IF_ERROR(expr)                              \
  do {                                                          \
    auto&& opsy_status_ = (expr);                               \
    if (!opsy_status_) {                                        \
      return ::tl::unexpected(std::move(opsy_status_).error()); \
    }                                                           \
  } while (false)

// Declares `lhs` from a successful Result, or returns its error from the enclosing function.
#define OPSY_ASSIGN_OR_RETURN(lhs, expr) \
  OPSY_ASSIGN_OR_RETURN_IMPL_(OPSY_CONCAT_(opsy_result_, __LINE__), lhs, expr)
#define OPSY_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr)  \
  auto tmp = (expr);                                 \
  if (!tmp) {                                        \
    return ::tl::unexpected(std::move(tmp).error()); \
  }                                                  \
  lhs = std::move(*tmp)
// NOLINTEND(bugprone-macro-parentheses)
