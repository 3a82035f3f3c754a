// RFC 6455 framing: server headers, and the client-frame parser's limits and close codes.
#include "formats/ws_frame.h"

#include <glib.h>

#include <string>
#include <vector>

using namespace camcast::ws;

namespace {

// A client frame as a browser sends it: masked with a fixed key.
std::string client_frame(uint8_t first_byte, const std::string &payload, bool mask = true,
                         int force_len_bytes = 0) {
  std::string f;
  f.push_back(char(first_byte));
  const uint8_t m = mask ? 0x80 : 0;
  const size_t n = payload.size();
  if ((n < 126 && force_len_bytes == 0) || force_len_bytes == 1) {
    f.push_back(char(m | n));
  } else if ((n <= 0xFFFF && force_len_bytes == 0) || force_len_bytes == 2) {
    f.push_back(char(m | 126));
    f.push_back(char(n >> 8));
    f.push_back(char(n & 0xFF));
  } else {
    f.push_back(char(m | 127));
    for (int i = 7; i >= 0; i--)
      f.push_back(char((uint64_t(n) >> (8 * i)) & 0xFF));
  }
  const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
  if (mask)
    f.append(reinterpret_cast<const char *>(key), 4);
  for (size_t i = 0; i < n; i++)
    f.push_back(mask ? char(payload[i] ^ key[i & 3]) : payload[i]);
  return f;
}

bool feed(FrameParser &p, const std::string &bytes, std::vector<ClientMessage> &out) {
  return p.feed(reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size(), out);
}

void test_server_header_lengths() {
  uint8_t h[kMaxServerHeader];
  g_assert_cmpuint(write_server_header(h, Opcode::Binary, 125), ==, 2);
  g_assert_cmphex(h[0], ==, 0x82);
  g_assert_cmphex(h[1], ==, 125);
  g_assert_cmpuint(write_server_header(h, Opcode::Binary, 126), ==, 4);
  g_assert_cmphex(h[1], ==, 126);
  g_assert_cmphex((h[2] << 8) | h[3], ==, 126);
  g_assert_cmpuint(write_server_header(h, Opcode::Text, 65535), ==, 4);
  g_assert_cmphex(h[0], ==, 0x81);
  g_assert_cmpuint(write_server_header(h, Opcode::Binary, 65536), ==, 10);
  g_assert_cmphex(h[1], ==, 127);
  g_assert_cmphex(h[7], ==, 0x01);  // 65536 = 0x0000000000010000
  g_assert_cmphex(h[8] | h[9], ==, 0);
  // Never masked (§5.1).
  g_assert_false(h[1] & 0x80);
}

void test_close_frame_is_bounded() {
  std::string f = close_frame(1000, std::string(500, 'x'));
  g_assert_cmpuint(f.size(), ==, 2 + 125);
  g_assert_cmphex(uint8_t(f[0]), ==, 0x88);
  g_assert_cmphex(uint8_t(f[2]) << 8 | uint8_t(f[3]), ==, 1000);
}

void test_masked_text_and_binary() {
  FrameParser p;
  std::vector<ClientMessage> out;
  g_assert_true(
      feed(p, client_frame(0x81, "Hello") + client_frame(0x82, std::string(300, '\1')), out));
  g_assert_cmpuint(out.size(), ==, 2);
  g_assert_true(out[0].opcode == Opcode::Text);
  g_assert_cmpstr(out[0].payload.c_str(), ==, "Hello");
  g_assert_true(out[1].opcode == Opcode::Binary);
  g_assert_cmpuint(out[1].payload.size(), ==, 300);
}

void test_byte_at_a_time() {
  FrameParser p;
  std::vector<ClientMessage> out;
  std::string bytes = client_frame(0x01, "frag") + client_frame(0x89, "ping!") +
                      client_frame(0x80, "mented") + client_frame(0x88, std::string("\x03\xe8", 2));
  for (char ch : bytes)
    g_assert_true(feed(p, std::string(1, ch), out));
  g_assert_cmpuint(out.size(), ==, 3);
  // A control frame may come between fragments and is delivered on its own (§5.4).
  g_assert_true(out[0].opcode == Opcode::Ping);
  g_assert_cmpstr(out[0].payload.c_str(), ==, "ping!");
  g_assert_true(out[1].opcode == Opcode::Text);
  g_assert_cmpstr(out[1].payload.c_str(), ==, "fragmented");
  g_assert_true(out[2].opcode == Opcode::Close);
  g_assert_cmpuint(out[2].close_code, ==, 1000);
}

struct Bad {
  const char *what;
  std::string bytes;
  uint16_t code;
};

void test_violations_close_with_the_right_code() {
  const Bad cases[] = {
      {"unmasked", client_frame(0x82, "x", false), kCloseProtocolError},
      {"reserved bit", client_frame(0xC2, "x"), kCloseProtocolError},
      {"unknown opcode", client_frame(0x83, "x"), kCloseProtocolError},
      {"fragmented ping", client_frame(0x09, "x"), kCloseProtocolError},
      {"long ping", client_frame(0x89, std::string(126, 'p')), kCloseProtocolError},
      {"continuation first", client_frame(0x80, "x"), kCloseProtocolError},
      {"new message mid-message", client_frame(0x01, "a") + client_frame(0x81, "b"),
       kCloseProtocolError},
      {"non-minimal 16-bit length", client_frame(0x82, "short", true, 2), kCloseProtocolError},
      {"non-minimal 64-bit length", client_frame(0x82, std::string(200, 'x'), true, 8),
       kCloseProtocolError},
      {"bad utf-8 text", client_frame(0x81, "\xff\xfe"), kCloseInvalidData},
      {"bad utf-8 in fragments", client_frame(0x01, "\xe2\x82") + client_frame(0x80, "x"),
       kCloseInvalidData},
      {"one-byte close", client_frame(0x88, "\x03"), kCloseProtocolError},
      {"reserved close code", client_frame(0x88, std::string("\x03\xed", 2)), kCloseProtocolError},
  };
  for (const Bad &c : cases) {
    FrameParser p;
    std::vector<ClientMessage> out;
    g_test_message("%s", c.what);
    g_assert_false(feed(p, c.bytes, out));
    g_assert_cmpuint(p.error_code(), ==, c.code);
    g_assert_nonnull(p.error_reason());
    // Nothing is accepted after an error.
    g_assert_false(feed(p, client_frame(0x81, "ok"), out));
  }
}

void test_size_limits() {
  ParserLimits limits{1024, 4096, 8};
  {
    // A header announcing a huge frame is refused before any payload is buffered.
    FrameParser p(limits);
    std::vector<ClientMessage> out;
    std::string header(
        "\x82\xff\x00\x00\x00\x00\x40\x00\x00\x00"
        "abcd",
        14);
    g_assert_false(feed(p, header, out));
    g_assert_cmpuint(p.error_code(), ==, kCloseTooBig);
    g_assert_cmpuint(p.bytes_held(), <, 1024);
  }
  {
    // Fragments that each fit but add up past the message limit.
    FrameParser p(limits);
    std::vector<ClientMessage> out;
    std::string chunk(1000, 'x');
    bool ok = feed(p, client_frame(0x02, chunk), out);
    for (int i = 0; ok && i < 10; i++)
      ok = feed(p, client_frame(0x00, chunk), out);
    g_assert_false(ok);
    g_assert_cmpuint(p.error_code(), ==, kCloseTooBig);
  }
  {
    // Endless empty continuation frames hold no memory but never end: bounded by count.
    FrameParser p(limits);
    std::vector<ClientMessage> out;
    bool ok = feed(p, client_frame(0x01, ""), out);
    for (int i = 0; ok && i < 1000; i++)
      ok = feed(p, client_frame(0x00, ""), out);
    g_assert_false(ok);
    g_assert_cmpuint(p.error_code(), ==, kCloseTooBig);
    g_assert_cmpuint(out.size(), ==, 0);
  }
}

}  // namespace

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/ws-frame/server-header-lengths", test_server_header_lengths);
  g_test_add_func("/ws-frame/close-frame-is-bounded", test_close_frame_is_bounded);
  g_test_add_func("/ws-frame/masked-text-and-binary", test_masked_text_and_binary);
  g_test_add_func("/ws-frame/byte-at-a-time", test_byte_at_a_time);
  g_test_add_func("/ws-frame/violations", test_violations_close_with_the_right_code);
  g_test_add_func("/ws-frame/size-limits", test_size_limits);
  return g_test_run();
}
