// Running a third-party program from a test (ffprobe, ffmpeg, mount): to its end, and at most
// `timeout_s` seconds (timeout(1) stops it then).
#pragma once

#include <glib.h>

#include <string>
#include <vector>

namespace camcast::test {

// Its exit status (0 for success, 1 for anything else: a failure, a timeout, a signal), and what
// it printed (stdout, then stderr) in `out` if asked.
inline int run_program(const std::vector<std::string> &argv, std::string *out = nullptr,
                       int timeout_s = 20) {
  std::vector<std::string> args = {"timeout", std::to_string(timeout_s)};
  args.insert(args.end(), argv.begin(), argv.end());
  std::vector<char *> c;
  for (auto &a : args)
    c.push_back(const_cast<char *>(a.c_str()));
  c.push_back(nullptr);
  gchar *o = nullptr, *e = nullptr;
  gint status = -1;
  GError *error = nullptr;
  const bool ok = g_spawn_sync(nullptr, c.data(), nullptr, G_SPAWN_SEARCH_PATH, nullptr, nullptr,
                               &o, &e, &status, &error);
  g_assert_no_error(error);
  if (out)
    *out = std::string(o ? o : "") + (e ? e : "");
  g_free(o);
  g_free(e);
  return ok && g_spawn_check_wait_status(status, nullptr) ? 0 : 1;
}

}  // namespace camcast::test
