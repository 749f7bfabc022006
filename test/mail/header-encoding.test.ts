import { expect } from 'chai';
import { encodeAddresses, encodeText } from '../../server/mail/header-encoding.js';
import { decodeWords } from '../support/headers.js';

// RFC 2047 in the headers of the drafts `thanks` writes. Expected
// encodings worked out from the RFC (UTF-8 bytes in base64, by hand with
// Python's base64); decoding by the test's own decoder.

describe('header encoding (RFC 2047)', () => {
  it('encodes a display name with non-ASCII and leaves the address and ASCII names alone', () => {
    expect(encodeAddresses('Chloé Dévelopeur <chloe@example.fr>')).to.equal('=?UTF-8?B?Q2hsb8OpIETDqXZlbG9wZXVy?= <chloe@example.fr>');
    expect(encodeAddresses('"Dévelopeur, Chloé" <chloe@example.fr>, Bob <bob@example.com>'))
      .to.equal('=?UTF-8?B?RMOpdmVsb3BldXIsIENobG/DqQ==?= <chloe@example.fr>, Bob <bob@example.com>');
    expect(encodeAddresses('skiboot@lists.ozlabs.org, Bob <bob@example.com>')).to.equal('skiboot@lists.ozlabs.org, Bob <bob@example.com>');
  });

  it('encodes a subject from its first non-ASCII word on, in words of at most 75 characters that decode back', () => {
    expect(encodeText('Re: [PATCH] ü')).to.equal('Re: [PATCH] =?UTF-8?B?w7w=?=');
    expect(encodeText('Re: [PATCH 0/3] util-checks: series')).to.equal('Re: [PATCH 0/3] util-checks: series');
    const long = `Re: [PATCH] ${'überlange Zeile mit Umlauten äöü '.repeat(4)}Ende`;
    const encoded = encodeText(long);
    for (const word of encoded.split(' ')) expect(word.length, word).to.be.at.most(75);
    expect(decodeWords(encoded)).to.equal(long);
  });
});
