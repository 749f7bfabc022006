import { randomBytes } from 'node:crypto';
import type { ReplyHeaders } from '../notmuch/notmuch.js';
import { encodeAddresses, encodeText } from './header-encoding.js';

// A reply as a mail client would write it, from what `notmuch reply`
// computed (From, In-Reply-To, References, "Re: " subject, reply-all
// addresses): To the original's author, Cc everyone else it went to, the
// user's own addresses left out (notmuch already did that).

export interface Reply { from: string; to: string; cc: string[]; subject: string; inReplyTo: string; references: string; body: string }

/** Split an address list at commas outside quotes and angle brackets. */
export function splitAddresses(list: string | undefined): string[] {
  const out: string[] = [];
  let current = '';
  let quoted = false;
  let angle = false;
  for (const ch of list ?? '') {
    if (ch === '"') quoted = !quoted;
    else if (ch === '<' && !quoted) angle = true;
    else if (ch === '>' && !quoted) angle = false;
    if (ch === ',' && !quoted && !angle) {
      if (current.trim()) out.push(current.trim());
      current = '';
    } else current += ch;
  }
  if (current.trim()) out.push(current.trim());
  return out;
}

/** The bare address of `Name <addr>` (or of a bare address), lower-cased. */
export function addressOf(mailbox: string): string {
  return (/<([^>]+)>/.exec(mailbox)?.[1] ?? mailbox).trim().toLowerCase();
}

export function composeReply(headers: ReplyHeaders, body: string): Reply {
  const author = headers.original['Reply-To'] ?? headers.original.From ?? '';
  const authorAddress = addressOf(author);
  const seen = new Set([authorAddress]);
  const cc: string[] = [];
  for (const mailbox of [...splitAddresses(headers.reply.To), ...splitAddresses(headers.reply.Cc)]) {
    const address = addressOf(mailbox);
    if (seen.has(address)) continue;
    seen.add(address);
    cc.push(mailbox);
  }
  return {
    from: headers.reply.From ?? '',
    to: author,
    cc,
    subject: headers.reply.Subject ?? '',
    inReplyTo: headers.reply['In-reply-to'] ?? '',
    references: headers.reply.References ?? '',
    body,
  };
}

/** The reply as an RFC 5322 message (UTF-8, 8bit), with the header notmuch-emacs puts on its drafts. */
export function formatMessage(reply: Reply, date = new Date()): string {
  const host = addressOf(reply.from).split('@')[1] || 'localhost';
  const id = `pwnm-sync.${date.getTime().toString(36)}.${randomBytes(6).toString('hex')}@${host}`;
  const lines = [
    `From: ${encodeAddresses(reply.from)}`,
    `To: ${encodeAddresses(reply.to)}`,
    ...(reply.cc.length ? [`Cc: ${reply.cc.map(encodeAddresses).join(',\n    ')}`] : []),
    `Subject: ${encodeText(reply.subject)}`,
    `In-Reply-To: ${reply.inReplyTo}`,
    `References: ${reply.references}`,
    `Date: ${date.toUTCString().replace('GMT', '+0000')}`,
    `Message-ID: <${id}>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    'X-Notmuch-Emacs-Draft: True',
  ];
  return `${lines.join('\n')}\n\n${reply.body}`;
}

/** One message of an mbox: the From_ line, and body lines starting with "From " quoted. */
export function mboxEntry(message: string, date = new Date()): string {
  const text = message.replace(/^(>*From )/gm, '>$1');
  return `From pwnm-sync ${date.toUTCString()}\n${text.endsWith('\n') ? text : `${text}\n`}\n`;
}
