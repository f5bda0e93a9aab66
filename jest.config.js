/**
 * Three tiers, each runnable alone: `jest --selectProjects unit|integration|e2e`; `conformance` replays xapi's
 * datamodel against the simulator; `thirdparty` runs real third-party XenAPI clients against the simulator;
 * `browser` drives the simulator's web view in Debian's chromium.
 */
const transform = { "^.+\\.ts$": ["ts-jest", { diagnostics: false }] };
const base = { testEnvironment: "node", transform, moduleFileExtensions: ["ts", "js", "json"] };

module.exports = {
  projects: [
    {
      ...base,
      displayName: "unit",
      testMatch: ["<rootDir>/tests/unit/**/*.test.ts", "<rootDir>/{simulator,provider,sdk}/**/*.spec.ts"],
    },
    { ...base, displayName: "integration", testMatch: ["<rootDir>/tests/integration/**/*.test.ts"] },
    { ...base, displayName: "e2e", testMatch: ["<rootDir>/tests/e2e/**/*.test.ts"] },
    { ...base, displayName: "conformance", testMatch: ["<rootDir>/tests/conformance/**/*.test.ts"] },
    { ...base, displayName: "thirdparty", testMatch: ["<rootDir>/tests/thirdparty/**/*.test.ts"] },
    { ...base, displayName: "browser", testMatch: ["<rootDir>/tests/browser/**/*.test.ts"] },
  ],
};
