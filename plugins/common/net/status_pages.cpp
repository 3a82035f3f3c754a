#include "net/status_pages.h"

#include "formats/json.h"

#include <glib.h>

#include <cinttypes>
#include <cstdio>

namespace camcast {

namespace {

// Label values escape backslash, double quote and newline (exposition format 0.0.4).
std::string label(const std::string &s) {
  std::string out;
  for (char ch : s) {
    if (ch == '\\' || ch == '"')
      out += '\\';
    if (ch == '\n')
      out += "\\n";
    else
      out += ch;
  }
  return out;
}

std::string html(const std::string &s) {
  char *escaped = g_markup_escape_text(s.c_str(), -1);
  std::string out(escaped);
  g_free(escaped);
  return out;
}

std::string format(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
std::string format(const char *fmt, ...) {
  va_list args;
  va_start(args, fmt);
  char *s = g_strdup_vprintf(fmt, args);
  va_end(args);
  std::string out(s);
  g_free(s);
  return out;
}

}  // namespace

std::string render_index(const std::vector<MountStats> &mounts,
                         const std::vector<OutputReport> &outputs, gint64 now_us) {
  std::string out =
      "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<title>camcast</title>"
      "<style>body{font-family:system-ui,sans-serif;margin:2em}"
      "td,th{padding:.2em 1em;text-align:left;vertical-align:top}"
      "table{display:block;max-width:100%;overflow-x:auto}"
      "@media (max-width:600px){body{margin:1em}td,th{padding:.2em .5em}}"
      "</style></head>\n<body>\n<h1>camcast</h1>\n";
  if (mounts.empty()) {
    out += "<p>No streams are being served right now.</p>\n";
  } else {
    out +=
        "<table>\n<tr><th>stream</th><th>kind</th><th>viewers</th><th>frames</th>"
        "<th>received</th></tr>\n";
    for (const MountStats &m : mounts)
      out += format(
          "<tr><td><a href=\"%s\">%s</a></td><td>%s</td><td>%zu</td>"
          "<td>%" PRIu64 "</td><td>%.1f MB</td></tr>\n",
          html(m.path).c_str(), html(m.path).c_str(),
          (html(m.kind) + (m.idle ? " (idle: nobody watches)" : "")).c_str(), m.clients.size(),
          m.units_in, m.bytes_in / 1e6);
    out += "</table>\n";
  }
  if (!outputs.empty()) {
    out += "<h2>Outputs</h2>\n<table>\n<tr><th>output</th><th>state</th><th>since</th></tr>\n";
    for (const OutputReport &o : outputs)
      out += format("<tr><td>%s</td><td>%s</td><td>%.0f s</td></tr>\n", html(o.name).c_str(),
                    html(o.state == "down" ? "down: " + o.why : o.state).c_str(),
                    (now_us - o.since_us) / 1e6);
    out += "</table>\n";
  }
  out +=
      "<p><a href=\"/api/streams\">/api/streams</a> · <a href=\"/metrics\">/metrics</a></p>\n"
      "</body></html>\n";
  return out;
}

std::string render_streams_json(const std::vector<MountStats> &mounts, bool peers,
                                const std::vector<OutputReport> &outputs, gint64 now_us) {
  std::string out = "{\"streams\":[";
  for (size_t i = 0; i < mounts.size(); i++) {
    const MountStats &m = mounts[i];
    out += (i ? "," : "") + format("{\"path\":%s,\"kind\":%s,\"frames_in\":%" PRIu64
                                   ",\"bytes_in\":%" PRIu64
                                   ",\"queued_frames\":%zu,"
                                   "\"queued_bytes\":%" PRIu64 ",\"clients_total\":%" PRIu64
                                   ",\"frames_dropped_in\":%" PRIu64 ",\"idle\":%s,\"clients\":[",
                                   json_string(m.path).c_str(), json_string(m.kind).c_str(),
                                   m.units_in, m.bytes_in, m.queued_units, m.queued_bytes,
                                   m.clients_total, m.units_dropped_in, m.idle ? "true" : "false");
    for (size_t j = 0; j < m.clients.size(); j++) {
      const ClientStats &c = m.clients[j];
      out += (j ? "," : "") +
             format("{\"id\":%" PRIu64
                    ",\"peer\":%s,\"connected_seconds\":%.3f,"
                    "\"bytes_sent\":%" PRIu64 ",\"frames_sent\":%" PRIu64
                    ",\"frames_skipped\":%" PRIu64 ",\"recoveries\":%" PRIu64
                    ",\"lag_frames\":%" PRId64 ",\"lag_bytes\":%" PRId64
                    ",\"lag_seconds\":%.3f,\"rtt_ms\":%s,\"rung\":%zu,"
                    "\"rung_pinned\":%s,\"rung_changes\":%" PRIu64 ",\"link_kbps\":%s}",
                    c.id, peers ? json_string(c.peer).c_str() : "null", c.connected_us / 1e6,
                    c.bytes_sent, c.units_sent, c.units_skipped, c.recoveries, c.lag_units,
                    c.lag_bytes, c.lag_time / 1e9,
                    c.rtt_us < 0 ? "null" : format("%.3f", c.rtt_us / 1e3).c_str(), c.rung,
                    c.pinned >= 0 ? "true" : "false", c.rung_changes,
                    c.link_bps ? std::to_string(c.link_bps / 1000).c_str() : "null");
    }
    out += "],\"rungs\":[";
    for (size_t r = 0; r < m.rungs.size(); r++)
      out += (r ? "," : "") + format("{\"kbps\":%" PRIu64 ",\"viewers\":%zu}",
                                     m.rungs[r].bitrate / 1000, m.rungs[r].viewers);
    out += "]";
    for (const auto &[name, value] : m.json_fields)
      out += "," + json_string(name) + ":" + value;
    out += "}";
  }
  out += "],\"outputs\":[";
  for (size_t i = 0; i < outputs.size(); i++)
    out += (i ? "," : "") +
           format("{\"name\":%s,\"state\":%s,\"why\":%s,\"seconds\":%.3f}",
                  json_string(outputs[i].name).c_str(), json_string(outputs[i].state).c_str(),
                  outputs[i].state == "down" ? json_string(outputs[i].why).c_str() : "null",
                  (now_us - outputs[i].since_us) / 1e6);
  return out + "]}\n";
}

std::string render_metrics(const std::vector<MountStats> &mounts,
                           const std::vector<OutputReport> &outputs) {
  struct Family {
    const char *name, *type, *help;
  };
  // Per-mount families, then per-client families.
  static const Family mount_families[] = {
      {"camcast_stream_clients", "gauge", "Viewers connected to the stream."},
      {"camcast_stream_frames_received_total", "counter", "Frames the stream's sink produced."},
      {"camcast_stream_bytes_received_total", "counter", "Bytes the stream's sink produced."},
      {"camcast_stream_queued_bytes", "gauge", "Bytes held in the stream's shared queue."},
      {"camcast_stream_clients_total", "counter", "Viewers that have connected."},
  };
  static const Family client_families[] = {
      {"camcast_client_bytes_sent_total", "counter", "Bytes sent to the viewer."},
      {"camcast_client_frames_sent_total", "counter", "Frames sent to the viewer."},
      {"camcast_client_frames_skipped_total", "counter",
       "Frames the viewer skipped to catch up with live."},
      {"camcast_client_lag_frames", "gauge", "Frames queued for the viewer and not yet sent."},
      {"camcast_client_lag_bytes", "gauge", "Bytes queued for the viewer and not yet sent."},
      {"camcast_client_connected_seconds", "gauge", "How long the viewer has been connected."},
      {"camcast_client_rung", "gauge", "The rendition the viewer is on (0: the top)."},
  };
  std::string out;
  for (size_t f = 0; f < G_N_ELEMENTS(mount_families); f++) {
    out += format("# HELP %s %s\n# TYPE %s %s\n", mount_families[f].name, mount_families[f].help,
                  mount_families[f].name, mount_families[f].type);
    for (const MountStats &m : mounts) {
      const uint64_t values[] = {m.clients.size(), m.units_in, m.bytes_in, m.queued_bytes,
                                 m.clients_total};
      out += format("%s{stream=\"%s\"} %" PRIu64 "\n", mount_families[f].name,
                    label(m.path).c_str(), values[f]);
    }
  }
  for (size_t f = 0; f < G_N_ELEMENTS(client_families); f++) {
    out += format("# HELP %s %s\n# TYPE %s %s\n", client_families[f].name, client_families[f].help,
                  client_families[f].name, client_families[f].type);
    for (const MountStats &m : mounts)
      for (const ClientStats &c : m.clients) {
        const std::string value =
            f == 5 ? format("%.3f", c.connected_us / 1e6)
                   : std::to_string(std::vector<int64_t>{
                         int64_t(c.bytes_sent), int64_t(c.units_sent), int64_t(c.units_skipped),
                         c.lag_units, c.lag_bytes, 0, int64_t(c.rung)}[f]);
        out += format("%s{stream=\"%s\",client=\"%" PRIu64 "\"} %s\n", client_families[f].name,
                      label(m.path).c_str(), c.id, value.c_str());
      }
  }
  if (!outputs.empty())
    out +=
        "# HELP camcast_output_up Whether the output runs (1) or is down (0).\n"
        "# TYPE camcast_output_up gauge\n";
  for (const OutputReport &o : outputs)
    out += format("camcast_output_up{output=\"%s\"} %d\n", label(o.name).c_str(),
                  o.state == "running" ? 1 : 0);
  return out;
}

}  // namespace camcast
