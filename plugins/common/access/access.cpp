#include "access/access.h"

#include "access/auth.h"
#include "formats/json.h"

#include <gio/gio.h>
#include <glib.h>

#include <algorithm>
#include <atomic>
#include <mutex>

namespace camcast {

namespace {

constexpr const char *kHttpCookie = "camcast_session";
// A __Host- cookie is kept by browsers only when set over HTTPS with Secure, Path=/ and no
// Domain (RFC 6265bis §4.1.3.2): one a plain-HTTP page set can never be sent as this one.
constexpr const char *kHttpsCookie = "__Host-camcast_session";
// Stream tokens live a day at most.
constexpr int64_t kMaxTokenSeconds = 86400;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char &c : out)
    c = g_ascii_tolower(c);
  return out;
}

// "host[:port]" or "[v6]:port" without the port.
std::string_view host_name(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const size_t end = host.find(']');
    return end == std::string_view::npos ? host : host.substr(1, end - 1);
  }
  const size_t colon = host.rfind(':');
  return colon == std::string_view::npos ? host : host.substr(0, colon);
}

std::string html(std::string_view s) {
  g_autofree char *escaped = g_markup_escape_text(s.data(), gssize(s.size()));
  return escaped;
}

AccessAnswer page(unsigned status, const std::string &body) {
  AccessAnswer a;
  a.status = status;
  a.body =
      "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>camcast</title>"
      "</head><body><p>" +
      body + "</p></body></html>\n";
  return a;
}

AccessAnswer redirect(const std::string &location) {
  AccessAnswer a;
  a.status = 303;
  a.headers.emplace_back("Location", location);
  return a;
}

// The login page: a plain form, no script. `next` is where to go after.
AccessAnswer login_page(unsigned status, const std::string &next, const char *problem) {
  AccessAnswer a;
  a.status = status;
  a.body = std::string(
               "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
               "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
               "<title>camcast: log in</title><style>body{font:16px system-ui,sans-serif;"
               "background:#111;color:#eee;display:flex;justify-content:center;margin-top:15vh}"
               "form{display:grid;gap:.6em;min-width:16em}input,button{font:inherit;padding:.4em}"
               ".problem{color:#f88}</style></head><body><form method=\"post\" action=\"/login\">"
               "<h1>camcast</h1>") +
           (problem ? std::string("<p class=\"problem\">") + problem + "</p>" : "") +
           "<label>User <input name=\"user\" autocomplete=\"username\" required autofocus></label>"
           "<label>Password <input name=\"password\" type=\"password\" "
           "autocomplete=\"current-password\" required></label>"
           "<input type=\"hidden\" name=\"next\" value=\"" +
           html(next) + "\"><button type=\"submit\">Log in</button></form></body></html>\n";
  return a;
}

// A browser loading a page (Sec-Fetch-Dest: document; before browsers sent it, an Accept that
// asks for HTML) — not an <img> polling a snapshot, a script's fetch, a stream or a program.
bool page_load(const AccessRequest &r) {
  if (!r.fetch_dest.empty())
    return r.fetch_dest == "document" || r.fetch_dest == "iframe";
  return r.method == "GET" && r.accept.find("text/html") != std::string_view::npos;
}

}  // namespace

std::string local_path(std::string_view next) {
  if (next.empty() || next[0] != '/' || (next.size() > 1 && (next[1] == '/' || next[1] == '\\')))
    return "/";
  for (unsigned char c : next)
    if (c < 0x20 || c == 0x7f || c == '\\')
      return "/";
  return std::string(next);
}

bool AccessPolicy::load_users(std::string *why) {
  users.clear();
  if (users_file.empty())
    return true;
  std::string error;
  if (users::load(users_file, &users, &error))
    return true;
  *why = "cannot use the users file: " + error;
  return false;
}

