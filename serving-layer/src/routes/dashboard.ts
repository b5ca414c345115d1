import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

/**
 * The live dashboard of the chapter's e-commerce example at `/`: one HTML page, its script and
 * its stylesheet, served from this package (no CDN, no build step: plain browser JavaScript). The
 * page polls the JSON routes and draws its charts as SVG; every figure on it comes from the API.
 * The assets are read once, when the module loads.
 */

const asset = (name: string) => readFileSync(new URL(`../dashboard/${name}`, import.meta.url), 'utf8');

const ASSETS = [
  { url: '/', file: 'index.html', type: 'text/html; charset=utf-8' },
  { url: '/dashboard.js', file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  { url: '/dashboard.css', file: 'dashboard.css', type: 'text/css; charset=utf-8' },
].map((a) => ({ ...a, body: asset(a.file) }));

/** Everything the page loads comes from this server; it fetches only this server's API. */
const CONTENT_SECURITY_POLICY = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

export async function dashboardRoutes(app: FastifyInstance): Promise<void> {
  for (const { url, type, body } of ASSETS) {
    app.get(url, { schema: { hide: true } }, async (_req, reply) =>
      reply
        .type(type)
        .header('cache-control', 'no-cache')
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', CONTENT_SECURITY_POLICY)
        .send(body),
    );
  }
}
