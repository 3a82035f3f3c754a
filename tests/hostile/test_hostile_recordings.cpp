// Hostile clients against the recordings (see test_hostile.cpp), while a viewer watches the live
// stream: a request for the same range hundreds of times over (libsoup would send each: the
// answer must stay one file's size), paths that climb out of the recording's folder, deletes
// without the right or with a body, Range headers and API parameters that are not what they say.
// The viewer keeps its frames, every file stays, nothing outside the folder is read, and the
// descriptors come back.
#include "hostile_server.h"

#include <glib/gstdio.h>

#include <fstream>
#include <sstream>

using namespace hostile_test;

namespace {

// The server's answer to one raw request, read to its end.
std::string ask(int port, const std::string &request) {
  Raw raw(port);
  g_assert_true(raw.send(request));
  return raw.read(5000);
}

std::string with_token(const std::string &path) {
  return path + (path.find('?') == std::string::npos ? "?" : "&") + "token=" + kToken;
}

void test_recordings() {
  camcast::test::TempDir dir("camcast-hostile-rec");
  const std::string folder = dir.file("rec");
  g_mkdir(folder.c_str(), 0755);
  const std::string token = std::string("access-token=") + kToken;
  Server server("", token,
                "x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 ! h264parse ! "
                "recordsink name=rec segment-seconds=1 location=" +
                    folder + " " + token);
  Viewer viewer(server.port, with_token("/v"));
  std::string listing;
  g_assert_true(wait_for(
      [&] {
        camcast::test::http_get(server.port, with_token("/api/recordings"), &listing);
        std::this_thread::sleep_for(200ms);  // under the server's per-second connection cap
        return std::count(listing.begin(), listing.end(), '{') >= 3;
      },
      15000ms));
  const size_t at = listing.find("\"url\":\"") + 7;
  const std::string url = listing.substr(at, listing.find('"', at) - at);
  const std::string name = url.substr(strlen("/recordings/"));
  std::ifstream in(folder + "/" + name, std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  const size_t size = bytes.str().size();
  g_assert_cmpuint(size, >, 0);
  const Resources before = Resources::now();
  const auto attack = Clock::now();

  // The same range 500 times over in one request (8 KB of header): one file's worth at most.
  std::string ranges = "bytes=0-";
  for (int i = 1; i < 500; i++)
    ranges += ",0-";
  std::string answer = ask(server.port, get(with_token(url), "Range: " + ranges + "\r\n"));
  g_test_message("500 overlapping ranges of a %zu-byte segment: %d, %zu bytes", size,
                 status_of(answer), answer.size());
  g_assert_cmpint(status_of(answer), ==, 200);
  g_assert_cmpuint(answer.size(), <=, size + 2048);

  // Paths out of the folder: never a file of the system's.
  for (const std::string &path : std::vector<std::string>{
           "/recordings/../../../../etc/passwd", "/recordings/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
           "/recordings/" + name.substr(0, 10) + "/..%2f..%2f..%2f..%2fetc%2fpasswd",
           "/recordings//etc/passwd", "/recordings/" + name + "/../../../../etc/passwd",
           "/recordings/" + name.substr(0, 10) + "/.." + name.substr(10)}) {
    answer = ask(server.port, get(with_token(path)));
    g_test_message("%s: %d", path.c_str(), status_of(answer));
    g_assert_true(status_of(answer) == 404 || status_of(answer) == 400);
    g_assert_null(strstr(answer.c_str(), "root:"));
  }

  // Deletes: without credentials, with a stream token, with a body; the file stays.
  const std::string del = "DELETE " + url + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  g_assert_cmpint(status_of(ask(server.port, del + "\r\n")), ==, 401);
  std::string minted;
  g_assert_cmpint(
      camcast::test::http_get(server.port, with_token("/api/token?path=/recordings"), &minted), ==,
      200);
  const size_t t = minted.find("\"token\":\"") + 9;
  const std::string stream_token = minted.substr(t, minted.find('"', t) - t);
  g_assert_cmpint(status_of(ask(server.port, "DELETE " + url + "?token=" + stream_token +
                                                 " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")),
                  ==, 403);
  g_assert_cmpint(status_of(ask(server.port, "DELETE " + with_token(url) +
                                                 " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                                 "Content-Length: 1000000\r\n\r\n" +
                                                 std::string(1000, 'x'))),
                  ==, 413);
  g_assert_true(g_file_test((folder + "/" + name).c_str(), G_FILE_TEST_EXISTS));

  // Range headers that are not one range of bytes, and API parameters that are not numbers.
  for (const char *range : {"bytes=abc", "bytes=99999999999999999999999-", "bytes=-0", "items=0-1",
                            "bytes=5-1", "bytes=--1", "bytes=0-0,,,,", ""}) {
    answer = ask(server.port, get(with_token(url), std::string("Range: ") + range + "\r\n"));
    const int status = status_of(answer);
    g_test_message("Range: %s: %d, %zu bytes", range, status, answer.size());
    g_assert_true(status == 200 || status == 206 || status == 416);
    g_assert_cmpuint(answer.size(), <=, size + 2048);
  }
  for (const char *query :
       {"from=nan", "to=1e999", "from=-1e308&to=x", "from=&to=", "from=1e308", "to=-inf"}) {
    answer = ask(server.port, get(with_token("/api/recordings?" + std::string(query))));
    g_assert_cmpint(status_of(answer), ==, 200);
    g_assert_nonnull(strstr(answer.c_str(), "{\"recordings\":["));
  }
  viewer.kept_frames_since(attack);
  Resources::back_to(before);
}

}  // namespace

void hostile_test::add_recording_tests() {
  g_test_add_func("/hostile/recordings", test_recordings);
}
