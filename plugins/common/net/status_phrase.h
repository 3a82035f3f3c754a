// Layer net: the reason phrase of an HTTP status, and the one way camcast sets an answer.
#pragma once

#include <libsoup/soup.h>

#include <string_view>

namespace camcast {

// Works around libsoup 3.2.3, whose table has no phrase for 429 and 431 (RFC 6585) and answers
// "Unknown Error" (soup_status_get_phrase, checked on Debian 12's 3.2.3): every status line and
// soup_server_message_set_status() of ours takes its phrase from here.
inline const char *status_phrase(guint status) {
  switch (status) {
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  default: return soup_status_get_phrase(status);
  }
}

// Answers `msg` with `status` (and its phrase) and `body` of `content_type`.
inline void set_answer(SoupServerMessage *msg, guint status, const char *content_type,
                       std::string_view body) {
  soup_server_message_set_status(msg, status, status_phrase(status));
  soup_server_message_set_response(msg, content_type, SOUP_MEMORY_COPY, body.data(), body.size());
}

}  // namespace camcast
