// File: enum_text.h (private)
//
// The two directions between an AWS enumeration and its spellings, from one table per enum, so
// toString() and parse…() cannot disagree.
//
//   constexpr EnumText<ImageState> kImageStates[] = {{ImageState::Pending, "pending"}, ...};
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "opsy/aws/types.h"

namespace opsy::aws {

template <class E>
using EnumText = std::pair<E, std::string_view>;

// The spelling of `value` in `table`; "Unknown" when absent (E::Unknown is never listed).
template <class E, std::size_t N>
std::string_view enumToText(E value, const EnumText<E> (&table)[N]) {
  for (const auto& [e, text] : table) {
    if (e == value) {
      return text;
    }
  }
  return "Unknown";
}

// The enumerator spelled exactly `text`, E::Unknown for anything else.
template <class E, std::size_t N>
E enumFromText(std::string_view text, const EnumText<E> (&table)[N]) {
  for (const auto& [e, t] : table) {
    if (t == text) {
      return e;
    }
  }
  return E::Unknown;
}

// `text` parsed with `parse`, keeping the text as sent.
template <class E>
Parsed<E> parsedAs(std::string text, E (*parse)(std::string_view)) {
  E value = parse(text);
  return Parsed<E>(value, std::move(text));
}

}  // namespace opsy::aws
