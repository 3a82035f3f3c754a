#include "record/recording_resource.h"

#include "formats/json.h"
#include "net/file_answer.h"
#include "net/status_phrase.h"
#include "record/segments.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace camcast::record {

namespace {

// A query parameter as a number of seconds; `fallback` when absent or not a number.
double query_seconds(SoupServerMessage *msg, const char *name, double fallback) {
  const char *query = g_uri_get_query(soup_server_message_get_uri(msg));
  if (!query)
    return fallback;
  GHashTable *form = soup_form_decode(query);
  const char *value = static_cast<const char *>(g_hash_table_lookup(form, name));
  char *end = nullptr;
  const double v = value ? strtod(value, &end) : fallback;
  const bool ok = value && end != value && *end == 0 && std::isfinite(v);
  g_hash_table_unref(form);
  return ok ? v : fallback;
}

}  // namespace

void RecordingResource::serving(Mount *mount) {
  path_ = mount ? mount->path() : "";
  if (!mount)
    known_.clear();
}

void RecordingResource::fill_stats(MountStats *stats) {
  Recorder::Stats s;
  std::string dir;
  if (!stats_(&s, &dir))
    return;
  stats->units_in = s.frames_written;
  stats->bytes_in = s.bytes_written;
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

const fmp4::FileSummary &RecordingResource::summary(const std::string &dir, const SegmentFile &f) {
  auto it = known_.find(f.name);
  if (it != known_.end() && it->second.size == f.size && it->second.modified_us == f.modified_us)
    return it->second.summary;
  Known k{f.size, f.modified_us, {}};
  const int fd = open((dir + "/" + f.name).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    k.summary = fmp4::summarize(
        [fd](uint64_t offset, uint8_t *buf, size_t len) {
          const ssize_t n = pread(fd, buf, len, off_t(offset));
          return n > 0 ? size_t(n) : size_t(0);
        },
        f.size);
    close(fd);
  }
  return known_.insert_or_assign(f.name, k).first->second.summary;
}

bool RecordingResource::entries(std::vector<Entry> *out, std::string *dir) {
  Recorder::Stats s;
  if (!stats_(&s, dir))
    return false;
  std::map<std::string, Known> still;
  for (const SegmentFile &f : list_segments(*dir)) {
    const fmp4::FileSummary &summary = this->summary(*dir, f);
    Entry e;
    e.name = f.name;
    // The first frame's capture time (prft: NTP, from 1900), else the second its name gives.
    e.start = summary.first_ntp ? double(summary.first_ntp >> 32) - 2208988800.0 +
                                      double(summary.first_ntp & 0xffffffff) / 4294967296.0
                                : double(f.start_us) / 1e6;
    e.duration = summary.duration;
    e.size = f.size;
    e.whole = summary.whole_bytes;
    e.writing = f.name == s.writing;
    out->push_back(e);
    still.insert(*known_.find(f.name));
  }
  known_.swap(still);
  return true;
}

bool RecordingResource::serve_api(SoupServerMessage *msg, std::string_view rest) {
  return rest == "/recordings" && serve_list(msg);
}

bool RecordingResource::serve_list(SoupServerMessage *msg) {
  std::vector<Entry> all;
  std::string dir;
  if (!entries(&all, &dir)) {
    set_answer(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "text/plain", "not recording now\n");
    return true;
  }
  const double from = query_seconds(msg, "from", -INFINITY),
               to = query_seconds(msg, "to", INFINITY);
  std::string json = "{\"recordings\":[";
  bool first = true;
  for (const Entry &e : all) {
    if (e.start + e.duration < from || e.start > to)
      continue;
    char numbers[160];
    snprintf(numbers, sizeof numbers,
             ",\"start\":%.3f,\"duration\":%.3f,\"size\":%" PRIu64 ",\"writing\":%s}", e.start,
             e.duration, e.size, e.writing ? "true" : "false");
    json += std::string(first ? "" : ",") + "{\"name\":" + json_string(e.name) +
            ",\"url\":" + json_string(path_ + "/" + e.name) + numbers;
    first = false;
  }
  json += "]}\n";
  soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Cache-Control",
                               "no-store");
  set_answer(msg, SOUP_STATUS_OK, "application/json", json);
  return true;
}

