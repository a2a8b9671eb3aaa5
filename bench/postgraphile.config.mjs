// PostGraphile v5 preset for `make bench`: the amber preset over Quire's tables, read-only
// comparison server. No GraphiQL, no watch mode, no subscriptions, no explain.
//
// Env: BENCH_PG_URL (postgres://...), BENCH_PG_PORT (default 5678), BENCH_PG_POOL_MAX (default 16).
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";

const connectionString = process.env.BENCH_PG_URL;
if (!connectionString) {
  throw new Error("BENCH_PG_URL must be set (postgres://user@127.0.0.1:5432/db)");
}

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset],
  // Amber hides `condition`/`orderBy` for columns that lead no index; comments.status leads
  // none, and the bench must filter on it. Quire filters the same column the same way.
  disablePlugins: ["PgIndexBehaviorsPlugin"],
  pgServices: [
    makePgService({
      connectionString,
      schemas: ["public"],
      // PostGraphile sends one statement per request here, so a pool as large as wrk's
      // connection count never makes a request wait (run.sh passes BENCH_CONNECTIONS).
      poolConfig: { max: Number(process.env.BENCH_PG_POOL_MAX ?? 16) },
      // No LISTEN/NOTIFY connection: nothing here subscribes.
      pubsub: false,
    }),
  ],
  grafserv: {
    host: "127.0.0.1",
    port: Number(process.env.BENCH_PG_PORT ?? 5678),
    graphiql: false,
    graphiqlOnGraphQLGET: false,
    watch: false,
    websockets: false,
  },
  grafast: { explain: false },
};

export default preset;
