// A real OAuth 2.0 / OpenID Connect authorization server (npm oidc-provider) for the gateway's tests.
//
//   node tests/support/oidc_provider/server.mjs '{"port": 0, "clients": [...]}'
//   (or the same JSON in the OIDC_PROVIDER_CONFIG environment variable)
//
// Prints one line `{"issuer": "http://127.0.0.1:PORT"}` to stdout when ready; logs go to stderr.
// Besides the provider's own endpoints it serves minimal interaction pages (/interaction/:uid, no
// devInteractions) and test hooks: POST /_test/outage, GET /_test/stats, POST /_test/reset.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import http from 'node:http';

import Provider from 'oidc-provider';

const CONFIG = JSON.parse(process.argv[2] ?? process.env.OIDC_PROVIDER_CONFIG ?? '{}');
const HOST = '127.0.0.1';
const TOKEN_PATH = '/token';
const REVOCATION_PATH = '/token/revocation';
const DEFAULT_SCOPES = ['openid', 'offline_access', 'profile', 'email', 'api.read', 'api.write'];
const MAX_FORM_BYTES = 64 * 1024;

const log = (message, fields = {}) => process.stderr.write(`${JSON.stringify({ message, ...fields })}\n`);

// ---- test hooks: counters and injected token-endpoint failures --------------------------------

function zeroStats() {
  return {
    token_calls: 0,
    token_errors: 0,
    grants: { authorization_code: 0, refresh_token: 0, client_credentials: 0 },
    revocations: 0,
  };
}

let stats = zeroStats();
const outage = { status: 503, count: 0 };

// Runs before the provider's router; counts token/revocation calls and fails them on request.
async function testHooksMiddleware(ctx, next) {
  const isToken = ctx.method === 'POST' && ctx.path === TOKEN_PATH;
  if (isToken) {
    stats.token_calls += 1;
    if (outage.count > 0) {
      outage.count -= 1;
      stats.token_errors += 1;
      ctx.status = outage.status;
      ctx.set('Cache-Control', 'no-store');
      ctx.body = { error: 'temporarily_unavailable', error_description: 'injected outage' };
      log('token endpoint outage injected', { status: outage.status, remaining: outage.count });
      return;
    }
  }
  await next();
  if (isToken) {
    const grantType = ctx.oidc?.params?.grant_type;
    if (ctx.status === 200 && grantType) {
      stats.grants[grantType] = (stats.grants[grantType] ?? 0) + 1;
    } else {
      stats.token_errors += 1;
    }
  } else if (ctx.method === 'POST' && ctx.path === REVOCATION_PATH && ctx.status === 200) {
    stats.revocations += 1;
  }
}

// ---- provider configuration -------------------------------------------------------------------

function clientMetadata(client) {
  const isPublic = client.token_endpoint_auth_method === 'none';
  const grantTypes = isPublic
    ? ['authorization_code', 'refresh_token']
    : ['authorization_code', 'refresh_token', 'client_credentials'];
  return { grant_types: grantTypes, response_types: ['code'], ...client };
}

function signingKeys() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256', alg: 'RS256', use: 'sig' }] };
}

function providerConfiguration() {
  const ttl = { AccessToken: 5, ClientCredentials: 5, ...CONFIG.ttl };
  const requirePkceForAll = CONFIG.requirePkce === true;
  return {
    clients: (CONFIG.clients ?? []).map(clientMetadata),
    // `require_pkce: true` on one client makes PKCE mandatory for that client only.
    extraClientMetadata: { properties: ['require_pkce'] },
    pkce: {
      required: (_ctx, client) =>
        client.clientAuthMethod === 'none' || requirePkceForAll || client.metadata().require_pkce === true,
    },
    scopes: CONFIG.scopes ?? DEFAULT_SCOPES,
    ttl,
    // Refresh tokens for every client allowed the grant, not only on `offline_access` + prompt=consent.
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: CONFIG.rotateRefreshToken ?? true,
    findAccount: async (_ctx, accountId) => ({ accountId, claims: async () => ({ sub: accountId }) }),
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    jwks: signingKeys(),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // Any authenticated client may introspect: tests check tokens issued to other clients.
      introspection: { enabled: true, allowedPolicy: async () => true },
      revocation: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
    },
    renderError: async (ctx, out) => {
      ctx.type = 'html';
      ctx.body = page('Error', `<h1 id="error">${escapeHtml(out.error)}</h1><p>${escapeHtml(out.error_description)}</p>`);
    },
  };
}

// ---- interaction pages (login, consent, abort) ------------------------------------------------

