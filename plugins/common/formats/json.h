// Layer formats: wire formats, bytes in and bytes out; uses nothing else of camcast's.
// JSON text (RFC 8259) for the answers camcast writes.
#pragma once

#include <string>
#include <string_view>

namespace camcast {

// `s` as a JSON string, quotes included: '"', '\' and control characters escaped.
std::string json_string(std::string_view s);

}  // namespace camcast
