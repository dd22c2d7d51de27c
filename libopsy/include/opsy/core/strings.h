// File: strings.h
//
// Small string helpers several layers need (tokens read from files and Secrets end in a newline;
// HTTP header values carry optional whitespace; error messages quote what the user wrote).
//
//   std::string token(trimSpace(file_contents));
//   return fail(ErrorCode::InvalidArgument, "unknown name " + quoteForMessage(token));
#pragma once

#include <string>
#include <string_view>

namespace opsy {

// `s` without leading and trailing ASCII whitespace (space, \t, \n, \v, \f, \r).
std::string_view trimSpace(std::string_view s);

// `s` in double quotes for an error message, with `"` and `\` backslash-escaped and control and
// non-ASCII bytes written as \xNN, so whatever a user or a fuzzer typed stays one printable line.
std::string quoteForMessage(std::string_view s);

}  // namespace opsy
