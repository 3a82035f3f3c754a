// ONVIF without a server: SOAP requests read (formats/soap.h) — what ONVIF clients send, and what
// is refused (a DTD, unknown entities, tags that do not match, past the bounds) — and the device
// and media services (onvif/onvif_service.h): what is open before a client can sign, WS-Security's
// digest with the access token (good once, within five minutes), the password itself with a
// user's own, a public camera open, the answers' addresses.
#include "access/users.h"
#include "onvif/onvif_service.h"
#include "onvif/ws_discovery.h"

#include <glib.h>

#include <string>

using camcast::AccessPolicy;
using camcast::OnvifDevice;
using camcast::OnvifService;
using Service = camcast::OnvifService::Service;

namespace {

constexpr int64_t kWall = int64_t(1796640000) * G_USEC_PER_SEC;  // 2026-12-07 10:40 UTC
constexpr const char *kCreated = "2026-12-07T10:40:00.000Z";

std::string envelope(const std::string &body, const std::string &header = "") {
  return "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\">"
         "<s:Header>" +
         header + "</s:Header><s:Body>" + body + "</s:Body></s:Envelope>";
}

// A UsernameToken with PasswordDigest (as npm onvif and NVRs make it) or the password itself.
std::string token(const std::string &user, const std::string &password, bool digest,
                  const std::string &nonce = "bm9uY2Utb2YtMTYtYnl0ZQ==",
                  const std::string &created = kCreated) {
  std::string value = password;
  if (digest) {
    gsize n = 0;
    g_autofree guchar *raw = g_base64_decode(nonce.c_str(), &n);
    const std::string material = std::string(reinterpret_cast<char *>(raw), n) + created + password;
    guint8 sha1[20];
    gsize size = sizeof sha1;
    GChecksum *c = g_checksum_new(G_CHECKSUM_SHA1);
    g_checksum_update(c, reinterpret_cast<const guchar *>(material.data()), material.size());
    g_checksum_get_digest(c, sha1, &size);
    g_checksum_free(c);
    g_autofree char *b64 = g_base64_encode(sha1, size);
    value = b64;
  }
  return "<Security s:mustUnderstand=\"1\" xmlns=\"http://docs.oasis-open.org/wss/2004/01/"
         "oasis-200401-wss-wssecurity-secext-1.0.xsd\"><UsernameToken><Username>" +
         user +
         "</Username><Password Type=\"http://docs.oasis-open.org/wss/2004/01/"
         "oasis-200401-wss-username-token-profile-1.0#" +
         (digest ? "PasswordDigest" : "PasswordText") + "\">" + value + "</Password><Nonce>" +
         nonce + "</Nonce><Created>" + created + "</Created></UsernameToken></Security>";
}

void test_reads_what_clients_send() {
  camcast::soap::Request r;
  std::string why;
  const std::string body =
      "<GetStreamUri xmlns=\"http://www.onvif.org/ver10/media/wsdl\"><StreamSetup>"
      "<Stream xmlns=\"http://www.onvif.org/ver10/schema\">RTP-Unicast</Stream>"
      "<Transport><tt:Protocol>RTSP</tt:Protocol></Transport></StreamSetup>"
      "<ProfileToken>camcast</ProfileToken></GetStreamUri>";
  g_assert_true(
      camcast::soap::read_request(envelope(body, token("ann", "p&lt;w", false)), &r, &why));
  g_assert_cmpstr(r.operation.c_str(), ==, "GetStreamUri");
  g_assert_cmpstr(r.params["Protocol"].c_str(), ==, "RTSP");
  g_assert_cmpstr(r.params["ProfileToken"].c_str(), ==, "camcast");
  g_assert_true(r.has_token);
  g_assert_false(r.token.digest);
  g_assert_cmpstr(r.token.username.c_str(), ==, "ann");
  g_assert_cmpstr(r.token.password.c_str(), ==, "p<w");
  g_assert_cmpstr(r.token.created.c_str(), ==, kCreated);
  // An empty operation with comments, a prolog, CDATA and blanks.
  g_assert_true(camcast::soap::read_request(
      "<?xml version='1.0'?>\n<!-- hi --><e:Envelope xmlns:e='x'>\n <e:Body><GetProfiles/>"
      "</e:Body></e:Envelope>\n",
      &r, &why));
  g_assert_cmpstr(r.operation.c_str(), ==, "GetProfiles");
  g_assert_false(r.has_token);
  g_assert_true(camcast::soap::read_request(
      envelope("<GetProfile><ProfileToken><![CDATA[a<b]]></ProfileToken></GetProfile>"), &r, &why));
  g_assert_cmpstr(r.params["ProfileToken"].c_str(), ==, "a<b");
}

void test_refuses_what_is_not_soap() {
  camcast::soap::Request r;
  std::string why;
  for (const std::string &bad :
       {std::string("<!DOCTYPE x [<!ENTITY a \"aaaa\">]><s:Envelope><s:Body><A/></s:Body>"
                    "</s:Envelope>"),
        envelope("<A>&bogus;</A>"), envelope("<A></B>"), std::string("<Envelope><Body><A>"),
        std::string("<Other><Body><A/></Body></Other>"), envelope(""), envelope("<A x=y/>"),
        std::string("just text"), std::string(), envelope(std::string(40, '<') + "A"),
        envelope(std::string(100 * 1024, ' ') + "<A/>")}) {
    g_assert_false(camcast::soap::read_request(bad, &r, &why));
    g_test_message("refused (%s): %.60s", why.c_str(), bad.c_str());
  }
  std::string deep;
  for (int i = 0; i < 40; i++)
    deep += "<a>";
  g_assert_false(camcast::soap::read_request(envelope("<Op>" + deep + "</Op>"), &r, &why));
  g_assert_cmpstr(why.c_str(), ==, "elements nested too deep");
  std::string many;
  for (int i = 0; i < 2000; i++)
    many += "<a/>";
  g_assert_false(camcast::soap::read_request(envelope("<Op>" + many + "</Op>"), &r, &why));
  g_assert_cmpstr(why.c_str(), ==, "too many elements");
}

OnvifDevice device() {
  OnvifDevice d;
  d.firmware = "1.0";
  d.serial = "cam";
  d.width = 1280;
  d.height = 720;
  d.framerate = 30;
  d.device_xaddr = "http://10.0.0.5:8080/onvif/device_service";
  d.media_xaddr = "http://10.0.0.5:8080/onvif/media_service";
  d.stream_uri = "rtsp://10.0.0.5:8554/video";
  d.snapshot_uri = "http://10.0.0.5:8080/mjpeg/snapshot.jpg?token=t&k";
  return d;
}

AccessPolicy policy() {
  AccessPolicy p;
  p.access_token = "the-access-token";
  std::string error;
  p.users["ann"] = camcast::users::hash_password("ann's password", &error);
  return p;
}

bool says(const OnvifService::Reply &r, const char *text) {
  return r.body.find(text) != std::string::npos;
}

void test_open_before_signing_and_closed_after() {
  OnvifService s(policy(), false);
  const OnvifDevice d = device();
  for (const char *op : {"GetSystemDateAndTime", "GetCapabilities", "GetServices"}) {
    const auto r = s.answer(Service::Device, envelope(std::string("<") + op + "/>"), d, "10.0.0.9",
                            G_USEC_PER_SEC, kWall);
    g_assert_cmpuint(r.status, ==, 200);
  }
  const auto time = s.answer(Service::Device, envelope("<GetSystemDateAndTime/>"), d, "10.0.0.9",
                             G_USEC_PER_SEC, kWall);
  g_assert_true(says(time, "<tt:Hour>10</tt:Hour><tt:Minute>40</tt:Minute>"));
  g_assert_true(says(time, "<tt:Year>2026</tt:Year><tt:Month>12</tt:Month><tt:Day>7</tt:Day>"));
  const auto services =
      s.answer(Service::Device, envelope("<GetServices/>"), d, "10.0.0.9", G_USEC_PER_SEC, kWall);
  g_assert_true(says(services, "http://10.0.0.5:8080/onvif/media_service"));
  for (const auto &[svc, op] :
       std::vector<std::pair<Service, std::string>>{{Service::Device, "GetDeviceInformation"},
                                                    {Service::Media, "GetProfiles"},
                                                    {Service::Media, "GetStreamUri"},
                                                    {Service::Media, "GetSnapshotUri"}}) {
    const auto r = s.answer(svc, envelope("<" + op + "/>"), d, "10.0.0.9", G_USEC_PER_SEC, kWall);
    g_assert_cmpuint(r.status, ==, 400);
    g_assert_true(says(r, "ter:NotAuthorized"));
    g_assert_true(says(r, "Sender not Authorized"));
  }
  // Public: open, as its streams are.
  OnvifService open(policy(), true);
  g_assert_cmpuint(
      open.answer(Service::Media, envelope("<GetProfiles/>"), d, "10.0.0.9", G_USEC_PER_SEC, kWall)
          .status,
      ==, 200);
}

void test_digest_with_the_access_token() {
  OnvifService s(policy(), false);
  const OnvifDevice d = device();
  int64_t now = G_USEC_PER_SEC;
  auto ask = [&](const std::string &header, const char *op = "<GetStreamUri/>") {
    return s.answer(Service::Media, envelope(op, header), d, "10.0.0.9", now += 1000, kWall);
  };
  const auto ok = ask(token("admin", "the-access-token", true));
  g_assert_cmpuint(ok.status, ==, 200);
  g_assert_true(says(ok, "<tt:Uri>rtsp://10.0.0.5:8554/video</tt:Uri>"));
  // The same nonce again: a replay.
  g_assert_cmpuint(ask(token("admin", "the-access-token", true)).status, ==, 400);
  g_assert_cmpuint(ask(token("admin", "wrong", true, "b3RoZXI=")).status, ==, 400);
  // Created ten minutes off the camera's clock.
  g_assert_cmpuint(
      ask(token("admin", "the-access-token", true, "dGhpcmQ=", "2026-12-07T10:50:00Z")).status, ==,
      400);
  // A user of the users file cannot sign a digest (the camera has no password of theirs).
  g_assert_cmpuint(ask(token("ann", "ann's password", true, "Zm91cnRo")).status, ==, 400);
  const auto snapshot = ask(token("x", "the-access-token", true, "ZmlmdGg="), "<GetSnapshotUri/>");
  g_assert_true(says(snapshot, "snapshot.jpg?token=t&amp;k"));
  // A profile that is not there.
  g_assert_cmpuint(ask(token("x", "the-access-token", true, "c2l4dGg="),
                       "<GetStreamUri><ProfileToken>other</ProfileToken></GetStreamUri>")
                       .status,
                   ==, 400);
  // RTSP only.
  const auto http = ask(token("x", "the-access-token", true, "c2V2ZW50aA=="),
                        "<GetStreamUri><StreamSetup><Transport><Protocol>HTTP</Protocol>"
                        "</Transport></StreamSetup></GetStreamUri>");
  g_assert_cmpuint(http.status, ==, 400);
  g_assert_true(says(http, "ter:InvalidArgVal"));
}

void test_password_itself() {
  OnvifService s(policy(), false);
  const OnvifDevice d = device();
  int64_t now = G_USEC_PER_SEC;
  auto ask = [&](const std::string &header) {
    return s.answer(Service::Device, envelope("<GetDeviceInformation/>", header), d, "10.0.0.9",
                    now += G_USEC_PER_SEC, kWall);
  };
  const auto ann = ask(token("ann", "ann's password", false));
  g_assert_cmpuint(ann.status, ==, 200);
  g_assert_true(says(ann, "<tds:Manufacturer>camcast</tds:Manufacturer>"));
  g_assert_cmpuint(ask(token("anyone", "the-access-token", false)).status, ==, 200);
  g_assert_cmpuint(ask(token("ann", "not hers", false)).status, ==, 400);
  // What is not there is said so, not pretended.
  const auto unknown =
      s.answer(Service::Device, envelope("<SystemReboot/>", token("x", "the-access-token", false)),
               d, "10.0.0.9", now += G_USEC_PER_SEC, kWall);
  g_assert_cmpuint(unknown.status, ==, 500);
  g_assert_true(says(unknown, "ter:ActionNotSupported"));
  const auto garbage =
      s.answer(Service::Device, "<nonsense", d, "10.0.0.9", now += G_USEC_PER_SEC, kWall);
  g_assert_cmpuint(garbage.status, ==, 400);
}

// WS-Discovery: a Probe for an ONVIF device (npm onvif's, as sent) gets ProbeMatches that name
// it and where its device service is; one for other types, or what is not a Probe, gets nothing.
void test_discovery_answers() {
  camcast::WsDiscovery::Identity id;
  id.endpoint = camcast::WsDiscovery::endpoint_for(8080);
  id.scopes = "onvif://www.onvif.org/name/camcast";
  id.http_port = 8080;
  g_assert_true(id.endpoint == camcast::WsDiscovery::endpoint_for(8080));  // stable
  g_assert_true(id.endpoint != camcast::WsDiscovery::endpoint_for(8081));
  g_assert_true(g_str_has_prefix(id.endpoint.c_str(), "urn:uuid:"));
  auto probe = [](const std::string &types) {
    return "<Envelope xmlns=\"http://www.w3.org/2003/05/soap-envelope\" "
           "xmlns:dn=\"http://www.onvif.org/ver10/network/wsdl\"><Header><wsa:MessageID "
           "xmlns:wsa=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\">urn:uuid:probe-1"
           "</wsa:MessageID></Header><Body><Probe xmlns=\"http://schemas.xmlsoap.org/ws/2005/04/"
           "discovery\"><Types>" +
           types + "</Types><Scopes /></Probe></Body></Envelope>";
  };
  const std::string match =
      camcast::WsDiscovery::answer(probe("dn:NetworkVideoTransmitter"), id, "10.0.0.5");
  g_assert_true(match.find("ProbeMatches</wsa:Action>") != std::string::npos);
  g_assert_true(match.find("<wsa:RelatesTo>urn:uuid:probe-1</wsa:RelatesTo>") != std::string::npos);
  g_assert_true(match.find("<d:XAddrs>http://10.0.0.5:8080/onvif/device_service</d:XAddrs>") !=
                std::string::npos);
  g_assert_true(match.find(id.endpoint) != std::string::npos);
  g_assert_false(camcast::WsDiscovery::answer(probe(""), id, "10.0.0.5").empty());
  g_assert_false(camcast::WsDiscovery::answer(probe("tds:Device"), id, "10.0.0.5").empty());
  g_assert_true(
      camcast::WsDiscovery::answer(probe("dp0:NetworkVideoDisplay"), id, "10.0.0.5").empty());
  g_assert_true(camcast::WsDiscovery::answer(envelope("<Hello/>"), id, "10.0.0.5").empty());
  g_assert_true(camcast::WsDiscovery::answer("<Envelope><Body><Probe>", id, "10.0.0.5").empty());
  g_assert_true(camcast::WsDiscovery::hello(id, "").find("<d:Hello>") != std::string::npos);
  g_assert_true(camcast::WsDiscovery::bye(id).find(id.endpoint) != std::string::npos);
}

}  // namespace

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, nullptr);
  g_test_add_func("/onvif/soap/reads-what-clients-send", test_reads_what_clients_send);
  g_test_add_func("/onvif/soap/refuses-what-is-not-soap", test_refuses_what_is_not_soap);
  g_test_add_func("/onvif/service/open-before-signing", test_open_before_signing_and_closed_after);
  g_test_add_func("/onvif/service/digest-with-the-access-token", test_digest_with_the_access_token);
  g_test_add_func("/onvif/service/password-itself", test_password_itself);
  g_test_add_func("/onvif/discovery/answers", test_discovery_answers);
  return g_test_run();
}