std::string AccessPolicy::differences(const AccessPolicy &o) const {
  std::string out;
  auto add = [&](bool differ, const char *name) {
    if (differ)
      out += (out.empty() ? "" : ", ") + std::string(name);
  };
  add(access_token != o.access_token, "access-token");
  add(users_file != o.users_file || users != o.users, "users-file");
  add(allowed_origins != o.allowed_origins, "allowed-origins");
  add(allowed_hosts != o.allowed_hosts, "allowed-hosts");
  add(metrics_token != o.metrics_token, "metrics-token");
  add(sessions_file != o.sessions_file, "sessions-file");
  return out;
}

// The password worker: one thread, a few checks waiting at most. Its answers go back through
// `post`; `alive` tells them whether the Access that asked is still there.
struct Access::Shared {
  std::atomic<bool> alive{true};
  std::atomic<int> pending{0};
  GThreadPool *pool = nullptr;
};

namespace {

struct Check {
  std::string hash;  // the user's, or the dummy one
  std::string password;
  std::function<void(bool)> answer;  // on the worker: posts the verdict to the server thread
};

void run_check(gpointer data, gpointer) {
  auto *check = static_cast<Check *>(data);
  const std::string &hash = check->hash.empty() ? users::dummy_hash() : check->hash;
  const bool ok = users::verify_password(hash, check->password) && !check->hash.empty();
  check->answer(ok);
  delete check;
}

}  // namespace

Access::Access(AccessPolicy policy, Post post, std::function<bool(std::string_view)> is_stream)
    : policy_(std::move(policy)),
      post_(std::move(post)),
      is_stream_(std::move(is_stream)),
      signing_key_(policy_.access_token.empty() ? auth::random_token() + auth::random_token()
                                                : auth::key_for(policy_.access_token)),
      shared_(std::make_shared<Shared>()) {
  if (!policy_.users_file.empty())
    shared_->pool = g_thread_pool_new(run_check, nullptr, 1, FALSE, nullptr);
  load_sessions(g_get_real_time() / G_USEC_PER_SEC);
}

Access::~Access() {
  if (sessions_changed_)
    save_sessions(g_get_real_time() / G_USEC_PER_SEC);
  shared_->alive = false;
  if (shared_->pool)
    g_thread_pool_free(shared_->pool, FALSE, TRUE);  // the check under way finishes
}

bool Access::host_allowed(std::string_view host) const {
  if (host.empty())
    return true;  // HTTP/1.0 without Host: not a browser
  const std::string name = lower(host_name(host));
  if (g_hostname_is_ip_address(name.c_str()) || name == "localhost" ||
      g_str_has_suffix(name.c_str(), ".localhost"))
    return true;
  const std::string self = lower(g_get_host_name());
  if (name == self || name == self + ".local")
    return true;
  for (const std::string &allowed : policy_.allowed_hosts)
    if (name == lower(allowed))
      return true;
  return false;
}

bool Access::origin_allowed(const AccessRequest &r) const {
  if (r.origin.empty())
    return true;  // not a browser: browsers always send Origin on WebSocket upgrades
  for (const std::string &allowed : policy_.allowed_origins)
    if (lower(r.origin) == lower(allowed))
      return true;
  // The page's own origin: this server's scheme, and the Host the request came to.
  return lower(r.origin) ==
         lower(std::string(r.tls ? "https://" : "http://") + std::string(r.host));
}

const Access::Session *Access::session_of(const AccessRequest &r, int64_t now,
                                          std::string *id) const {
  *id = auth::cookie_value(r.cookie, r.tls ? kHttpsCookie : kHttpCookie);
  auto it = id->empty() ? sessions_.end() : sessions_.find(*id);
  if (it == sessions_.end() || it->second.expires <= now || it->second.tls != r.tls)
    return nullptr;
  return &it->second;
}

std::string Access::begin_session(bool tls, const std::string &user, int64_t now) {
  if (sessions_.size() >= kMaxSessions) {
    auto soonest = std::min_element(sessions_.begin(), sessions_.end(), [](auto &a, auto &b) {
      return a.second.expires < b.second.expires;
    });
    sessions_.erase(soonest);
  }
  const std::string id = auth::random_token() + auth::random_token();
  sessions_[id] = Session{now + policy_.session_seconds, tls, user};
  sessions_changed_ = true;
  return session_cookie(tls, id, policy_.session_seconds);
}

