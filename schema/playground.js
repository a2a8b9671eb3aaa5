// Boots GraphiQL. It lives in its own file, not inline in the page, so that a
// `script-src 'self'` Content-Security-Policy can hold.
(function () {
  "use strict";

  var DEFAULT_QUERY = [
    "# Quire GraphQL playground.",
    "# Ctrl-Enter runs the query; the Explorer on the left builds one by clicking.",
    "# Authenticated requests: add headers in the Headers tab below, e.g.",
    '#   {"Authorization": "Bearer <token>"}',
    "# Subscriptions work too, e.g. subscription { postPublished { title } }",
    "",
    "{",
    "  posts(first: 5) {",
    "    nodes {",
    "      title",
    "    }",
    "  }",
    "}",
    "",
  ].join("\n");

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
    return fetcherFor(options && options.headers)(params, options);
  };

  var graphiql = React.createElement(GraphiQL, {
    fetcher: fetcher,
    defaultQuery: DEFAULT_QUERY,
    plugins: [explorer],
    visiblePlugin: explorer,
    isHeadersEditorEnabled: true,
    // Headers will carry bearer tokens: keep them out of localStorage.
    shouldPersistHeaders: false,
    inputValueDeprecation: true,
  });

  ReactDOM.createRoot(container).render(graphiql);
})();
