/**
 * Static checks of .github/workflows (no YAML parser is installed; these read lines): CI installs, checks and
 * tests on Node.js 20 and 22; the deployment signs in with OIDC, provisions and deploys with azd, builds the
 * edge image for both architectures, and takes every secret by reference only.
 */
import { describe, expect, it } from 'vitest';
import { read } from './sources.js';

const ci = read('.github/workflows/ci.yml');
const deploy = read('.github/workflows/deploy.yml');
const runLines = (yaml: string): string[] =>
  yaml
    .split('\n')
    .map((l) => /^\s*(?:-\s+)?run:\s*(.+)$/.exec(l)?.[1]?.trim())
    .filter((l): l is string => l !== undefined);

describe('ci.yml', () => {
  it('runs on ubuntu with a Node.js 20 and 22 matrix', () => {
    expect(ci).toMatch(/runs-on: ubuntu-latest/);
    expect(ci).toMatch(/node-version: \[20, 22\]/);
    expect(ci).toMatch(/node-version: \$\{\{ matrix\.node-version \}\}/);
  });

  it('installs with npm ci, then runs npm run check and npm test, in that order', () => {
    expect(runLines(ci)).toEqual(['npm ci', 'npm run check', 'npm test']);
  });

  it('the scripts it runs exist in package.json', () => {
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    expect(pkg.scripts.check).toBeDefined();
    expect(pkg.scripts.test).toBeDefined();
  });
});

describe('deploy.yml', () => {
  it('signs in with OpenID Connect (id-token: write), never with a stored Azure credential', () => {
    expect(deploy).toMatch(/^permissions:\n {2}id-token: write/m);
    expect(deploy).toMatch(/azd auth login\s+--client-id "\$AZURE_CLIENT_ID"\s+--federated-credential-provider github/);
    expect(deploy).toMatch(/uses: azure\/login@v\d+\n\s+with:\n\s+client-id: \$\{\{ vars\.AZURE_CLIENT_ID \}\}/);
    expect(deploy).not.toMatch(/creds:|client-secret|AZURE_CREDENTIALS/);
  });

  it('provisions and deploys with azd', () => {
    const runs = runLines(deploy);
    expect(runs).toContain('azd provision --no-prompt');
    expect(runs).toContain('azd deploy --no-prompt');
    expect(runs.indexOf('azd provision --no-prompt')).toBeLessThan(runs.indexOf('azd deploy --no-prompt'));
  });

  it('builds the module image for amd64 and arm64v8 with buildx and joins them under one tag', () => {
    expect(deploy).toMatch(/docker\/setup-buildx-action@v\d+/);
    expect(deploy).toMatch(/--platform linux\/amd64 --file edge-module\/Dockerfile\.amd64/);
    expect(deploy).toMatch(/--platform linux\/arm64 --file edge-module\/Dockerfile\.arm64v8/);
    expect(deploy).toMatch(/docker buildx imagetools create/);
  });

  it('gives the Bicep its secure parameters from secrets, and passes every secret only by reference', () => {
    expect(deploy).toMatch(/AWS_ACCESS_KEY_ID: \$\{\{ secrets\.AWS_ACCESS_KEY_ID \}\}/);
    expect(deploy).toMatch(/AWS_SECRET_ACCESS_KEY: \$\{\{ secrets\.AWS_SECRET_ACCESS_KEY \}\}/);
    for (const yaml of [ci, deploy]) {
      for (const line of yaml.split('\n')) {
        const m = /^\s*([A-Z][A-Z0-9_]*(?:KEY|SECRET|PASSWORD|TOKEN)[A-Z0-9_]*):\s*(.+)$/.exec(line);
        if (m) expect(m[2], m[1]).toMatch(/^\$\{\{ (secrets|vars)\.[A-Z0-9_]+ \}\}$/);
      }
    }
  });

  it('secrets never reach a command line or a log: they are step environment, not interpolated into run:', () => {
    for (const run of runLines(deploy)) expect(run).not.toMatch(/secrets\./);
    expect(deploy).not.toMatch(/\bset -x\b|echo .*PASSWORD/);
  });

  it('every action is pinned to a major version at least', () => {
    const uses = [...`${ci}\n${deploy}`.matchAll(/uses:\s*(\S+)/g)].map((m) => m[1] as string);
    expect(uses.length).toBeGreaterThanOrEqual(8);
    expect(uses.filter((u) => !/@(v\d+(\.\d+){0,2}|[0-9a-f]{40})$/.test(u))).toEqual([]);
  });

  it('the parameters azd reads from the environment are ones infra/main.parameters.json maps', () => {
    const mapped = read('infra/main.parameters.json');
    for (const name of ['AZURE_ENV_NAME', 'AZURE_LOCATION', 'AZURE_PRINCIPAL_TYPE', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
      expect(mapped, name).toContain(`\${${name}`);
      expect(deploy, name).toMatch(new RegExp(`\\b${name}:`));
    }
  });
});
