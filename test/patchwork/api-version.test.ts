import { expect } from 'chai';
import { apiAtLeast } from '../../server/patchwork/api-version.js';

describe('Patchwork API versions', () => {
  it('compares versions part by part as numbers', () => {
    expect(apiAtLeast('1.2', '1.2')).to.equal(true);
    expect(apiAtLeast('1.3', '1.2')).to.equal(true);
    expect(apiAtLeast('1.1', '1.2')).to.equal(false);
    expect(apiAtLeast('1.0', '1.2')).to.equal(false);
    // As strings, '1.10' < '1.2' and '2.0' > '10.0'.
    expect(apiAtLeast('1.10', '1.2')).to.equal(true);
    expect(apiAtLeast('10.0', '2.0')).to.equal(true);
    expect(apiAtLeast('2', '1.3')).to.equal(true);
    expect(apiAtLeast('1', '1.0')).to.equal(true);
  });

  it('treats an unknown version as too old', () => {
    expect(apiAtLeast(undefined, '1.0')).to.equal(false);
  });
});
