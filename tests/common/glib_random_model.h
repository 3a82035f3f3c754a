// An attacker who knows the state of GLib's process-wide generator (g_random_*, a Mersenne
// Twister): a few hundred of its outputs published in WebRTC answers (rtpbin's CNAMEs, SSRCs)
// give that state away, and with it every later output. A test seeds the generator itself
// (g_random_set_seed) — the state such an attacker would have solved for — and asks whether a
// secret the product made afterwards is among what the generator gave out.
#pragma once

#include <glib.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace camcast::test {

class GlibRandomModel {
public:
  // Seeds GLib's generator with `seed` and foresees its next `n` outputs.
  explicit GlibRandomModel(guint32 seed, size_t n = 1 << 20) {
    GRand *rand = g_rand_new_with_seed(seed);
    outputs_.resize(n);
    for (guint32 &w : outputs_)
      w = g_rand_int(rand);
    g_rand_free(rand);
    for (size_t i = 0; i < n; i++)
      index_.emplace_back(outputs_[i], i);
    std::sort(index_.begin(), index_.end());
    g_random_set_seed(seed);
  }

  // True when two consecutive 32-bit words of `bytes` (at a multiple of 4, in either byte
  // order) are two consecutive outputs of the generator: a secret made of its outputs. One
  // word alone could match by chance (one in ~4,000 at a million outputs); two in a row cannot.
  bool predicts(const std::vector<uint8_t> &bytes) const {
    for (size_t at = 0; at + 8 <= bytes.size(); at += 4)
      for (bool big : {false, true})
        if (follows(word(bytes, at, big), word(bytes, at + 4, big)))
          return true;
    return false;
  }
  // True when `b` came out of the generator right after `a`.
  bool follows(guint32 a, guint32 b) const {
    auto it = std::lower_bound(index_.begin(), index_.end(), std::make_pair(a, size_t(0)));
    for (; it != index_.end() && it->first == a; ++it)
      if (it->second + 1 < outputs_.size() && outputs_[it->second + 1] == b)
        return true;
    return false;
  }

  // A secret's bytes from its text: hex (WHEP keys), or URL-safe base64 in 22-character
  // tokens (access tokens, session ids).
  static std::vector<uint8_t> hex_bytes(const std::string &hex) {
    std::vector<uint8_t> out;
    for (size_t i = 0; i + 1 < hex.size(); i += 2)
      out.push_back(uint8_t(std::stoul(hex.substr(i, 2), nullptr, 16)));
    return out;
  }
  static std::vector<uint8_t> token_bytes(const std::string &tokens) {
    std::vector<uint8_t> out;
    for (size_t i = 0; i + 22 <= tokens.size(); i += 22) {
      std::string b64 = tokens.substr(i, 22) + "==";
      for (char &c : b64)
        c = c == '-' ? '+' : c == '_' ? '/' : c;
      gsize len = 0;
      g_autofree guchar *raw = g_base64_decode(b64.c_str(), &len);
      out.insert(out.end(), raw, raw + len);
    }
    return out;
  }

private:
  static guint32 word(const std::vector<uint8_t> &b, size_t at, bool big) {
    return big ? guint32(b[at]) << 24 | guint32(b[at + 1]) << 16 | guint32(b[at + 2]) << 8 |
                     b[at + 3]
               : guint32(b[at + 3]) << 24 | guint32(b[at + 2]) << 16 | guint32(b[at + 1]) << 8 |
                     b[at];
  }
  std::vector<guint32> outputs_;
  std::vector<std::pair<guint32, size_t>> index_;
};

}  // namespace camcast::test
