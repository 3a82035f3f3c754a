// What a request meets on its way through a server (HttpServer's request handling): access
// control and the body rules before its body is read, then the route to its answer — a status
// page, a login, a stream's page or files, an upgrade to a WebSocket viewer.
#include "net/http_server.h"

#include "net/status_pages.h"
#include "net/status_phrase.h"

GST_DEBUG_CATEGORY_EXTERN(camcast_server_debug);
#define GST_CAT_DEFAULT camcast_server_debug

namespace camcast {

namespace {

// The login form is a user name and a password: nothing larger is read.
constexpr goffset kMaxFormBytes = 4096;

// How the early handler let a request in (read by the normal handler).
constexpr const char *kAdmission = "camcast-admission";
constexpr const char *kUpload = "camcast-upload";

void respond(SoupServerMessage *msg, guint status, const char *content_type,
             const std::string &body) {
  soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Cache-Control",
                               "no-store");
  set_answer(msg, status, content_type, body);
}

void respond(SoupServerMessage *msg, const AccessAnswer &answer) {
  SoupMessageHeaders *headers = soup_server_message_get_response_headers(msg);
  for (const auto &[name, value] : answer.headers)
    soup_message_headers_append(headers, name.c_str(), value.c_str());
  respond(msg, answer.status, answer.content_type.c_str(), answer.body);
}

bool wants_websocket(SoupServerMessage *msg) {
  SoupMessageHeaders *h = soup_server_message_get_request_headers(msg);
  return soup_message_headers_header_contains(h, "Upgrade", "websocket");
}

// A path as logs may show it: its first segment only ("/publish/…"), since what follows may be
// a secret (a relay's publish path) or a guess at one.
std::string loggable(std::string_view path) {
  const size_t second = path.find('/', 1);
  return second == std::string_view::npos
             ? std::string(path.substr(0, 64))
             : std::string(path.substr(0, std::min<size_t>(second, 64))) + "/…";
}

const char *header(SoupServerMessage *msg, const char *name) {
  const char *value =
      soup_message_headers_get_one(soup_server_message_get_request_headers(msg), name);
  return value ? value : "";
}

// Once the 101 is out: the connection leaves libsoup for the mount's WebSocket client.
void complete_upgrade(SoupServerMessage *msg, gpointer data) {
  auto mount = static_cast<std::weak_ptr<Mount> *>(data)->lock();
  if (mount && mount->attached())
    Connection::hand_off(
        msg, [&](const Connection::Handoff &h) { mount->accept_websocket(h, pinned_rung(msg)); });
  else
    Connection::hand_off(msg, nullptr);
}

}  // namespace

Admission admission_of(SoupServerMessage *msg) {
  return Admission(GPOINTER_TO_INT(g_object_get_data(G_OBJECT(msg), kAdmission)));
}

AccessRequest HttpServer::request_of(SoupServerMessage *msg, std::string_view path) {
  GUri *uri = soup_server_message_get_uri(msg);
  AccessRequest r;
  r.method = soup_server_message_get_method(msg);
  r.path = path;
  r.query = g_uri_get_query(uri) ? g_uri_get_query(uri) : "";
  r.host = header(msg, "Host");
  r.origin = header(msg, "Origin");
  r.cookie = header(msg, "Cookie");
  r.authorization = header(msg, "Authorization");
  r.fetch_dest = header(msg, "Sec-Fetch-Dest");
  r.accept = header(msg, "Accept");
  Connection *connection = Connection::of(msg);
  r.peer = connection ? std::string_view(connection->peer()) : std::string_view("?");
  r.tls = g_strcmp0(g_uri_get_scheme(uri), "https") == 0;
  r.websocket = wants_websocket(msg);
  std::shared_ptr<Mount> mount;
  std::string_view rest;
  r.public_stream =
      mounts_.match(path, &mount, &rest) &&
      (mount->is_public() || (mount->delegate() && mount->delegate()->checks_access()));
  return r;
}

void HttpServer::handle_request_head(SoupServer *, SoupServerMessage *msg, const char *path,
                                     GHashTable *, gpointer data) {
  static_cast<HttpServer *>(data)->admit(msg, path);
}

