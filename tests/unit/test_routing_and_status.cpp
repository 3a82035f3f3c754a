// Mount paths, longest-prefix routing on '/' boundaries, and the status pages' formats.
#include "net/file_answer.h"
#include "net/mount_table.h"
#include "net/status_pages.h"

#include <glib.h>

using namespace camcast;

namespace {

void test_normalize() {
  std::string out;
  g_assert_true(normalize_mount_path("cam", &out));
  g_assert_cmpstr(out.c_str(), ==, "/cam");
  g_assert_true(normalize_mount_path("//a///b/", &out));
  g_assert_cmpstr(out.c_str(), ==, "/a/b");
  g_assert_true(normalize_mount_path("", &out));
  g_assert_cmpstr(out.c_str(), ==, "/");
  g_assert_false(normalize_mount_path("/a/../b", &out));
  g_assert_false(normalize_mount_path("/a b", &out));
  g_assert_false(normalize_mount_path("/a?x=1", &out));
  g_assert_false(normalize_mount_path("/%2e", &out));
}

void test_longest_prefix_on_slash_boundaries() {
  MountTable<int> t;
  g_assert_true(t.add("/cam", 1));
  g_assert_true(t.add("/cam/hd", 2));
  g_assert_false(t.add("/cam", 3));
  struct {
    const char *path;
    bool found;
    int value;
    const char *rest;
  } cases[] = {
      {"/cam", true, 1, ""},     {"/cam/snapshot.jpg", true, 1, "/snapshot.jpg"},
      {"/cam/hd", true, 2, ""},  {"/cam/hd/stream.mjpg", true, 2, "/stream.mjpg"},
      {"/camera", false, 0, ""}, {"/ca", false, 0, ""},
      {"/", false, 0, ""},
  };
  for (auto &c : cases) {
    int value = 0;
    std::string_view rest;
    g_test_message("%s", c.path);
    g_assert_cmpint(t.match(c.path, &value, &rest), ==, c.found);
    if (c.found) {
      g_assert_cmpint(value, ==, c.value);
      g_assert_true(rest == c.rest);
    }
  }
  g_assert_true(t.add("/", 9));
  int value = 0;
  std::string_view rest;
  g_assert_true(t.match("/camera", &value, &rest));
  g_assert_cmpint(value, ==, 9);
  g_assert_true(rest == "/camera");
  g_assert_true(t.match("/", &value, &rest));
  g_assert_true(rest.empty());
  g_assert_true(t.remove("/cam"));
  g_assert_true(t.match("/cam/x", &value, &rest));
  g_assert_cmpint(value, ==, 9);
}

// Every number different, so that a value reported under another's name shows.
std::vector<MountStats> sample() {
  MountStats m;
  m.path = "/cam\"<1>";
  m.kind = "wssink";
  m.units_in = 300;
  m.bytes_in = 123456;
  m.queued_bytes = 4321;
  m.clients_total = 17;
  ClientStats c;
  c.id = 7;
  c.peer = "192.0.2.7:5000";
  c.bytes_sent = 1000;
  c.units_sent = 10;
  c.units_skipped = 3;
  c.lag_units = 2;
  c.lag_bytes = 555;
  c.rung = 4;
  c.connected_us = 1500000;
  m.clients.push_back(c);
  return {m};
}

void test_json_escapes_and_reports_clients() {
  std::string json = render_streams_json(sample(), true);
  g_assert_nonnull(strstr(json.c_str(), "\"path\":\"/cam\\\"<1>\""));
  g_assert_nonnull(strstr(json.c_str(), "\"frames_skipped\":3"));
  g_assert_nonnull(strstr(json.c_str(), "\"connected_seconds\":1.500"));
  g_assert_nonnull(strstr(json.c_str(), "\"rtt_ms\":null"));
  g_assert_nonnull(strstr(json.c_str(), "\"peer\":\"192.0.2.7:5000\""));
  // Without a credential, nobody learns who watches from where.
  json = render_streams_json(sample(), false);
  g_assert_nonnull(strstr(json.c_str(), "\"peer\":null"));
  g_assert_null(strstr(json.c_str(), "192.0.2.7"));
}

void test_metrics_exposition_format() {
  std::string text = render_metrics(sample());
  // Each family with its own value (the sample's numbers all differ).
  const std::string stream = "{stream=\"/cam\\\"<1>\"}",
                    client = "{stream=\"/cam\\\"<1>\",client=\"7\"}";
  for (const std::string &line :
       {"camcast_stream_clients" + stream + " 1",
        "camcast_stream_frames_received_total" + stream + " 300",
        "camcast_stream_bytes_received_total" + stream + " 123456",
        "camcast_stream_queued_bytes" + stream + " 4321",
        "camcast_stream_clients_total" + stream + " 17",
        "camcast_client_bytes_sent_total" + client + " 1000",
        "camcast_client_frames_sent_total" + client + " 10",
        "camcast_client_frames_skipped_total" + client + " 3",
        "camcast_client_lag_frames" + client + " 2", "camcast_client_lag_bytes" + client + " 555",
        "camcast_client_connected_seconds" + client + " 1.500",
        "camcast_client_rung" + client + " 4"})
    if (!strstr(text.c_str(), ("\n" + line + "\n").c_str()))
      g_error("/metrics has no line \"%s\":\n%s", line.c_str(), text.c_str());
  g_assert_nonnull(strstr(text.c_str(), "# TYPE camcast_client_frames_skipped_total counter\n"));
  g_assert_nonnull(
      strstr(text.c_str(),
             "camcast_client_frames_skipped_total{stream=\"/cam\\\"<1>\",client=\"7\"} 3\n"));
  g_assert_nonnull(strstr(text.c_str(), "camcast_stream_clients{stream=\"/cam\\\"<1>\"} 1\n"));
  // Every sample line is "name{labels} value".
  gchar **lines = g_strsplit(text.c_str(), "\n", -1);
  for (gchar **l = lines; *l; l++)
    if (**l && **l != '#')
      g_assert_true(g_regex_match_simple("^[a-z_]+\\{[^}]*\\} [0-9.]+$", *l, GRegexCompileFlags(0),
                                         GRegexMatchFlags(0)));
  g_strfreev(lines);
}

// Outputs beside the streams (a push that is down, one that runs): in the JSON with the reason
// and how long, as camcast_output_up in /metrics, and in the index, escaped.
void test_outputs() {
  const std::vector<OutputReport> outputs = {
      {"rtmp/rtmp", "down", "error from rtmp2sink1: \"refused\" <now>", 1000000},
      {"srt/srt", "running", "", 4000000}};
  const std::string json = render_streams_json(sample(), true, outputs, 6500000);
  g_assert_nonnull(strstr(json.c_str(),
                          "],\"outputs\":[{\"name\":\"rtmp/rtmp\",\"state\":"
                          "\"down\",\"why\":\"error from rtmp2sink1: \\\"refused\\\" "
                          "<now>\",\"seconds\":5.500},{\"name\":\"srt/srt\",\"state\":"
                          "\"running\",\"why\":null,\"seconds\":2.500}]}"));
  g_assert_nonnull(strstr(render_streams_json({}, true).c_str(), "\"outputs\":[]"));
  const std::string text = render_metrics(sample(), outputs);
  g_assert_nonnull(strstr(text.c_str(), "camcast_output_up{output=\"rtmp/rtmp\"} 0\n"));
  g_assert_nonnull(strstr(text.c_str(), "camcast_output_up{output=\"srt/srt\"} 1\n"));
  const std::string html = render_index(sample(), outputs, 6500000);
  g_assert_nonnull(strstr(html.c_str(),
                          "<td>down: error from rtmp2sink1: &quot;refused&quot; "
                          "&lt;now&gt;</td><td>6 s</td>"));
}

void test_index_escapes_html() {
  std::string html = render_index(sample());
  g_assert_null(strstr(html.c_str(), "<1>"));
  g_assert_nonnull(strstr(html.c_str(), "/cam&quot;&lt;1&gt;"));
  g_assert_nonnull(strstr(render_index({}).c_str(), "No streams"));
}

}  // namespace

