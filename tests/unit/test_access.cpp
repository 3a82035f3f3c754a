// Access control without a server: signed stream tokens (forged, expired, wrong path refused),
// the parsing of queries and cookies, and what Access decides and answers for each request —
// Host and Origin, tokens and sessions, logins, logout, /api/token, redirects.
#include "access/access.h"
#include "access/auth.h"
#include "access/users.h"
#include "glib_random_model.h"

#include <glib/gstdio.h>

#include <glib.h>

#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

using namespace camcast;
using namespace camcast::auth;
using camcast::test::GlibRandomModel;

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
  wider.replace(wider.find("/video"), 6, "/");
  g_assert_false(verify(key, wider, "/mjpeg", kNow, &why));
  for (const char *junk : {"", "v1.", "v1..", "v1.1.*.", "x1.1.*.00", "v1.abc.*.00"})
    g_assert_false(verify(key, junk, "/", kNow, &why));
  g_assert_false(verify(key, std::string(5000, 'v'), "/", kNow, &why));
  // Scopes are paths: even a correctly signed "*" opens nothing.
  g_assert_false(verify(key, sign(key, "*", kNow + 60), "/video", kNow, &why));
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
  const std::string a = random_token(), b = random_token();
  g_assert_cmpuint(a.size(), >=, 22);
  g_assert_false(a == b);
  g_assert_true(a.find_first_of("+/=") == std::string::npos);  // safe in a URL
}

// An Access as a server has it, with the password checks' answers run when the test says.
struct Fixture {
  std::mutex lock;
  std::vector<std::function<void()>> posted;
  std::unique_ptr<Access> access;
  explicit Fixture(AccessPolicy policy) {
    access = std::make_unique<Access>(
        std::move(policy),
        [this](std::function<void()> fn) {
          std::lock_guard<std::mutex> lk(lock);
          posted.push_back(std::move(fn));
        },
        [](std::string_view path) { return path == "/video" || path == "/mjpeg"; });
  }
  // Runs what the worker posted, waiting for it (a password check takes a moment).
  void run_posted() {
    const gint64 until = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (g_get_monotonic_time() < until) {
      std::vector<std::function<void()>> now;
      {
        std::lock_guard<std::mutex> lk(lock);
        now.swap(posted);
      }
      for (auto &fn : now)
        fn();
      if (!now.empty())
        return;
      g_usleep(1000);
    }
    g_assert_not_reached();
  }
  Admission admit(const AccessRequest &r, AccessAnswer *refusal = nullptr,
                  std::string *cookie = nullptr, int64_t now = kNow) {
    AccessAnswer ignored;
    std::vector<std::pair<std::string, std::string>> headers;
    Admission a = access->admit(r, now, refusal ? refusal : &ignored, &headers);
    for (auto &[name, value] : headers)
      if (name == "Set-Cookie" && cookie)
        *cookie = value;
    return a;
  }
  AccessAnswer serve(const AccessRequest &r, Admission how, std::string_view body = {}) {
    AccessAnswer out;
    bool done = false;
    g_assert_true(access->serve(r, how, body, kNow, [&](AccessAnswer a) {
      out = std::move(a);
      done = true;
    }));
    if (!done)
      run_posted();
    g_assert_true(done);
    return out;
  }
};

AccessRequest request(std::string_view path, std::string_view query = {},
                      std::string_view cookie = {}) {
  AccessRequest r;
  r.method = "GET";
  r.path = path;
  r.query = query;
  r.cookie = cookie;
  r.host = "192.168.1.20:8080";
  r.peer = "10.0.0.9";
  r.fetch_dest = "document";  // a browser's page load
  return r;
}

std::string header(const AccessAnswer &a, const char *name) {
  for (auto &[n, v] : a.headers)
    if (n == name)
      return v;
  return "";
}

// "name=value" of a Set-Cookie, as a browser sends it back.
std::string sent_back(const std::string &set_cookie) {
  return set_cookie.substr(0, set_cookie.find(';'));
}