std::string Access::session_cookie(bool tls, const std::string &id, int64_t seconds) const {
  return std::string(tls ? kHttpsCookie : kHttpCookie) + "=" + id +
         "; Path=/; Max-Age=" + std::to_string(seconds) + "; HttpOnly; SameSite=Strict" +
         (tls ? "; Secure" : "");
}

std::string Access::key() const {
  return signing_key_;
}

// What the sessions were begun under: another token or users file ends them all.
std::string Access::fingerprint() const {
  std::string what = policy_.access_token + "\n" + policy_.users_file + "\n";
  for (const auto &[name, hash] : policy_.users)
    what += name + ":" + hash + "\n";
  g_autofree char *sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256, what.c_str(), -1);
  return sum;
}

// The file: "camcast-sessions 1 FINGERPRINT", "key KEY", then "session ID EXPIRES TLS [USER]"
// lines. Read with bounds (its size, the number of sessions, each field's form): a damaged file
// costs its sessions, nothing else.
void Access::load_sessions(int64_t now) {
  if (policy_.sessions_file.empty() || !policy_.enabled())
    return;
  gchar *text = nullptr;
  gsize size = 0;
  if (!g_file_get_contents(policy_.sessions_file.c_str(), &text, &size, nullptr))
    return;
  g_auto(GStrv) lines = size <= kMaxSessions * 256 ? g_strsplit(text, "\n", -1) : nullptr;
  g_free(text);
  if (!lines || !lines[0] || std::string(lines[0]) != "camcast-sessions 1 " + fingerprint())
    return;
  auto token_like = [](const char *s) {
    const size_t n = strlen(s);
    return n >= 16 && n <= 128 &&
           std::all_of(s, s + n, [](char c) { return g_ascii_isalnum(c) || c == '-' || c == '_'; });
  };
  for (char **line = lines + 1; *line && sessions_.size() < kMaxSessions; line++) {
    g_auto(GStrv) f = g_strsplit(*line, " ", 5);
    const guint n = g_strv_length(f);
    if (n == 2 && g_str_equal(f[0], "key") && token_like(f[1]) && policy_.access_token.empty()) {
      signing_key_ = f[1];
    } else if ((n == 4 || n == 5) && g_str_equal(f[0], "session") && token_like(f[1])) {
      const int64_t expires = g_ascii_strtoll(f[2], nullptr, 10);
      const std::string user = n == 5 ? f[4] : "";
      if (expires > now && expires <= now + policy_.session_seconds &&
          (user.empty() ? !policy_.access_token.empty() : policy_.users.count(user) > 0))
        sessions_[f[1]] = Session{expires, g_str_equal(f[3], "1"), user};
    }
  }
}

void Access::save_sessions(int64_t now) {
  sessions_changed_ = false;
  sessions_saved_ = now;
  if (policy_.sessions_file.empty() || !policy_.enabled())
    return;
  std::string text = "camcast-sessions 1 " + fingerprint() + "\n";
  if (policy_.access_token.empty())
    text += "key " + signing_key_ + "\n";
  for (const auto &[id, s] : sessions_)
    text += "session " + id + " " + std::to_string(s.expires) + (s.tls ? " 1" : " 0") +
            (s.user.empty() ? "" : " " + s.user) + "\n";
  GError *error = nullptr;
  if (!g_file_set_contents_full(policy_.sessions_file.c_str(), text.data(), gssize(text.size()),
                                G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error)) {
    g_warning("camcast: cannot keep the sessions in %s: %s", policy_.sessions_file.c_str(),
              error->message);
    g_error_free(error);
  }
}