// Before a request's body is read (libsoup's early handler): libsoup would otherwise read all of
// it, however large, before anything could refuse it. A body is read only where one is wanted
// — a small login form, or an upload a mount takes (a relay's publisher), which reads it as it
// comes — and only once access control has let the request in. Everything else is answered now.
void HttpServer::admit(SoupServerMessage *msg, const char *path) {
  SoupMessageHeaders *request = soup_server_message_get_request_headers(msg);
  const bool chunked = soup_message_headers_get_encoding(request) == SOUP_ENCODING_CHUNKED;
  const goffset length = soup_message_headers_get_content_length(request);
  const bool body = chunked || length > 0;
  // A refusal: with a body coming, taken from libsoup so that nothing of the body is read.
  auto refuse = [msg, body](const AccessAnswer &answer) {
    Connection *connection = Connection::of(msg);
    if (connection && body)
      connection->refuse(msg, answer.status, answer.body, answer.headers,
                         answer.content_type.c_str());
    else
      respond(msg, answer);
  };
  auto refuse_text = [&](guint status, const std::string &text,
                         std::vector<std::pair<std::string, std::string>> headers = {}) {
    AccessAnswer answer;
    answer.status = status;
    answer.content_type = "text/plain; charset=utf-8";
    answer.body = text;
    answer.headers = std::move(headers);
    refuse(answer);
  };
  // More than one Host is answered 400 (RFC 9112 §3.2): which would access control judge?
  int hosts = 0;
  soup_message_headers_foreach(
      request,
      [](const char *name, const char *, gpointer n) {
        *static_cast<int *>(n) += g_ascii_strcasecmp(name, "Host") == 0;
      },
      &hosts);
  if (hosts > 1) {
    refuse_text(SOUP_STATUS_BAD_REQUEST, "a request names one Host\n");
    return;
  }
  const char *method = soup_server_message_get_method(msg);
  const std::string_view p(path);
  std::shared_ptr<Mount> mount;
  std::string_view rest;
  // An upload brings its own credential (a relay's secret), checked by the mount that takes it.
  if ((method == SOUP_METHOD_POST || method == SOUP_METHOD_PUT) &&
      mounts_.match(p, &mount, &rest) && mount->delegate() &&
      mount->delegate()->upload(msg, rest)) {
    g_object_set_data(G_OBJECT(msg), kUpload, GINT_TO_POINTER(1));
    return;
  }
  const bool login =
      method == SOUP_METHOD_POST && p == "/login" && !access_->policy().users_file.empty();
  const bool plain = method == SOUP_METHOD_GET || method == SOUP_METHOD_HEAD;
  // The body a request may bring, read whole: a login form, or what a mount that answers other
  // methods itself (WHEP) takes; -1: none.
  const goffset limit = login ? kMaxFormBytes
                        : !plain && mounts_.match(p, &mount, &rest) && mount->delegate()
                            ? mount->delegate()->body_limit(method, rest)
                            : -1;
  if (!plain && limit < 0) {
    refuse_text(SOUP_STATUS_METHOD_NOT_ALLOWED, "only GET and HEAD are served here\n",
                {{"Allow", "GET, HEAD"}});
    return;
  }
  const AccessRequest r = request_of(msg, p);
  AccessAnswer refusal;
  std::vector<std::pair<std::string, std::string>> headers;
  const Admission how = access_->admit(r, g_get_real_time() / G_USEC_PER_SEC, &refusal, &headers);
  if (how == Admission::Refused) {
    GST_INFO("%s: %s %s refused (%u)", std::string(r.peer).c_str(), method, loggable(p).c_str(),
             refusal.status);
    refuse(refusal);
    return;
  }
  for (const auto &[name, value] : headers)
    soup_message_headers_append(soup_server_message_get_response_headers(msg), name.c_str(),
                                value.c_str());
  g_object_set_data(G_OBJECT(msg), kAdmission, GINT_TO_POINTER(int(how)));
  if (limit >= 0 && (chunked || length > limit))
    refuse_text(chunked ? SOUP_STATUS_LENGTH_REQUIRED : SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE,
                login ? "a login form is a few hundred bytes, sent with a Content-Length\n"
                      : "a request here has at most " + std::to_string(limit) +
                            " bytes of body, sent with a Content-Length\n");
  else if (limit < 0 && body)
    refuse_text(SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "a GET or HEAD request takes no body\n");
}

void HttpServer::handle_request(SoupServer *, SoupServerMessage *msg, const char *path,
                                GHashTable *, gpointer self) {
  static_cast<HttpServer *>(self)->route(msg, path);
}

