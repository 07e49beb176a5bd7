// Tests for the bytes egressd exchanges with parent proxies (core/parent_protocol).
#include "core/parent_protocol.hpp"

#include <gtest/gtest.h>

#include <string>

namespace egressd::core {
namespace {

using namespace std::string_literals;

Host host(const char* name) {
  return *normalize_host(name);
}

ParentProxy parent(const char* url, const char* user = "", const char* password = "") {
  ParentProxy p = *parse_parent_url(url);
  p.username = user;
  p.password = password;
  return p;
}

TEST(Base64, Rfc4648Vectors) {
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("f"), "Zg==");
  EXPECT_EQ(base64("fo"), "Zm8=");
  EXPECT_EQ(base64("foo"), "Zm9v");
  EXPECT_EQ(base64("foob"), "Zm9vYg==");
  EXPECT_EQ(base64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64("\xff\xfe\x00"s), "//4A");
}

TEST(HttpConnect, RequestWithAndWithoutCredentials) {
  EXPECT_EQ(http_connect_request(parent("http://p.example:3128"), host("example.com"), 443),
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
  EXPECT_EQ(http_connect_request(parent("http://p.example:3128", "Aladdin", "open sesame"),
                                 host("[2001:db8::1]"), 8443),
            "CONNECT [2001:db8::1]:8443 HTTP/1.1\r\nHost: [2001:db8::1]:8443\r\n"
            "Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n");
  EXPECT_EQ(proxy_authorization(parent("http://p.example:3128")), "");
  // Only an HTTP parent gets a Proxy-Authorization value.
  EXPECT_EQ(proxy_authorization(parent("socks5://p.example:1080", "a", "b")), "");
}

TEST(HttpConnect, CredentialsRefusalSaysWhatToDo) {
  auto p = parent("http://p.example:3128");
  p.name = "corp";
  EXPECT_EQ(credentials_refusal(p, "407 Proxy Authentication Required"),
            "upstream corp (http://p.example:3128) asks for credentials (407 Proxy "
            "Authentication Required): set username and password in [upstreams.corp]");
  p.username = "alice";
  p.password = "hunter2";
  const std::string refused = credentials_refusal(p, "407");
  EXPECT_NE(refused.find("it refused the configured username and password"), std::string::npos);
  EXPECT_EQ(refused.find("hunter2"), std::string::npos);
}

TEST(Socks5, GreetingOffersWhatIsConfigured) {
  EXPECT_EQ(socks5_greeting(parent("socks5://p.example:1080")), "\x05\x01\x00"s);
  EXPECT_EQ(socks5_greeting(parent("socks5://p.example:1080", "u", "p")), "\x05\x02\x00\x02"s);
  EXPECT_EQ(socks5_credentials(parent("socks5://p.example:1080", "alice", "pw")),
            "\x01\x05"
            "alice"
            "\x02"
            "pw"s);
}

TEST(Socks5, ConnectSendsNamesForTheParentToResolve) {
  EXPECT_EQ(socks5_connect(host("example.com"), 443),
            "\x05\x01\x00\x03\x0b"
            "example.com"
            "\x01\xbb"s);
  EXPECT_EQ(socks5_connect(host("192.0.2.7"), 80), "\x05\x01\x00\x01\xc0\x00\x02\x07\x00\x50"s);
  EXPECT_EQ(socks5_connect(host("[::1]"), 8080),
            "\x05\x01\x00\x04"s + std::string(15, '\0') + "\x01\x1f\x90"s);
}

TEST(Socks5, MethodReply) {
  const auto anonymous = parent("socks5://p.example:1080");
  const auto with_credentials = parent("socks5://p.example:1080", "u", "p");
  EXPECT_EQ(*socks5_method("\x05\x00"s, anonymous), kSocks5NoAuth);
  EXPECT_EQ(*socks5_method("\x05\x02"s, with_credentials), kSocks5UserPass);
  // A method that was not offered is refused.
  auto m = socks5_method("\x05\x02"s, anonymous);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("not offered"), std::string::npos) << m.error().message;
  m = socks5_method("\x05\xff"s, anonymous);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("wants authentication"), std::string::npos);
  m = socks5_method("HT"s, anonymous);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message.find("does not speak SOCKS5"), std::string::npos);
}

TEST(Socks5, CredentialsReply) {
  EXPECT_FALSE(socks5_credentials_problem("\x01\x00"s));
  EXPECT_EQ(*socks5_credentials_problem("\x01\x01"s), "it refused the username and password");
  EXPECT_TRUE(socks5_credentials_problem("\x05\x00"s));
}

TEST(Socks5, ConnectReply) {
  const std::string ok_v4 = "\x05\x00\x00\x01\x7f\x00\x00\x01\x04\x38"s;
  EXPECT_EQ(*socks5_reply_length(ok_v4.substr(0, 5)), 10u);
  EXPECT_FALSE(socks5_reply_problem(ok_v4));
  EXPECT_EQ(*socks5_reply_length("\x05\x00\x00\x04\x00"s), 22u);
  EXPECT_EQ(*socks5_reply_length("\x05\x00\x00\x03\x07"s), 14u);
  EXPECT_FALSE(socks5_reply_length("\x05\x00\x00\x09\x00"s).ok());
  EXPECT_FALSE(socks5_reply_length("HTTP/"s).ok());

  const std::string refused = "\x05\x02\x00\x01\x00\x00\x00\x00\x00\x00"s;
  EXPECT_EQ(*socks5_reply_problem(refused), "connection not allowed by its rules");
  EXPECT_TRUE(socks5_refused_by_rules(refused));
  EXPECT_EQ(*socks5_reply_problem("\x05\x04"s), "host unreachable");
  EXPECT_FALSE(socks5_refused_by_rules("\x05\x04"s));
  EXPECT_EQ(*socks5_reply_problem("\x05\x42"s), "unknown SOCKS5 reply 0x42");
}

TEST(Socks4a, ConnectRequest) {
  const auto p = parent("socks4a://p.example:1080", "alice");
  EXPECT_EQ(*socks4a_connect(p, host("example.com"), 443),
            "\x04\x01\x01\xbb\x00\x00\x00\x01"
            "alice\0"
            "example.com\0"s);
  EXPECT_EQ(*socks4a_connect(parent("socks4a://p.example:1080"), host("192.0.2.7"), 80),
            "\x04\x01\x00\x50\xc0\x00\x02\x07\0"s);
  const auto v6 = socks4a_connect(p, host("[::1]"), 80);
  ASSERT_FALSE(v6.ok());
  EXPECT_NE(v6.error().message.find("IPv6"), std::string::npos);
}

TEST(Socks4a, Reply) {
  EXPECT_FALSE(socks4_reply_problem("\x00\x5a\x00\x00\x00\x00\x00\x00"s));
  EXPECT_EQ(*socks4_reply_problem("\x00\x5b\x00\x00\x00\x00\x00\x00"s),
            "request rejected or failed");
  EXPECT_TRUE(socks4_reply_problem("\x05\x00\x00\x00\x00\x00\x00\x00"s));
  EXPECT_TRUE(socks4_reply_problem("\x00\x5a"s));
}

}  // namespace
}  // namespace egressd::core
