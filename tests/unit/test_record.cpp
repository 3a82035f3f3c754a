// The record layer's names and settings: segment names made and read back (and what is not one),
// the durations and sizes people write for keep and min-free, and retention by age in a folder of
// the test's own (the floor of free space needs a small filesystem: tests/elements, on a tmpfs).
#include "record/retention.h"
#include "record/segments.h"

#include <glib.h>
#include <glib/gstdio.h>

#include <fcntl.h>
#include <sys/stat.h>

#include <string>

using namespace camcast::record;

namespace {

void test_names() {
  // 2026-12-08 14:05:09.750 UTC.
  const int64_t t = int64_t(1796738709) * 1000000 + 750000;
  g_assert_true(segment_name(t) == "2026-12-08/14-05-09.mp4");
  g_assert_true(segment_name(t, 2) == "2026-12-08/14-05-09_2.mp4");
  int64_t start = 0;
  int n = 0;
  g_assert_true(parse_segment_name("2026-12-08/14-05-09.mp4", &start, &n));
  g_assert_cmpint(start, ==, int64_t(1796738709) * 1000000);
  g_assert_cmpint(n, ==, 1);
  g_assert_true(parse_segment_name("2026-12-08/14-05-09_12.mp4", &start, &n));
  g_assert_cmpint(n, ==, 12);
  for (const char *not_one :
       {"2026-12-08/14-05-09.mkv", "2026-12-08/.14-05-09.mp4.partial", "2026-12-08/14-05-9.mp4",
        "2026-12-08/14-05-09_1.mp4", "2026-12-08/14-05-09_02.mp4", "2026-12-08/14-05-09_.mp4",
        "2026-13-08/14-05-09.mp4", "2026-12-08/24-05-09.mp4", "2026-12-08/14-05-09x.mp4",
        "notes.txt", ""})
    g_assert_false(parse_segment_name(not_one, &start, &n));
}

void test_settings() {
  int64_t us = -1;
  const std::pair<const char *, int64_t> keeps[] = {
      {"", 0}, {"0", 0}, {"600", 600}, {"90s", 90}, {"90m", 5400}, {"36h", 129600}, {"7d", 604800}};
  for (const auto &[text, seconds] : keeps) {
    g_assert_true(parse_keep(text, &us));
    g_assert_cmpint(us, ==, seconds * 1000000);
  }
  for (const char *bad : {"7x", "d", "-1d", "7 d", "1e9d", "7dd"})
    g_assert_false(parse_keep(bad, &us));
  RetentionPolicy p;
  g_assert_true(parse_min_free("10%", &p));
  g_assert_cmpuint(p.min_free_percent, ==, 10);
  g_assert_cmpuint(p.min_free_bytes, ==, 0);
  g_assert_true(parse_min_free("2G", &p));
  g_assert_cmpuint(p.min_free_bytes, ==, 2000000000);
  g_assert_cmpuint(p.min_free_percent, ==, 0);
  g_assert_true(parse_min_free("500MB", &p));
  g_assert_cmpuint(p.min_free_bytes, ==, 500000000);
  g_assert_true(parse_min_free("0", &p));
  g_assert_cmpuint(p.min_free_bytes + p.min_free_percent, ==, 0);
  for (const char *bad : {"100%", "lots", "10 %", "5Q", "%", "99999999999999T"})
    g_assert_false(parse_min_free(bad, &p));
  g_assert_cmpuint(free_floor({0, 1000, 10}, 50000), ==, 5000);
  g_assert_cmpuint(free_floor({0, 9000, 10}, 50000), ==, 9000);
  g_assert_true(human_bytes(1500000000) == "1.5 GB");
  g_assert_true(human_bytes(300 * 1000 * 1000) == "300 MB");
  g_assert_true(human_duration(int64_t(7) * 86400 * 1000000) == "7 days");
  g_assert_true(human_duration(int64_t(90) * 1000000) == "90 seconds");
}

// A segment file last written `age_s` ago, named for then.
std::string make_segment(const std::string &dir, int64_t age_s) {
  const int64_t when = g_get_real_time() - age_s * 1000000;
  const std::string name = segment_name(when);
  g_mkdir_with_parents((dir + "/" + name.substr(0, 10)).c_str(), 0755);
  const std::string path = dir + "/" + name;
  g_assert_true(g_file_set_contents(path.c_str(), "segment", -1, nullptr));
  const struct timespec times[2] = {{time_t(when / 1000000), 0}, {time_t(when / 1000000), 0}};
  g_assert_cmpint(utimensat(AT_FDCWD, path.c_str(), times, 0), ==, 0);
  return name;
}

// Oldest first; older than keep goes, with its day's folder when that was its last; the segment
// being written stays whatever its age.
void test_keep() {
  char *dir = g_dir_make_tmp("record-XXXXXX", nullptr);
  const std::string d = dir;
  const std::string old = make_segment(d, 9 * 86400), writing = make_segment(d, 8 * 86400),
                    young = make_segment(d, 3600);
  const std::vector<SegmentFile> listed = list_segments(d);
  g_assert_cmpuint(listed.size(), ==, 3);
  g_assert_cmpstr(listed[0].name.c_str(), ==, old.c_str());
  g_assert_cmpstr(listed[2].name.c_str(), ==, young.c_str());
  RetentionPolicy keep_a_week;
  keep_a_week.keep_us = int64_t(7) * 86400 * 1000000;
  const std::vector<Deletion> gone = apply_retention(d, keep_a_week, g_get_real_time(), writing);
  g_assert_cmpuint(gone.size(), ==, 1);
  g_assert_cmpstr(gone[0].name.c_str(), ==, old.c_str());
  g_assert_cmpstr(gone[0].why.c_str(), ==, "older than 7 days");
  g_assert_false(g_file_test((d + "/" + old.substr(0, 10)).c_str(), G_FILE_TEST_EXISTS));
  g_assert_cmpuint(list_segments(d).size(), ==, 2);
  std::string why;
  g_assert_true(writable_directory(d, &why));
  g_assert_false(writable_directory(d + "/none", &why));
  g_assert_nonnull(strstr(why.c_str(), "does not exist"));
  gchar *argv[] = {const_cast<gchar *>("rm"), const_cast<gchar *>("-rf"), dir, nullptr};
  g_spawn_sync(nullptr, argv, nullptr, G_SPAWN_SEARCH_PATH, nullptr, nullptr, nullptr, nullptr,
               nullptr, nullptr);
  g_free(dir);
}

}  // namespace

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/record/names", test_names);
  g_test_add_func("/record/settings", test_settings);
  g_test_add_func("/record/keep", test_keep);
  return g_test_run();
}