function escapeHtml(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title, body) {
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body>${body}</body></html>`;
}

function interactionPage(uid, prompt, params) {
  const base = `/interaction/${escapeHtml(uid)}`;
  const abort = `<form method="post" action="${base}/abort"><button type="submit">Cancel</button></form>`;
  if (prompt.name === 'login') {
    return page('Sign in', `<h1>Sign in to ${escapeHtml(params.client_id)}</h1>
<form method="post" action="${base}/login" data-prompt="login">
<input name="login" placeholder="username" autofocus required><button type="submit">Sign in</button></form>${abort}`);
  }
  return page('Consent', `<h1>${escapeHtml(params.client_id)} asks for: ${escapeHtml(params.scope)}</h1>
<form method="post" action="${base}/confirm" data-prompt="consent"><button type="submit">Allow</button></form>${abort}`);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_FORM_BYTES) {
        reject(new Error('form too large'));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const readForm = async (req) => new URLSearchParams(await readBody(req));

async function grantRequestedConsent(provider, details) {
  const { prompt, grantId, session, params } = details;
  const grant = grantId
    ? await provider.Grant.find(grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  const missing = prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  return grant.save();
}

async function handleInteraction(provider, req, res, uid, action) {
  const details = await provider.interactionDetails(req, res);
  if (details.uid !== uid) {
    return sendHtml(res, 400, page('Error', '<h1 id="error">interaction mismatch</h1>'));
  }
  const { prompt, params } = details;
  if (req.method === 'GET' && action === undefined) {
    res.setHeader('Cache-Control', 'no-store');
    return sendHtml(res, 200, interactionPage(uid, prompt, params));
  }
  if (req.method !== 'POST') return sendHtml(res, 405, page('Error', 'method not allowed'));
  const form = await readForm(req);
  switch (action) {
    case 'login': {
      const login = (form.get('login') ?? '').trim();
      if (prompt.name !== 'login' || !login) return sendHtml(res, 400, page('Error', 'login expected'));
      log('interaction login', { uid, client_id: params.client_id, account: login });
      return provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
    }
    case 'confirm': {
      if (prompt.name !== 'consent') return sendHtml(res, 400, page('Error', 'consent expected'));
      const consentGrantId = await grantRequestedConsent(provider, details);
      log('interaction consent', { uid, client_id: params.client_id });
      return provider.interactionFinished(req, res, { consent: { grantId: consentGrantId } }, { mergeWithLastSubmission: true });
    }
    case 'abort':
      log('interaction aborted', { uid, client_id: params.client_id });
      return provider.interactionFinished(
        req,
        res,
        { error: 'access_denied', error_description: 'End-User aborted interaction' },
        { mergeWithLastSubmission: false },
      );
    default:
      return sendHtml(res, 404, page('Error', 'not found'));
  }
}

// ---- http plumbing ----------------------------------------------------------------------------

function send(res, status, contentType, body) {
  const payload = Buffer.from(body);
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': payload.length });
  res.end(payload);
}

const sendHtml = (res, status, body) => send(res, status, 'text/html; charset=utf-8', body);
const sendJson = (res, status, value) => send(res, status, 'application/json', JSON.stringify(value));

async function handleTestHook(req, res, path) {
  if (req.method === 'GET' && path === '/_test/stats') return sendJson(res, 200, stats);
  if (req.method === 'POST' && path === '/_test/reset') {
    stats = zeroStats();
    outage.count = 0;
    return sendJson(res, 200, stats);
  }
  if (req.method === 'POST' && path === '/_test/outage') {
    const { status = 503, count = 1 } = JSON.parse((await readBody(req)) || '{}');
    if (!Number.isInteger(status) || status < 400 || status > 599 || !Number.isInteger(count) || count < 0) {
      return sendJson(res, 400, { error: 'invalid_request', error_description: 'status 400-599, count >= 0' });
    }
    Object.assign(outage, { status, count });
    return sendJson(res, 200, outage);
  }
  return sendJson(res, 404, { error: 'not_found' });
}

const INTERACTION_ROUTE = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?$/;

function main() {
  const server = http.createServer();
  server.keepAliveTimeout = 30_000;
  server.listen(CONFIG.port ?? 0, HOST, () => {
    const issuer = `http://${HOST}:${server.address().port}`;
    const provider = new Provider(issuer, providerConfiguration());
    provider.use(testHooksMiddleware);
    provider.on('grant.error', (ctx, err) => log('grant error', { error: err.error, detail: err.error_detail ?? err.error_description }));
    provider.on('server_error', (ctx, err) => log('server error', { error: err.message }));
    const providerCallback = provider.callback();

    server.on('request', (req, res) => {
      const path = new URL(req.url, issuer).pathname;
      log('request', { method: req.method, path });
      const interaction = INTERACTION_ROUTE.exec(path);
      let handled;
      if (path.startsWith('/_test/')) handled = handleTestHook(req, res, path);
      else if (interaction) handled = handleInteraction(provider, req, res, interaction[1], interaction[2]);
      else return providerCallback(req, res);
      handled.catch((err) => {
        log('handler error', { error: err.name, description: err.message });
        if (!res.headersSent) sendHtml(res, err.statusCode ?? 500, page('Error', `<h1 id="error">${escapeHtml(err.name)}</h1>`));
      });
    });
    server.on('connection', (socket) => socket.setNoDelay(true));
    process.stdout.write(`${JSON.stringify({ issuer })}\n`);
    log('listening', { issuer, clients: (CONFIG.clients ?? []).map((c) => c.client_id) });
  });
  for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
}

main();
