// Layer formats: wire formats, bytes in and bytes out; uses nothing else of camcast's.
// SOAP requests as ONVIF clients send them (SOAP 1.2 envelopes, WS-Security's UsernameToken),
// read without a general XML parser: elements, attributes, text, CDATA and the five entities
// (and character references); no DTD (refused: no entity of the sender's is ever expanded);
// names compared without their namespace prefixes. Bounded in bytes, depth and elements.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>

namespace camcast::soap {

constexpr size_t kMaxBytes = 64 * 1024;
constexpr size_t kMaxDepth = 32;
constexpr size_t kMaxElements = 1024;
constexpr size_t kMaxText = 4096;  // of one element's text

// WS-Security's UsernameToken (OASIS Username Token Profile 1.1) from the Header.
struct UsernameToken {
  std::string username, password, nonce, created;
  bool digest = false;  // Password Type="…#PasswordDigest"; else the password itself
};

struct Request {
  std::string operation;  // the Body's first element, without its prefix ("GetStreamUri")
  // The text of the operation's elements by name, the first of each at any depth
  // ("ProfileToken", "Protocol").
  std::map<std::string, std::string> params;
  bool has_token = false;
  UsernameToken token;
  std::string message_id;  // WS-Addressing's MessageID in the Header (WS-Discovery's probes)
};

// Reads an envelope; false with `why` (for the fault's text) when it is not one or passes a
// bound.
bool read_request(std::string_view xml, Request *out, std::string *why);

// `text` escaped for XML content and attribute values.
std::string escape(std::string_view text);

}  // namespace camcast::soap