void test_host_and_origin() {
  Fixture open{AccessPolicy()};
  AccessRequest r = request("/video");
  g_assert_true(open.admit(r) == Admission::Open);
  for (const char *host : {"127.0.0.1:8080", "[::1]:8080", "192.168.1.20", "localhost:8080",
                           "cam.localhost", g_get_host_name()}) {
    r.host = host;
    g_assert_true(open.admit(r) == Admission::Open);
  }
  const std::string local_name = std::string(g_get_host_name()) + ".local:8080";
  r.host = local_name;
  g_assert_true(open.admit(r) == Admission::Open);
  // A page of another site that points its own name at the camera (DNS rebinding).
  AccessAnswer refusal;
  r.host = "rebind.evil.example:8080";
  g_assert_true(open.admit(r, &refusal) == Admission::Refused);
  g_assert_cmpuint(refusal.status, ==, 403);
  g_assert_nonnull(strstr(refusal.body.c_str(), "allowed-hosts"));
  AccessPolicy named;
  named.allowed_hosts = {"relay.example.com"};
  Fixture relay(named);
  r.host = "Relay.Example.com";
  g_assert_true(relay.admit(r) == Admission::Open);

  // Origin, with its scheme, on a private server's WebSocket upgrades.
  AccessPolicy p;
  p.access_token = "secret";
  p.allowed_origins = {"https://dash.example"};
  Fixture f(p);
  AccessRequest ws = request("/video", "token=secret");
  ws.websocket = true;
  ws.origin = "http://192.168.1.20:8080";
  g_assert_true(f.admit(ws) == Admission::AccessToken);
  ws.origin = "https://192.168.1.20:8080";  // the right host, the wrong scheme
  g_assert_true(f.admit(ws, &refusal) == Admission::Refused);
  g_assert_cmpuint(refusal.status, ==, 403);
  ws.origin = "https://dash.example";
  g_assert_true(f.admit(ws) == Admission::AccessToken);
  ws.origin = "null";
  g_assert_true(f.admit(ws) == Admission::Refused);
  ws.origin = "";  // not a browser
  g_assert_true(f.admit(ws) == Admission::AccessToken);
}

