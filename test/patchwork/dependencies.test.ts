import { expect } from 'chai';
import { PatchworkClient } from '../../server/patchwork/client.js';
import { dependencyChain, dependsOnLines, webUrlTarget } from '../../server/patchwork/dependencies.js';
import { splitMbox } from '../../server/ops/fill.js';
import type { Release } from '../../server/sandbox/model.js';
import { Sandbox } from '../../server/sandbox/server.js';

// Series dependencies against the sandbox acting as each real release:
// main serves API 1.4's `dependencies` where the project shows them, the
// 3.x releases only have the Depends-on: lines of the mail.

describe('series dependencies', function () {
  it('reads Depends-on: lines: message-ids and URLs, nothing else', () => {
    expect(dependsOnLines('x\nDepends-on: <a/b@x>\ndepends-on: https://pw.example.org/project/p/list/?series=7\nDepends-on: nonsense\n  Depends-on: <indented@x>\n'))
      .to.deep.equal([{ msgid: 'a/b@x' }, { url: 'https://pw.example.org/project/p/list/?series=7' }]);
  });

  it('reads a message-id back from the URLs Patchwork writes (%252F, as the real 3.1.3, 3.2.1 and main do) and from a series list URL', () => {
    expect(webUrlTarget('https://pw.example.org/project/p/patch/a%252Fb@x/')).to.deep.equal({ msgid: 'a/b@x' });
    expect(webUrlTarget('https://pw.example.org/project/p/cover/a%2Fb@x/')).to.deep.equal({ msgid: 'a/b@x' });
    expect(webUrlTarget('https://pw.example.org/project/p/list/?series=12')).to.deep.equal({ series: 12 });
    expect(webUrlTarget('https://pw.example.org/about/')).to.equal(undefined);
  });

  it('splits a Patchwork mbox into its mails', () => {
    expect(splitMbox('From patchwork Thu Jan  1 00:00:00 2026\nMessage-Id: <a@x>\n\nbody\n>From me\n\nFrom patchwork Fri Jan  2 00:00:00 2026\nMessage-Id: <b@x>\n\nb\n'))
      .to.deep.equal(['Message-Id: <a@x>\n\nbody\n>From me\n', 'Message-Id: <b@x>\n\nb\n']);
  });

  for (const release of ['3.1.3', 'main'] as Release[]) {
    it(`finds a chain of dependencies, each once, dependencies first (sandbox as ${release})`, async () => {
      const sandbox = new Sandbox().actAs(release);
      await sandbox.start();
      try {
        const d = sandbox.data;
        const project = d.addProject({ link_name: 'p', list_email: 'p@lists.example.org', show_dependencies: true });
        const person = d.addPerson('A', 'a@example.org');
        const series = (n: number, depends: string): number => {
          const s = d.addSeries({ project: project.id, name: `s${n}`, version: 1, date: `2026-01-0${n}T00:00:00`, total: 1, submitter: person.id, cover: null });
          const cover = d.addCover({ project: project.id, msgid: `<c${n}/x@x>`, date: s.date, name: `s${n}`, submitter: person.id, series: s.id, content: `cover ${n}\n${depends}`, headers: {} });
          s.cover = cover.id;
          d.addPatch({ project: project.id, msgid: `<p${n}/x@x>`, name: `s${n}`, submitter: person.id, date: s.date, series: s.id, content: 'x', diff: 'diff --git a/f b/f\n' }, true);
          return s.id;
        };
        const one = series(1, '');
        const two = series(2, 'Depends-on: <p1/x@x>\n');
        const three = series(3, `Depends-on: <c2/x@x>\nDepends-on: ${sandbox.url}/project/p/patch/p1%252Fx@x/\n`);
        // As main's parser links them.
        d.series.get(two)!.dependencies = [one];
        d.series.get(three)!.dependencies = [two, one];
        const client = new PatchworkClient({ instance: 'sandbox', url: sandbox.url });
        expect((await dependencyChain(client, three)).map((s) => s.id)).to.deep.equal([one, two]);
        expect(client.apiVersion).to.equal(release === 'main' ? '1.4' : '1.3');
        // main reads the API only: no cover letter or mbox requests.
        const mailRequests = sandbox.log.filter((r) => /\/covers\/\d+\/|\/mbox\//.test(r.url)).length;
        expect(mailRequests > 0).to.equal(release !== 'main');
        await client.close();
      } finally {
        await sandbox.stop();
      }
    });
  }
});
