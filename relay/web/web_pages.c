/*
 * web_pages: the built-in templates of the relay's website and of the
 * autoconfig and MTA-STS files.
 *
 * The prose is ours; the facts are upstream's (cmdeploy's www/src Markdown pages,
 * autoconfig.xml.j2, mta-sts.txt.j2): the limits and how they are worded
 * ("send up to N messages per minute", "store up to 500M", "removed
 * latest N days after arriving", "deleted N days afterwards"), the
 * DCACCOUNT link and QR file name clients and printed codes rely on, the
 * autoconfig servers and ports, the MTA-STS policy.
 *
 * {{name}} is replaced by the named value, HTML/XML-escaped (web.c);
 * there is no other syntax. Role: data for web.c. Untrusted input: none.
 */
#include <stddef.h>

#include "web_int.h"

/* the page frame; {{body}} is the page (already rendered) */
const char web_tpl_layout[] =
	"<!DOCTYPE html>\n"
	"<html lang=\"en\">\n"
	"<head>\n"
	"<meta charset=\"utf-8\">\n"
	"<meta name=\"viewport\" content=\"width=device-width, "
	"initial-scale=1\">\n"
	"<title>{{mail_domain}} {{pagename}}</title>\n"
	"<link rel=\"stylesheet\" href=\"./main.css\">\n"
	"</head>\n"
	"<body>\n"
	"<div id=\"menu\">\n"
	"<a href=\"index.html\">home</a>\n"
	"<a href=\"info.html\">info</a>\n"
	"<a href=\"privacy.html\">privacy</a>\n"
	"<a href=\"https://github.com/chatmail/relay\">public code</a>\n"
	"<a id=\"domain\" href=\"index.html\">{{mail_domain}}</a>\n"
	"</div>\n"
	"<div id=\"content\">\n";

const char web_tpl_layout_end[] = "</div>\n"
				  "</body>\n"
				  "</html>\n";

const char web_tpl_index_head[] =
	"<h1>Chat with {{mail_domain}}</h1>\n"
	"<p>{{mail_domain}} is a chatmail relay: instant sign-up, no phone "
	"number, no personal data, and messages that are end-to-end "
	"encrypted. See the <a href=\"privacy.html\">privacy policy</a> for "
	"what the server keeps (almost nothing) and for how long.</p>\n";

/* the usual case: a certificate clients trust, DCACCOUNT link and QR */
const char web_tpl_index_account[] =
	"<p><a class=\"cta-button\" "
	"href=\"DCACCOUNT:https://{{mail_domain}}/new\">Get a {{mail_domain}} "
	"chat profile</a></p>\n"
	"<p>On another device without a Delta Chat app? <strong>Scan this QR "
	"code</strong> with Delta Chat instead:</p>\n"
	"<p><a href=\"DCACCOUNT:https://{{mail_domain}}/new\"><img "
	"width=\"300\" height=\"300\" alt=\"QR code to create a profile on "
	"{{mail_domain}}\" src=\"{{qr_png}}\"></a></p>\n";

/* self-signed certificates: dclogin.js fetches credentials from /new
 * and makes the link a dclogin: URL that accepts the certificate */
const char web_tpl_index_dclogin[] =
	"<p><a class=\"cta-button\" id=\"dclogin-link\" href=\"#\">Get a "
	"{{mail_domain}} chat profile</a></p>\n"
	"<p>This relay uses a self-signed certificate: the link above "
	"carries freshly made credentials and tells the app to accept the "
	"certificate. On another device, open this page there, or copy the "
	"link:</p>\n"
	"<p><code id=\"dclogin-url\"></code></p>\n"
	"<script src=\"dclogin.js\"></script>\n";

const char web_tpl_index_tail[] =
	"<p>Then <strong>choose</strong> an avatar and a name, and "
	"<strong>start</strong> chatting with any Delta Chat contact through "
	"<a href=\"https://delta.chat/en/help#howtoe2ee\">QR invite "
	"codes</a>.</p>\n";