Admission Access::admit(const AccessRequest &r, int64_t now, AccessAnswer *refusal,
                        std::vector<std::pair<std::string, std::string>> *headers) {
  if (!host_allowed(r.host)) {
    *refusal =
        page(403, "This camera does not answer to the name <code>" + html(host_name(r.host)) +
                      "</code>: open it by its address, or add that name to "
                      "<code>allowed-hosts</code> (<code>--allowed-hosts</code>).");
    return Admission::Refused;
  }
  // /metrics for a scraper: its own bearer token, required whenever one is set.
  if (r.path == "/metrics" && !policy_.metrics_token.empty()) {
    if (auth::constant_time_equal(r.authorization, "Bearer " + policy_.metrics_token))
      return Admission::MetricsToken;
    if (!policy_.enabled()) {
      *refusal = page(401, "/metrics needs Authorization: Bearer &lt;metrics-token&gt;");
      refusal->content_type = "text/html; charset=utf-8";
      return Admission::Refused;
    }
  }
  // A CORS preflight carries no credentials, and its answer (the methods a path takes) tells
  // nothing private.
  if (!policy_.enabled() || r.public_stream || r.method == "OPTIONS")
    return Admission::Open;
  const bool users = !policy_.users_file.empty();
  if (users && (r.path == "/login" || r.path == "/logout"))
    return Admission::Open;
  if (r.websocket && !origin_allowed(r)) {
    *refusal = page(403, "This stream does not accept connections from that page.");
    return Admission::Refused;
  }
  std::string id;
  const Session *session = session_of(r, now, &id);
  // The token of a link (?token=), or of a client that cannot put it there (a WHEP client's
  // Authorization: Bearer).
  std::string token = auth::query_param(r.query, "token");
  if (token.empty() && r.authorization.substr(0, 7) == "Bearer ")
    token = std::string(r.authorization.substr(7));
  if (!token.empty() && !policy_.access_token.empty() &&
      auth::constant_time_equal(token, policy_.access_token)) {
    // The link was the key: from now on the browser holds a session instead. Page loads only: a
    // dashboard polling snapshot.jpg?token= would otherwise start a session a poll, and push
    // the browsers' sessions out of the table.
    if (!r.websocket && !session && page_load(r))
      headers->emplace_back("Set-Cookie", begin_session(r.tls, "", now));
    return Admission::AccessToken;
  }
  std::string why;
  if (!token.empty() && auth::verify(key(), token, r.path, now, &why))
    return Admission::StreamToken;
  if (session) {
    // A request that changes something on the strength of the cookie must come from a page
    // allowed to (as WebSocket upgrades must): another site's page could send it with our cookie.
    const bool changes = r.method != "GET" && r.method != "HEAD" && r.path != "/login";
    if (!changes || origin_allowed(r))
      return Admission::Session;
    *refusal = page(403, "This camera does not accept that request from that page.");
    return Admission::Refused;
  }
  if (users && !r.websocket && r.method != "POST") {
    g_autofree char *next = g_uri_escape_string(std::string(r.path).c_str(), "/", FALSE);
    *refusal = redirect(std::string("/login?next=") + next);
    return Admission::Refused;
  }
  *refusal = page(401,
                  "This camera is private. Open it with the link camcast printed when it "
                  "started (the one with <code>?token=</code>).");
  return Admission::Refused;
}

bool Access::serve(const AccessRequest &r, Admission how, std::string_view body, int64_t now,
                   std::function<void(AccessAnswer)> done) {
  if (!policy_.enabled())
    return false;
  const bool users = !policy_.users_file.empty();
  if (users && r.path == "/login") {
    if (r.method == "POST")
      login(r, body, now, std::move(done));
    else
      done(login_page(200, local_path(auth::query_param(r.query, "next")), nullptr));
    return true;
  }
  if (r.path == "/logout") {
    std::string id;
    if (session_of(r, now, &id)) {
      sessions_.erase(id);
      sessions_changed_ = true;
    }
    AccessAnswer a = redirect(users ? "/login" : "/");
    a.headers.emplace_back("Set-Cookie", session_cookie(r.tls, "", 0));
    done(std::move(a));
    return true;
  }
  if (r.path == "/api/token") {
    // A stream token mints nothing: only the access token or a session may.
    if (how != Admission::AccessToken && how != Admission::Session)
      done(page(403, "Stream tokens are made with the access token or a session."));
    else
      done(token(r, now));
    return true;
  }
  return false;
}

