// Progressive enhancement only: every page works as plain HTML forms and links; htmx
// (vendored) swaps fragments, and storefront's chat reader streams the assistant.
