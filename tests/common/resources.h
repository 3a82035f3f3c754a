// For tests that check what a component leaves behind: this process's descriptors and resident
// memory, back where they were.
#pragma once

#include "wait.h"

#include <glib.h>

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace camcast::test {

// Memory may stay a little above where it was (allocator caches), never by what an attack took.
// Under AddressSanitizer the resident size says little — its allocator keeps freed memory in a
// quarantine and in per-size caches for reuse — so there descriptors are checked as everywhere,
// memory is checked by LeakSanitizer at exit (and, in the hostile tests, by a repeated flood).
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(UNDER_ASAN)
constexpr bool kCheckRss = false;
#else
constexpr bool kCheckRss = true;
#endif
constexpr long kRssSlackKb = 16 * 1024;

// What each descriptor of the process is (for the message when some are left over).
inline std::string describe_descriptors() {
  std::string out;
  DIR *dir = opendir("/proc/self/fd");
  while (dirent *e = readdir(dir)) {
    char target[256] = "";
    const std::string link = std::string("/proc/self/fd/") + e->d_name;
    const ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
    if (n > 0)
      out += std::string(e->d_name) + "=" + std::string(target, size_t(n)) + " ";
  }
  closedir(dir);
  return out;
}

// What the process holds: descriptors and resident memory.
struct Resources {
  size_t fds = 0;
  long rss_kb = 0;
  static Resources now() {
    Resources r;
    DIR *dir = opendir("/proc/self/fd");
    while (readdir(dir))
      r.fds++;
    closedir(dir);
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (f && fscanf(f, "%ld %ld", &pages, &resident) == 2)
      r.rss_kb = resident * (sysconf(_SC_PAGESIZE) / 1024);
    if (f)
      fclose(f);
    return r;
  }
  // Waits until descriptors are back to `before` and memory within the slack of it.
  static void back_to(const Resources &before) {
    Resources after;
    const bool back = wait_for(
        [&] {
          after = now();
          return after.fds <= before.fds &&
                 (!kCheckRss || after.rss_kb <= before.rss_kb + kRssSlackKb);
        },
        std::chrono::milliseconds(10000));
    g_test_message("descriptors %zu -> %zu, RSS %ld -> %ld kB", before.fds, after.fds,
                   before.rss_kb, after.rss_kb);
    if (!back) {
      g_test_message("open now: %s", describe_descriptors().c_str());
      g_autofree char *ss = nullptr;
      g_spawn_command_line_sync("ss -tanep", &ss, nullptr, nullptr, nullptr);
      g_test_message("%s", ss);
    }
    g_assert_true(back);
  }
};

}  // namespace camcast::test