void test_tokens_and_sessions() {
  AccessPolicy p;
  p.access_token = "secret";
  Fixture f(p);
  AccessAnswer refusal;
  g_assert_true(f.admit(request("/video"), &refusal) == Admission::Refused);
  g_assert_cmpuint(refusal.status, ==, 401);
  // The access token lets a page in and gives it a session cookie with the right flags.
  std::string cookie;
  g_assert_true(f.admit(request("/video", "token=secret"), nullptr, &cookie) ==
                Admission::AccessToken);
  g_assert_true(g_str_has_prefix(cookie.c_str(), "camcast_session="));
  g_assert_nonnull(strstr(cookie.c_str(), "; HttpOnly"));
  g_assert_nonnull(strstr(cookie.c_str(), "; SameSite=Strict"));
  g_assert_null(strstr(cookie.c_str(), "Secure"));
  g_assert_cmpuint(f.access->sessions(), ==, 1);
  // That session opens the server's pages and its own page's WebSocket.
  const std::string session = sent_back(cookie);
  g_assert_true(f.admit(request("/", "", session)) == Admission::Session);
  AccessRequest ws = request("/video", "", session);
  ws.websocket = true;
  ws.origin = "http://192.168.1.20:8080";
  g_assert_true(f.admit(ws) == Admission::Session);
  // A request that changes something (a WHEP offer, a DELETE) on the cookie must come from an
  // allowed page; with a valid bearer token (no ambient credential) any page may send it.
  AccessRequest change = request("/webrtc", "", session);
  change.method = "POST";
  change.origin = "http://192.168.1.20:8080";
  g_assert_true(f.admit(change) == Admission::Session);
  change.origin = "https://elsewhere.example";
  g_assert_true(f.admit(change, &refusal) == Admission::Refused);
  g_assert_cmpuint(refusal.status, ==, 403);
  change.authorization = "Bearer secret";
  g_assert_true(f.admit(change) == Admission::AccessToken);
  change.authorization = "Bearer wrong";  // a bad token changes nothing: the cookie is judged
  g_assert_true(f.admit(change) == Admission::Refused);
  change.cookie = "";
  g_assert_true(f.admit(change) == Admission::Refused);
  // Sessions expire.
  g_assert_true(f.admit(request("/", "", session), nullptr, nullptr,
                        kNow + p.session_seconds + 1) == Admission::Refused);
  // Over HTTPS the cookie is __Host- and Secure; a session begun over plain HTTP is not taken.
  AccessRequest https = request("/video", "token=secret");
  https.tls = true;
  std::string secure;
  g_assert_true(f.admit(https, nullptr, &secure) == Admission::AccessToken);
  g_assert_true(g_str_has_prefix(secure.c_str(), "__Host-camcast_session="));
  g_assert_nonnull(strstr(secure.c_str(), "; Secure"));
  const std::string renamed = "__Host-" + session, secure_session = sent_back(secure);
  AccessRequest plain_on_tls = request("/", "", renamed);
  plain_on_tls.tls = true;
  g_assert_true(f.admit(plain_on_tls) == Admission::Refused);
  AccessRequest tls_session = request("/", "", secure_session);
  tls_session.tls = true;
  g_assert_true(f.admit(tls_session) == Admission::Session);
  // A stream token opens its own path only, and never earns a session.
  const std::string t = sign(key_for("secret"), "/video", kNow + 30);
  std::string none;
  g_assert_true(f.admit(request("/video", "token=" + t), nullptr, &none) == Admission::StreamToken);
  g_assert_true(none.empty());
  g_assert_true(f.admit(request("/mjpeg/snapshot.jpg", "token=" + t)) == Admission::Refused);
  g_assert_true(f.admit(request("/video", "token=secreT")) == Admission::Refused);
  // The access token on anything but a page load — a snapshot an <img> polls, a program's
  // request — lets it in without starting a session each time.
  const size_t sessions = f.access->sessions();
  for (const char *dest : {"image", "empty", ""}) {
    AccessRequest poll = request("/mjpeg/snapshot.jpg", "token=secret");
    poll.fetch_dest = dest;
    poll.accept = "image/avif,image/webp,*/*";
    std::string cookie_set;
    g_assert_true(f.admit(poll, nullptr, &cookie_set) == Admission::AccessToken);
    g_assert_true(cookie_set.empty());
  }
  AccessRequest old_browser = request("/video", "token=secret");  // no Sec-Fetch-Dest yet
  old_browser.fetch_dest = "";
  old_browser.accept = "text/html,application/xhtml+xml";
  std::string cookie_set;
  g_assert_true(f.admit(old_browser, nullptr, &cookie_set) == Admission::AccessToken);
  g_assert_false(cookie_set.empty());
  g_assert_cmpuint(f.access->sessions(), ==, sessions + 1);
  // Logout ends the session on the server: the cookie is worth nothing afterwards.
  AccessAnswer out = f.serve(request("/logout", "", session), Admission::Session);
  g_assert_cmpuint(out.status, ==, 303);
  g_assert_true(g_str_has_prefix(header(out, "Set-Cookie").c_str(), "camcast_session=;"));
  g_assert_true(f.admit(request("/", "", session)) == Admission::Refused);
  // Sessions are bounded: past the most, the one closest to its end goes.
  for (size_t i = 0; i < Access::kMaxSessions + 10; i++)
    f.admit(request("/video", "token=secret"), nullptr, nullptr, kNow + int64_t(i));
  g_assert_cmpuint(f.access->sessions(), ==, Access::kMaxSessions);
}

