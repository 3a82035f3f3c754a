// Layer access: who may see what (tokens, sessions, users, TLS credentials); uses formats.
// Users for the login page: a users file of "name:hash" lines, passwords hashed with yescrypt
// (libxcrypt, as /etc/shadow on Debian) and never stored in clear, and a throttle that slows
// password guessing per client address.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace camcast::users {

// A yescrypt hash of `password` with a fresh salt; empty with `error` on failure.
std::string hash_password(const std::string &password, std::string *error);
// True when `password` matches `hash` (constant time over the hash).
bool verify_password(const std::string &hash, const std::string &password);

// Reads a users file. Refuses one that other users could change or read (it holds hashes;
// chmod 600), or one with a malformed line, saying which.
bool load(const std::string &path, std::map<std::string, std::string> *users, std::string *error);
// Adds or replaces `user` in the file (made with mode 0600 if new).
bool set_user(const std::string &path, const std::string &user, const std::string &password,
              std::string *error);

// A yescrypt hash of a random password, made once: checking a password against it costs what
// checking it against a user's hash costs (an unknown user then takes as long as a wrong
// password). Any thread.
const std::string &dummy_hash();

// Failed logins per key (a client address, a user name): after `max_failures` within
// kWindowSeconds, that key is refused until the window has passed since its last failure.
class LoginThrottle {
public:
  static constexpr int64_t kWindowSeconds = 60;
  explicit LoginThrottle(int max_failures) : max_failures_(max_failures) {}
  bool allowed(const std::string &key, int64_t now);
  void failed(const std::string &key, int64_t now);
  void succeeded(const std::string &key) { failures_.erase(key); }

private:
  const int max_failures_;
  struct Failures {
    int count = 0;
    int64_t last = 0;
  };
  std::map<std::string, Failures> failures_;
};

}  // namespace camcast::users
