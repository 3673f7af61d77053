#include <gtest/gtest.h>

#include <map>
#include <string>

#include "sim/caller.hpp"
#include "sim/twiml_reader.hpp"
#include "twilio/twiml.hpp"

namespace vox::sim {
namespace {

TEST(TwimlReader, ReadsWhatOurTwimlBuilderWrites) {
  twilio::StreamTwiml s;
  s.url = "wss://gw.example.com/media";
  s.parameters = {{"from", "+1555"}, {"note", "a<b & \"c\" 'd'"}};
  std::string url;
  std::map<std::string, std::string> params;
  ASSERT_TRUE(parse_stream_twiml(twilio::connect_stream(s), url, params));
  EXPECT_EQ(url, "wss://gw.example.com/media");
  ASSERT_EQ(params.size(), 2u);
  EXPECT_EQ(params["from"], "+1555");
  EXPECT_EQ(params["note"], "a<b & \"c\" 'd'");
}

TEST(TwimlReader, AcceptsSingleQuotesAndOtherAttributeOrder) {
  std::string url;
  std::map<std::string, std::string> params;
  ASSERT_TRUE(parse_stream_twiml(
      "<Response><Connect><Stream name='x' url='ws://h/m'><Parameter value='v' name='k'/></Stream></Connect></Response>",
      url, params));
  EXPECT_EQ(url, "ws://h/m");
  EXPECT_EQ(params.at("k"), "v");
}

TEST(TwimlReader, RejectsTwimlWithoutAStream) {
  std::string url;
  std::map<std::string, std::string> params;
  EXPECT_FALSE(parse_stream_twiml("<Response><Say>hi</Say></Response>", url, params));
  EXPECT_FALSE(parse_stream_twiml("<Response><Connect><StreamX url=\"u\"/></Connect></Response>", url, params));
}

TEST(Percentile, UsesNearestRank) {
  EXPECT_EQ(percentile({}, 50), -1);
  EXPECT_EQ(percentile({5}, 99), 5);
  EXPECT_EQ(percentile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 50), 5);
  EXPECT_EQ(percentile({10, 1, 9, 2, 8, 3, 7, 4, 6, 5}, 90), 9);
  EXPECT_EQ(percentile({1, 2, 3}, 100), 3);
}

}  // namespace
}  // namespace vox::sim

// --- parse_twiml / xml_unescape --------------------------------------------------------