// GET /api/token?path=/video&ttl=300: a stream token for embedding, one stream, a day at most.
AccessAnswer Access::token(const AccessRequest &r, int64_t now) const {
  const std::string path = auth::query_param(r.query, "path");
  const std::string ttl_text = auth::query_param(r.query, "ttl");
  char *end = nullptr;
  const long long ttl = ttl_text.empty() ? 300 : g_ascii_strtoll(ttl_text.c_str(), &end, 10);
  AccessAnswer a;
  a.content_type = "text/plain; charset=utf-8";
  if (!is_stream_(path) || (end && *end) || ttl <= 0 || ttl > kMaxTokenSeconds) {
    a.status = 400;
    a.body =
        "usage: /api/token?path=/video&ttl=300 (path: a stream's path, as / lists them; ttl "
        "in seconds, 1 to 86400)\n";
    return a;
  }
  const int64_t expires = now + ttl;
  a.content_type = "application/json";
  a.body = "{\"token\":" + json_string(auth::sign(key(), path, expires)) +
           ",\"path\":" + json_string(path) + ",\"expires\":" + std::to_string(expires) + "}\n";
  return a;
}

void Access::login(const AccessRequest &r, std::string_view form, int64_t now,
                   std::function<void(AccessAnswer)> done) {
  const std::string user = auth::query_param(form, "user");
  const std::string next = local_path(auth::query_param(form, "next"));
  const std::string address(r.peer);
  const std::string user_at = user + '\n' + address;
  if (!by_user_and_address_.allowed(user_at, now) || !by_address_.allowed(address, now)) {
    done(login_page(429, next, "Too many failed logins: wait a minute."));
    return;
  }
  if (shared_->pending >= kMaxPendingLogins ||
      pending_by_address_[address] >= kMaxPendingLoginsPerAddress) {
    if (!pending_by_address_[address])
      pending_by_address_.erase(address);
    AccessAnswer busy = login_page(503, next, "Too many logins at once: try again.");
    busy.headers.emplace_back("Retry-After", "1");
    done(std::move(busy));
    return;
  }
  // A user name many have guessed at lately: every answer for it waits a little, right or wrong
  // (the wait must not tell which).
  const bool slowed = !by_user_.allowed(user, now);
  auto found = policy_.users.find(user);
  auto *check = new Check{found == policy_.users.end() ? "" : found->second,
                          auth::query_param(form, "password"), nullptr};
  shared_->pending++;
  pending_by_address_[address]++;
  std::weak_ptr<Shared> weak = shared_;
  const bool tls = r.tls;
  // On the worker: the verdict goes back to the server thread, where the rest of us lives.
  check->answer = [this, weak, post = post_, done = std::move(done), user, address, user_at, next,
                   tls, now, slowed](bool ok) {
    post([=] {
      auto shared = weak.lock();
      if (!shared || !shared->alive)
        return;  // the server went away meanwhile
      shared->pending--;
      if (--pending_by_address_[address] <= 0)
        pending_by_address_.erase(address);
      AccessAnswer a;
      if (!ok) {
        by_user_and_address_.failed(user_at, now);
        by_address_.failed(address, now);
        by_user_.failed(user, now);
        a = login_page(401, next, "Wrong user name or password.");
      } else {
        by_user_and_address_.succeeded(user_at);
        a = redirect(next);
        a.headers.emplace_back("Set-Cookie", begin_session(tls, user, now));
      }
      if (slowed)
        held_.emplace_back(now + kSlowSeconds, [done, a] { done(a); });
      else
        done(std::move(a));
    });
  };
  g_thread_pool_push(shared_->pool, check, nullptr);
}

void Access::tick(int64_t now) {
  for (auto it = sessions_.begin(); it != sessions_.end();)
    if (it->second.expires <= now) {
      it = sessions_.erase(it);
      sessions_changed_ = true;
    } else {
      ++it;
    }
  if (sessions_changed_ && now > sessions_saved_)
    save_sessions(now);
  std::vector<std::function<void()>> due;
  for (auto it = held_.begin(); it != held_.end();) {
    if (it->first <= now) {
      due.push_back(std::move(it->second));
      it = held_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto &answer : due)
    answer();
}

}  // namespace camcast
