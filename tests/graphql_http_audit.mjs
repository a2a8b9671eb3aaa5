// Runs graphql-http's GraphQL-over-HTTP server audits against a live endpoint.
//
//   node tests/graphql_http_audit.mjs http://127.0.0.1:8000/graphql
//
// Prints one JSON line per audit: {id, name, status, reason, response}. The status is
// graphql-http's own: "ok"; "error" when a MUST failed; "warn" when a SHOULD failed; "notice"
// when a MAY failed. An audit that could not run at all (the request itself failed) is
// reported as "error". `response` (status, content type, start of the body) is only given for
// failures. Exits 2 on a usage error, else 0: tests/test_graphql_http.py judges the lines.
import { serverAudits } from 'graphql-http';

const BODY_PREVIEW = 500;

async function describe(response) {
  if (!response) return null;
  let body;
  try {
    body = (await response.text()).slice(0, BODY_PREVIEW);
  } catch (error) {
    body = `<unreadable: ${error}>`;
  }
  return { status: response.status, contentType: response.headers.get('content-type'), body };
}

async function run(audit) {
  let result;
  try {
    result = await audit.fn();
  } catch (error) {
    // graphql-http throws only on fatal problems, such as the server being unreachable.
    const reason = `audit could not run: ${error?.cause ?? error}`;
    return { id: audit.id, name: audit.name, status: 'error', reason, response: null };
  }
  if (result.status === 'ok') {
    return { id: result.id, name: result.name, status: 'ok', reason: null, response: null };
  }
  return {
    id: result.id,
    name: result.name,
    status: result.status,
    reason: result.reason,
    response: await describe(result.response),
  };
}

const url = process.argv[2];
if (!url || typeof fetch !== 'function') {
  console.error(
    url ? 'this script needs a global fetch (Node.js 18 or later)' : 'usage: node graphql_http_audit.mjs URL',
  );
  process.exit(2);
}

// One at a time, in the suite's order: the output is stable and the server is not flooded.
for (const audit of serverAudits({ url, fetchFn: fetch })) {
  console.log(JSON.stringify(await run(audit)));
}
