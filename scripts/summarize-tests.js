// Prints "N passed, N failed" from jest's JSON report plus the non-jest checks (lint, type-check, ...).
const fs = require("fs");
const path = require("path");
const dir = process.argv[2] || ".state/test-results";
let passed = 0;
let failed = 0;
try {
  const jest = JSON.parse(fs.readFileSync(path.join(dir, "jest.json"), "utf8"));
  passed += jest.numPassedTests;
  failed += jest.numFailedTests;
  // A suite that fails to load has no test results: count it as one failure so it cannot vanish.
  failed += jest.testResults.filter((s) => s.status === "failed" && s.assertionResults.length === 0).length;
} catch {
  failed += 1; // jest did not produce a report at all
}
// The reliability run: when the test command ran it, its report must be there (a crash counts as one failure).
if (fs.existsSync(path.join(dir, "reliability.started"))) {
  try {
    const rel = JSON.parse(fs.readFileSync(path.join(dir, "reliability.json"), "utf8"));
    passed += rel.passed;
    failed += rel.failed;
  } catch {
    failed += 1;
  }
}
try {
  const checks = JSON.parse(fs.readFileSync(path.join(dir, "checks.json"), "utf8"));
  for (const v of Object.values(checks)) v === "passed" ? passed++ : failed++;
} catch {
  failed += 1;
}
console.log(`${passed} passed, ${failed} failed`);
