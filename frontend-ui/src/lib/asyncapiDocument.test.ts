// The contract is a document the AsyncAPI ecosystem reads: the official
// parser (the one AsyncAPI Studio, the generator and the CLI use) must load
// docs/asyncapi.yaml without errors, and see what the three languages' own
// contract tests rely on.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Parser } from '@asyncapi/parser';
import { describe, expect, it } from 'vitest';

const documentPath = fileURLToPath(new URL('../../../docs/asyncapi.yaml', import.meta.url));
// Spectral's severities: 0 error, 1 warning, 2 information, 3 hint.
const ERROR = 0;
const WARNING = 1;

describe('docs/asyncapi.yaml', () => {
  it('parses with the official AsyncAPI parser, without errors or warnings', async () => {
    const { document, diagnostics } = await new Parser().parse(readFileSync(documentPath, 'utf8'));
    const problems = diagnostics
      .filter((d) => d.severity === ERROR || d.severity === WARNING)
      .map((d) => `${d.code} at ${d.path.join('.')}: ${d.message}`);
    expect(problems).toEqual([]);
    expect(document).toBeDefined();
    expect(document?.version()).toMatch(/^3\./);
    const addresses = document?.channels().all().map((c) => c.address()) ?? [];
    expect(addresses).toEqual(
      expect.arrayContaining([
        '/ws',
        'infer.{model}.{version}.{kind}.{id}',
        'results.{kind}.{id}',
        'sessions.info.{id}',
        '$SRV.INFO.inference',
      ]),
    );
    // frames.{kind}.{id} is gone (issue 22): frames go to a model's subject.
    expect(addresses).not.toContain('frames.{kind}.{id}');
  }, 30_000);
});
