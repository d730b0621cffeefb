// End to end: the real npm package fhir-kit-client, and the real curl, against the real
// `carebridge` binary on a free port with mutual TLS, as the partner riverside-ehr.
//
//   CAREBRIDGE_BINARY      the gateway binary (ctest sets it)
//   CAREBRIDGE_TEST_CERTS  certificates issued by certs/gen-dev-certs.sh (ctest's certs_issue
//                          fixture); when unset, the test issues its own into a temporary folder
//
// The node dependencies are installed by `npm ci` in tests/e2e (tests/run.sh does it).
// Run alone: node --test tests/e2e/fhir_kit_client.test.js

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const sourceDir = path.resolve(here, '../..');

// A missing node_modules is a failure, never a skip: the suite must not pass without the client.
async function importDependency(name) {
  try {
    return await import(name);
  } catch (error) {
    throw new Error(
      `cannot load the npm package '${name}' (${error.code ?? error.message}): ` +
        `run \`npm ci --ignore-scripts --no-audit --no-fund\` in ${here} ` +
        '(tests/run.sh does it before the suites)',
    );
  }
}
const { Client } = await importDependency('fhir-kit-client');
const { Agent } = await importDependency('undici');

const PARTNER = 'riverside-ehr';
const TOKEN_AUDIENCE = 'https://carebridge.test/auth/token'; // as tests/integration/harness.h

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function certsDir() {
  const issued = process.env.CAREBRIDGE_TEST_CERTS;
  if (issued && fs.existsSync(path.join(issued, 'ca.crt'))) {
    return issued;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carebridge-e2e-certs-'));
  const result = spawnSync('bash', [path.join(sourceDir, 'certs/gen-dev-certs.sh'), dir], {
    encoding: 'utf8',
  });
  assert.equal(result.status, 0, `certs/gen-dev-certs.sh failed:\n${result.stderr}`);
  return dir;
}

// The gateway process with its own config, data folder and log, as tests/integration/harness.cc
// starts it.
class Gateway {
  constructor(binary, certs) {
    this.binary = binary;
    this.certs = certs;
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carebridge-e2e-'));
    this.portFile = path.join(this.dir, 'port');
    this.logPath = path.join(this.dir, 'carebridge.log');
    this.child = null;
    this.exited = null;
    this.port = 0;
    this.ready = false;
  }

  writeConfig() {
    const config = {
      server: {
        cert: path.join(this.certs, 'server.crt'),
        key: path.join(this.certs, 'server.key'),
        client_ca: path.join(this.certs, 'ca.crt'),
      },
      fhir: {},
      token_audience: TOKEN_AUDIENCE,
      partners: [
        {
          id: PARTNER,
          name: PARTNER,
          kind: 'ehr',
          enabled: true,
          cert_subjects: [`urn:carebridge:partner:${PARTNER}`],
          purposes: ['TREAT'],
          default_purpose: 'TREAT',
          requests_per_second: 1000,
          burst: 2000,
        },
      ],
    };
    const file = path.join(this.dir, 'config.json');
    fs.writeFileSync(file, JSON.stringify(config, null, 2));
    return file;
  }

  log() {
    try {
      return fs.readFileSync(this.logPath, 'utf8');
    } catch {
      return '(no log)';
    }
  }

  async start() {
    const args = [
      'serve',
      '--config',
      this.writeConfig(),
      '--listen',
      '127.0.0.1:0',
      '--data-dir',
      path.join(this.dir, 'data'),
      '--port-file',
      this.portFile,
    ];
    const log = fs.openSync(this.logPath, 'a');
    // setpriv: the gateway dies with this process even when the test runner is killed.
    const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => fs.existsSync(p));
    const [command, argv] = setpriv
      ? [setpriv, ['--pdeathsig', 'KILL', '--', this.binary, ...args]]
      : [this.binary, args];
    this.child = spawn(command, argv, { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => resolve({ code, signal }));
    });
    let exitedEarly = null;
    this.exited.then((status) => {
      exitedEarly = status;
    });
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (exitedEarly) {
        throw new Error(
          `carebridge exited at start-up (${JSON.stringify(exitedEarly)}):\n${this.log()}`,
        );
      }
      const portText = fs.existsSync(this.portFile) ? fs.readFileSync(this.portFile, 'utf8') : '';
      const port = Number.parseInt(portText, 10);
      if (port > 0) {
        this.port = port;
        if ((await this.probe('/readyz')) === 200) {
          this.ready = true;
          return;
        }
      }
      await sleep(50);
    }
    await this.stop();
    throw new Error(`carebridge did not become ready in 30 s:\n${this.log()}`);
  }

  // The status of GET `urlPath` (with the partner's certificate), or 0 when it does not answer.
  probe(urlPath) {
    return new Promise((resolve) => {
      const request = https.get(
        {
          host: '127.0.0.1',
          port: this.port,
          path: urlPath,
          ca: fs.readFileSync(path.join(this.certs, 'ca.crt')),
          cert: fs.readFileSync(path.join(this.certs, `${PARTNER}.crt`)),
          key: fs.readFileSync(path.join(this.certs, `${PARTNER}.key`)),
          agent: false,
          timeout: 2000,
        },
        (response) => {
          response.resume();
          resolve(response.statusCode);
        },
      );
      request.on('timeout', () => request.destroy());
      request.on('error', () => resolve(0));
    });
  }

  // SIGTERM, then SIGKILL if it lingers; the exit status.
  async stop() {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) {
      return this.exited ? await this.exited : null;
    }
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    const status = await this.exited;
    clearTimeout(timer);
    return status;
  }

  removeFiles() {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

// Runs curl with the partner's certificate; returns { status, contentType, body }.
function curl(certs, url, headers = []) {
  const bodyFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'carebridge-e2e-curl-')), 'body');
  try {
    const args = [
      '--silent',
      '--show-error',
      '--max-time',
      '30',
      '--cacert',
      path.join(certs, 'ca.crt'),
      '--cert',
      path.join(certs, `${PARTNER}.crt`),
      '--key',
      path.join(certs, `${PARTNER}.key`),
      '--output',
      bodyFile,
      '--write-out',
      '%{http_code}\n%{content_type}',
    ];
    for (const header of headers) {
      args.push('--header', header);
    }
    args.push(url);
    const result = spawnSync('curl', args, { encoding: 'utf8' });
    if (result.error) {
      throw new Error(`cannot run curl (${result.error.code}): install curl`);
    }
    assert.equal(result.status, 0, `curl failed for ${url}: ${result.stderr}`);
    const [status, contentType] = result.stdout.split('\n');
    return {
      status: Number(status),
      contentType,
      body: fs.existsSync(bodyFile) ? fs.readFileSync(bodyFile, 'utf8') : '',
    };
  } finally {
    fs.rmSync(path.dirname(bodyFile), { recursive: true, force: true });
  }
}

