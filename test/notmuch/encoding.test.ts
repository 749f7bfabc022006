import { expect } from 'chai';
import { notmuchMessageId } from '../../server/mail/message-id.js';
import { batchLine, hexTag, idQuery, parseDumpLine, unhexTag } from '../../server/notmuch/encoding.js';

describe('notmuch encoding', () => {
  it('hex-encodes tags the way notmuch does', () => {
    expect(hexTag('pw-skiboot-new')).to.equal('pw-skiboot-new');
    expect(hexTag('a b"c%d')).to.equal('a%20b%22c%25d');
    expect(hexTag('é')).to.equal('%c3%a9');
    expect(unhexTag(hexTag('x y%z"é'))).to.equal('x y%z"é');
  });

  it('quotes ids for Xapian, doubling inner quotes', () => {
    expect(idQuery('a@b')).to.equal('id:"a@b"');
    expect(idQuery('a"b@x')).to.equal('id:"a""b@x"');
    expect(idQuery('x) or (tag:y')).to.equal('id:"x) or (tag:y"');
  });

  it('turns Patchwork msgids into notmuch form', () => {
    expect(notmuchMessageId('<a b@x>')).to.equal('ab@x');
    expect(notmuchMessageId(' <abc@x> ')).to.equal('abc@x');
    expect(notmuchMessageId('plain@x')).to.equal('plain@x');
    // As notmuch 0.37 stores a 202-byte id (seen with notmuch search --output=messages).
    expect(notmuchMessageId(`<${'x'.repeat(200)}@y>`)).to.equal('notmuch-sha1-47d58f8106740593780629ad6986ae38f604c18e');
    expect(notmuchMessageId(`<${'x'.repeat(187)}@y>`)).to.equal(`${'x'.repeat(187)}@y`);
  });

  it('writes a batch line whose query cannot be escaped', () => {
    expect(batchLine({ msgid: 'a"b -- +x@y', add: ['pw-a b'], remove: ['x'] })).to.equal('+pw-a%20b -x -- id:"a""b -- +x@y"');
  });

  it('parses dump lines, quoted and plain, keeping % in ids', () => {
    expect(parseDumpLine('#notmuch-dump batch-tag:3 config,properties,tags')).to.equal(undefined);
    expect(parseDumpLine('+inbox +pw%20x -- id:"a""b@x"')).to.deep.equal({ msgid: 'a"b@x', tags: ['inbox', 'pw x'] });
    expect(parseDumpLine('+inbox -- id:pct%20@x')).to.deep.equal({ msgid: 'pct%20@x', tags: ['inbox'] });
    expect(parseDumpLine('-- id:bare@x')).to.deep.equal({ msgid: 'bare@x', tags: [] });
  });
});