namespace vox::sim {
namespace {

TEST(ParseTwiml, ReadsNestedVerbsWithAttributesAndText) {
  const auto doc = parse_twiml(
      R"xml(<Response><Say voice="alice" loop="2">Hi &amp; bye</Say><Pause length="2"/>)xml"
      R"xml(<Start><Stream url="wss://x/y" track="both_tracks"><Parameter name="a" value="1"/></Stream></Start>)xml"
      R"xml(<Connect action="https://a/b"><Stream url='wss://h/m'/></Connect>)xml"
      R"xml(<Redirect method="GET">https://r/x?a=1&amp;b=2</Redirect></Response>)xml");
  ASSERT_TRUE(doc.root) << doc.error;
  EXPECT_TRUE(doc.error.empty()) << doc.error;
  const TwimlNode& r = *doc.root;
  EXPECT_EQ(r.name, "Response");
  EXPECT_TRUE(r.attrs.empty());
  ASSERT_EQ(r.children.size(), 5u);
  EXPECT_EQ(r.children[0].name, "Say");
  EXPECT_EQ(r.children[1].name, "Pause");
  EXPECT_EQ(r.children[2].name, "Start");
  EXPECT_EQ(r.children[3].name, "Connect");
  EXPECT_EQ(r.children[4].name, "Redirect");

  const TwimlNode& say = r.children[0];
  EXPECT_EQ(say.attrs, (std::map<std::string, std::string>{{"loop", "2"}, {"voice", "alice"}}));
  EXPECT_EQ(say.text, "Hi & bye");
  EXPECT_TRUE(say.children.empty());

  const TwimlNode& pause = r.children[1];
  EXPECT_EQ(pause.attr("length"), "2");
  EXPECT_EQ(pause.text, "");
  EXPECT_TRUE(pause.children.empty());

  const TwimlNode* fork = r.children[2].child("Stream");
  ASSERT_NE(fork, nullptr);
  EXPECT_EQ(fork->attr("url"), "wss://x/y");
  EXPECT_EQ(fork->attr("track"), "both_tracks");
  ASSERT_EQ(fork->children.size(), 1u);
  const TwimlNode* param = fork->child("Parameter");
  ASSERT_NE(param, nullptr);
  EXPECT_EQ(param->attr("name"), "a");
  EXPECT_EQ(param->attr("value"), "1");

  const TwimlNode& connect = r.children[3];
  EXPECT_EQ(connect.attr("action"), "https://a/b");
  ASSERT_EQ(connect.children.size(), 1u);
  const TwimlNode* stream = connect.child("Stream");
  ASSERT_NE(stream, nullptr);
  EXPECT_EQ(stream->attr("url"), "wss://h/m");  // single-quoted
  EXPECT_TRUE(stream->children.empty());

  const TwimlNode& redirect = r.children[4];
  EXPECT_EQ(redirect.attr("method"), "GET");
  EXPECT_EQ(redirect.text, "https://r/x?a=1&b=2");
}

TEST(ParseTwiml, SkipsDeclarationCommentsAndWhitespace) {
  const auto doc = parse_twiml(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<!-- before the root -->\n"
      "<Response>\n"
      "  <!-- a comment <Say>not a verb</Say> -->\n"
      "  <Say>\n\t  hello   world \t\r\n  </Say>\n"
      "  <Say>  mixed <!-- gone --> text  </Say>\n"
      "</Response>\n"
      "<!-- after the root -->\n");
  ASSERT_TRUE(doc.root) << doc.error;
  ASSERT_EQ(doc.root->children.size(), 2u);
  EXPECT_EQ(doc.root->children[0].name, "Say");
  EXPECT_EQ(doc.root->children[0].text, "hello   world");  // trimmed at both ends only
  EXPECT_EQ(doc.root->children[1].text, "mixed  text");
  EXPECT_EQ(doc.root->text, "");
}

TEST(ParseTwiml, CdataIsTakenLiterally) {
  const auto doc = parse_twiml("<Response><Say><![CDATA[a < b & c &amp; <Play/>]]></Say>"
                               "<Say>x <![CDATA[&lt;]]> &lt;</Say></Response>");
  ASSERT_TRUE(doc.root) << doc.error;
  ASSERT_EQ(doc.root->children.size(), 2u);
  EXPECT_EQ(doc.root->children[0].text, "a < b & c &amp; <Play/>");
  EXPECT_TRUE(doc.root->children[0].children.empty());
  EXPECT_EQ(doc.root->children[1].text, "x &lt; <");
}

TEST(ParseTwiml, DecodesCharacterReferencesInTextAndAttributes) {
  const auto doc = parse_twiml(
      "<Response><Say voice=\"caf&#xE9;\" note='say \"hi\" &apos;x&apos;'>&#72;i &#x263A; &lt;&gt;</Say></Response>");
  ASSERT_TRUE(doc.root) << doc.error;
  const TwimlNode* say = doc.root->child("Say");
  ASSERT_NE(say, nullptr);
  EXPECT_EQ(say->text, "Hi \xE2\x98\xBA <>");
  EXPECT_EQ(say->attr("voice"), "caf\xC3\xA9");
  EXPECT_EQ(say->attr("note"), "say \"hi\" 'x'");
}

TEST(ParseTwiml, AcceptsSpacesAroundEqualsAndBeforeSelfClose) {
  const auto doc = parse_twiml("<Response >\n<Pause length = \"3\" />\n<Hangup/></Response >");
  ASSERT_TRUE(doc.root) << doc.error;
  ASSERT_EQ(doc.root->children.size(), 2u);
  EXPECT_EQ(doc.root->children[0].attr("length"), "3");
  EXPECT_EQ(doc.root->children[1].name, "Hangup");
}

TEST(TwimlNode, AttrFallbackAndChild) {
  const auto doc = parse_twiml("<Response><Say voice=\"alice\">one</Say><Play>x</Play><Say>two</Say></Response>");
  ASSERT_TRUE(doc.root) << doc.error;
  const TwimlNode& r = *doc.root;
  const TwimlNode* say = r.child("Say");
  ASSERT_NE(say, nullptr);
  EXPECT_EQ(say->text, "one");  // the first of two
  EXPECT_EQ(say->attr("voice"), "alice");
  EXPECT_EQ(say->attr("voice", "man"), "alice");
  EXPECT_EQ(say->attr("language"), "");
  EXPECT_EQ(say->attr("language", "en-US"), "en-US");
  ASSERT_NE(r.child("Play"), nullptr);
  EXPECT_EQ(r.child("Play")->text, "x");
  EXPECT_EQ(r.child("Dial"), nullptr);
  EXPECT_EQ(r.child("say"), nullptr);  // names are case-sensitive
  EXPECT_EQ(say->child("Say"), nullptr);
}

TEST(ParseTwiml, EmptyResponseForms) {
  for (const char* xml : {"<Response/>", "<Response></Response>", "  <Response>  </Response>  "}) {
    const auto doc = parse_twiml(xml);
    ASSERT_TRUE(doc.root) << xml << ": " << doc.error;
    EXPECT_EQ(doc.root->name, "Response") << xml;
    EXPECT_TRUE(doc.root->children.empty()) << xml;
    EXPECT_EQ(doc.root->text, "") << xml;
  }
}

TEST(ParseTwiml, RejectsMalformedDocuments) {
  const char* bad[] = {
      "<Play>https://x/a.mp3</Play>",                      // root is not <Response>
      "<response></response>",                             // ... case-sensitively
      "<Response><Say>hi</Say>",                           // unclosed element
      "<Response><Say>hi</Response>",                      // unclosed child
      "<Response><Say>hi</Play></Response>",               // mismatched closing tag
      "<Response><Pause length=2/></Response>",            // unquoted attribute
      "<Response><Pause length=\"2/></Response>",          // unterminated attribute
      "<Response><Say loud>hi</Say></Response>",           // attribute without a value
      "<Response></Response><Response></Response>",        // a second root
      "<Response></Response>trailing",                     // text after the root
      "<Response><!-- no end </Response>",                 // unterminated comment
      "<Response><Say><![CDATA[x</Say></Response>",        // unterminated CDATA
      "",                                                  // nothing
      "just text",                                         // no element
  };
  for (const char* xml : bad) {
    const auto doc = parse_twiml(xml);
    EXPECT_FALSE(doc.root.has_value()) << "accepted: " << xml;
    EXPECT_FALSE(doc.error.empty()) << "no error for: " << xml;
  }
}

TEST(XmlUnescape, PredefinedEntities) {
  EXPECT_EQ(xml_unescape("&lt;&gt;&amp;&quot;&apos;"), "<>&\"'");
  EXPECT_EQ(xml_unescape("Tom &amp; Jerry"), "Tom & Jerry");
  EXPECT_EQ(xml_unescape("&amp;lt;"), "&lt;");  // decoded once only
  EXPECT_EQ(xml_unescape("plain"), "plain");
  EXPECT_EQ(xml_unescape(""), "");
}

TEST(XmlUnescape, NumericReferencesBecomeUtf8) {
  EXPECT_EQ(xml_unescape("&#65;"), "A");
  EXPECT_EQ(xml_unescape("&#x41;&#X42;&#x63;"), "ABc");
  EXPECT_EQ(xml_unescape("&#xE9;"), "\xC3\xA9");              // 2 bytes
  EXPECT_EQ(xml_unescape("&#x263A;"), "\xE2\x98\xBA");        // 3 bytes
  EXPECT_EQ(xml_unescape("&#9786;"), "\xE2\x98\xBA");         // the same, decimal
  EXPECT_EQ(xml_unescape("&#x1F600;"), "\xF0\x9F\x98\x80");   // 4 bytes
  EXPECT_EQ(xml_unescape("a&#32;b"), "a b");
}

TEST(XmlUnescape, KeepsWhatIsNotAnEntity) {
  EXPECT_EQ(xml_unescape("a & b"), "a & b");          // no semicolon
  EXPECT_EQ(xml_unescape("&foo;"), "&foo;");          // unknown name
  EXPECT_EQ(xml_unescape("&#zz;"), "&#zz;");          // not a number
  EXPECT_EQ(xml_unescape("&#;"), "&#;");
  EXPECT_EQ(xml_unescape("x &"), "x &");
  EXPECT_EQ(xml_unescape("&lt"), "&lt");
}

TEST(ParseStreamTwiml, FalseForMalformedXmlOrNoStream) {
  std::string url = "unchanged";
  std::map<std::string, std::string> params;
  // Malformed: the Stream is never closed.
  EXPECT_FALSE(parse_stream_twiml("<Response><Connect><Stream url=\"wss://h/m\"></Connect></Response>", url, params));
  // Malformed: unquoted attribute.
  EXPECT_FALSE(parse_stream_twiml("<Response><Connect><Stream url=wss://h/m/></Connect></Response>", url, params));
  // Not TwiML: the root is not <Response>.
  EXPECT_FALSE(parse_stream_twiml("<Connect><Stream url=\"wss://h/m\"/></Connect>", url, params));
  // Well-formed without a Stream.
  EXPECT_FALSE(parse_stream_twiml("<?xml version=\"1.0\"?><Response><Say>hi</Say><Hangup/></Response>", url, params));
  // A Stream without a url.
  EXPECT_FALSE(parse_stream_twiml("<Response><Connect><Stream name=\"x\"/></Connect></Response>", url, params));
  EXPECT_EQ(url, "unchanged");
  EXPECT_TRUE(params.empty());
}

}  // namespace
}  // namespace vox::sim
