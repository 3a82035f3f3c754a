// Hostile clients against sessions and logins (see test_hostile.cpp): foreseeing secrets from
// what WebRTC answers publish of GLib's generator, guessing a user's password to lock its owner
// out, filling the line of password checks.
#include "glib_random_model.h"
#include "hostile_server.h"
#include "whep_offer.h"

using namespace hostile_test;
using camcast::test::GlibRandomModel;

namespace {

std::string json_field(const std::string &json, const char *name) {
  const std::string key = std::string("\"") + name + "\":\"";
  const size_t at = json.find(key);
  if (at == std::string::npos)
    return "";
  return json.substr(at + key.size(), json.find('"', at + key.size()) - at - key.size());
}

// The value of the session cookie a Set-Cookie header gives.
std::string session_id(const std::string &head) {
  const std::string cookie = header_of(head, "Set-Cookie");
  const size_t eq = cookie.find('=');
  return eq == std::string::npos ? "" : cookie.substr(eq + 1, cookie.find(';') - eq - 1);
}

// Someone holding only a stream token for /webrtc sends 110 WHEP offers. Each answer prints
// outputs of GLib's generator (rtpbin's CNAME "user%u@host-%x"): enough to solve for its state,
// and so to foresee every later output. The test plays that attacker with the state known (it
// seeds the generator): the CNAMEs are foreseen — the answers do publish the generator — but no
// session's Location key, and no session cookie of the viewers who came meanwhile, is.
void test_secrets_unforeseeable() {
  Server server("max-connection-rate=0", std::string("access-token=") + kToken,
                "x264enc tune=zerolatency speed-preset=ultrafast ! h264parse ! "
                "whepsink path=/webrtc");
  std::string body, head;
  g_assert_cmpint(
      camcast::test::http_get(
          server.port, std::string("/api/token?path=/webrtc&ttl=600&token=") + kToken, &body),
      ==, 200);
  const std::string bearer = "Authorization: Bearer " + json_field(body, "token") + "\r\n";
  const std::string offer = camcast::test::make_offer("42e01f");
  const GlibRandomModel glib(g_random_int());
  int published = 0, foreseen = 0;
  std::vector<std::vector<uint8_t>> secrets;
  for (int i = 0; i < 110; i++) {
    std::string answer;
    g_assert_cmpint(camcast::test::http_request(server.port, "POST", "/webrtc", offer,
                                                "application/sdp", &answer, &head, bearer, 10000),
                    ==, 201);
    const std::string location = header_of(head, "Location");
    secrets.push_back(GlibRandomModel::hex_bytes(location.substr(location.rfind('/') + 1)));
    g_assert_cmpint(camcast::test::http_request(server.port, "DELETE", location, "", "", &body,
                                                nullptr, bearer),
                    ==, 200);
    unsigned user = 0, host = 0;
    const char *cname = strstr(answer.c_str(), "cname:user");
    if (cname && sscanf(cname, "cname:user%u@host-%x", &user, &host) == 2) {
      published++;
      foreseen += glib.follows(user, host) || glib.follows(host, user);
    }
    if (i % 10 == 0) {  // a viewer opens the link meanwhile, and gets a session
      g_assert_cmpint(camcast::test::http_get(server.port, std::string("/v?token=") + kToken, &body,
                                              3000, &head, "Accept: text/html\r\n"),
                      ==, 200);
      const std::string id = session_id(head);
      g_assert_cmpuint(id.size(), >=, 22);
      secrets.push_back(GlibRandomModel::token_bytes(id));
    }
  }
  g_test_message("%d CNAMEs published, %d of them foreseen; %zu secrets made", published, foreseen,
                 secrets.size());
  g_assert_cmpint(published, ==, 110);
  g_assert_cmpint(foreseen, >=, 100);  // the model is the generator the answers publish
  for (const auto &secret : secrets)
    g_assert_false(glib.predicts(secret));
}

std::string login_form(const std::string &password) {
  return "user=alice&password=" + password;
}

// Someone guesses alice's password from two addresses, ten times: those addresses are refused
// for alice, and alice herself, from her own address, still logs in (slowed a moment).
void test_owner_not_locked_out() {
  const UsersFile alice;
  Server server("", "users-file=" + alice.path);
  std::string body;
  for (int i = 0; i < 10; i++) {
    const std::string from = "127.0.3." + std::to_string(1 + i % 2);
    g_assert_cmpint(camcast::test::http_post(Endpoint(server.port, false, from.c_str()), "/login",
                                             login_form("guess" + std::to_string(i)), &body),
                    ==, 401);
  }
  std::string head;
  g_assert_cmpint(camcast::test::http_post(Endpoint(server.port, false, "127.0.3.1"), "/login",
                                           login_form("correct+horse"), &body, &head),
                  ==, 429);
  g_assert_true(g_str_has_prefix(head.c_str(), "HTTP/1.1 429 Too Many Requests"));
  const auto start = Clock::now();
  g_assert_cmpint(camcast::test::http_post(Endpoint(server.port, false, "127.0.3.3"), "/login",
                                           login_form("correct+horse"), &body, nullptr, "", 10000),
                  ==, 303);
  g_test_message("alice got in after %.1f s",
                 std::chrono::duration<double>(Clock::now() - start).count());
}

// Sixteen logins at once from four addresses: those past two an address waiting are turned away,
// and the real user's login, sent while the rest wait for the password worker, is checked in turn
// instead of being answered 503.
void test_logins_at_once() {
  const UsersFile alice;
  Server server("", "users-file=" + alice.path);
  std::vector<std::unique_ptr<Raw>> guesses;
  for (int i = 0; i < 16; i++) {
    const std::string from = "127.0.4." + std::to_string(1 + i % 4);
    const std::string form = "user=u" + std::to_string(i) + "&password=guess";
    guesses.push_back(std::make_unique<Raw>(server.port, 0, from.c_str()));
    g_assert_true(
        guesses.back()->send("POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                             "application/x-www-form-urlencoded\r\nContent-Length: " +
                             std::to_string(form.size()) + "\r\n\r\n" + form));
  }
  std::string body;
  g_assert_cmpint(camcast::test::http_post(Endpoint(server.port, false, "127.0.4.100"), "/login",
                                           login_form("correct+horse"), &body, nullptr, "", 20000),
                  ==, 303);
  int busy = 0, wrong = 0;
  for (auto &g : guesses) {
    std::string answer;
    g_assert_true(g->ended(20000, &answer));
    busy += status_of(answer) == 503;
    wrong += status_of(answer) == 401;
  }
  // How many are turned away depends on how many the worker had checked before the rest came
  // (the unit test /access/logins counts it exactly); each is one or the other.
  g_test_message("%d guesses checked, %d turned away", wrong, busy);
  g_assert_cmpint(busy + wrong, ==, 16);
}

// A dashboard polls snapshot.jpg?token= — as an <img> does, and as a program does — 200
// times: no session for any poll (4,096 would push every browser's session out of the table);
// a page loaded with the token gets one.
void test_polling_makes_no_sessions() {
  Server server("max-connection-rate=0", std::string("access-token=") + kToken);
  const std::string poll = std::string("/m/snapshot.jpg?token=") + kToken;
  int cookies = 0;
  for (int i = 0; i < 200; i++) {
    std::string body, head;
    g_assert_cmpint(camcast::test::http_get(server.port, poll, &body, 3000, &head,
                                            i % 2 ? "Sec-Fetch-Dest: image\r\n" : ""),
                    ==, 200);
    cookies += !header_of(head, "Set-Cookie").empty();
  }
  g_assert_cmpint(cookies, ==, 0);
  std::string body, head;
  g_assert_cmpint(camcast::test::http_get(server.port, std::string("/v?token=") + kToken, &body,
                                          3000, &head, "Sec-Fetch-Dest: document\r\n"),
                  ==, 200);
  g_assert_false(session_id(head).empty());
}

}  // namespace

void hostile_test::add_session_tests() {
  g_test_add_func("/hostile/secrets-unforeseeable", test_secrets_unforeseeable);
  g_test_add_func("/hostile/owner-not-locked-out", test_owner_not_locked_out);
  g_test_add_func("/hostile/logins-at-once", test_logins_at_once);
  g_test_add_func("/hostile/polling-makes-no-sessions", test_polling_makes_no_sessions);
}