const char web_tpl_info[] =
	"<h2>More information</h2>\n"
	"<p>{{mail_domain}} offers e-mail addresses made for chatting: a "
	"chatmail address is an ordinary e-mail address, served by a "
	"low-maintenance and resource-efficient relay that speaks the "
	"standard protocols and works best with Delta Chat.</p>\n"
	"<h3>Rate and storage limits</h3>\n"
	"<ul>\n"
	"<li>Unencrypted messages to recipients outside {{mail_domain}} are "
	"refused. Set up contacts with <a "
	"href=\"https://delta.chat/en/help#howtoe2ee\">QR invite codes</a> "
	"and your messages reach any outside recipient.</li>\n"
	"<li>You may send up to {{max_user_send_per_minute}} messages per "
	"minute.</li>\n"
	"<li>One message may be up to {{max_message_size}} bytes.</li>\n"
	"<li>You can store up to <a "
	"href=\"https://delta.chat/en/help#what-happens-if-i-turn-on-delete-"
	"old-messages-from-server\">{{max_mailbox_size}} messages on the "
	"server</a>.</li>\n"
	"<li>Messages are unconditionally removed latest "
	"{{delete_mails_after}} days after arriving on the server, and "
	"earlier if storage would be exceeded otherwise. Messages larger "
	"than 200 kB that were already seen are removed after "
	"{{delete_large_after}} days.</li>\n"
	"</ul>\n"
	"<h3 id=\"account-deletion\">Account deletion</h3>\n"
	"<p>Remove the {{mail_domain}} profile in the app, and the account "
	"on the server, with all data belonging to it, is deleted "
	"{{delete_inactive_users_after}} days afterwards. The server only "
	"sees that no device logs in any more: if you use several devices, "
	"remove the profile on each of them.</p>\n"
	"<p>Further questions or requests about deleting an account: send a "
	"message from that account to {{privacy_mail}}.</p>\n"
	"<h3>Accounts</h3>\n"
	"<p>An account is created the first time an app logs in with a new "
	"address. Usernames have {{username_min_length}} to "
	"{{username_max_length}} characters, passwords at least "
	"{{password_min_length}}.</p>\n"
	"<h3>Who runs this, and which software?</h3>\n"
	"<p>A chatmail relay is run by volunteers or small teams with "
	"software that is <a href=\"https://github.com/chatmail/relay\">"
	"developed in public</a>. It aims to be easy to operate, light on "
	"resources, and interoperable with every standards-compliant e-mail "
	"service.</p>\n";

const char web_tpl_privacy[] =
	"<h1>Privacy policy for {{mail_domain}}</h1>\n"
	"<h2>Summary: no personal data asked for or collected</h2>\n"
	"<p>This chatmail relay neither asks for nor keeps personal "
	"information. It exists to store and deliver end-to-end encrypted "
	"messages between the devices of its users, much like a messaging "
	"router, without phone numbers, and it works together with other "
	"chatmail relays and classic e-mail servers.</p>\n"
	"<p>Unlike classic e-mail servers, this relay</p>\n"
	"<ul>\n"
	"<li>unconditionally removes messages after {{delete_mails_after}} "
	"days,</li>\n"
	"<li>refuses to send out unencrypted messages,</li>\n"
	"<li>does not store Internet (IP) addresses,</li>\n"
	"<li>does not process IP addresses in relation to e-mail "
	"addresses.</li>\n"
	"</ul>\n"
	"<p>With so little personal data processed, a privacy policy may "
	"not even be required; the details below are for data protection "
	"specialists.</p>\n"
	"<h2>1. Name and contact information</h2>\n"
	"<p>Responsible for the processing of personal data is:</p>\n"
	"<pre>{{privacy_postal}}</pre>\n"
	"<p>E-mail: {{privacy_mail}}</p>\n"
	"<p>Our data protection officer:</p>\n"
	"<pre>{{privacy_pdo}}</pre>\n";

