// RTSP's access control without a server (rtsp/rtsp_access.h): Basic credentials with the access
// token or a user's password, what a malformed header gets, credentials remembered, password
// checks kept to their budget, guessing throttled per address.
#include "access/users.h"
#include "rtsp/rtsp_access.h"

#include <glib.h>

#include <string>

using camcast::AccessPolicy;
using camcast::RtspAccess;
using Verdict = camcast::RtspAccess::Verdict;

namespace {

std::string basic(const std::string &user, const std::string &password) {
  const std::string pair = user + ":" + password;
  g_autofree char *b64 =
      g_base64_encode(reinterpret_cast<const guchar *>(pair.data()), pair.size());
  return std::string("Basic ") + b64;
}

AccessPolicy with_token_and_user() {
  AccessPolicy p;
  p.access_token = "the-access-token";
  std::string error;
  p.users["ann"] = camcast::users::hash_password("ann's password", &error);
  g_assert_cmpstr(error.c_str(), ==, "");
  return p;
}

constexpr int64_t kSecond = G_USEC_PER_SEC;

// An open camera lets anyone in; a private one takes the token under any user name, or a user's
// own password, and nothing else.
void test_credentials() {
  RtspAccess open{AccessPolicy()};
  g_assert_true(open.check("", "10.0.0.1", 0) == Verdict::Allowed);
  RtspAccess access(with_token_and_user());
  int64_t now = 100 * kSecond;
  g_assert_true(access.check("", "10.0.0.1", now) == Verdict::Refused);
  g_assert_true(access.check(basic("anyone", "the-access-token"), "10.0.0.1", now) ==
                Verdict::Allowed);
  g_assert_true(access.check(basic("ann", "ann's password"), "10.0.0.1", now += kSecond) ==
                Verdict::Allowed);
  g_assert_true(access.check(basic("ann", "wrong"), "10.0.0.2", now += kSecond) ==
                Verdict::Refused);
  g_assert_true(access.check(basic("bob", "ann's password"), "10.0.0.2", now += kSecond) ==
                Verdict::Refused);
  g_assert_true(access.check(basic("ann", "the-access-token-"), "10.0.0.2", now) ==
                Verdict::Refused);
  // Malformed: another scheme, no colon, not base64, too long.
  for (const std::string &header :
       {std::string("Digest username=\"ann\""), std::string("Basic"), std::string("Basic "),
        std::string("Basic bm9jb2xvbg=="), std::string("Basic !!!!"),
        "Basic " + std::string(RtspAccess::kMaxHeader, 'A')})
    g_assert_true(access.check(header, "10.0.0.3", now += kSecond) == Verdict::Refused);
}

// A credential that passed is taken again without a password check (clients send it with every
// request), until it is forgotten; then it costs a check again.
void test_remembered_within_budget() {
  RtspAccess access(with_token_and_user());
  const int64_t now = 1000 * kSecond;
  const std::string ann = basic("ann", "ann's password");
  g_assert_true(access.check(ann, "10.0.0.1", now) == Verdict::Allowed);
  // The second's budget spent by others' guesses: ann, remembered, still comes in.
  for (int i = 0; i < RtspAccess::kChecksPerSecond; i++)
    access.check(basic("u" + std::to_string(i), "x"), "10.0.1." + std::to_string(i), now);
  g_assert_true(access.check(basic("eve", "x"), "10.0.2.1", now) == Verdict::Busy);
  g_assert_true(access.check(ann, "10.0.0.1", now) == Verdict::Allowed);
  // The token costs no check: it passes with the budget spent.
  g_assert_true(access.check(basic("x", "the-access-token"), "10.0.2.2", now) == Verdict::Allowed);
  // Forgotten after a while: a check again, in a new second's budget.
  const int64_t later = now + RtspAccess::kRememberUs + kSecond;
  g_assert_true(access.check(ann, "10.0.0.1", later) == Verdict::Allowed);
}

// Guessing: past the failures allowed for a user name from one address, that address is refused
// for it without a check — the right password too — while another address is not.
void test_guessing_throttled() {
  RtspAccess access(with_token_and_user());
  int64_t now = 5000 * kSecond;
  for (int i = 0; i < camcast::Access::kMaxFailuresPerUserAndAddress; i++)
    g_assert_true(access.check(basic("ann", "guess" + std::to_string(i)), "10.0.0.9",
                               now += kSecond) == Verdict::Refused);
  g_assert_true(access.check(basic("ann", "ann's password"), "10.0.0.9", now += kSecond) ==
                Verdict::Refused);
  g_assert_true(access.check(basic("ann", "ann's password"), "10.0.0.8", now += kSecond) ==
                Verdict::Allowed);
  // A minute on, the guesser's address may try again.
  g_assert_true(access.check(basic("ann", "ann's password"), "10.0.0.9", now + 61 * kSecond) ==
                Verdict::Allowed);
}

}  // namespace

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/rtsp-access/credentials", test_credentials);
  g_test_add_func("/rtsp-access/remembered-within-budget", test_remembered_within_budget);
  g_test_add_func("/rtsp-access/guessing-throttled", test_guessing_throttled);
  return g_test_run();
}
