#include "formats/soap.h"

#include <cstdlib>
#include <vector>

namespace camcast::soap {

namespace {

std::string_view local(std::string_view name) {
  const size_t colon = name.find(':');
  return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// Appends `raw` with its entities and character references replaced; false on an unknown one.
bool unescape_into(std::string_view raw, std::string *out) {
  for (size_t i = 0; i < raw.size(); i++) {
    if (raw[i] != '&') {
      out->push_back(raw[i]);
      continue;
    }
    const size_t end = raw.find(';', i);
    if (end == std::string_view::npos || end - i > 10)
      return false;
    const std::string_view name = raw.substr(i + 1, end - i - 1);
    if (name == "lt")
      out->push_back('<');
    else if (name == "gt")
      out->push_back('>');
    else if (name == "amp")
      out->push_back('&');
    else if (name == "quot")
      out->push_back('"');
    else if (name == "apos")
      out->push_back('\'');
    else if (name.size() > 1 && name[0] == '#') {
      const bool hex = name[1] == 'x';
      const std::string digits(name.substr(hex ? 2 : 1));
      if (digits.empty() || digits.find_first_not_of(hex ? "0123456789abcdefABCDEF"
                                                         : "0123456789") != std::string::npos)
        return false;
      const long code = strtol(digits.c_str(), nullptr, hex ? 16 : 10);
      // What ONVIF's names and tokens hold is ASCII; anything else stands as '?'.
      out->push_back(code > 0 && code < 0x80 ? char(code) : '?');
    } else {
      return false;
    }
    i = end;
  }
  return true;
}

class Reader {
public:
  Reader(std::string_view xml, Request *out) : xml_(xml), out_(out) {}

  bool run(std::string *why) {
    while (pos_ < xml_.size()) {
      if (xml_[pos_] != '<') {
        const size_t next = xml_.find('<', pos_);
        const std::string_view raw = xml_.substr(
            pos_, next == std::string_view::npos ? std::string_view::npos : next - pos_);
        pos_ = next == std::string_view::npos ? xml_.size() : next;
        if (stack_.empty())
          continue;  // blanks around the envelope
        if (text_.size() + raw.size() > kMaxText)
          return fail(why, "an element's text is too long");
        if (!unescape_into(raw, &text_))
          return fail(why, "an unknown entity");
        continue;
      }
      if (starts("<?")) {
        if (!skip_past("?>"))
          return fail(why, "an unfinished processing instruction");
      } else if (starts("<!--")) {
        if (!skip_past("-->"))
          return fail(why, "an unfinished comment");
      } else if (starts("<![CDATA[")) {
        const size_t end = xml_.find("]]>", pos_);
        if (end == std::string_view::npos)
          return fail(why, "an unfinished CDATA section");
        const std::string_view raw = xml_.substr(pos_ + 9, end - pos_ - 9);
        if (text_.size() + raw.size() > kMaxText)
          return fail(why, "an element's text is too long");
        text_.append(raw);
        pos_ = end + 3;
      } else if (starts("<!")) {
        return fail(why, "a document type declaration (none is taken)");
      } else if (starts("</")) {
        if (!end_tag(why))
          return false;
      } else if (!start_tag(why)) {
        return false;
      }
    }
    if (!stack_.empty())
      return fail(why, "the envelope does not end");
    if (!seen_envelope_)
      return fail(why, "not a SOAP envelope");
    if (out_->operation.empty())
      return fail(why, "no operation in the Body");
    return true;
  }

private:
  bool fail(std::string *why, const char *what) {
    *why = what;
    return false;
  }
  bool starts(std::string_view s) const { return xml_.substr(pos_, s.size()) == s; }
  bool skip_past(std::string_view s) {
    const size_t end = xml_.find(s, pos_);
    if (end == std::string_view::npos)
      return false;
    pos_ = end + s.size();
    return true;
  }
  std::string_view name_at() {
    const size_t from = pos_;
    while (pos_ < xml_.size() && !is_space(xml_[pos_]) && xml_[pos_] != '>' && xml_[pos_] != '/' &&
           xml_[pos_] != '=')
      pos_++;
    return xml_.substr(from, pos_ - from);
  }
  void skip_spaces() {
    while (pos_ < xml_.size() && is_space(xml_[pos_]))
      pos_++;
  }

  bool start_tag(std::string *why) {
    pos_++;  // '<'
    const std::string_view name = local(name_at());
    if (name.empty())
      return fail(why, "an element without a name");
    if (++elements_ > kMaxElements)
      return fail(why, "too many elements");
    if (stack_.size() >= kMaxDepth)
      return fail(why, "elements nested too deep");
    std::string type;  // the Type attribute (a Password's)
    while (true) {
      skip_spaces();
      if (pos_ >= xml_.size())
        return fail(why, "an unfinished tag");
      if (xml_[pos_] == '>' || starts("/>"))
        break;
      const std::string_view attribute = local(name_at());
      skip_spaces();
      if (attribute.empty() || pos_ >= xml_.size() || xml_[pos_] != '=')
        return fail(why, "an attribute without a value");
      pos_++;
      skip_spaces();
      if (pos_ >= xml_.size() || (xml_[pos_] != '"' && xml_[pos_] != '\''))
        return fail(why, "an attribute value without quotes");
      const char quote = xml_[pos_++];
      const size_t end = xml_.find(quote, pos_);
      if (end == std::string_view::npos)
        return fail(why, "an unfinished attribute value");
      if (attribute == "Type" && !unescape_into(xml_.substr(pos_, end - pos_), &type))
        return fail(why, "an unknown entity");
      pos_ = end + 1;
    }
    const bool empty = starts("/>");
    pos_ += empty ? 2 : 1;
    open(std::string(name), type);
    return !empty || close(why);
  }

  bool end_tag(std::string *why) {
    pos_ += 2;  // "</"
    const std::string_view name = local(name_at());
    skip_spaces();
    if (pos_ >= xml_.size() || xml_[pos_] != '>')
      return fail(why, "an unfinished end tag");
    pos_++;
    if (stack_.empty() || stack_.back() != name)
      return fail(why, "an end tag that does not match");
    return close(why);
  }

  // Where an element sits: the envelope's Header and Body, the UsernameToken, the operation.
  void open(const std::string &name, const std::string &type) {
    const size_t depth = stack_.size();
    if (depth == 0)
      seen_envelope_ = name == "Envelope";
    if (depth == 2 && in({"Envelope", "Body"}) && out_->operation.empty()) {
      out_->operation = name;
      in_operation_ = true;
    }
    if (depth == 3 && in({"Envelope", "Header", "Security"}) && name == "UsernameToken")
      out_->has_token = true;
    if (name == "Password" && depth == 4 && in({"Envelope", "Header", "Security", "UsernameToken"}))
      out_->token.digest =
          type.size() >= 15 && type.compare(type.size() - 15, 15, "#PasswordDigest") == 0;
    stack_.push_back(name);
    text_.clear();
  }

  bool close(std::string *why) {
    const std::string name = stack_.back();
    stack_.pop_back();
    const size_t depth = stack_.size();
    if (depth == 4 && in({"Envelope", "Header", "Security", "UsernameToken"})) {
      std::string *field = name == "Username"   ? &out_->token.username
                           : name == "Password" ? &out_->token.password
                           : name == "Nonce"    ? &out_->token.nonce
                           : name == "Created"  ? &out_->token.created
                                                : nullptr;
      if (field)
        *field = trimmed(text_);
    }
    if (depth == 2 && name == "MessageID" && in({"Envelope", "Header"}))
      out_->message_id = trimmed(text_);
    if (in_operation_ && depth > 2 && !out_->params.count(name)) {
      if (out_->params.size() >= 64)
        return fail(why, "too many parameters");
      out_->params[name] = trimmed(text_);
    }
    if (depth == 2 && in_operation_)
      in_operation_ = false;
    if (depth == 0 && name != "Envelope")
      return fail(why, "not a SOAP envelope");
    text_.clear();
    return true;
  }

  // Whether the open elements are `path` exactly.
  bool in(std::initializer_list<const char *> path) const {
    if (stack_.size() != path.size())
      return false;
    size_t i = 0;
    for (const char *p : path)
      if (stack_[i++] != p)
        return false;
    return true;
  }

  static std::string trimmed(const std::string &s) {
    const size_t from = s.find_first_not_of(" \t\r\n");
    if (from == std::string::npos)
      return "";
    return s.substr(from, s.find_last_not_of(" \t\r\n") - from + 1);
  }

  std::string_view xml_;
  Request *out_;
  size_t pos_ = 0;
  size_t elements_ = 0;
  std::vector<std::string> stack_;
  std::string text_;
  bool seen_envelope_ = false;
  bool in_operation_ = false;
};

}  // namespace

bool read_request(std::string_view xml, Request *out, std::string *why) {
  *out = Request{};
  if (xml.size() > kMaxBytes) {
    *why = "the request is too large";
    return false;
  }
  return Reader(xml, out).run(why);
}

std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
    case '<': out += "&lt;"; break;
    case '>': out += "&gt;"; break;
    case '&': out += "&amp;"; break;
    case '"': out += "&quot;"; break;
    case '\'': out += "&apos;"; break;
    default: out.push_back(c);
    }
  }
  return out;
}

}  // namespace camcast::soap