/* split: C99 promises string literals of 4095 bytes only */
const char web_tpl_privacy2[] =
	"<h2>2. Processing when using the chat e-mail service</h2>\n"
	"<p>We process only what is needed to set up accounts and to deliver "
	"messages, so that users can read, write, manage, delete, send and "
	"receive chat messages:</p>\n"
	"<ul>\n"
	"<li>Outgoing and incoming messages are stored in transit until "
	"they can be delivered.</li>\n"
	"<li>Messages are stored for the recipient and available over IMAP "
	"until the user deletes them or until they expire (at most "
	"{{delete_mails_after}} days).</li>\n"
	"<li>IMAP and SMTP are protected by a unique password per "
	"account.</li>\n"
	"<li>Users can fetch or delete all their stored messages themselves "
	"with any IMAP client.</li>\n"
	"<li>A realtime relay helps devices connect peer to peer; what "
	"passes through it is never stored.</li>\n"
	"</ul>\n"
	"<h3>2.1 Account setup</h3>\n"
	"<p>An account is created by scanning a QR code with the app, or "
	"when the app registers a new {{mail_domain}} address on its own. "
	"Either way we process the new e-mail address and nothing else: no "
	"phone number, no other address, no identifying data. The legal "
	"basis is Art. 6 (1) lit. b GDPR (you use our service under a "
	"usage contract).</p>\n"
	"<h3>2.2 Processing of messages</h3>\n"
	"<p>To keep the service running and to prevent abuse we process "
	"the content and metadata of messages in transit (for example "
	"headers and the SMTP dialogue) and keep logs of messages in "
	"transit for a short time to debug delivery problems. Limits on "
	"sending rate, storage and message size, and any other limit the "
	"server needs to stay healthy, are enforced. The legal basis is "
	"Art. 6 (1) lit. b GDPR, and for security and abuse prevention "
	"Art. 6 (1) lit. f GDPR; our legitimate interest follows from these "
	"purposes. We draw no conclusions about your person from this "
	"data.</p>\n"
	"<h2>3. Processing when using this website</h2>\n"
	"<p>Your browser sends technical information (browser type, "
	"operating system, time of access, IP address, requested resource, "
	"amount of data, access status, referring page) that may be kept in "
	"log files for a short time, to deliver the website, keep it secure "
	"and administer it. The legal basis is Art. 6 (1) lit. f "
	"GDPR.</p>\n"
	"<h2>4. Transfer of data</h2>\n"
	"<p>We keep no personal data, but messages waiting for delivery may "
	"contain some. It is not passed to third parties except where you "
	"consented (Art. 6 (1) lit. a GDPR), where it is needed to assert, "
	"exercise or defend legal claims (lit. f), where the law requires "
	"it (lit. c), where it is needed for our contract with you (lit. "
	"b), or to a processor bound by a contract under Art. 28 GDPR.</p>\n"
	"<h2>5. Rights of the data subject</h2>\n"
	"<p>Your rights follow from Articles 12 to 23 GDPR. Since no "
	"personal data is stored on our servers, there is usually nothing "
	"to disclose or object to; accounts are deleted from within the "
	"app. Questions and complaints: {{privacy_mail}}.</p>\n"
	"<p>You may also turn to the supervisory authority of your place of "
	"residence or work, or of our registered office. The supervisory "
	"authority responsible for us is: {{privacy_supervisor}}.</p>\n"
	"<h2>6. Changes</h2>\n"
	"<p>We may revise this policy when the service or the law "
	"changes.</p>\n";

const char web_tpl_autoconfig_head[] =
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	"\n"
	"<clientConfig version=\"1.1\">\n"
	"  <emailProvider id=\"{{mail_domain}}\">\n"
	"    <domain>{{mail_domain}}</domain>\n"
	"    <displayName>{{mail_domain}} chatmail</displayName>\n"
	"    <displayShortName>{{mail_domain}}</displayShortName>\n";

/* one server; {{kind}} is incomingServer or outgoingServer */
const char web_tpl_autoconfig_server[] =
	"    <{{kind}} type=\"{{proto}}\">\n"
	"      <hostname>{{mail_domain}}</hostname>\n"
	"      <port>{{port}}</port>\n"
	"      <socketType>{{socket}}</socketType>\n"
	"      <authentication>password-cleartext</authentication>\n"
	"      <username>%EMAILADDRESS%</username>\n"
	"    </{{kind}}>\n";

const char web_tpl_autoconfig_tail[] = "  </emailProvider>\n"
				       "</clientConfig>\n";

const char web_tpl_mta_sts[] = "version: STSv1\n"
			       "mode: enforce\n"
			       "mx: {{mail_domain}}\n"
			       "max_age: 2419200\n";

const char web_tpl_robots[] = "User-agent: *\n"
			      "Disallow: /\n";

const char web_tpl_css[] =
	"body { font-family: system-ui, sans-serif; line-height: 1.45; "
	"max-width: 50em; margin: 1.5em auto; padding: 0 1em; color: #222; "
	"}\n"
	"#menu { display: flex; flex-wrap: wrap; gap: 1em; padding-bottom: "
	".5em; border-bottom: 1px solid #ddd; }\n"
	"#menu #domain { margin-left: auto; font-weight: 600; }\n"
	"a { color: #0a66c2; text-decoration: none; }\n"
	"a:hover { text-decoration: underline; }\n"
	"pre, code { background: #f4f4f4; padding: .2em .4em; white-space: "
	"pre-wrap; word-break: break-all; }\n"
	".cta-button { display: inline-block; padding: .7em 1.2em; "
	"background: #0a66c2; color: #fff; border-radius: .4em; "
	"font-weight: 600; }\n"
	".cta-button:hover { text-decoration: none; background: #084e95; "
	"}\n";

/* self-signed mode: credentials from /new become a dclogin: link */
const char web_tpl_dclogin_js[] =
	"/* Fetches fresh credentials from /new and turns them into a\n"
	" * dclogin: link that also accepts this relay's self-signed\n"
	" * certificate. */\n"
	"(function () {\n"
	"  'use strict';\n"
	"  fetch('/new', { method: 'POST' })\n"
	"    .then(function (r) { return r.json(); })\n"
	"    .then(function (creds) {\n"
	"      var url = creds.dclogin_url;\n"
	"      if (!url) { return; }\n"
	"      document.getElementById('dclogin-link').href = url;\n"
	"      document.getElementById('dclogin-url').textContent = url;\n"
	"    });\n"
	"})();\n";