// Access control's own pages (/login, /logout, /api/token): true when it answered `msg` (or will:
// a login's answer comes once its password is checked, off this thread, and the message waits).
bool HttpServer::serve_access(SoupServerMessage *msg, std::string_view p, Admission how) {
  SoupMessageBody *body = soup_server_message_get_request_body(msg);
  const std::string_view form(body->data ? body->data : "", size_t(body->length));
  struct Waiting {
    SoupServerMessage *msg;
    bool paused = false;
    bool finished = false;
  };
  auto waiting = std::make_shared<Waiting>(Waiting{SOUP_SERVER_MESSAGE(g_object_ref(msg))});
  const gulong finished = g_signal_connect_data(
      msg, "finished", G_CALLBACK(+[](SoupServerMessage *, gpointer data) {
        static_cast<std::shared_ptr<Waiting> *>(data)->get()->finished = true;
      }),
      new std::shared_ptr<Waiting>(waiting),
      [](gpointer data, GClosure *) { delete static_cast<std::shared_ptr<Waiting> *>(data); },
      GConnectFlags(0));
  const bool served =
      access_->serve(request_of(msg, p), how, form, g_get_real_time() / G_USEC_PER_SEC,
                     [waiting, finished](AccessAnswer answer) {
                       SoupServerMessage *m = waiting->msg;
                       if (!waiting->finished) {
                         respond(m, answer);
                         if (waiting->paused)
                           soup_server_message_unpause(m);
                       }
                       g_signal_handler_disconnect(m, finished);
                       g_object_unref(m);
                     });
  if (served) {
    if (soup_server_message_get_status(msg) == 0) {  // not answered yet: a login being checked
      soup_server_message_pause(msg);
      waiting->paused = true;
    }
    return true;
  }
  g_signal_handler_disconnect(msg, finished);
  g_object_unref(msg);
  return false;
}

// After the early handler let it in (and read a body it let through whole: a login form, or a
// small request a mount takes, such as a WHEP offer).
void HttpServer::route(SoupServerMessage *msg, const char *path) {
  if (g_object_get_data(G_OBJECT(msg), kUpload)) {
    respond(msg, SOUP_STATUS_OK, "text/plain", "received\n");  // the publisher ended its upload
    return;
  }
  const std::string_view p(path);
  const Admission how = admission_of(msg);
  if (serve_access(msg, p, how))
    return;
  if (p == "/api/streams") {
    respond(
        msg, SOUP_STATUS_OK, "application/json",
        render_streams_json(all_stats(), how == Admission::AccessToken || how == Admission::Session,
                            all_outputs(), g_get_monotonic_time()));
    return;
  }
  if (p == "/metrics") {
    respond(msg, SOUP_STATUS_OK, "text/plain; version=0.0.4; charset=utf-8",
            render_metrics(all_stats(), all_outputs()));
    return;
  }
  if (p.rfind("/api/", 0) == 0)
    for (const auto &[at, candidate] : mounts_.all())
      if (MountDelegate *delegate = candidate->delegate();
          delegate && delegate->serve_api(msg, p.substr(4)))
        return;
  std::shared_ptr<Mount> mount;
  std::string_view rest;
  if (mounts_.match(p, &mount, &rest)) {
    // A lingering mount (no delegate while its sink restarts) takes new viewers too.
    if (rest.empty() && wants_websocket(msg) &&
        (!mount->delegate() || mount->delegate()->takes_websocket())) {
      upgrade(msg, mount);
      return;
    }
    MountDelegate *delegate = mount->delegate();
    if (!wants_websocket(msg) && delegate && delegate->serve_http(msg, rest))
      return;
  } else if (p == "/") {
    if (const char *query = g_uri_get_query(soup_server_message_get_uri(msg)))
      for (const auto &[at, candidate] : mounts_.all())
        if (MountDelegate *delegate = candidate->delegate();
            delegate && delegate->serve_root(msg, query))
          return;
    respond(msg, SOUP_STATUS_OK, "text/html; charset=utf-8",
            render_index(all_stats(), all_outputs(), g_get_monotonic_time()));
    return;
  }
  respond(msg, SOUP_STATUS_NOT_FOUND, "text/plain", "no stream here; see / for the list\n");
}

void HttpServer::upgrade(SoupServerMessage *msg, const std::shared_ptr<Mount> &mount) {
  // No extensions are offered: permessage-deflate would cost CPU per client on incompressible
  // video and defeat zero-copy (docs/protocols.md §1.6).
  if (!soup_websocket_server_process_handshake(msg, nullptr, nullptr, nullptr, nullptr))
    return;  // libsoup has set the 400 and the reason
  g_signal_connect_data(
      msg, "wrote-informational", G_CALLBACK(complete_upgrade), new std::weak_ptr<Mount>(mount),
      [](gpointer data, GClosure *) { delete static_cast<std::weak_ptr<Mount> *>(data); },
      GConnectFlags(0));
}

}  // namespace camcast
