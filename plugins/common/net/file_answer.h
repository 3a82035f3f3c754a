// Layer net: sockets, HTTP, mounts, clients, on a server's thread; uses fanout, formats, access.
// Answering with a file's bytes (a recording), and the Range a player asks for. libsoup answers
// Range itself from a whole 200 body; what of it camcast lets libsoup see works around two faults
// of libsoup 3.2.3 (docs/protocols.md 1.9): several ranges are answered with every range asked,
// overlapping ones too (bytes=0-,0-,… : an answer many times the file), and a number past 2^64
// gives a range past the body, which GLib refuses with a critical (the answer's bytes missing).
#pragma once

#include <glib.h>
#include <libsoup/soup.h>

#include <string_view>

namespace camcast {

// Whether `range` is one range of bytes (bytes=A-B, bytes=A-, bytes=-N; at most 18 digits each,
// B not before A), the only kind libsoup is shown.
bool single_byte_range(std::string_view range);

// Answers `msg` with `body` of `content_type`: a single byte range as 206 (or 416 past the end),
// anything else as the whole (200: a server may ignore Range, RFC 9110 §14.2).
void answer_bytes(SoupServerMessage *msg, GBytes *body, const char *content_type);

}  // namespace camcast
