#include "record/recording_resource.h"

#include "formats/json.h"
#include "net/status_phrase.h"
#include "record/segments.h"

#include <cinttypes>

namespace camcast::record {

void RecordingResource::fill_stats(MountStats *stats) {
  Recorder::Stats s;
  std::string dir;
  if (!stats_(&s, &dir))
    return;
  stats->json_fields["recording"] =
      "{\"writing\":" + (s.writing.empty() ? std::string("null") : json_string(s.writing)) +
      ",\"segments\":" + std::to_string(s.segments) +
      ",\"bytes_written\":" + std::to_string(s.bytes_written) +
      ",\"frames_written\":" + std::to_string(s.frames_written) +
      ",\"frames_dropped\":" + std::to_string(s.frames_dropped) +
      ",\"gaps\":" + std::to_string(s.gaps) + ",\"deleted\":" + std::to_string(s.deleted) +
      ",\"paused\":" + (s.paused ? "true" : "false") +
      ",\"problem\":" + (s.problem.empty() ? std::string("null") : json_string(s.problem)) + "}";
}

bool RecordingResource::serve_http(SoupServerMessage *msg, std::string_view rest) {
  if (!rest.empty())
    return false;
  Recorder::Stats s;
  std::string dir;
  const bool running = stats_(&s, &dir);
  std::string body =
      "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<title>Recordings</title><style>body{font-family:system-ui,sans-serif;margin:2em}"
      "td{padding:.1em 1em .1em 0}</style></head>\n<body>\n<h1>Recordings</h1>\n";
  if (!running) {
    body += "<p>Not recording now.</p>\n";
  } else {
    g_autofree char *where = g_markup_escape_text(dir.c_str(), -1);
    g_autofree char *problem = g_markup_escape_text(s.problem.c_str(), -1);
    body += std::string("<p>") + (s.paused ? "Paused: " : "Recording into ") +
            (s.paused ? problem : where) + "</p>\n";
    body += "<table>\n";
    for (const SegmentFile &f : list_segments(dir)) {
      g_autofree char *name = g_markup_escape_text(f.name.c_str(), -1);
      body += std::string("<tr><td>") + name + "</td><td>" + human_bytes(f.size) +
              (f.name == s.writing ? " (being written)" : "") + "</td></tr>\n";
    }
    body += "</table>\n";
  }
  body += "<p><a href=\"/\">All streams</a></p>\n</body></html>\n";
  set_answer(msg, SOUP_STATUS_OK, "text/html; charset=utf-8", body);
  return true;
}

}  // namespace camcast::record
