'use strict';
// Peer FHIR server for tests/bench: @asymmetrik/node-fhir-server-core 2.2.5 serving
// CarePlan create/read (R4, base /4_0_0) from an in-memory service.
//   PEER_PORT   port to listen on (127.0.0.1)           default 3000
//   PEER_CERT / PEER_KEY   PEM files: if both set, HTTPS (the core's server.ssl), else HTTP
const path = require('path');
const { initialize, loggers } = require('@asymmetrik/node-fhir-server-core');

process.env.NODE_ENV = process.env.NODE_ENV || 'production';
const port = Number(process.env.PEER_PORT || 3000);
const server = { port };
if (process.env.PEER_CERT && process.env.PEER_KEY) {
  server.ssl = { cert: process.env.PEER_CERT, key: process.env.PEER_KEY };
}

const config = {
  server,
  // No auth strategy: the core's authentication middleware becomes a no-op.
  logging: { level: 'error' },
  profiles: {
    careplan: {
      service: path.join(__dirname, 'careplan-service.js'),
      versions: ['4_0_0'],
    },
  },
};

const app = initialize(config);
// Silence the core's winston logger so console logging does not dominate the measurement.
const logger = loggers.get('default');
logger.transports.forEach((t) => { t.silent = true; });

app.listen(port, '127.0.0.1', () => {
  process.stdout.write(`peer listening on 127.0.0.1:${port} (${server.ssl ? 'https' : 'http'})\n`);
});
