// File: strings.h
//
// Small string helpers several layers need (tokens read from files and Secrets end in a newline;
// HTTP header values carry optional whitespace).
//
//   std::string token(trimSpace(file_contents));
#pragma once

#include <string_view>

namespace opsy {

// `s` without leading and trailing ASCII whitespace (space, \t, \n, \v, \f, \r).
std::string_view trimSpace(std::string_view s);

}  // namespace opsy
