// File: utf8.h
//
// UTF-8 encoding of one code point, for decoders of escapes (\uXXXX in JSON-ish text, CEL string
// literals) that build strings byte by byte.
//
//   std::string s;  appendUtf8(s, U'é');  // "\xC3\xA9"
#pragma once

#include <string>

namespace opsy {

// Appends the UTF-8 bytes of `cp` (1 to 4 bytes; values above 0x10FFFF are not checked).
void appendUtf8(std::string& out, char32_t cp);

}  // namespace opsy
