// A real OpenID Connect provider (panva's oidc-provider) on loopback, for Lockbox's SSO tests.
// tests/idp.py starts it with node and reads the first line, "LISTENING <issuer>".
//
// Environment:
//   IDP_USERS          {"alice": {"email": ..., "groups": [...], "amr": [...], "acr": "..."}}
//   IDP_CLIENTS        {"<client_id>": {"secret": ..., "redirect_uris": [...], "fault": ...}}
// A client's "fault" makes the token endpoint hand out a bad ID token, for the refusal tests:
// "aud" (another audience), "iss" (another issuer), "exp" (expired), "sig" (signature broken),
// "nonce" (another nonce), "replay" (the ID token of this person's previous sign-in).
import http from 'node:http';
import Provider from 'oidc-provider';
import { generateKeyPair, exportJWK, SignJWT, decodeJwt, importJWK } from 'jose';

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;
const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), kid: 'test-1', alg: 'RS256', use: 'sig' };
const USERS = JSON.parse(process.env.IDP_USERS || '{}');
const CLIENTS = JSON.parse(process.env.IDP_CLIENTS || '{}');

const provider = new Provider(issuer, {
  clients: Object.entries(CLIENTS).map(([id, c]) => ({
    client_id: id, client_secret: c.secret, redirect_uris: c.redirect_uris,
    token_endpoint_auth_method: 'client_secret_post',
  })),
  jwks: { keys: [jwk] },
  cookies: { keys: ['lockbox-test-idp-cookie-key'] },
  features: { devInteractions: { enabled: false } },
  acrValues: ['phr', 'phrh', 'pwd'],
  // As Entra and Okta do, groups, amr and acr in the ID token itself.
  claims: { openid: ['sub', 'amr', 'acr', 'groups', 'roles'], email: ['email', 'email_verified'],
            profile: ['name'] },
  async findAccount(ctx, sub) {
    const user = USERS[sub];
    if (!user) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { sub, email: user.email, email_verified: user.email_verified ?? true,
                 name: user.name || sub,
                 groups: user.groups || [], roles: user.roles || [] };
      },
    };
  },
  async loadExistingGrant(ctx) {  // recipes/skip_consent.md: the test IdP asks no consent
    const id = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (id) return ctx.oidc.provider.Grant.find(id);
    const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId,
                                                accountId: ctx.oidc.session.accountId });
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
});
provider.proxy = false;

function readBody(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

function escape(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

// The IdP's own sign-in page: a person types their login name (no password: a test IdP).
provider.use(async (ctx, next) => {
  const match = /^\/interaction\/([^/]+)$/.exec(ctx.path);
  if (!match) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const who = ctx.method === 'POST' ? new URLSearchParams(await readBody(ctx.req)).get('login') : null;
  if (!who || !USERS[who]) {
    ctx.type = 'html';
    ctx.body = `<!doctype html><title>Test identity provider</title><h1>Test identity provider</h1>
<form method="post" action="/interaction/${escape(details.uid)}">
<label>Login name <input name="login" autofocus></label> <button type="submit">Sign in</button>
</form>${who ? `<p>No such person: ${escape(who)}</p>` : ''}`;
    return;
  }
  const { amr, acr } = USERS[who];
  await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: who, amr, acr } },
                                     { mergeWithLastSubmission: false });
});

const previous = new Map();  // client and sub -> the ID token of their previous sign-in
provider.use(async (ctx, next) => {
  await next();
  if (ctx.oidc?.route !== 'token' || ctx.status !== 200 || !ctx.body?.id_token) return;
  const fault = CLIENTS[ctx.oidc.client?.clientId]?.fault;
  const token = ctx.body.id_token;
  const claims = decodeJwt(token);
  const key = `${ctx.oidc.client?.clientId} ${claims.sub}`;
  const before = previous.get(key);
  previous.set(key, token);
  if (!fault) return;
  if (fault === 'sig') {  // the claims changed after signing: the signature no longer fits
    const [head, , signature] = token.split('.');
    const body = Buffer.from(JSON.stringify({ ...claims, groups: ['lockbox-admins'] }))
      .toString('base64url');
    ctx.body.id_token = `${head}.${body}.${signature}`;
    return;
  }
  if (fault === 'replay') {
    if (before) ctx.body.id_token = before;
    return;
  }
  if (fault === 'aud') claims.aud = 'someone-else';
  if (fault === 'iss') claims.iss = 'http://127.0.0.1:9/not-the-issuer';
  if (fault === 'nonce') claims.nonce = 'not-the-nonce';
  if (fault === 'exp') { claims.iat -= 7200; claims.exp = Math.floor(Date.now() / 1000) - 3600; }
  ctx.body.id_token = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'test-1' })
    .sign(await importJWK(jwk, 'RS256'));
});

server.on('request', provider.callback());
console.log(`LISTENING ${issuer}`);
