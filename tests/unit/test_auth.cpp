// Access control: signed tokens and sessions (forged, expired, wrong path refused), the parsing
// of queries and cookies, Origin checks, and what the server decides for each request.
#include "access/auth.h"
#include "access/users.h"

#include <glib/gstdio.h>

#include <glib.h>

#include <cstring>
#include <string>

using namespace camcast::auth;

namespace {

const int64_t kNow = 1'800'000'000;

void test_tokens() {
  const std::string key = key_for("the access token");
  std::string why;
  const std::string t = sign(key, "/video", kNow + 60);
  g_assert_true(verify(key, t, "/video", kNow, &why));
  g_assert_true(verify(key, t, "/video/player.js", kNow, &why));  // below its path
  g_assert_false(verify(key, t, "/videos", kNow, &why));          // not a path boundary
  g_assert_true(why == "the token is for another stream");
  g_assert_false(verify(key, t, "/mjpeg", kNow, &why));
  g_assert_false(verify(key, t, "/video", kNow + 60, &why));  // expired
  g_assert_true(why == "the token has expired");
  g_assert_false(verify(key_for("another token"), t, "/video", kNow, &why));  // other key
  g_assert_true(why == "the token's signature does not match");
  // Forged: a longer expiry or a wider scope with the old signature.
  std::string later = t;
  later.replace(3, 10, std::to_string(kNow + 999999));
  g_assert_false(verify(key, later, "/video", kNow, &why));
  std::string wider = t;
  wider.replace(wider.find("/video"), 6, "*");
  g_assert_false(verify(key, wider, "/mjpeg", kNow, &why));
  for (const char *junk : {"", "v1.", "v1..", "v1.1.*.", "x1.1.*.00", "v1.abc.*.00"})
    g_assert_false(verify(key, junk, "/", kNow, &why));
  g_assert_false(verify(key, std::string(5000, 'v'), "/", kNow, &why));
  const std::string session = sign(key, "*", kNow + 60);
  g_assert_true(verify(key, session, "/anything/at/all", kNow, &why));
}

void test_parsing_and_comparison() {
  g_assert_true(constant_time_equal("abc", "abc"));
  g_assert_false(constant_time_equal("abc", "abd"));
  g_assert_false(constant_time_equal("abc", "abcd"));
  g_assert_true(query_param("a=1&token=x%2By&b=2", "token") == "x+y");
  g_assert_true(query_param("tokens=1&token=", "token").empty());
  g_assert_true(query_param("", "token").empty());
  g_assert_true(query_param("token=%zz%4", "token") == "%zz%4");  // bad escapes stay as they are
  g_assert_true(cookie_value("a=1; camcast_session=v1.x; b=2", "camcast_session") == "v1.x");
  g_assert_true(cookie_value("xcamcast_session=1", "camcast_session").empty());
  g_assert_true(origin_allowed("", "cam:8080", {}));
  g_assert_true(origin_allowed("http://cam:8080", "cam:8080", {}));
  g_assert_false(origin_allowed("http://evil.example", "cam:8080", {}));
  g_assert_true(origin_allowed("https://dash.example", "cam:8080", {"https://dash.example"}));
  g_assert_false(origin_allowed("null", "cam:8080", {}));
  const std::string a = random_token(), b = random_token();
  g_assert_cmpuint(a.size(), >=, 22);
  g_assert_false(a == b);
  g_assert_true(a.find_first_of("+/=") == std::string::npos);  // safe in a URL
}

void test_decisions() {
  Policy open;
  g_assert_true(check(open, "/video", "", "", "", "", true, false, kNow).allowed);

  Policy p;
  p.access_token = "secret";
  Decision none = check(p, "/video", "", "", "", "cam:8080", false, false, kNow);
  g_assert_false(none.allowed);
  g_assert_cmpuint(none.status, ==, 401);
  // The access token lets a page in and gives it a session cookie with the right flags.
  Decision page = check(p, "/video", "token=secret", "", "", "cam:8080", false, false, kNow);
  g_assert_true(page.allowed);
  g_assert_nonnull(strstr(page.set_cookie.c_str(), "camcast_session=v1."));
  g_assert_nonnull(strstr(page.set_cookie.c_str(), "; HttpOnly"));
  g_assert_nonnull(strstr(page.set_cookie.c_str(), "; SameSite=Strict"));
  g_assert_null(strstr(page.set_cookie.c_str(), "Secure"));
  g_assert_nonnull(strstr(
      check(p, "/video", "token=secret", "", "", "cam", false, true, kNow).set_cookie.c_str(),
      "; Secure"));
  // That session opens the page's WebSocket, from the same origin only.
  const std::string cookie = page.set_cookie.substr(0, page.set_cookie.find(';'));
  g_assert_true(
      check(p, "/video", "", cookie, "http://cam:8080", "cam:8080", true, false, kNow).allowed);
  Decision hostile =
      check(p, "/video", "", cookie, "http://evil.example", "cam:8080", true, false, kNow);
  g_assert_false(hostile.allowed);
  g_assert_cmpuint(hostile.status, ==, 403);
  // Sessions expire.
  g_assert_false(
      check(p, "/video", "", cookie, "", "cam:8080", false, false, kNow + p.session_seconds + 1)
          .allowed);
  // A stream token opens its own path only, and never earns a session.
  const std::string t = sign(key_for("secret"), "/video", kNow + 30);
  Decision stream = check(p, "/video", "token=" + t, "", "", "cam", false, false, kNow);
  g_assert_true(stream.allowed);
  g_assert_true(stream.set_cookie.empty());
  g_assert_false(
      check(p, "/mjpeg/snapshot.jpg", "token=" + t, "", "", "cam", false, false, kNow).allowed);
  g_assert_false(check(p, "/video", "token=secreT", "", "", "cam", false, false, kNow).allowed);
}

void test_users_file() {
  g_autofree char *dir = g_dir_make_tmp("camcast-users-XXXXXX", nullptr);
  const std::string path = std::string(dir) + "/users";
  std::string error;
  g_assert_false(camcast::users::set_user(path, "alice", "short", &error));
  g_assert_false(camcast::users::set_user(path, "a:b", "long enough pass", &error));
  g_assert_true(camcast::users::set_user(path, "alice", "correct horse", &error));
  g_assert_true(camcast::users::set_user(path, "bob", "battery staple", &error));
  gchar *text = nullptr;
  g_assert_true(g_file_get_contents(path.c_str(), &text, nullptr, nullptr));
  g_assert_null(strstr(text, "correct horse"));  // never in clear
  g_assert_nonnull(strstr(text, "alice:$y$"));   // yescrypt
  g_free(text);
  GStatBuf st;
  g_assert_cmpint(g_stat(path.c_str(), &st), ==, 0);
  g_assert_cmpint(st.st_mode & 0777, ==, 0600);
  std::map<std::string, std::string> users;
  g_assert_true(camcast::users::load(path, &users, &error));
  g_assert_cmpuint(users.size(), ==, 2);
  g_assert_true(camcast::users::verify_password(users["alice"], "correct horse"));
  g_assert_false(camcast::users::verify_password(users["alice"], "correct horsE"));
  g_assert_false(camcast::users::verify_password(users["alice"], "battery staple"));
  g_assert_false(camcast::users::verify_password("", "x"));
  // A file others can read is refused, and says how to fix it.
  g_chmod(path.c_str(), 0644);
  g_assert_false(camcast::users::load(path, &users, &error));
  g_assert_nonnull(strstr(error.c_str(), "chmod 600"));
  g_chmod(path.c_str(), 0600);
  g_assert_true(g_file_set_contents(path.c_str(), "alice:$y$x\nnonsense\n", -1, nullptr));
  g_chmod(path.c_str(), 0600);
  g_assert_false(camcast::users::load(path, &users, &error));
  g_assert_nonnull(strstr(error.c_str(), "users:2: expected NAME:HASH"));
  g_unlink(path.c_str());
  g_rmdir(dir);
}

void test_login_throttle() {
  camcast::users::LoginThrottle t;
  for (int i = 0; i < camcast::users::LoginThrottle::kMaxFailures; i++) {
    g_assert_true(t.allowed("10.0.0.1", kNow));
    t.failed("10.0.0.1", kNow);
  }
  g_assert_false(t.allowed("10.0.0.1", kNow + 10));  // slowed
  g_assert_true(t.allowed("10.0.0.2", kNow + 10));   // others are not
  g_assert_true(t.allowed("10.0.0.1", kNow + 60));   // after the window
}

}  // namespace

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/auth/tokens", test_tokens);
  g_test_add_func("/auth/parsing", test_parsing_and_comparison);
  g_test_add_func("/auth/decisions", test_decisions);
  g_test_add_func("/auth/users-file", test_users_file);
  g_test_add_func("/auth/login-throttle", test_login_throttle);
  return g_test_run();
}
