#include "net/file_answer.h"

#include "net/status_phrase.h"

namespace camcast {

namespace {

// 1 to 18 digits (no number past 10^18: nothing overflows); the digits taken from the front.
bool digits(std::string_view *s, uint64_t *value) {
  size_t n = 0;
  uint64_t v = 0;
  while (n < s->size() && (*s)[n] >= '0' && (*s)[n] <= '9' && n < 19)
    v = v * 10 + uint64_t((*s)[n++] - '0');
  if (n == 0 || n > 18)
    return false;
  *value = v;
  s->remove_prefix(n);
  return true;
}

}  // namespace

bool single_byte_range(std::string_view range) {
  constexpr std::string_view unit = "bytes=";
  if (range.substr(0, unit.size()) != unit)
    return false;
  range.remove_prefix(unit.size());
  uint64_t first = 0, last = 0;
  if (!range.empty() && range[0] == '-') {  // the last N bytes
    range.remove_prefix(1);
    return digits(&range, &last) && range.empty();
  }
  if (!digits(&range, &first) || range.empty() || range[0] != '-')
    return false;
  range.remove_prefix(1);
  return range.empty() || (digits(&range, &last) && range.empty() && last >= first);
}

void answer_bytes(SoupServerMessage *msg, GBytes *body, const char *content_type) {
  SoupMessageHeaders *request = soup_server_message_get_request_headers(msg);
  SoupMessageHeaders *response = soup_server_message_get_response_headers(msg);
  const char *range = soup_message_headers_get_one(request, "Range");
  if (range && !single_byte_range(range))
    soup_message_headers_remove(request, "Range");
  soup_message_headers_replace(response, "Accept-Ranges", "bytes");
  soup_message_headers_set_content_type(response, content_type, nullptr);
  soup_server_message_set_status(msg, SOUP_STATUS_OK, status_phrase(SOUP_STATUS_OK));
  soup_message_body_append_bytes(soup_server_message_get_response_body(msg), body);
}

}  // namespace camcast
