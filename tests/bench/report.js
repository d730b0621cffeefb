'use strict';
// Prints the benchmark tables and ratios from run.sh's results, and writes them as one JSON file.
//   node report.js META_JSON RESULTS_NDJSON OUT_JSON
const fs = require('fs');

const [metaPath, resultsPath, outPath] = process.argv.slice(2);
const meta = JSON.parse(fs.readFileSync(metaPath, 'utf8'));
const rows = fs
  .readFileSync(resultsPath, 'utf8')
  .split('\n')
  .filter((l) => l.trim())
  .map((l) => JSON.parse(l));

const mb = (kb) => (kb / 1024).toFixed(1);
const ms = (us) => (us / 1000).toFixed(2);
const errorsOf = (w) =>
  w.failed ? NaN : w.non2xx + w.err_connect + w.err_read + w.err_write + w.err_timeout;
const flagged = (r) => !r.alive || r.wrk.failed || errorsOf(r.wrk) > 0;
const find = (server, kind, conns) =>
  rows.find((r) => r.server === server && r.case === kind && r.connections === conns);

function pad(cells, widths) {
  return cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
}

const lines = [];
const say = (s = '') => lines.push(s);
const h = meta.host;
say(`carebridge benchmark  ${meta.started}  ${h.nproc} cores (${h.cpu}), kernel ${h.kernel}, wrk ${h.wrk}`);
say(`${meta.duration_s} s per case after ${meta.warmup_s} s warm-up; loopback, TLS, keep-alive; ` +
  `wrk threads = min(connections, 2) on the same cores as the server`);
for (const [name, s] of Object.entries(meta.servers)) {
  say(`  ${name.padEnd(10)} idle RSS ${mb(s.idle_rss_kb)} MB; ${s.note}`);
}
if (meta.fdatasync_per_s) {
  say(`disk: ${meta.fdatasync_per_s} write+fdatasync of 8 KB per second on the data directory's filesystem, alone`);
}
say(`peak RSS = VmHWM of the server process${meta.hwm_per_case ? ' (reset before each case)' : ' (cumulative: could not reset)'}; ` +
  'nginx = master + workers');

const servers = Object.keys(meta.servers);
const conns = [...new Set(rows.map((r) => r.connections))];
const widths = [12, 6, 10, 8, 8, 8, 12, 11];
const titles = {
  read: 'READ  GET one CarePlan (by the partner that wrote it: REST audit event, no consent decision)',
  'read-consent': 'READ-CONSENT  the same GET by another partner, released by the patient\'s Consent ' +
    '(consents loaded and evaluated; REST, AuthZconsent and PrivacyDisclosure events audited)',
  create: 'CREATE  POST a 7.5 KB CarePlan',
  'create-mapped': 'CREATE-MAPPED  the same POST by a partner with a mapping profile ' +
    '(lakeside-cmhc: its rules run inbound, and outbound on the response)',
};
for (const kind of ['read', 'read-consent', 'create', 'create-mapped']) {
  if (!rows.some((r) => r.case === kind)) continue;
  say();
  say(titles[kind]);
  say(pad(['server', 'conns', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'peak RSS MB', 'CPU µs/req'], widths));
  for (const c of conns) {
    for (const s of servers) {
      const r = find(s, kind, c);
      if (!r) continue;
      const w = r.wrk;
      const cells = w.failed
        ? [s, c, 'FAILED', '-', '-', '-', mb(r.peak_rss_kb)]
        : [s, c, w.rps.toFixed(0), ms(w.lat_p50_us), ms(w.lat_p99_us), errorsOf(w), mb(r.peak_rss_kb),
          r.cpu_s !== undefined && w.requests ? (r.cpu_s * 1e6 / w.requests).toFixed(0) : '-'];
      let line = pad(cells, widths);
      if (flagged(r)) line += '  <-- FLAGGED: ' + (!r.alive ? 'server died; ' : '') +
        (w.failed ? 'no wrk result' : `non-2xx ${w.non2xx}, socket errors ` +
          `${w.err_connect}/${w.err_read}/${w.err_write}/${w.err_timeout} (connect/read/write/timeout)`);
      say(line);
    }
  }
  for (const other of ['peer', 'nginx']) {
    if (!servers.includes('carebridge') || !servers.includes(other)) continue;
    const parts = conns.map((c) => {
      const a = find('carebridge', kind, c);
      const b = find(other, kind, c);
      if (!a || !b || a.wrk.failed || b.wrk.failed) return `${c}: n/a`;
      const mark = flagged(a) || flagged(b) ? '!' : '';
      return `${c} conn: ${(a.wrk.rps / b.wrk.rps).toFixed(2)}x${mark}`;
    });
    say(`  carebridge/${other} req/s  ` + parts.join('   '));
  }
}

