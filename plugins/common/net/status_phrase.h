// Layer net: the reason phrase of an HTTP status, for every answer camcast writes.
#pragma once

#include <libsoup/soup.h>

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

}  // namespace camcast
