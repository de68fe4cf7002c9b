/**
 * Static checks of .github/workflows (no YAML parser is installed; these read lines): CI installs, checks and
 * tests on Node.js 20 and 22; the deployment signs in with OIDC from the protected environment `production`
 * only, provisions and deploys with azd, builds the edge image for both architectures, and takes every secret
 * by reference only; every action is pinned to a commit SHA.
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
    expect(deploy).toMatch(/uses: azure\/login@[0-9a-f]{40} # v\d+\S*\n\s+with:\n\s+client-id: \$\{\{ vars\.AZURE_CLIENT_ID \}\}/);
    expect(deploy).not.toMatch(/creds:|client-secret|AZURE_CREDENTIALS/);
  });

  it('provisions and deploys with azd', () => {
    const runs = runLines(deploy);
    expect(runs).toContain('azd provision --no-prompt');
    expect(runs).toContain('azd deploy --no-prompt');
    expect(runs.indexOf('azd provision --no-prompt')).toBeLessThan(runs.indexOf('azd deploy --no-prompt'));
  });

  it('builds the module image for amd64 and arm64v8 with buildx and joins them under one tag', () => {
    expect(deploy).toMatch(/docker\/setup-buildx-action@[0-9a-f]{40}/);
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

  it('every action is pinned to a full commit SHA, with the release it is in a comment', () => {
    const uses = [...`${ci}\n${deploy}`.matchAll(/uses:\s*(.+)$/gm)].map((m) => (m[1] as string).trim());
    expect(uses.length).toBeGreaterThanOrEqual(8);
    expect(uses.filter((u) => !/^[\w.-]+\/[\w.-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$/.test(u))).toEqual([]);
    // One release per action, so an update cannot leave a second, older pin behind.
    const byAction = new Map<string, Set<string>>();
    for (const u of uses) {
      const [action = '', pin = ''] = u.split('@');
      byAction.set(action.toLowerCase(), (byAction.get(action.toLowerCase()) ?? new Set()).add(pin));
    }
    expect([...byAction].filter(([, pins]) => pins.size > 1)).toEqual([]);
  });

  it('every job that signs in to Azure runs in the protected environment production the federation is bound to', () => {
    const jobs = deploy.split(/\n(?= {2}[\w-]+:\n)/).slice(1);
    expect(jobs.length).toBeGreaterThanOrEqual(3);
    for (const job of jobs) {
      const name = /^ {2}([\w-]+):/.exec(job)?.[1];
      const signsIn = /uses: azure\/login@|azd auth login/.test(job);
      if (signsIn) expect(job, name).toMatch(/^ {4}environment: production$/m);
    }
    // The federated credential is bound to that environment's subject, as docs/deploy.md tells; CI gets no token.
    expect(deploy).toContain('repo:<owner>/<repo>:environment:production');
    expect(read('docs/deploy.md')).toContain('repo:<owner>/<repo>:environment:production');
    expect(ci).not.toMatch(/id-token: write/);
  });

  it('the parameters azd reads from the environment are ones infra/main.parameters.json maps', () => {
    const mapped = read('infra/main.parameters.json');
    for (const name of ['AZURE_ENV_NAME', 'AZURE_LOCATION', 'AZURE_PRINCIPAL_TYPE', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
      expect(mapped, name).toContain(`\${${name}`);
      expect(deploy, name).toMatch(new RegExp(`\\b${name}:`));
    }
  });
});
