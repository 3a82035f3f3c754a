#include "onvif/onvif_service.h"

#include "access/auth.h"

#include <glib.h>

#include <set>
#include <vector>

namespace camcast {

namespace {

using soap::escape;

constexpr const char *kEnvelopeStart =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\" "
    "xmlns:tds=\"http://www.onvif.org/ver10/device/wsdl\" "
    "xmlns:trt=\"http://www.onvif.org/ver10/media/wsdl\" "
    "xmlns:tt=\"http://www.onvif.org/ver10/schema\" "
    "xmlns:ter=\"http://www.onvif.org/ver10/error\"><env:Body>";
constexpr const char *kEnvelopeEnd = "</env:Body></env:Envelope>\n";

// The one profile, its video source and their configurations.
constexpr const char *kProfile = "camcast";
constexpr const char *kSource = "video";
constexpr const char *kSourceConfiguration = "video-source";
constexpr const char *kEncoderConfiguration = "video-h264";

OnvifService::Reply envelope(const std::string &body, unsigned status = 200) {
  return {status, kEnvelopeStart + body + kEnvelopeEnd};
}

// A SOAP fault: `code` env:Sender or env:Receiver, `subcode` ter:…
OnvifService::Reply fault(unsigned status, const char *code, const char *subcode,
                          const std::string &reason) {
  return envelope(std::string("<env:Fault><env:Code><env:Value>") + code +
                      "</env:Value><env:Subcode><env:Value>" + subcode +
                      "</env:Value></env:Subcode></env:Code><env:Reason><env:Text "
                      "xml:lang=\"en\">" +
                      escape(reason) + "</env:Text></env:Reason></env:Fault>",
                  status);
}

std::string tag(const char *name, const std::string &value) {
  return std::string("<") + name + ">" + value + "</" + name + ">";
}

std::string resolution(const OnvifDevice &d) {
  return tag("tt:Width", std::to_string(d.width)) + tag("tt:Height", std::to_string(d.height));
}

std::string source_configuration(const OnvifDevice &d, const char *element) {
  return std::string("<") + element + " token=\"" + kSourceConfiguration +
         "\"><tt:Name>video source</tt:Name><tt:UseCount>1</tt:UseCount>" +
         tag("tt:SourceToken", kSource) + "<tt:Bounds x=\"0\" y=\"0\" width=\"" +
         std::to_string(d.width) + "\" height=\"" + std::to_string(d.height) + "\"/></" + element +
         ">";
}

std::string encoder_configuration(const OnvifDevice &d, const char *element) {
  return std::string("<") + element + " token=\"" + kEncoderConfiguration +
         "\"><tt:Name>H.264</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>H264</tt:Encoding>" +
         tag("tt:Resolution", resolution(d)) + "<tt:Quality>5</tt:Quality>" +
         tag("tt:RateControl", tag("tt:FrameRateLimit", std::to_string(d.framerate)) +
                                   "<tt:EncodingInterval>1</tt:EncodingInterval>") +
         "<tt:H264><tt:GovLength>0</tt:GovLength><tt:H264Profile>Main</tt:H264Profile></tt:H264>"
         "<tt:SessionTimeout>PT60S</tt:SessionTimeout></" +
         element + ">";
}

std::string profile(const OnvifDevice &d, const char *element) {
  return std::string("<") + element + " token=\"" + kProfile + "\" fixed=\"true\">" +
         tag("tt:Name", kProfile) + source_configuration(d, "tt:VideoSourceConfiguration") +
         encoder_configuration(d, "tt:VideoEncoderConfiguration") + "</" + element + ">";
}

std::string media_uri(const char *element, const std::string &uri) {
  return std::string("<") + element + "><trt:MediaUri>" + tag("tt:Uri", escape(uri)) +
         "<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect>"
         "<tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout>"
         "</trt:MediaUri></" +
         element + ">";
}

std::string date_and_time(int64_t wall_us) {
  GDateTime *t = g_date_time_new_from_unix_utc(wall_us / G_USEC_PER_SEC);
  const std::string out =
      "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime>"
      "<tt:DateTimeType>NTP</tt:DateTimeType><tt:DaylightSavings>false</tt:DaylightSavings>"
      "<tt:TimeZone><tt:TZ>UTC0</tt:TZ></tt:TimeZone><tt:UTCDateTime>" +
      tag("tt:Time", tag("tt:Hour", std::to_string(g_date_time_get_hour(t))) +
                         tag("tt:Minute", std::to_string(g_date_time_get_minute(t))) +
                         tag("tt:Second", std::to_string(g_date_time_get_second(t)))) +
      tag("tt:Date", tag("tt:Year", std::to_string(g_date_time_get_year(t))) +
                         tag("tt:Month", std::to_string(g_date_time_get_month(t))) +
                         tag("tt:Day", std::to_string(g_date_time_get_day_of_month(t)))) +
      "</tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>";
  g_date_time_unref(t);
  return out;
}

std::string capabilities(const OnvifDevice &d) {
  return "<tds:GetCapabilitiesResponse><tds:Capabilities>" +
         tag("tt:Device", tag("tt:XAddr", escape(d.device_xaddr))) +
         tag("tt:Media", tag("tt:XAddr", escape(d.media_xaddr)) +
                             "<tt:StreamingCapabilities><tt:RTPMulticast>false</tt:RTPMulticast>"
                             "<tt:RTP_TCP>true</tt:RTP_TCP><tt:RTP_RTSP_TCP>true</tt:RTP_RTSP_TCP>"
                             "</tt:StreamingCapabilities>") +
         "</tds:Capabilities></tds:GetCapabilitiesResponse>";
}

std::string service(const char *ns, const std::string &xaddr) {
  return std::string("<tds:Service>") + tag("tds:Namespace", ns) + tag("tds:XAddr", escape(xaddr)) +
         "<tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service>";
}

// The operations a client may ask for before it can sign (ONVIF Core's PRE_AUTH class).
bool before_auth(const std::string &operation) {
  static const std::set<std::string> open = {"GetSystemDateAndTime", "GetCapabilities",
                                             "GetServices", "GetServiceCapabilities"};
  return open.count(operation) > 0;
}

}  // namespace

OnvifService::OnvifService(AccessPolicy policy, bool is_public)
    : policy_(std::move(policy)), public_(is_public), text_(policy_) {}

OnvifService::Reply OnvifService::answer(Service svc, std::string_view body, const OnvifDevice &d,
                                         const std::string &peer, int64_t now_us, int64_t wall_us) {
  soap::Request request;
  std::string why;
  if (!soap::read_request(body, &request, &why))
    return fault(400, "env:Sender", "ter:WellFormed", "not a SOAP request we read: " + why);
  const std::string &op = request.operation;
  if (!before_auth(op)) {
    const Verdict verdict = check(request, peer, now_us, wall_us);
    if (verdict == Verdict::Busy)
      return fault(503, "env:Receiver", "ter:Busy", "too many password checks; try again");
    if (verdict == Verdict::Refused)
      return fault(400, "env:Sender", "ter:NotAuthorized", "Sender not Authorized");
  }
  if (svc == Service::Device) {
    if (op == "GetSystemDateAndTime")
      return envelope(date_and_time(wall_us));
    if (op == "GetCapabilities")
      return envelope(capabilities(d));
    if (op == "GetServices")
      return envelope("<tds:GetServicesResponse>" +
                      service("http://www.onvif.org/ver10/device/wsdl", d.device_xaddr) +
                      service("http://www.onvif.org/ver10/media/wsdl", d.media_xaddr) +
                      "</tds:GetServicesResponse>");
    if (op == "GetServiceCapabilities")
      return envelope(
          "<tds:GetServiceCapabilitiesResponse><tds:Capabilities>"
          "<tds:Security UsernameToken=\"true\" HttpDigest=\"false\"/>"
          "</tds:Capabilities></tds:GetServiceCapabilitiesResponse>");
    if (op == "GetDeviceInformation")
      return envelope(
          "<tds:GetDeviceInformationResponse>" + tag("tds:Manufacturer", escape(d.manufacturer)) +
          tag("tds:Model", escape(d.model)) + tag("tds:FirmwareVersion", escape(d.firmware)) +
          tag("tds:SerialNumber", escape(d.serial)) + tag("tds:HardwareId", escape(d.model)) +
          "</tds:GetDeviceInformationResponse>");
    if (op == "GetScopes") {
      std::string scopes;
      for (const std::string &s : std::vector<std::string>{
               "onvif://www.onvif.org/Profile/Streaming",
               "onvif://www.onvif.org/type/video_encoder", "onvif://www.onvif.org/name/" + d.model,
               "onvif://www.onvif.org/hardware/" + d.manufacturer})
        scopes += "<tds:Scopes><tt:ScopeDef>Fixed</tt:ScopeDef>" + tag("tt:ScopeItem", escape(s)) +
                  "</tds:Scopes>";
      return envelope("<tds:GetScopesResponse>" + scopes + "</tds:GetScopesResponse>");
    }
  } else {
    const auto token = request.params.find("ProfileToken");
    const bool wrong_profile = token != request.params.end() && token->second != kProfile;
    if (wrong_profile && (op == "GetProfile" || op == "GetStreamUri" || op == "GetSnapshotUri"))
      return fault(400, "env:Sender", "ter:InvalidArgVal", "no such profile: " + token->second);
    if (op == "GetProfiles")
      return envelope("<trt:GetProfilesResponse>" + profile(d, "trt:Profiles") +
                      "</trt:GetProfilesResponse>");
    if (op == "GetProfile")
      return envelope("<trt:GetProfileResponse>" + profile(d, "trt:Profile") +
                      "</trt:GetProfileResponse>");
    if (op == "GetVideoSources")
      return envelope(std::string("<trt:GetVideoSourcesResponse><trt:VideoSources token=\"") +
                      kSource + "\">" + tag("tt:Framerate", std::to_string(d.framerate)) +
                      tag("tt:Resolution", resolution(d)) +
                      "</trt:VideoSources></trt:GetVideoSourcesResponse>");
    if (op == "GetVideoSourceConfigurations")
      return envelope("<trt:GetVideoSourceConfigurationsResponse>" +
                      source_configuration(d, "trt:Configurations") +
                      "</trt:GetVideoSourceConfigurationsResponse>");
    if (op == "GetVideoEncoderConfigurations")
      return envelope("<trt:GetVideoEncoderConfigurationsResponse>" +
                      encoder_configuration(d, "trt:Configurations") +
                      "</trt:GetVideoEncoderConfigurationsResponse>");
    if (op == "GetStreamUri") {
      const auto protocol = request.params.find("Protocol");
      if (protocol != request.params.end() && protocol->second != "RTSP" &&
          protocol->second != "UDP")
        return fault(
            400, "env:Sender", "ter:InvalidArgVal",
            "the stream is served over RTSP (RTP over RTSP's TCP or UDP), not " + protocol->second);
      if (d.stream_uri.empty())
        return fault(500, "env:Receiver", "ter:NoSource", "the RTSP stream is not served yet");
      return envelope(media_uri("trt:GetStreamUriResponse", d.stream_uri));
    }
    if (op == "GetSnapshotUri") {
      if (d.snapshot_uri.empty())
        return fault(500, "env:Receiver", "ter:ActionNotSupported",
                     "this camera serves no still picture (no mjpegsink)");
      return envelope(media_uri("trt:GetSnapshotUriResponse", d.snapshot_uri));
    }
  }
  return fault(500, "env:Receiver", "ter:ActionNotSupported", op + " is not supported here");
}

OnvifService::Verdict OnvifService::check(const soap::Request &request, const std::string &peer,
                                          int64_t now_us, int64_t wall_us) {
  if (public_ || !policy_.enabled())
    return Verdict::Allowed;
  if (!request.has_token)
    return Verdict::Refused;
  const soap::UsernameToken &t = request.token;
  if (t.digest)
    return digest_ok(t, now_us, wall_us) ? Verdict::Allowed : Verdict::Refused;
  // The password itself: as a Basic credential (the token under any name, or a user's own).
  const std::string pair = t.username + ":" + t.password;
  g_autofree char *basic =
      g_base64_encode(reinterpret_cast<const guchar *>(pair.data()), pair.size());
  switch (text_.check(std::string("Basic ") + basic, peer, now_us)) {
  case RtspAccess::Verdict::Allowed: return Verdict::Allowed;
  case RtspAccess::Verdict::Busy: return Verdict::Busy;
  default: return Verdict::Refused;
  }
}

bool OnvifService::digest_ok(const soap::UsernameToken &t, int64_t now_us, int64_t wall_us) {
  if (policy_.access_token.empty() || t.nonce.empty() || t.nonce.size() > 256 ||
      t.created.size() > 64)
    return false;
  GDateTime *created = g_date_time_new_from_iso8601(t.created.c_str(), nullptr);
  if (!created)
    return false;
  const int64_t created_us = g_date_time_to_unix(created) * G_USEC_PER_SEC;
  g_date_time_unref(created);
  if (created_us < wall_us - kCreatedWindowUs || created_us > wall_us + kCreatedWindowUs)
    return false;
  gsize nonce_size = 0;
  g_autofree guchar *nonce = g_base64_decode(t.nonce.c_str(), &nonce_size);
  std::string material(reinterpret_cast<const char *>(nonce), nonce_size);
  material += t.created + policy_.access_token;
  guint8 sha1[20];
  gsize sha1_size = sizeof sha1;
  GChecksum *checksum = g_checksum_new(G_CHECKSUM_SHA1);
  g_checksum_update(checksum, reinterpret_cast<const guchar *>(material.data()),
                    gssize(material.size()));
  g_checksum_get_digest(checksum, sha1, &sha1_size);
  g_checksum_free(checksum);
  g_autofree char *expected = g_base64_encode(sha1, sha1_size);
  if (!auth::constant_time_equal(expected, t.password))
    return false;
  // Once: a digest seen again (a replay) is refused while its Created is in the window.
  for (auto it = nonces_.begin(); it != nonces_.end();)
    it = it->second <= now_us ? nonces_.erase(it) : std::next(it);
  if (nonces_.size() >= kMaxNonces ||
      !nonces_.emplace(t.nonce, now_us + 2 * kCreatedWindowUs).second)
    return false;
  return true;
}

}  // namespace camcast