// What of a Range header libsoup is shown (net/file_answer.h): one range of bytes with numbers it
// cannot overflow; several ranges, other units, spaces and numbers past 18 digits are not.
void test_single_byte_range() {
  for (const char *one :
       {"bytes=0-", "bytes=100-1099", "bytes=-500", "bytes=5-5", "bytes=999999999999999999-"})
    g_assert_true(camcast::single_byte_range(one));
  for (const char *not_one :
       {"", "bytes=", "bytes=-", "bytes=0-,0-", "bytes=0-1,3-4", "bytes=5-1", "bytes=abc",
        "bytes=1000000000000000000-", "bytes=99999999999999999999999-", "bytes=-0x10", "items=0-1",
        "Bytes=0-", "bytes= 0-1", "bytes=0-1 ", "bytes=--1", "bytes=1-2-3"})
    g_assert_false(camcast::single_byte_range(not_one));
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/routing/normalize", test_normalize);
  g_test_add_func("/routing/longest-prefix", test_longest_prefix_on_slash_boundaries);
  g_test_add_func("/status/json", test_json_escapes_and_reports_clients);
  g_test_add_func("/status/metrics", test_metrics_exposition_format);
  g_test_add_func("/status/index", test_index_escapes_html);
  g_test_add_func("/status/outputs", test_outputs);
  g_test_add_func("/status/single-byte-range", test_single_byte_range);
  return g_test_run();
}