// With a sessions file, sessions outlive the Access (a restart): written with mode 0600, read
// back; another access token ends them; a damaged file costs its sessions and nothing else.
void test_sessions_outlive_a_restart() {
  g_autofree char *dir = g_dir_make_tmp("camcast-sessions-XXXXXX", nullptr);
  const std::string file = std::string(dir) + "/sessions";
  AccessPolicy p;
  p.access_token = "secret";
  p.sessions_file = file;
  const int64_t now = g_get_real_time() / G_USEC_PER_SEC;
  std::string cookie;
  {
    Fixture f(p);
    g_assert_true(f.admit(request("/video", "token=secret"), nullptr, &cookie, now) ==
                  Admission::AccessToken);
    f.access->tick(now + 1);  // written at most once a second
    GStatBuf st;
    g_assert_cmpint(g_stat(file.c_str(), &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);
  }
  const std::string session = sent_back(cookie);
  {
    Fixture f(p);
    g_assert_cmpuint(f.access->sessions(), ==, 1);
    g_assert_true(f.admit(request("/", "", session), nullptr, nullptr, now) == Admission::Session);
    // A logout ends it for the next restart too.
    AccessRequest logout = request("/logout", "", session);
    f.access->serve(logout, Admission::Session, "", now, [](AccessAnswer) {});
    g_assert_cmpuint(f.access->sessions(), ==, 0);
  }
  {
    Fixture f(p);
    g_assert_true(f.admit(request("/", "", session), nullptr, nullptr, now) == Admission::Refused);
  }
  // Another access token: the sessions of the old one are not taken.
  {
    Fixture f(p);
    g_assert_true(f.admit(request("/video", "token=secret"), nullptr, &cookie, now) ==
                  Admission::AccessToken);
  }
  AccessPolicy other = p;
  other.access_token = "another";
  {
    Fixture f(other);
    g_assert_cmpuint(f.access->sessions(), ==, 0);
    g_assert_true(f.admit(request("/", "", sent_back(cookie)), nullptr, nullptr, now) ==
                  Admission::Refused);
  }
  // Damaged: no session from it, and the server works as ever.
  g_assert_true(g_file_set_contents(
      file.c_str(), "camcast-sessions 1 x\nsession ../../etc 99999999999 1 root\n", -1, nullptr));
  {
    Fixture f(p);
    g_assert_cmpuint(f.access->sessions(), ==, 0);
    g_assert_true(f.admit(request("/video", "token=secret"), nullptr, nullptr, now) ==
                  Admission::AccessToken);
  }
  g_remove(file.c_str());
  g_rmdir(dir);
}

void test_api_token() {
  AccessPolicy p;
  p.access_token = "secret";
  Fixture f(p);
  const AccessAnswer made =
      f.serve(request("/api/token", "path=/video&ttl=60"), Admission::AccessToken);
  g_assert_cmpuint(made.status, ==, 200);
  g_assert_cmpstr(made.content_type.c_str(), ==, "application/json");
  const size_t at = made.body.find("\"token\":\"") + 9;
  const std::string token = made.body.substr(at, made.body.find('"', at) - at);
  g_assert_true(f.admit(request("/video", "token=" + token)) == Admission::StreamToken);
  // No path, the root, a path that is no stream, or a ttl out of range: no token.
  for (const char *query :
       {"", "path=/", "path=/api", "path=/metrics", "path=/video&ttl=0", "path=/video&ttl=86401",
        "path=/video&ttl=1x", "path=%22%3E%3Cscript%3E"}) {
    const AccessAnswer refused = f.serve(request("/api/token", query), Admission::Session);
    g_assert_cmpuint(refused.status, ==, 400);
  }
  // A stream token cannot mint more.
  g_assert_cmpuint(
      f.serve(request("/api/token", "path=/video&token=" + token), Admission::StreamToken).status,
      ==, 403);
}

void test_logins() {
  g_autofree char *dir = g_dir_make_tmp("camcast-access-XXXXXX", nullptr);
  const std::string path = std::string(dir) + "/users";
  std::string error;
  g_assert_true(users::set_user(path, "alice", "correct horse", &error));
  AccessPolicy p;
  p.users_file = path;
  g_assert_true(users::load(path, &p.users, &error));
  Fixture f(p);
  // A page without credentials is sent to the login page, which may always be seen.
  AccessAnswer refusal;
  g_assert_true(f.admit(request("/video"), &refusal) == Admission::Refused);
  g_assert_cmpuint(refusal.status, ==, 303);
  g_assert_true(header(refusal, "Location") == "/login?next=/video");
  g_assert_true(f.admit(request("/login")) == Admission::Open);
  AccessAnswer form = f.serve(request("/login", "next=/video"), Admission::Open);
  g_assert_nonnull(strstr(form.body.c_str(), "value=\"/video\""));
  AccessRequest post = request("/login");
  post.method = "POST";
  // Wrong password and unknown user: the same answer, both after a password check.
  for (const char *body :
       {"user=alice&password=wrong&next=/video", "user=mallory&password=wrong&next=/video"}) {
    AccessAnswer wrong = f.serve(post, Admission::Open, body);
    g_assert_cmpuint(wrong.status, ==, 401);
    g_assert_nonnull(strstr(wrong.body.c_str(), "Wrong user name or password"));
  }
  AccessAnswer ok = f.serve(post, Admission::Open, "user=alice&password=correct+horse&next=/video");
  g_assert_cmpuint(ok.status, ==, 303);
  g_assert_true(header(ok, "Location") == "/video");
  const std::string session = sent_back(header(ok, "Set-Cookie"));
  g_assert_true(f.admit(request("/video", "", session)) == Admission::Session);
  // `next` goes to this server only.
  for (const char *next : {"//evil.example", "/%09/evil.example", "/%5Cevil.example",
                           "https://evil.example", "/%0d%0aSet-Cookie:x=1", "evil"}) {
    AccessAnswer a = f.serve(post, Admission::Open,
                             std::string("user=alice&password=correct+horse&next=") + next);
    g_assert_true(header(a, "Location") == "/");
  }
  // Five failures for one user from one address: that user waits a minute there; other users
  // from that address, and that user from elsewhere, do not.
  for (int i = 0; i < 5; i++)
    f.serve(post, Admission::Open, "user=alice&password=wrong");
  AccessAnswer refused = f.serve(post, Admission::Open, "user=alice&password=correct+horse");
  g_assert_cmpuint(refused.status, ==, 429);
  g_assert_cmpuint(f.serve(post, Admission::Open, "user=bob&password=wrong").status, ==, 401);
  AccessRequest elsewhere = post;
  elsewhere.peer = "10.0.0.10";
  g_assert_cmpuint(f.serve(elsewhere, Admission::Open, "user=alice&password=correct+horse").status,
                   ==, 303);
  // Ten failures for alice (the six above, four more from four addresses): alice's owner still
  // gets in, only slowed — the answer is held until a tick kSlowSeconds on, right or wrong.
  for (int i = 0; i < 4; i++) {
    AccessRequest from = post;
    const std::string peer = "10.1.0." + std::to_string(i);
    from.peer = peer;
    f.serve(from, Admission::Open, "user=alice&password=wrong");
  }
  for (const char *form : {"user=alice&password=correct+horse", "user=alice&password=wrong"}) {
    AccessAnswer held;
    bool answered = false;
    g_assert_true(f.access->serve(elsewhere, Admission::Open, form, kNow, [&](AccessAnswer a) {
      held = std::move(a);
      answered = true;
    }));
    f.run_posted();
    g_assert_false(answered);
    f.access->tick(kNow + Access::kSlowSeconds - 1);
    g_assert_false(answered);
    f.access->tick(kNow + Access::kSlowSeconds);
    g_assert_true(answered);
    g_assert_cmpuint(held.status, ==, strstr(form, "correct") ? 303 : 401);
  }
  // Two password checks waiting from one address at most: the third is answered 503 at once.
  {
    AccessRequest crowd = post;
    crowd.peer = "10.3.0.1";
    std::vector<unsigned> answers;
    for (int i = 0; i < 3; i++)
      f.access->serve(crowd, Admission::Open, "user=dave&password=x", kNow,
                      [&](AccessAnswer a) { answers.push_back(a.status); });
    g_assert_cmpuint(answers.size(), ==, 1);
    g_assert_cmpuint(answers[0], ==, 503);
    while (answers.size() < 3)
      f.run_posted();
    g_assert_cmpuint(answers[1], ==, 401);
  }
  // One address guessing across user names is refused after twenty failures.
  AccessRequest sprayer = post;
  sprayer.peer = "10.2.0.1";
  for (int i = 0; i < Access::kMaxFailuresPerAddress; i++)
    f.serve(sprayer, Admission::Open, "user=user" + std::to_string(i) + "&password=wrong");
  g_assert_cmpuint(f.serve(sprayer, Admission::Open, "user=carol&password=x").status, ==, 429);
  g_unlink(path.c_str());
  g_rmdir(dir);
}

void test_local_path() {
  g_assert_true(local_path("/video?x=1") == "/video?x=1");
  for (const char *bad :
       {"", "video", "//evil", "/\\evil", "\\\\evil", "/\t/evil", "/\n", "/a\x7f", "https://evil"})
    g_assert_true(local_path(bad) == "/");
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
  camcast::users::LoginThrottle t(5);
  for (int i = 0; i < 5; i++) {
    g_assert_true(t.allowed("10.0.0.1", kNow));
    t.failed("10.0.0.1", kNow);
  }
  g_assert_false(t.allowed("10.0.0.1", kNow + 10));  // slowed
  g_assert_true(t.allowed("10.0.0.2", kNow + 10));   // others are not
  g_assert_true(t.allowed("10.0.0.1", kNow + 60));   // after the window
}

}  // namespace