function parseJson(text, what) {
  try {
    return JSON.parse(text);
  } catch (error) {
    assert.fail(`${what}: body is not JSON (${error.message}): ${text.slice(0, 300)}`);
  }
}

// fhir-kit-client throws Error("HTTP 4xx: ...") with the OperationOutcome in response.data:
// add it to the message so that a failure says why.
async function call(what, promise) {
  try {
    return await promise;
  } catch (error) {
    const detail = error.response ? ` -> ${JSON.stringify(error.response.data)}` : '';
    const cause = error.cause ? ` (cause: ${error.cause.code ?? error.cause.message})` : '';
    throw new Error(`${what}: ${error.message}${cause}${detail}`, { cause: error });
  }
}

// The fetch Response behind a fhir-kit-client result.
function responseOf(result) {
  return result.__response;
}

describe('fhir-kit-client against the carebridge binary', () => {
  const binary = process.env.CAREBRIDGE_BINARY;
  let certs;
  let gateway;
  let dispatcher;
  let client;
  let base; // https://127.0.0.1:PORT/fhir/ (trailing slash, as fhir-kit-client users write it)
  const runId = randomUUID();
  const mrnSystem = 'urn:carebridge:e2e:mrn';
  const mrn = `FKC-${runId}`;
  let patient; // as created, then as updated

  before(async () => {
    assert.ok(
      binary && fs.existsSync(binary),
      `CAREBRIDGE_BINARY must name the built gateway binary (is: ${binary ?? 'unset'})`,
    );
    certs = certsDir();
    gateway = new Gateway(binary, certs);
    await gateway.start();
    base = `https://127.0.0.1:${gateway.port}/fhir/`;
    // fhir-kit-client 2 sends its requests with the global fetch (undici): the client certificate
    // goes in an undici dispatcher, passed through the client's requestOptions to every Request.
    dispatcher = new Agent({
      connect: {
        ca: fs.readFileSync(path.join(certs, 'ca.crt')),
        cert: fs.readFileSync(path.join(certs, `${PARTNER}.crt`)),
        key: fs.readFileSync(path.join(certs, `${PARTNER}.key`)),
      },
    });
    client = new Client({ baseUrl: base, requestOptions: { dispatcher } });
  });

  after(async () => {
    if (dispatcher) {
      await dispatcher.close();
    }
    if (gateway?.ready) {
      const status = await gateway.stop();
      if (status && status.code !== 0) {
        process.stderr.write(`carebridge log:\n${gateway.log()}\n`);
      }
      gateway.removeFiles();
      assert.deepEqual(status, { code: 0, signal: null }, 'carebridge stops cleanly on SIGTERM');
    } else if (gateway) {
      await gateway.stop();
      gateway.removeFiles();
    }
  });

  test('capabilityStatement() at metadata', async () => {
    const capability = await call('capabilityStatement', client.capabilityStatement());
    assert.equal(capability.resourceType, 'CapabilityStatement');
    assert.equal(capability.fhirVersion, '4.0.1');
    assert.match(responseOf(capability).headers.get('content-type'), /^application\/fhir\+json/);
    const types = capability.rest[0].resource.map((resource) => resource.type);
    assert.ok(types.includes('Patient'), `Patient in ${types}`);
    assert.ok(types.includes('ServiceRequest'), `ServiceRequest in ${types}`);
  });

  test('create, read, update and search a Patient', async () => {
    const created = await call(
      'create Patient',
      client.create({
        resourceType: 'Patient',
        body: {
          resourceType: 'Patient',
          identifier: [{ system: mrnSystem, value: mrn }],
          name: [{ family: 'Mensah', given: ['Abena'] }],
          birthDate: '1984-02-29',
        },
      }),
    );
    assert.equal(responseOf(created).status, 201);
    assert.equal(created.resourceType, 'Patient');
    assert.ok(created.id, 'the server assigned an id');
    assert.equal(created.meta.versionId, '1');
    const location = responseOf(created).headers.get('location');
    assert.ok(location && location.includes(`Patient/${created.id}/_history/1`), `Location ${location}`);

    const read = await call('read Patient', client.read({ resourceType: 'Patient', id: created.id }));
    assert.equal(read.id, created.id);
    assert.deepEqual(read.identifier, [{ system: mrnSystem, value: mrn }]);
    assert.equal(read.name[0].family, 'Mensah');
    assert.equal(responseOf(read).headers.get('etag'), 'W/"1"');

    const updated = await call(
      'update Patient',
      client.update({
        resourceType: 'Patient',
        id: created.id,
        body: { ...read, meta: undefined, name: [{ family: 'Mensah-Owusu', given: ['Abena'] }] },
      }),
    );
    assert.equal(responseOf(updated).status, 200);
    assert.equal(updated.id, created.id);
    assert.equal(updated.meta.versionId, '2');
    assert.equal(updated.name[0].family, 'Mensah-Owusu');

    const bundle = await call(
      'search Patient',
      client.search({ resourceType: 'Patient', searchParams: { identifier: `${mrnSystem}|${mrn}` } }),
    );
    assert.equal(bundle.resourceType, 'Bundle');
    assert.equal(bundle.type, 'searchset');
    assert.equal(bundle.total, 1);
    assert.equal(bundle.entry.length, 1);
    assert.equal(bundle.entry[0].resource.id, created.id);
    assert.equal(bundle.entry[0].resource.name[0].family, 'Mensah-Owusu');
    assert.equal(bundle.entry[0].search?.mode, 'match');
    patient = updated;
  });

  test('transaction() posts to the base with a trailing slash; urn:uuid references resolved', async () => {
    const patientUrn = `urn:uuid:${randomUUID()}`;
    const requestUrn = `urn:uuid:${randomUUID()}`;
    const txMrn = `FKC-TX-${runId}`;
    const body = {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        {
          fullUrl: patientUrn,
          resource: {
            resourceType: 'Patient',
            identifier: [{ system: mrnSystem, value: txMrn }],
            name: [{ family: 'Nakamura', given: ['Ren'] }],
          },
          request: { method: 'POST', url: 'Patient' },
        },
        {
          fullUrl: requestUrn,
          resource: {
            resourceType: 'ServiceRequest',
            status: 'active',
            intent: 'order',
            subject: { reference: patientUrn },
            code: { text: 'Housing navigation' },
          },
          request: { method: 'POST', url: 'ServiceRequest' },
        },
      ],
    };
    const response = await call('transaction', client.transaction({ body }));
    const request = response.__request;
    assert.equal(request.method, 'POST');
    assert.equal(request.url, base, 'fhir-kit-client posts transactions to the base URL as given');
    assert.ok(base.endsWith('/fhir/'));
    assert.equal(responseOf(response).status, 200);
    assert.equal(response.resourceType, 'Bundle');
    assert.equal(response.type, 'transaction-response');
    assert.equal(response.entry.length, 2);
    const locations = response.entry.map((entry) => {
      assert.equal(entry.response.status, '201 Created');
      return entry.response.location.replace(/^.*?((Patient|ServiceRequest)\/[^/]+)\/_history\/.*$/, '$1');
    });
    const [patientRef, requestRef] = locations;
    assert.match(patientRef, /^Patient\/[^/]+$/);
    assert.match(requestRef, /^ServiceRequest\/[^/]+$/);

    const serviceRequest = await call(
      'read ServiceRequest',
      client.read({ resourceType: 'ServiceRequest', id: requestRef.split('/')[1] }),
    );
    assert.equal(serviceRequest.subject.reference, patientRef, 'the urn:uuid became the Patient');
    const txPatient = await call(
      'read transaction Patient',
      client.read({ resourceType: 'Patient', id: patientRef.split('/')[1] }),
    );
    assert.deepEqual(txPatient.identifier, [{ system: mrnSystem, value: txMrn }]);

    const found = await call(
      'search ServiceRequest by subject',
      client.search({ resourceType: 'ServiceRequest', searchParams: { subject: patientRef } }),
    );
    assert.equal(found.total, 1);
    assert.equal(found.entry[0].resource.id, serviceRequest.id);
  });

  test('curl with Accept: application/json gets JSON as application/json', () => {
    assert.ok(patient, 'needs the Patient of the create test');
    const read = curl(certs, `${base}Patient/${patient.id}`, ['Accept: application/json']);
    assert.equal(read.status, 200, read.body);
    assert.match(read.contentType, /^application\/json\b/);
    const json = parseJson(read.body, 'read');
    assert.equal(json.resourceType, 'Patient');
    assert.equal(json.id, patient.id);

    const metadata = curl(certs, `${base}metadata`, ['Accept: application/json']);
    assert.equal(metadata.status, 200, metadata.body);
    assert.match(metadata.contentType, /^application\/json\b/);
    assert.equal(parseJson(metadata.body, 'metadata').resourceType, 'CapabilityStatement');

    const search = curl(certs, `${base}Patient?identifier=${encodeURIComponent(`${mrnSystem}|${mrn}`)}`, [
      'Accept: application/json',
    ]);
    assert.equal(search.status, 200, search.body);
    assert.match(search.contentType, /^application\/json\b/);
    assert.equal(parseJson(search.body, 'search').total, 1);
  });

  test('curl with _format=json gets JSON, whatever the Accept header says', () => {
    assert.ok(patient, 'needs the Patient of the create test');
    // curl's own Accept (*/*), then one the server could not honour: _format wins over both.
    for (const headers of [[], ['Accept: application/fhir+xml'], ['Accept: text/html']]) {
      const read = curl(certs, `${base}Patient/${patient.id}?_format=json`, headers);
      assert.equal(read.status, 200, `${headers}: ${read.body}`);
      assert.match(read.contentType, /^application\/(fhir\+)?json\b/, `${headers}`);
      const json = parseJson(read.body, `_format=json with ${headers}`);
      assert.equal(json.resourceType, 'Patient');
      assert.equal(json.id, patient.id);
    }
    const plain = curl(certs, `${base}Patient/${patient.id}?_format=application/json`, [
      'Accept: application/fhir+xml',
    ]);
    assert.equal(plain.status, 200, plain.body);
    assert.match(plain.contentType, /^application\/json\b/);
    assert.equal(parseJson(plain.body, '_format=application/json').id, patient.id);

    // And the same through fhir-kit-client, whose Accept is application/fhir+json.
    return call(
      'read with _format=json',
      client.request(`Patient/${patient.id}?_format=json`),
    ).then((viaClient) => assert.equal(viaClient.id, patient.id));
  });
});