// The targets, evaluated (reported, not asserted).
const targets = [];
if (servers.includes('carebridge')) {
  const cb = meta.servers.carebridge;
  const c16 = find('carebridge', 'create', 16);
  const p16 = find('peer', 'create', 16);
  const target = (what, ok, value, row) =>
    targets.push({ target: what, met: ok, value: value + (row && flagged(row) ? ' (FLAGGED run)' : '') });
  if (c16 && !c16.wrk.failed) {
    target('durable creates >= 5,000/s at 16 conn', c16.wrk.rps >= 5000 && !flagged(c16), `${c16.wrk.rps.toFixed(0)}/s`, c16);
    target('create p99 < 5 ms at 16 conn', c16.wrk.lat_p99_us < 5000 && !flagged(c16), `${ms(c16.wrk.lat_p99_us)} ms`, c16);
    if (p16 && !p16.wrk.failed) {
      const ratio = c16.wrk.rps / p16.wrk.rps;
      target('creates >= 6x the peer at 16 conn', ratio >= 6, `${ratio.toFixed(2)}x`);
    }
  }
  const reads = rows.filter((r) => r.server === 'carebridge' && r.case === 'read' && !r.wrk.failed);
  if (reads.length) {
    const best = reads.reduce((a, b) => (b.wrk.rps > a.wrk.rps ? b : a));
    target('reads >= 15,000/s (best level)', best.wrk.rps >= 15000 && !flagged(best),
      `${best.wrk.rps.toFixed(0)}/s at ${best.connections} conn`, best);
  }
  const consentRatios = conns.map((c) => {
    const plain = find('carebridge', 'read', c);
    const consent = find('carebridge', 'read-consent', c);
    return plain && consent && !plain.wrk.failed && !consent.wrk.failed
      ? { c, ratio: plain.wrk.rps / consent.wrk.rps, flagged: flagged(plain) || flagged(consent) } : null;
  }).filter(Boolean);
  if (consentRatios.length) {
    const worst = consentRatios.reduce((a, b) => (b.ratio > a.ratio ? b : a));
    target('read-with-consent within 1.5x of read', worst.ratio <= 1.5 && !worst.flagged,
      consentRatios.map((r) => `${r.c} conn: ${r.ratio.toFixed(2)}x`).join(', '));
  }
  const mappedRatios = conns.map((c) => {
    const plain = find('carebridge', 'create', c);
    const mapped = find('carebridge', 'create-mapped', c);
    return plain && mapped && !plain.wrk.failed && !mapped.wrk.failed
      ? { c, ratio: plain.wrk.rps / mapped.wrk.rps, flagged: flagged(plain) || flagged(mapped) } : null;
  }).filter(Boolean);
  if (mappedRatios.length) {
    const worst = mappedRatios.reduce((a, b) => (b.ratio > a.ratio ? b : a));
    target('create with mapping within 1.2x of create', worst.ratio <= 1.2 && !worst.flagged,
      mappedRatios.map((r) => `${r.c} conn: ${r.ratio.toFixed(2)}x`).join(', '));
  }
  target('idle RSS < 20 MB', cb.idle_rss_kb < 20 * 1024, `${mb(cb.idle_rss_kb)} MB`);
  const at64 = rows.filter((r) => r.server === 'carebridge' && r.connections === 64);
  if (at64.length) {
    const peak = Math.max(...at64.map((r) => r.peak_rss_kb));
    target('RSS < 64 MB at 64 conn', peak < 64 * 1024, `${mb(peak)} MB`);
  }
  say();
  say('targets (carebridge; not asserted)');
  for (const t of targets) say(`  ${t.met ? 'met   ' : 'MISSED'}  ${t.target.padEnd(40)} ${t.value}`);
}
const anyFlag = rows.some(flagged);
say();
say(anyFlag ? 'WARNING: some cases had errors or a dead server (FLAGGED above); their numbers are not valid.'
  : 'no errors: every response was 2xx/3xx and no socket errors');
say(`raw results: ${outPath}`);

process.stdout.write(lines.join('\n') + '\n');
fs.writeFileSync(outPath, JSON.stringify({ meta, results: rows, targets, flagged: anyFlag }, null, 2) + '\n');
