// Entry point of the browser tests: checks what they need before loading
// playwright-core (which needs node >= 20), then runs dashboard.test.mjs.
// Exits 77 (ctest: skipped) with the reason when node is older or Chromium
// is missing, so a machine without them reports a skip, never a pass.
const major = Number(process.versions.node.split('.')[0]);
if (major < 20) {
  console.log(`skipped: the browser tests need node >= 20 (playwright-core), this is ${process.version}`);
  process.exit(77);
}
await import('./dashboard.test.mjs');