goffset RecordingResource::body_limit(std::string_view method, std::string_view rest) {
  int64_t start;
  int n;
  return method == "DELETE" && rest.size() > 1 && parse_segment_name(rest.substr(1), &start, &n)
             ? 0
             : -1;
}

bool RecordingResource::serve_http(SoupServerMessage *msg, std::string_view rest) {
  int64_t start;
  int n;
  // The list again inside the path, where a stream token for it reaches; the page at the path
  // itself is the sink's (web/recordings.html), and so are its files.
  if (rest == "/list.json")
    return serve_list(msg);
  if (rest.size() < 2 || !parse_segment_name(rest.substr(1), &start, &n))
    return false;
  // One file: the folder is not listed, and only the segment being written is read (up to where
  // its whole fragments end), on each of a player's range requests.
  Recorder::Stats s;
  std::string dir;
  struct stat st;
  SegmentFile f;
  f.name = rest.substr(1);
  if (!stats_(&s, &dir) || stat((dir + "/" + f.name).c_str(), &st) != 0 || !S_ISREG(st.st_mode))
    return false;
  f.size = uint64_t(st.st_size);
  f.modified_us = int64_t(st.st_mtim.tv_sec) * 1000000 + st.st_mtim.tv_nsec / 1000;
  Entry e;
  e.name = f.name;
  e.writing = f.name == s.writing;
  e.whole = e.writing ? summary(dir, f).whole_bytes : f.size;
  serve_segment(msg, dir, e);
  return true;
}

void RecordingResource::serve_segment(SoupServerMessage *msg, const std::string &dir,
                                      const Entry &e) {
  SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
  const char *method = soup_server_message_get_method(msg);
  const std::string path = dir + "/" + e.name;
  if (method == SOUP_METHOD_DELETE) {
    const Admission how = admission_of(msg);
    if (how != Admission::AccessToken && how != Admission::Session && how != Admission::Open)
      set_answer(msg, SOUP_STATUS_FORBIDDEN, "text/plain",
                 "a stream token watches recordings; deleting one takes the access token\n");
    else if (e.writing)
      set_answer(msg, SOUP_STATUS_CONFLICT, "text/plain",
                 "this segment is being written; it can go once the next one starts\n");
    else if (unlink(path.c_str()) != 0)
      set_answer(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "text/plain",
                 std::string("cannot delete it: ") + g_strerror(errno) + "\n");
    else {
      known_.erase(e.name);
      soup_server_message_set_status(msg, SOUP_STATUS_NO_CONTENT, nullptr);
    }
    return;
  }
  // The file as it is on disk, mapped, never copied; the segment being written only up to its
  // last whole fragment (the writer never cuts a file back before that: no page of the mapping
  // can vanish under it). A file written once never changes again: it may be kept a day.
  GError *error = nullptr;
  GMappedFile *file = g_mapped_file_new(path.c_str(), FALSE, &error);
  if (!file) {
    set_answer(msg, SOUP_STATUS_NOT_FOUND, "text/plain", std::string(error->message) + "\n");
    g_error_free(error);
    return;
  }
  const uint64_t size =
      std::min<uint64_t>(g_mapped_file_get_length(file), e.writing ? e.whole : UINT64_MAX);
  GBytes *whole = g_mapped_file_get_bytes(file);
  GBytes *body = g_bytes_new_from_bytes(whole, 0, size);
  g_bytes_unref(whole);
  g_mapped_file_unref(file);
  soup_message_headers_replace(headers, "Cache-Control",
                               e.writing ? "no-store" : "private, max-age=86400");
  answer_bytes(msg, body, "video/mp4");
  g_bytes_unref(body);
}

}  // namespace camcast::record