// Secrets never come from GLib's generator, whose state WebRTC answers give away: with that
// state known (the test seeds it), no token, hex key, session id or signing key is foreseen, and
// the same seed twice still gives two different tokens.
void test_secrets_not_from_glib() {
  for (guint32 seed : {1u, 20261206u}) {
    const GlibRandomModel glib(seed);
    g_assert_false(glib.predicts(GlibRandomModel::token_bytes(random_token())));
    g_assert_false(glib.predicts(GlibRandomModel::hex_bytes(random_hex(16))));
    AccessPolicy p;
    p.access_token = "secret";
    Fixture f(p);
    std::string cookie;
    g_assert_true(f.admit(request("/video", "token=secret"), nullptr, &cookie) ==
                  Admission::AccessToken);
    const std::string id = sent_back(cookie).substr(strlen("camcast_session="));
    g_assert_cmpuint(id.size(), ==, 44);
    g_assert_false(glib.predicts(GlibRandomModel::token_bytes(id)));
  }
  g_random_set_seed(7);
  const std::string a = random_token();
  g_random_set_seed(7);
  g_assert_false(a == random_token());
  // The key that signs stream tokens on a server with logins and no access token.
  auto signed_by_fresh_server = [] {
    g_random_set_seed(7);
    AccessPolicy p;
    p.users_file = "/nonexistent/users";
    Fixture f(p);
    AccessRequest r = request("/api/token", "path=/video&ttl=60");
    return f.serve(r, Admission::Session).body;
  };
  const std::string first = signed_by_fresh_server();
  g_assert_nonnull(strstr(first.c_str(), "\"token\""));
  g_assert_false(first == signed_by_fresh_server());
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/access/tokens", test_tokens);
  g_test_add_func("/access/parsing", test_parsing_and_comparison);
  g_test_add_func("/access/secrets-not-from-glib", test_secrets_not_from_glib);
  g_test_add_func("/access/host-and-origin", test_host_and_origin);
  g_test_add_func("/access/tokens-and-sessions", test_tokens_and_sessions);
  g_test_add_func("/access/api-token", test_api_token);
  g_test_add_func("/access/sessions-outlive-a-restart", test_sessions_outlive_a_restart);
  g_test_add_func("/access/logins", test_logins);
  g_test_add_func("/access/local-path", test_local_path);
  g_test_add_func("/access/users-file", test_users_file);
  g_test_add_func("/access/login-throttle", test_login_throttle);
  return g_test_run();
}
