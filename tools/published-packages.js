// The libraries KeyVal publishes as npm packages (each builds to dist/ and is packed with
// `npm pack`), in dependency order. The package test (test/packages/) packs and installs them,
// the API reference (typedoc.config.js) documents them.
module.exports = ['outcome', 'raft', 'storage', 'statemachine', 'proto', 'grpc', 'cluster', 'lincheck'];
