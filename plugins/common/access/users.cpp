#include "access/users.h"

#include "access/auth.h"

#include <crypt.h>
#include <glib.h>
#include <glib/gstdio.h>

#include <cstring>
#include <vector>

namespace camcast::users {

std::string hash_password(const std::string &password, std::string *error) {
  char setting[CRYPT_GENSALT_OUTPUT_SIZE];
  char out[CRYPT_OUTPUT_SIZE];
  crypt_data data;
  memset(&data, 0, sizeof data);
  // "$y$": yescrypt at libxcrypt's default cost, salt from the kernel's random source.
  if (!crypt_gensalt_rn("$y$", 0, nullptr, 0, setting, sizeof setting) ||
      !crypt_rn(password.c_str(), setting, &data, sizeof data) || data.output[0] == '*') {
    *error = "this system's libxcrypt cannot make yescrypt hashes";
    return "";
  }
  strncpy(out, data.output, sizeof out - 1);
  out[sizeof out - 1] = '\0';
  return out;
}

bool verify_password(const std::string &hash, const std::string &password) {
  if (hash.empty() || hash[0] != '$')
    return false;
  crypt_data data;
  memset(&data, 0, sizeof data);
  if (!crypt_rn(password.c_str(), hash.c_str(), &data, sizeof data) || data.output[0] == '*')
    return false;
  return auth::constant_time_equal(data.output, hash);
}

bool load(const std::string &path, std::map<std::string, std::string> *users, std::string *error) {
  GStatBuf st;
  if (g_stat(path.c_str(), &st) != 0) {
    *error = path + ": " + g_strerror(errno);
    return false;
  }
  if (st.st_mode & 022) {
    *error = path + ": other users can change this file; chmod 600 " + path;
    return false;
  }
  if (st.st_mode & 004) {
    *error = path + ": every user of this machine can read the password hashes; chmod 600 " + path;
    return false;
  }
  gchar *contents = nullptr;
  GError *err = nullptr;
  if (!g_file_get_contents(path.c_str(), &contents, nullptr, &err)) {
    *error = err->message;
    g_error_free(err);
    return false;
  }
  users->clear();
  gchar **lines = g_strsplit(contents, "\n", -1);
  g_free(contents);
  bool ok = true;
  for (int i = 0; lines[i] && ok; i++) {
    const std::string line = g_strstrip(lines[i]);
    if (line.empty() || line[0] == '#')
      continue;
    const size_t colon = line.find(':');
    if (colon == 0 || colon == std::string::npos || line.compare(colon + 1, 1, "$") != 0) {
      *error = path + ":" + std::to_string(i + 1) +
               ": expected NAME:HASH (make entries with camcast passwd NAME)";
      ok = false;
    } else {
      (*users)[line.substr(0, colon)] = line.substr(colon + 1);
    }
  }
  g_strfreev(lines);
  return ok;
}

bool set_user(const std::string &path, const std::string &user, const std::string &password,
              std::string *error) {
  if (user.empty() || user.find_first_of(":\n\r ") != std::string::npos) {
    *error = "a user name cannot be empty or hold ':', spaces or line breaks";
    return false;
  }
  if (password.size() < 8) {
    *error = "use a password of at least 8 characters";
    return false;
  }
  std::map<std::string, std::string> users;
  if (g_file_test(path.c_str(), G_FILE_TEST_EXISTS) && !load(path, &users, error))
    return false;
  const std::string hash = hash_password(password, error);
  if (hash.empty())
    return false;
  users[user] = hash;
  std::string text = "# camcast users: NAME:yescrypt hash. Edit with camcast passwd.\n";
  for (const auto &[name, h] : users)
    text += name + ":" + h + "\n";
  g_autofree char *dir = g_path_get_dirname(path.c_str());
  GError *err = nullptr;
  if (g_mkdir_with_parents(dir, 0700) != 0 ||
      !g_file_set_contents_full(path.c_str(), text.c_str(), -1, G_FILE_SET_CONTENTS_CONSISTENT,
                                0600, &err)) {
    *error = path + ": " + (err ? err->message : g_strerror(errno));
    g_clear_error(&err);
    return false;
  }
  return true;
}

const std::string &dummy_hash() {
  static const std::string *hash = [] {
    std::string error;
    return new std::string(hash_password(auth::random_token(), &error));
  }();
  return *hash;
}

bool LoginThrottle::allowed(const std::string &address, int64_t now) {
  auto it = failures_.find(address);
  if (it == failures_.end())
    return true;
  if (now - it->second.last >= kWindowSeconds) {
    failures_.erase(it);
    return true;
  }
  return it->second.count < max_failures_;
}

void LoginThrottle::failed(const std::string &address, int64_t now) {
  // Bounded memory under a flood of addresses: forget the stale ones first.
  if (failures_.size() > 10000)
    for (auto it = failures_.begin(); it != failures_.end();)
      it = now - it->second.last >= kWindowSeconds ? failures_.erase(it) : std::next(it);
  Failures &f = failures_[address];
  if (now - f.last >= kWindowSeconds)
    f.count = 0;
  f.count++;
  f.last = now;
}

}  // namespace camcast::users
