// Boots GraphiQL. It lives in its own file, not inline in the page, so that a
// `script-src 'self'` Content-Security-Policy can hold.
(function () {
  "use strict";

  // Runs on the demo publication (`make run`); lines stay short enough for the editor at
  // 1440x900 with a sidebar open.
  var DEFAULT_QUERY = [
    "# Welcome to Quire: a GraphQL API for a publication.",
    "# Ctrl-Enter runs this query. The sidebar on the left has",
    "# the docs and the Explorer, a query builder.",
    "#",
    "# To sign in, run logIn (make run printed demo passwords)",
    "# and put the token in the Headers tab below:",
    '#   {"Authorization": "Bearer <accessToken>"}',
    "# The responses' cost extension is hidden here; clients",
    "# receive it (and RateLimit headers).",
    "#",
    "# Also try: search(query: \"distributed systems\"),",
    '# author(username: "ada"), tag(slug: "python").',
    "",
    "{",
    "  posts(first: 3) {",
    "    totalCount",
    "    nodes {",
    "      title",
    "      publishedAt",
    "      readingTimeMinutes",
    "      author { displayName }",
    "      tags { name }",
    "      comments(first: 2) {",
    "        nodes {",
    "          body",
    "          author { displayName }",
    "          replies(first: 2) {",
    "            nodes { body author { displayName } }",
    "          }",
    "        }",
    "      }",
    "    }",
    "  }",
    "}",
    "",
  ].join("\n");

  // The explorer sizes argument inputs to their content: empty number inputs were 8 px wide.
  var style = document.createElement("style");
  style.textContent = ".graphiql-explorer-root input { min-width: 5ch !important; }";
  document.head.appendChild(style);

  // Every response carries extensions.cost; in the playground it pushes the data out of sight
  // for small queries, so it is left out of what the playground shows.
  function withoutCost(result) {
    if (!result || !result.extensions) return result;
    var extensions = Object.assign({}, result.extensions);
    delete extensions.cost;
    var shown = Object.assign({}, result);
    if (Object.keys(extensions).length) shown.extensions = extensions;
    else delete shown.extensions;
    return shown;
  }

  var container = document.getElementById("graphiql");
  // Styled from here so that the page itself carries no inline code at all.
  document.body.style.margin = "0";
  container.style.height = "100vh";
  var explorer = GraphiQLPluginExplorer.explorerPlugin();

  var endpoint = container.dataset.endpoint;
  var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  var subscriptionUrl = scheme + "//" + window.location.host + endpoint;
  // Subscriptions run over a WebSocket (graphql-transport-ws, through GraphiQL's bundled
  // graphql-ws client), which carries no HTTP headers: the Headers tab's values go in the
  // connection_init payload instead, one socket per distinct set of headers.
  var fetchers = {};
  function fetcherFor(headers) {
    var key = JSON.stringify(headers || {});
    if (!fetchers[key]) {
      fetchers[key] = GraphiQL.createFetcher({
        url: endpoint,
        // extensions.sql: what each query cost the database (development, or admins).
        headers: { "X-Quire-SQL-Report": "1" },
        subscriptionUrl: subscriptionUrl,
        wsConnectionParams: headers || {},
      });
    }
    return fetchers[key];
  }
  var fetcher = function (params, options) {
    var result = fetcherFor(options && options.headers)(params, options);
    // Queries and mutations answer with a promise; subscriptions with an async iterable.
    return result && typeof result.then === "function" ? result.then(withoutCost) : result;
  };

  var graphiql = React.createElement(GraphiQL, {
    fetcher: fetcher,
    defaultQuery: DEFAULT_QUERY,
    // The Explorer is one click away (compass icon); closed, the editor has room.
    plugins: [explorer],
    isHeadersEditorEnabled: true,
    // Headers will carry bearer tokens: keep them out of localStorage.
    shouldPersistHeaders: false,
    inputValueDeprecation: true,
  });

  ReactDOM.createRoot(container).render(graphiql);
})();
