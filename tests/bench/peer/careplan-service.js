'use strict';
// In-memory CarePlan service for @asymmetrik/node-fhir-server-core 2.2.5.
// The core calls service.<interaction>(sanitizedArgs, { req }) and expects a Promise:
//   create     -> resolves { id } (the core answers 201 with a Location header)
//   searchById -> resolves the stored resource (the core answers 200 with it, or 404)
// Nothing is persisted: this is the most generous possible job for the peer.
// PEER_SCHEMA=1 additionally builds the package's R4 CarePlan class from the body
// (what its reference implementations do), which costs the peer more.
const { resolveSchema } = require('@asymmetrik/node-fhir-server-core');

const store = new Map();
let next = 1;
const useSchema = process.env.PEER_SCHEMA === '1';
// Bound the store (oldest evicted first; cp-1, the resource the read case reads, is kept)
// so a long create run measures the server rather than a growing JS heap and its GC.
const maxStored = Number(process.env.PEER_MAX_STORED || 1000);
const evictable = [];

module.exports.create = (args, { req }) =>
  new Promise((resolve) => {
    const id = `cp-${next++}`;
    let resource = req.body;
    if (useSchema) {
      const CarePlan = resolveSchema(args.base_version, 'careplan');
      resource = new CarePlan(resource).toJSON();
    }
    resource.id = id;
    resource.meta = { versionId: '1', lastUpdated: new Date().toISOString() };
    store.set(id, resource);
    if (id !== 'cp-1') {
      evictable.push(id);
      if (evictable.length > maxStored) store.delete(evictable.shift());
    }
    resolve({ id });
  });

module.exports.searchById = (args) =>
  new Promise((resolve) => {
    resolve(store.get(args.id));
  });
