// Starts Swagger UI on the txipv8 documentation page (/docs).
// Kept in its own file, not inline in the page, so that the page works under a Content-Security-Policy
// without 'unsafe-inline' scripts.
window.addEventListener("load", function () {
  "use strict";
  window.ui = SwaggerUIBundle({
    // Both documents are generated from the same declarations; the top bar switches between them.
    urls: [
      {url: "/docs/openapi.json", name: "OpenAPI 3.1 (/docs/openapi.json)"},
      {url: "/docs/swagger.json", name: "Swagger 2.0 (/docs/swagger.json)"}
    ],
    "urls.primaryName": "OpenAPI 3.1 (/docs/openapi.json)",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout",
    // Never send the document to the public validator service (the default): the page stays local.
    validatorUrl: null,
    // The key typed into "Authorize" lives only as long as the page: it is not written to localStorage.
    persistAuthorization: false
  });
});
